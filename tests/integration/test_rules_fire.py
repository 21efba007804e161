"""Every rule is proven able to fail: it fires on its mock fault and stays silent on the clean mock.

The mock's fault names are the harness's rule ids (plus a few for schemathesis' own checks); each test
runs the real check pipeline (probes, hypothesis properties, schemathesis when needed) against the
embedded mock with one fault on. A fault's run checks only the family the fault belongs to (the chat
faults: chat and the model list), which keeps the whole catalogue within CI's time; the clean run checks
every family at once.
"""

from __future__ import annotations

import pytest

from llmconform.checks import REGISTRY
from llmconform.config import CheckConfig, LimitsConfig
from llmconform.conformance.outcome import ConformanceRun, ExitCode
from llmconform.conformance.runner import run_check
from llmconform.mock import FAULTS, MockConfig
from llmconform.mock.faults import family_of_fault

# Faults that break a schemathesis built-in check (they may also break a harness rule of the same name).
SCHEMATHESIS_FAULTS = {
    "server_error": "schemathesis.not_a_server_error",
    "undocumented_status": "schemathesis.status_code_conformance",
    "accept_invalid": "schemathesis.negative_data_rejection",
    "reject_valid": "schemathesis.positive_data_acceptance",
    "bad_retry_after": "schemathesis.response_headers_conformance",
    "content_type_declared": "schemathesis.content_type_conformance",
    "response_matches_schema": "schemathesis.response_schema_conformance",
}
# Rules that only a transport failure can trigger: never judged on a clean run.
ONLY_ON_FAILURE = {"request_completes"}


def run(
    faults: frozenset[str] = frozenset(),
    *,
    families: tuple[str, ...] = ("all",),
    schemathesis: bool = True,
    negative_examples: int = 40,
    deadline_s: float = 30.0,
) -> ConformanceRun:
    config = CheckConfig(
        families=families,
        mock=MockConfig(faults=faults),
        positive_examples=40 if schemathesis else 0,
        negative_examples=negative_examples if schemathesis else 0,
        property_examples=12,
        limits=LimitsConfig(read_timeout_s=deadline_s, deadline_s=deadline_s),
    )
    outcome, _ = run_check(config, command=["test"], say=lambda _text: None)
    return outcome


@pytest.fixture(scope="module")
def clean_run() -> ConformanceRun:
    return run()


@pytest.mark.xdist_group("rules_fire_clean_run")  # one worker computes the module's clean run once
def test_clean_mock_is_silent(clean_run: ConformanceRun) -> None:
    assert clean_run.exit_code == ExitCode.OK, clean_run.error
    assert [(f.rule, f.message) for f in clean_run.results.findings] == []


@pytest.mark.xdist_group("rules_fire_clean_run")
def test_clean_mock_exercises_every_rule(clean_run: ConformanceRun) -> None:
    never_judged = [
        rule.id for rule in REGISTRY if rule.id not in ONLY_ON_FAILURE and clean_run.results.count(rule.id).judged == 0
    ]
    assert never_judged == []


def test_every_rule_has_a_fault() -> None:
    covered = set(FAULTS) | set(SCHEMATHESIS_FAULTS.values())
    assert {rule.id for rule in REGISTRY} - covered == set()


def expected_rules(fault: str) -> set[str]:
    rules = {fault} if fault in REGISTRY.rules else set()
    if fault in SCHEMATHESIS_FAULTS:
        rules.add(SCHEMATHESIS_FAULTS[fault])
    return rules


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_rule_fires_on_its_fault(fault: str) -> None:
    expected = expected_rules(fault)
    assert expected, f"fault {fault!r} names no rule"
    needs_schemathesis = any(rule.startswith("schemathesis.") for rule in expected)
    family = family_of_fault(fault)
    families = ("models", "chat") if family == "chat" else (family,)
    # A schemathesis check fires only when a generated case hits the fault: more negative cases make a miss
    # (all of them type errors the mock rejects anyway, under accept_invalid) vanishingly unlikely.
    outcome = run(
        frozenset({fault}), families=families, schemathesis=needs_schemathesis, negative_examples=150, deadline_s=1.0
    )
    fired = {f.rule for f in outcome.results.findings}
    assert expected <= fired, f"{fault}: expected {expected} to fire, got {sorted(fired)} ({outcome.error})"
    assert outcome.exit_code != ExitCode.OK or all(REGISTRY.get(rule).severity == "warning" for rule in expected)
