"""The chat-completions contract, one test per behaviour. Every answer is also checked against every
exchange rule (usage arithmetic, schema, stream state machine...), so a test fails on any broken
error-severity rule, not only on the one it is named after."""

from __future__ import annotations

from conftest import expect_held
from llmconform.conformance import chat_probes
from llmconform.conformance.chat_properties import run_chat_properties
from llmconform.conformance.session import Session


def test_unary_answer_keeps_usage_arithmetic(session: Session) -> None:
    session.chat(chat_probes.probe_request(session), "unary")
    expect_held(session.results, "usage_present", "usage_total_is_sum", "response_matches_schema")


def test_max_tokens_cut_says_length(session: Session) -> None:
    baseline = chat_probes.probe_baseline(session)
    assert baseline is not None, "the baseline request got no text answer"
    chat_probes.probe_truncation(session, baseline)
    expect_held(session.results, "truncation_finish_reason_length", "completion_within_max_tokens")


def test_stop_sequence_ends_the_answer(session: Session) -> None:
    baseline = chat_probes.probe_baseline(session)
    assert baseline is not None, "the baseline request got no text answer"
    chat_probes.probe_stop(session, baseline)
    expect_held(session.results, "stop_sequence_excluded", "stop_sequence_ends_answer")


def test_stream_matches_unary_and_ends_with_usage(session: Session) -> None:
    baseline = chat_probes.probe_baseline(session)
    assert baseline is not None, "the baseline request got no text answer"
    chat_probes.probe_stream(session, baseline)
    expect_held(session.results, "stream_matches_unary", "stream_usage_chunk_final", "stream_done_last")


def test_n_choices(session: Session) -> None:
    chat_probes.probe_n(session)
    expect_held(session.results, "n_choices_count", "choice_indices_permutation")


def test_logprobs(session: Session) -> None:
    chat_probes.probe_logprobs(session)
    expect_held(session.results, "top_logprobs_count", "logprob_values_valid", "logprobs_token_count")


def test_tool_calls(session: Session) -> None:
    chat_probes.probe_tools(session)
    expect_held(session.results, "tool_call_shape", "tool_choice_honoured", "stream_tool_call_deltas")


def test_json_modes(session: Session) -> None:
    chat_probes.probe_json(session)
    expect_held(session.results, "json_mode_content_parses", "json_schema_content_valid")


def test_errors_auth_and_unknown_model(session: Session) -> None:
    chat_probes.probe_auth(session)
    chat_probes.probe_unknown_model(session)
    chat_probes.probe_invalid_requests(session)
    expect_held(session.results, "auth_required", "unknown_model_rejected", "invalid_request_rejected")


def test_generated_requests_keep_every_rule(session: Session) -> None:
    run_chat_properties(session, examples=20, seed=0)
    expect_held(session.results)
