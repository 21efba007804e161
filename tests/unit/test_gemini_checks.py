"""Gemini rules on hand-made exchanges (each holds on a correct answer and fires on the broken one), the
Gemini family's request builder and answer reader, and openapi/gemini.yaml itself."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from openapi_spec_validator import OpenAPIV31SpecValidator

from llmconform import spec
from llmconform.checks import REGISTRY, Results, check_exchange
from llmconform.checks.gemini_relations import (
    gemini_auth_required,
    gemini_auth_styles_accepted,
    gemini_invalid_request_rejected,
    gemini_model_listed,
    gemini_stop_sequence_ends_answer,
    gemini_stream_matches_unary,
    gemini_truncation_finish_max_tokens,
    gemini_unknown_model_rejected,
)
from llmconform.checks.registry import Warn
from llmconform.conformance.gemini_probes import pin_generated_body
from llmconform.exchange import Exchange, StreamEvent
from llmconform.families import build_request, read_answer, request_headers
from llmconform.families.gemini import (
    GENERATE_OPERATION,
    GET_MODEL_OPERATION,
    LIST_MODELS_OPERATION,
    STREAM_OPERATION,
    gemini_view,
)
from llmconform.mock.faults.gemini import FAULTS
from llmconform.mock.gemini import chat_body
from llmconform.mock.request import ChatRequest
from llmconform.sse import decode_all

MODEL_URL = "http://127.0.0.1/v1beta/models/m"
REQUEST: dict[str, Any] = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
USAGE: dict[str, Any] = {"promptTokenCount": 5, "candidatesTokenCount": 3, "totalTokenCount": 8}


# ------------------------------------------------------------------------------- builders


def unary(body: Any, request: dict[str, Any] | None = None, status: int = 200) -> Exchange:
    return Exchange(
        family="gemini",
        operation=GENERATE_OPERATION,
        method="POST",
        url=f"{MODEL_URL}:generateContent",
        request_headers={},
        request_json={**REQUEST, **(request or {})},
        status=status,
        response_headers={"content-type": "application/json"},
        body=json.dumps(body).encode() if not isinstance(body, bytes) else body,
    )


def sse(*frames: dict[str, Any] | str, request: dict[str, Any] | None = None, raw: bytes | None = None) -> Exchange:
    payload = raw if raw is not None else sse_bytes(*frames)
    exchange = unary({}, request)
    exchange.operation = STREAM_OPERATION
    exchange.url = f"{MODEL_URL}:streamGenerateContent?alt=sse"
    exchange.response_headers = {"content-type": "text/event-stream"}
    exchange.body = payload
    exchange.events = [
        StreamEvent(at_s=0.01 * i, data=e.data, event=e.event) for i, e in enumerate(decode_all(payload))
    ]
    return exchange


def array(*frames: Any, request: dict[str, Any] | None = None) -> Exchange:
    exchange = unary(list(frames), request)
    exchange.operation = STREAM_OPERATION
    exchange.url = f"{MODEL_URL}:streamGenerateContent"
    return exchange


def sse_bytes(*frames: dict[str, Any] | str) -> bytes:
    return b"".join(f"data: {f if isinstance(f, str) else json.dumps(f)}\r\n\r\n".encode() for f in frames)


def candidate(*parts: dict[str, Any], finish: str | None = "STOP", index: int | None = 0) -> dict[str, Any]:
    out: dict[str, Any] = {"content": {"role": "model", "parts": list(parts)}}
    if finish is not None:
        out["finishReason"] = finish
    if index is not None:
        out["index"] = index
    return out


def answer(*texts: str, usage: dict[str, Any] | None = None, finish: str = "STOP", **extra: Any) -> dict[str, Any]:
    return {
        "candidates": [candidate({"text": t}, finish=finish, index=i) for i, t in enumerate(texts)],
        "usageMetadata": USAGE if usage is None else usage,
        "modelVersion": "m",
        "responseId": "r1",
        **extra,
    }


def text_stream(*pieces: str, usage: dict[str, Any] | None = None, request: dict[str, Any] | None = None) -> Exchange:
    frames: list[dict[str, Any]] = [
        {"candidates": [candidate({"text": p}, finish=None)], "modelVersion": "m"} for p in pieces[:-1]
    ]
    frames.append(
        {"candidates": [candidate({"text": pieces[-1]})], "usageMetadata": usage or USAGE, "modelVersion": "m"}
    )
    return sse(*frames, request=request)


def findings(exchange: Exchange) -> set[str]:
    results = Results()
    check_exchange(exchange, results)
    return {f.rule for f in results.findings}


def messages_of(violations: Iterator[Any]) -> list[str]:
    return [v.message if isinstance(v, Warn) else v for v in violations]


def is_warning(violations: Iterator[Any]) -> bool:
    listed = list(violations)
    return bool(listed) and all(isinstance(v, Warn) for v in listed)


# ------------------------------------------------------------------------------ registry


GEMINI_RULES = sorted(rule.id for rule in REGISTRY if rule.family == "gemini")


def test_every_gemini_rule_is_prefixed_sourced_and_has_a_fault() -> None:
    assert len(GEMINI_RULES) >= 20
    assert all(rule.startswith("gemini_") for rule in GEMINI_RULES)
    assert all(REGISTRY.get(rule).source for rule in GEMINI_RULES)
    assert set(GEMINI_RULES) == set(FAULTS)


def test_correct_answers_are_silent() -> None:
    assert findings(unary(answer("Hello there."))) == set()
    assert findings(text_stream("Hel", "lo.")) == set()
    assert findings(array(*[json.loads(e.data) for e in text_stream("Hel", "lo.").events or []])) == set()
    # Google leaves out zero values: no index on candidate 0, no thoughtsTokenCount
    bare = {"candidates": [{"content": {"role": "model", "parts": [{"text": "ok"}]}, "finishReason": "STOP"}]}
    assert findings(unary({**bare, "usageMetadata": USAGE})) == set()


# -------------------------------------------------------------------------- shape and type


def test_schema_rule_fires_on_wrong_types_and_openai_finish_names() -> None:
    assert "gemini_response_matches_schema" in findings(unary(answer("a", modelVersion=3)))
    assert "gemini_response_matches_schema" in findings(unary(answer("a", finish="stop")))
    broken = answer("a")
    broken["candidates"][0]["content"]["role"] = "assistant"
    assert "gemini_response_matches_schema" in findings(unary(broken))
    listing = unary({"models": [{"name": "gemini-2.5-pro"}]})
    listing.operation = LIST_MODELS_OPERATION
    assert "gemini_response_matches_schema" in findings(listing)
    listing.body = json.dumps({"models": [{"name": "models/gemini-2.5-pro", "inputTokenLimit": 10}]}).encode()
    listing.cache.clear()
    assert "gemini_response_matches_schema" not in findings(listing)
    single = unary({"name": "models/m"})
    single.operation = GET_MODEL_OPERATION
    assert findings(single) == set()


def test_content_type_follows_alt() -> None:
    stream = text_stream("a.")
    stream.response_headers = {"content-type": "application/json"}
    assert "gemini_content_type_declared" in findings(stream)
    plain = unary(answer("a"))
    plain.response_headers = {"content-type": "text/plain"}
    assert "gemini_content_type_declared" in findings(plain)


def error(status: int, body: Any) -> Exchange:
    return unary(body, status=status)


def test_error_body_shape() -> None:
    good = {"error": {"code": 404, "message": "models/x is not found", "status": "NOT_FOUND"}}
    assert findings(error(404, good)) == set()
    assert "gemini_error_body_shape" in findings(error(404, {"error": {"message": "x", "type": "not_found"}}))
    assert "gemini_error_body_shape" in findings(error(404, {**good, "error": {**good["error"], "code": "404"}}))
    assert "gemini_error_body_shape" in findings(error(400, {**good, "error": {**good["error"], "code": 404}}))
    assert "gemini_error_body_shape" in findings(error(404, {"error": "not found"}))
    assert "gemini_error_body_shape" in findings(error(502, b"<html>bad gateway</html>"))
    mismatched = {"error": {"code": 404, "message": "x", "status": "INVALID_ARGUMENT"}}
    results = Results()
    check_exchange(error(404, mismatched), results)
    assert [(f.rule, f.severity) for f in results.findings] == [("gemini_error_body_shape", "warning")]
    # 413 has no google.rpc.Code of its own: any status name is accepted
    assert findings(error(413, {"error": {"code": 413, "message": "x", "status": "INVALID_ARGUMENT"}})) == set()


# ----------------------------------------------------------------------------------- usage


@given(
    prompt=st.integers(1, 10**6),
    out=st.integers(0, 10**6),
    thoughts=st.integers(0, 10**6),
    tools=st.integers(0, 10**6),
)
def test_total_is_the_sum_of_four_counts(prompt: int, out: int, thoughts: int, tools: int) -> None:
    usage = {
        "promptTokenCount": prompt,
        "candidatesTokenCount": out,
        "thoughtsTokenCount": thoughts,
        "toolUsePromptTokenCount": tools,
        "totalTokenCount": prompt + out + thoughts + tools,
    }
    assert "gemini_usage_total_is_sum" not in findings(unary(answer("a", usage=usage)))
    if thoughts:
        without_thoughts = {**usage, "totalTokenCount": prompt + out + tools}
        assert "gemini_usage_total_is_sum" in findings(unary(answer("a", usage=without_thoughts)))


def test_usage_present_and_cached_within_prompt() -> None:
    assert "gemini_usage_present" in findings(unary({"candidates": answer("a")["candidates"]}))
    assert "gemini_usage_present" in findings(unary(answer("a", usage={"promptTokenCount": 5, "totalTokenCount": 5})))
    cached = {**USAGE, "cachedContentTokenCount": 5}
    assert findings(unary(answer("a", usage=cached))) == set()
    assert "gemini_usage_cached_within_prompt" in findings(
        unary(answer("a", usage={**USAGE, "cachedContentTokenCount": 6}))
    )


def test_total_is_judged_on_the_last_usage_of_a_stream() -> None:
    stream = text_stream("a", "b.", usage={**USAGE, "totalTokenCount": 9})
    assert "gemini_usage_total_is_sum" in findings(stream)


# ------------------------------------------------------------------------------ candidates


def test_candidate_count_and_indices() -> None:
    two = {"generationConfig": {"candidateCount": 2}}
    assert "gemini_candidate_count" not in findings(unary(answer("a", "b"), two))
    assert "gemini_candidate_count" in findings(unary(answer("a"), two))
    assert "gemini_candidate_count" in findings(unary(answer("a", "b")))
    same = answer("a", "b")
    same["candidates"][1]["index"] = 0
    assert "gemini_candidate_indices_distinct" in findings(unary(same, two))
    gap = answer("a", "b")
    gap["candidates"][1]["index"] = 2
    assert "gemini_candidate_indices_distinct" in findings(unary(gap, two))
    blocked = {
        "promptFeedback": {"blockReason": "SAFETY"},
        "usageMetadata": {"promptTokenCount": 3, "totalTokenCount": 3},
    }
    assert findings(unary(blocked)) == set()


def test_max_output_tokens_bounds_candidate_tokens() -> None:
    limit = {"generationConfig": {"maxOutputTokens": 3}}
    assert "gemini_output_within_max_tokens" not in findings(unary(answer("a", finish="MAX_TOKENS"), limit))
    over = {**USAGE, "candidatesTokenCount": 4, "totalTokenCount": 9}
    assert "gemini_output_within_max_tokens" in findings(unary(answer("a", usage=over), limit))


def test_stop_sequence_never_in_the_text() -> None:
    stop = {"generationConfig": {"stopSequences": ["END"]}}
    assert "gemini_stop_sequence_excluded" not in findings(unary(answer("all done"), stop))
    assert "gemini_stop_sequence_excluded" in findings(unary(answer("all done END"), stop))
    assert "gemini_stop_sequence_excluded" in findings(text_stream("all done E", "ND.", request=stop))


# -------------------------------------------------------------------------- function calls

TOOLS: dict[str, Any] = {
    "tools": [{"functionDeclarations": [{"name": "get_weather"}, {"name": "get_time"}]}],
    "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}},
}


def call_answer(name: str = "get_weather", args: Any = None, finish: str = "STOP") -> dict[str, Any]:
    call = {"functionCall": {"name": name, "args": {"city": "Lisbon"} if args is None else args}}
    return {"candidates": [candidate(call, finish=finish)], "usageMetadata": USAGE}


def test_function_call_shape() -> None:
    assert findings(unary(call_answer(), TOOLS)) == set()
    assert "gemini_function_call_shape" in findings(unary(call_answer(args='{"city": "Lisbon"}'), TOOLS))
    assert "gemini_function_call_shape" in findings(unary(call_answer(name="get_news"), TOOLS))
    assert "gemini_function_call_shape" in findings(unary(call_answer(finish="TOOL_CALLS"), TOOLS))
    assert "gemini_function_call_shape" in findings(unary(call_answer(finish="tool_calls"), TOOLS))


def test_function_calling_mode() -> None:
    assert "gemini_function_calling_mode_honoured" in findings(unary(answer("It is sunny."), TOOLS))
    assert "gemini_function_calling_mode_honoured" in findings(unary(call_answer(name="get_time"), TOOLS))
    none = {**TOOLS, "toolConfig": {"functionCallingConfig": {"mode": "NONE"}}}
    assert "gemini_function_calling_mode_honoured" in findings(unary(call_answer(), none))
    assert "gemini_function_calling_mode_honoured" not in findings(unary(answer("Sunny."), none))
    # a call cut short by maxOutputTokens is no breach of mode ANY
    assert "gemini_function_calling_mode_honoured" not in findings(unary(answer("", finish="MAX_TOKENS"), TOOLS))


# -------------------------------------------------------------------------------- thinking


def test_thoughts_only_when_requested() -> None:
    off = {"generationConfig": {"thinkingConfig": {"thinkingBudget": 0}}}
    thinking = {**USAGE, "thoughtsTokenCount": 7, "totalTokenCount": 15}
    assert "gemini_thoughts_only_when_requested" in findings(unary(answer("a", usage=thinking), off))
    assert "gemini_thoughts_only_when_requested" not in findings(
        unary(answer("a", usage={**USAGE, "thoughtsTokenCount": 0}), off)
    )
    shown = {"candidates": [candidate({"text": "hmm", "thought": True}, {"text": "a"})], "usageMetadata": thinking}
    assert "gemini_thoughts_only_when_requested" in findings(
        unary(shown, {"generationConfig": {"thinkingConfig": {"thinkingBudget": 8}}})
    )
    # google-genai writes thinkingConfig in snake_case
    asked = {"generationConfig": {"thinkingConfig": {"thinking_budget": 8, "include_thoughts": True}}}
    assert findings(unary(shown, asked)) == set()
    assert gemini_view(unary(shown, asked)).candidates[0].text == "a"


# --------------------------------------------------------------------------------- streams


def test_stream_frames_are_json_without_done() -> None:
    usage_frame = {"candidates": [candidate({"text": "a."})], "usageMetadata": USAGE}
    assert "gemini_stream_frames_are_json" in findings(sse(usage_frame, "[DONE]"))
    assert "gemini_stream_frames_are_json" in findings(sse(usage_frame, "{not json"))
    assert "gemini_stream_frames_are_json" in findings(sse(raw=b""))
    not_array = array()
    not_array.body = json.dumps(usage_frame).encode()
    assert "gemini_stream_frames_are_json" in findings(not_array)
    # legal SSE that google-genai cannot read: a warning
    results = Results()
    check_exchange(sse(raw=b"data:" + json.dumps(usage_frame).encode() + b"\n\n"), results)
    assert [(f.rule, f.severity) for f in results.findings] == [("gemini_stream_frames_are_json", "warning")]


def test_stream_final_frame() -> None:
    first = {"candidates": [candidate({"text": "Hel"}, finish=None)], "usageMetadata": USAGE}
    last = {"candidates": [candidate({"text": "lo."})]}
    assert "gemini_stream_final_frame" in findings(sse(first, last))
    finished_early = {"candidates": [candidate({"text": "Hel"})]}
    trailing = {"candidates": [candidate({"text": "lo."}, finish=None)], "usageMetadata": USAGE}
    assert "gemini_stream_final_frame" in findings(sse(finished_early, trailing))
    twice = {"candidates": [candidate({"text": "lo."})], "usageMetadata": USAGE}
    assert "gemini_stream_final_frame" in findings(sse(finished_early, twice))
    # candidates finishing in different frames, each once, the last frame carrying usage and a finish: fine
    a_done = {"candidates": [candidate({"text": "A."}), candidate({"text": "B"}, finish=None, index=1)]}
    b_done = {"candidates": [candidate({"text": "b."}, index=1)], "usageMetadata": USAGE}
    assert findings(sse(a_done, b_done, request={"generationConfig": {"candidateCount": 2}})) == set()


# ------------------------------------------------------------------------------- relations


def test_truncation_relation() -> None:
    full = unary(answer("a b c d e f", usage={**USAGE, "candidatesTokenCount": 6, "totalTokenCount": 11}))
    cut_usage = {**USAGE, "candidatesTokenCount": 3, "totalTokenCount": 8}
    good = unary(answer("a b c", usage=cut_usage, finish="MAX_TOKENS"))
    bad = unary(answer("a b c", usage=cut_usage))
    assert list(gemini_truncation_finish_max_tokens(full, good, 3, True)) == []
    assert messages_of(gemini_truncation_finish_max_tokens(full, bad, 3, True))
    assert messages_of(gemini_truncation_finish_max_tokens(full, bad, 3, False))  # used the whole limit
    short = unary(answer("a", usage={**USAGE, "candidatesTokenCount": 1, "totalTokenCount": 6}))
    assert list(gemini_truncation_finish_max_tokens(full, short, 3, False)) == []


def test_stop_relation() -> None:
    original = unary(answer("one two three four"))
    assert list(gemini_stop_sequence_ends_answer(original, unary(answer("one two ")), "three")) == []
    assert messages_of(gemini_stop_sequence_ends_answer(original, unary(answer("one two")), "three"))
    assert messages_of(
        gemini_stop_sequence_ends_answer(original, unary(answer("one two ", finish="MAX_TOKENS")), "three")
    )


def test_stream_matches_unary_relation() -> None:
    unary_answer = unary(answer("Hello."))
    assert list(gemini_stream_matches_unary(unary_answer, text_stream("Hel", "lo."), True)) == []
    assert messages_of(gemini_stream_matches_unary(unary_answer, text_stream("Hel", "lo!"), True))
    other_usage = text_stream("Hel", "lo.", usage={**USAGE, "candidatesTokenCount": 4, "totalTokenCount": 9})
    assert messages_of(gemini_stream_matches_unary(unary_answer, other_usage, True))
    assert list(gemini_stream_matches_unary(unary_answer, other_usage, False)) == []  # only the prompt compared


def test_auth_relations() -> None:
    refused = error(403, {"error": {"code": 403, "message": "x", "status": "PERMISSION_DENIED"}})
    unauthenticated = error(401, {"error": {"code": 401, "message": "x", "status": "UNAUTHENTICATED"}})
    googles_own = error(400, {"error": {"code": 400, "message": "API key not valid", "status": "INVALID_ARGUMENT"}})
    accepted = unary(answer("a"))
    assert list(gemini_auth_required(refused, unauthenticated)) == []
    assert is_warning(gemini_auth_required(refused, googles_own))
    assert not is_warning(gemini_auth_required(accepted, unauthenticated))
    assert list(gemini_auth_styles_accepted({"x-goog-api-key": accepted, "?key=": accepted})) == []
    assert messages_of(gemini_auth_styles_accepted({"x-goog-api-key": accepted, "?key=": refused}))


def test_unknown_model_and_invalid_request_relations() -> None:
    not_found = error(404, {"error": {"code": 404, "message": "x", "status": "NOT_FOUND"}})
    invalid = error(400, {"error": {"code": 400, "message": "x", "status": "INVALID_ARGUMENT"}})
    crashed = error(500, {"error": {"code": 500, "message": "x", "status": "INTERNAL"}})
    assert list(gemini_unknown_model_rejected(not_found, "x")) == []
    assert is_warning(gemini_unknown_model_rejected(invalid, "x"))
    assert not is_warning(gemini_unknown_model_rejected(unary(answer("a")), "x"))
    assert list(gemini_invalid_request_rejected(invalid, "no contents")) == []
    assert not is_warning(gemini_invalid_request_rejected(crashed, "no contents"))


def test_model_listed_relation() -> None:
    page = unary({"models": [{"name": "models/gemini-2.5-pro"}]})
    described = unary({"name": "models/gemini-2.5-pro"})
    assert list(gemini_model_listed([page], described, "gemini-2.5-pro")) == []
    assert list(gemini_model_listed([page], described, "models/gemini-2.5-pro")) == []
    assert messages_of(gemini_model_listed([page], described, "gemini-2.5-flash"))
    openai_shape = unary({"object": "list", "data": [{"id": "gemini-2.5-pro"}]})
    assert messages_of(gemini_model_listed([openai_shape], described, "gemini-2.5-pro"))
    assert messages_of(gemini_model_listed([page], error(404, {}), "gemini-2.5-pro"))


# ------------------------------------------------------------------------ views never raise


@given(
    body=st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=5),
        lambda c: (
            st.lists(c, max_size=3)
            | st.dictionaries(
                st.sampled_from(
                    [
                        "candidates",
                        "content",
                        "parts",
                        "text",
                        "index",
                        "finishReason",
                        "usageMetadata",
                        "functionCall",
                        "args",
                        "thought",
                    ]
                ),
                c,
                max_size=4,
            )
        ),
        max_leaves=12,
    )
)
@settings(max_examples=150, suppress_health_check=list(HealthCheck))
def test_rules_never_raise_on_garbage(body: Any) -> None:
    for exchange in (unary(body), array(body), sse(body if isinstance(body, dict) else "x")):
        results = Results()
        check_exchange(exchange, results)
        harness_errors = [f.message for f in results.findings if "harness" in f.message]
        assert harness_errors == []
        read_answer(exchange)


# ----------------------------------------------------------------- family interface and mock


def test_build_request_translates_chat_messages() -> None:
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": [{"type": "text", "text": "More"}]},
    ]
    method, path, operation, body = build_request(
        "gemini", "models/g-1", messages, max_tokens=12, stream=True, temperature=0, stop=["x"], ignore_eos=True
    )
    assert (method, path, operation) == ("POST", "/v1beta/models/g-1:streamGenerateContent?alt=sse", STREAM_OPERATION)
    assert body == {
        "contents": [
            {"role": "user", "parts": [{"text": "Hi"}]},
            {"role": "model", "parts": [{"text": "Hello!"}]},
            {"role": "user", "parts": [{"text": "More"}]},
        ],
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "generationConfig": {"maxOutputTokens": 12, "temperature": 0, "stopSequences": ["x"]},
        "ignore_eos": True,
    }
    assert (
        build_request("gemini", "g-1", messages, max_tokens=None, stream=False)[1]
        == "/v1beta/models/g-1:generateContent"
    )
    assert request_headers("gemini", "k") == {"x-goog-api-key": "k"}
    assert request_headers("gemini", None) == {}


def test_the_mock_hears_the_same_chat_conversation() -> None:
    """A chat [system, user] conversation sent through the gemini family reaches the generator unchanged (X1)."""
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Tell me a story"}]
    _, _, _, body = build_request("gemini", "m", messages, max_tokens=9, stream=False, temperature=0, stop=["x"])
    chat = chat_body("m", body)
    assert chat["messages"] == messages
    direct = ChatRequest.from_body(
        {"model": "m", "messages": messages, "max_tokens": 9, "temperature": 0, "stop": ["x"]}
    )
    translated = ChatRequest.from_body(chat)
    assert translated.content_seed == direct.content_seed
    assert translated.prompt_tokens == direct.prompt_tokens
    assert (translated.max_tokens, translated.stop) == (9, ("x",))


def test_mock_translates_tools_and_forced_calls() -> None:
    body = {
        "contents": [
            {"role": "user", "parts": [{"text": "Weather?"}]},
            {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {"city": "Lisbon"}}}]},
            {"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": {"t": 20}}}]},
        ],
        "tools": [{"functionDeclarations": [{"name": "get_weather", "parameters": {"type": "OBJECT"}}]}],
        "toolConfig": {"functionCallingConfig": {"mode": "ANY"}},
        "generationConfig": {"candidateCount": 2, "responseMimeType": "application/json"},
    }
    chat = chat_body("m", body)
    assert [m["role"] for m in chat["messages"]] == ["user", "assistant", "tool"]
    assert chat["messages"][1]["tool_calls"][0]["function"] == {"name": "get_weather", "arguments": '{"city":"Lisbon"}'}
    assert chat["tools"][0]["function"]["parameters"] == {"type": "object"}
    assert chat["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert (chat["n"], chat["response_format"]) == (2, {"type": "json_object"})


def test_read_answer_maps_onto_chat_terms() -> None:
    usage = {"promptTokenCount": 5, "candidatesTokenCount": 3, "thoughtsTokenCount": 4, "totalTokenCount": 12}
    got = read_answer(unary(answer("Hi!", usage=usage, finish="MAX_TOKENS")))
    assert got is not None
    assert (got.text, got.input_tokens, got.output_tokens, got.finish, got.raw_finish) == (
        "Hi!",
        5,
        7,
        "length",
        "MAX_TOKENS",
    )
    called = read_answer(unary(call_answer(), TOOLS))
    assert called is not None and (called.finish, called.text) == ("tool_calls", '{"city":"Lisbon"}')
    streamed = read_answer(text_stream("Hel", "lo."))
    assert streamed is not None and streamed.stream
    assert [text for _, text in streamed.text_events] == ["Hel", "lo."]
    assert read_answer(error(404, {})) is None


@pytest.mark.parametrize("positive", [True, False])
def test_pin_generated_body_bounds_the_output(positive: bool) -> None:
    body: dict[str, Any] = {"contents": []}
    pin_generated_body(body, "m", positive)
    assert body["generationConfig"] == {"maxOutputTokens": 16}
    body = {"generationConfig": {"maxOutputTokens": 5000, "candidateCount": 8}}
    pin_generated_body(body, "m", positive)
    assert body["generationConfig"] == {"maxOutputTokens": 16, "candidateCount": 2}
    invalid = {"generationConfig": {"maxOutputTokens": -3, "candidateCount": 99}}
    pin_generated_body(invalid, "m", positive)
    assert invalid["generationConfig"] == {"maxOutputTokens": -3, "candidateCount": 99}
    odd = {"generationConfig": "fast"}
    pin_generated_body(odd, "m", positive)
    assert odd == {"generationConfig": "fast"}


# ------------------------------------------------------------------------------- openapi/gemini.yaml


def _errors(name: str, instance: Any) -> list[str]:
    return [e.message for e in spec.validator_for(name, "gemini").iter_errors(instance)]


def _walk(node: Any) -> Iterator[Any]:
    yield node
    if isinstance(node, dict):
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def test_document_is_valid_openapi_3_1_with_the_four_operations() -> None:
    document = spec.load_document("gemini")
    OpenAPIV31SpecValidator(copy.deepcopy(document)).validate()
    assert not any(isinstance(node, dict) and "nullable" in node for node in _walk(document))
    operations = {
        f"{method.upper()} {path}": operation["operationId"]
        for path, item in document["paths"].items()
        for method, operation in item.items()
    }
    assert operations == {
        LIST_MODELS_OPERATION: "listModels",
        GET_MODEL_OPERATION: "getModel",
        GENERATE_OPERATION: "generateContent",
        STREAM_OPERATION: "streamGenerateContent",
    }
    stream = document["paths"]["/v1beta/models/{model}:streamGenerateContent"]["post"]
    assert set(stream["responses"]["200"]["content"]) == {"text/event-stream", "application/json"}
    assert set(stream["responses"]) == {"200", "400", "401", "403", "404", "413", "429", "500", "503", "504"}
    assert document["security"] == [{"GoogApiKey": []}]
    assert set(document["components"]["securitySchemes"]) == {"GoogApiKey", "BearerAuth", "KeyQuery"}


def test_response_schemas_stay_open() -> None:
    schemas = spec.load_document("gemini")["components"]["schemas"]
    assert not any(isinstance(node, dict) and node.get("additionalProperties") is False for node in _walk(schemas))


def test_valid_samples() -> None:
    usage = {
        **USAGE,
        "thoughtsTokenCount": 0,
        "cachedContentTokenCount": 0,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 5}],
    }
    assert _errors("GenerateContentResponse", answer("a", usage=usage, createTime="2025-01-01T00:00:00Z")) == []
    assert _errors("GenerateContentResponse", call_answer()) == []
    assert (
        _errors("GenerateContentStreamResponse", {"candidates": [candidate({"text": "a"}, finish=None, index=None)]})
        == []
    )
    assert _errors("GenerateContentStreamArray", [answer("a"), {"candidates": []}]) == []
    assert _errors("GenerateContentResponse", answer("a", finish="MALFORMED_RESPONSE")) == []  # values keep coming
    assert (
        _errors(
            "ErrorResponse",
            {"error": {"code": 400, "message": "x", "status": "INVALID_ARGUMENT", "details": [{"@type": "t"}]}},
        )
        == []
    )
    assert (
        _errors(
            "ListModelsResponse",
            {"models": [{"name": "models/m", "supportedGenerationMethods": ["generateContent"]}], "nextPageToken": "2"},
        )
        == []
    )
    request = {
        "contents": [
            {"role": "user", "parts": [{"text": "hi"}, {"inlineData": {"mimeType": "image/png", "data": "AAAA"}}]},
            {"role": "model", "parts": [{"functionCall": {"name": "f", "args": {}}}]},
            {"role": "user", "parts": [{"functionResponse": {"name": "f", "response": {"ok": True}}}]},
        ],
        "systemInstruction": {"role": "user", "parts": [{"text": "Be brief."}]},
        "tools": [{"functionDeclarations": [{"name": "f", "parameters": {"type": "OBJECT"}}]}, {"googleSearch": {}}],
        "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["f"]}},
        "generationConfig": {
            "maxOutputTokens": 8,
            "stopSequences": ["x"],
            "candidateCount": 2,
            "temperature": 0,
            "thinkingConfig": {"thinking_budget": 0, "include_thoughts": False},
        },
        "ignore_eos": True,
    }
    assert _errors("GenerateContentRequest", request) == []


def test_invalid_samples() -> None:
    assert _errors("GenerateContentResponse", {"candidates": []})  # no usageMetadata
    assert _errors("GenerateContentResponse", answer("a", finish="length"))
    assert _errors("GenerateContentResponse", call_answer(args="{}"))
    assert _errors("GenerateContentResponse", answer("a", usage={**USAGE, "totalTokenCount": -1}))
    assert _errors("ErrorResponse", {"error": {"message": "x", "type": "invalid_request_error"}})
    assert _errors("ErrorResponse", {"error": {"code": 400, "message": "x", "status": "Bad Request"}})
    assert _errors("ListModelsResponse", {"object": "list", "data": []})
    assert _errors("Model", {"name": "gemini-2.5-pro"})
    for bad in (
        {},
        {"contents": []},
        {"contents": [{"role": "assistant", "parts": [{"text": "x"}]}]},
        {"contents": [{"parts": [{"text": "x", "inlineData": {"mimeType": "a", "data": ""}}]}]},
        {**REQUEST, "generationConfig": {"stopSequences": ["1", "2", "3", "4", "5", "6"]}},
        {**REQUEST, "generationConfig": {"candidateCount": 0}},
        {**REQUEST, "generationConfig": {"thinkingConfig": {"thinkingBudget": -2}}},
        {**REQUEST, "tools": [{"functionDeclarations": [{"name": "has space"}]}]},
        {**REQUEST, "toolConfig": {"functionCallingConfig": {"mode": "REQUIRED"}}},
    ):
        assert _errors("GenerateContentRequest", bad), bad


def test_schemathesis_loads_the_colon_paths_and_generates_valid_bodies() -> None:
    schema = spec.load_schemathesis_schema("gemini", base_url="http://127.0.0.1:9")
    operations = {result.ok().label: result.ok() for result in schema.get_all_operations()}
    assert set(operations) == {LIST_MODELS_OPERATION, GET_MODEL_OPERATION, GENERATE_OPERATION, STREAM_OPERATION}
    operation = operations[GENERATE_OPERATION]
    assert [p.name for p in operation.path_parameters] == ["model"]
    urls: list[str] = []

    @settings(
        max_examples=5, database=None, deadline=None, phases=[Phase.generate], suppress_health_check=list(HealthCheck)
    )
    @given(case=operation.as_strategy())
    def generate(case: Any) -> None:
        case.path_parameters["model"] = "gemini-2.5-pro"
        assert _errors("GenerateContentRequest", case.body) == []
        urls.append(case.as_transport_kwargs(base_url="http://127.0.0.1:9")["url"])

    generate()
    assert urls and set(urls) == {"http://127.0.0.1:9/v1beta/models/gemini-2.5-pro:generateContent"}


def test_listed_model_ids() -> None:
    from llmconform.families.gemini import listed_model_ids

    page = unary({"models": [{"name": "models/a"}, {"name": "b"}, {"displayName": "c"}, "d"]})
    assert listed_model_ids(page) == ["a", "b"]
    assert listed_model_ids(unary(b"not json")) == []
