"""docs/rules.md is the registry's own catalogue; every rule states its source."""

from __future__ import annotations

from pathlib import Path

from llmconform.checks import REGISTRY
from llmconform.report.rules_doc import rules_markdown

DOC = Path(__file__).resolve().parents[2] / "docs" / "rules.md"


def test_docs_rules_md_is_up_to_date() -> None:
    assert DOC.read_text() == rules_markdown(), "docs/rules.md is stale: run `make docs`"


def test_every_rule_has_a_title_and_a_source() -> None:
    for rule in REGISTRY:
        assert rule.title and rule.source, rule.id
        assert rule.kind == "schemathesis" or rule.function is not None
