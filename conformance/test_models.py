"""GET /v1/models lists the model under test in the contract's shape."""

from __future__ import annotations

from conftest import expect_held
from llmconform.conformance import chat_probes
from llmconform.conformance.session import Session


def test_model_list_names_the_model(session: Session) -> None:
    chat_probes.run_models_probes(session)
    expect_held(session.results, "model_listed", "response_matches_schema")
