"""The conformance suite users run and extend: `make conformance`, or `pytest conformance/`.

Point it at a target with environment variables (default: the embedded mock):

    LLMCONFORM_BASE_URL=https://api.aboai.ai LLMCONFORM_API_KEY=sk-... LLMCONFORM_MODEL=GPT-5.2-Chat \\
        .venv/bin/pytest conformance/ -q

Each test sends its requests through one Session, so every answer is judged by every exchange rule
as well as by the rule the test names; `expect_held` fails the test with the findings' messages.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from llmconform.checks import Results, exchange_rules
from llmconform.client import TargetClient
from llmconform.config import TaskPollingConfig
from llmconform.conformance.session import Budget, Session
from llmconform.mock import DEFAULT_API_KEY, DEFAULT_MODELS, MockConfig, MockServer


@pytest.fixture(scope="session")
def target() -> Iterator[tuple[str, str | None, str]]:
    """(base URL, API key, model) from the environment, or the embedded mock."""
    base_url = os.environ.get("LLMCONFORM_BASE_URL")
    if base_url:
        yield base_url, os.environ.get("LLMCONFORM_API_KEY"), os.environ.get("LLMCONFORM_MODEL", "")
        return
    faults = frozenset(f for f in os.environ.get("LLMCONFORM_MOCK_FAULTS", "").split(",") if f)
    with MockServer(MockConfig(faults=faults)) as server:
        yield server.base_url, DEFAULT_API_KEY, DEFAULT_MODELS[0]


@pytest.fixture
def session(target: tuple[str, str | None, str]) -> Iterator[Session]:
    """A fresh Session per test (its own results), with a small request budget."""
    base_url, key, model = target
    budget = int(os.environ.get("LLMCONFORM_MAX_REQUESTS_PER_TEST", "60"))
    with TargetClient(base_url, key) as client:
        session = Session(client, Results(), Budget(budget), model, exchange_rules())
        # Video tasks are polled at the pace of the target: the embedded mock's tasks end in about half a second.
        stage_s = None if os.environ.get("LLMCONFORM_BASE_URL") else MockConfig().video_stage_ms / 1000
        session.task_poll_interval_s, session.task_deadline_s = TaskPollingConfig().resolved(stage_s)
        yield session


def expect_held(results: Results, *rule_ids: str) -> None:
    """Fail on any error-severity finding; skip when none was recorded but a named rule was never judged."""
    __tracebackhide__ = True
    broken = [f"{f.rule}: {f.message}" for f in results.findings if f.severity == "error"]
    judged = [rule for rule in rule_ids if results.count(rule).judged == 0]
    if judged and not broken:
        pytest.skip(f"not judged on this target: {', '.join(judged)}; {'; '.join(results.notes)}")
    assert not broken, "\n".join(broken)
