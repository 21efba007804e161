"""Messages (Claude-format) rules on hand-made exchanges: each holds on a correct answer and fires on the
broken one; plus the contract document, the family module and the schemathesis pin."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmconform import spec
from llmconform.checks import REGISTRY, Results, check_exchange
from llmconform.checks.messages_relations import (
    messages_auth_required,
    messages_auth_styles_accepted,
    messages_cache_tokens_partition_input,
    messages_invalid_request_rejected,
    messages_stop_sequence_ends_answer,
    messages_stream_matches_unary,
    messages_truncation_stop_reason,
    messages_unknown_model_rejected,
)
from llmconform.conformance.messages_probes import GENERATION_BOUNDS, PLANNED, PLANNED_REQUESTS, pin_generated_body
from llmconform.exchange import Exchange, StreamEvent
from llmconform.families import messages as family
from llmconform.families.messages import MESSAGES_OPERATION
from llmconform.mock.faults.messages import FAULTS
from llmconform.sse import decode_all

# ---------------------------------------------------------------------------- builders


def request(**extra: Any) -> dict[str, Any]:
    return {"model": "m", "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}], **extra}


def usage(input_tokens: int = 10, output: int = 3, read: int = 0, creation: int = 0) -> dict[str, Any]:
    return {
        "input_tokens": input_tokens,
        "output_tokens": output,
        "cache_creation_input_tokens": creation,
        "cache_read_input_tokens": read,
    }


def text(value: str) -> dict[str, Any]:
    return {"type": "text", "text": value}


def tool_use(name: str = "get_weather", call_id: str = "toolu_1", arguments: Any = None) -> dict[str, Any]:
    return {
        "type": "tool_use",
        "id": call_id,
        "name": name,
        "input": {"city": "Lisbon"} if arguments is None else arguments,
    }


def message(
    *blocks: dict[str, Any], stop_reason: Any = "end_turn", stop_sequence: Any = None, **fields: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "m",
        "content": list(blocks) if blocks else [text("Hello world")],
        "stop_reason": stop_reason,
        "stop_sequence": stop_sequence,
        "usage": usage(),
    }
    body.update(fields)
    return body


def unary(body: Any, req: dict[str, Any] | None = None, status: int = 200, media: str = "application/json") -> Exchange:
    return Exchange(
        family="messages",
        operation=MESSAGES_OPERATION,
        method="POST",
        url="http://127.0.0.1/v1/messages",
        request_headers={},
        request_json=req if req is not None else request(),
        status=status,
        response_headers={"content-type": media},
        body=body if isinstance(body, bytes) else json.dumps(body).encode(),
    )


def sse(*events: dict[str, Any] | tuple[str | None, str]) -> bytes:
    """Frames named after their data's type; a (name, raw data) tuple is sent as given (None: no name)."""
    frames = []
    for event in events:
        name, data = event if isinstance(event, tuple) else (event["type"], json.dumps(event))
        frames.append((f"event: {name}\n" if name else "") + f"data: {data}\n\n")
    return "".join(frames).encode()


def stream(payload: bytes, req: dict[str, Any] | None = None) -> Exchange:
    exchange = unary(b"", {**(req or request()), "stream": True}, media="text/event-stream")
    exchange.body = payload
    exchange.events = [
        StreamEvent(at_s=0.01 * i, data=e.data, event=e.event) for i, e in enumerate(decode_all(payload))
    ]
    return exchange


def start(input_tokens: int = 10, output: int = 1, **message_fields: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {"stop_reason": None, "content": [], "usage": usage(input_tokens, output)}
    body = message(**{**fields, **message_fields})
    return {"type": "message_start", "message": body}


def block_start(index: int, block: dict[str, Any]) -> dict[str, Any]:
    return {"type": "content_block_start", "index": index, "content_block": block}


def text_delta(index: int, value: str) -> dict[str, Any]:
    return {"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": value}}


def json_delta(index: int, value: str) -> dict[str, Any]:
    return {"type": "content_block_delta", "index": index, "delta": {"type": "input_json_delta", "partial_json": value}}


def block_stop(index: int) -> dict[str, Any]:
    return {"type": "content_block_stop", "index": index}


def message_delta(reason: Any = "end_turn", output: int = 3, sequence: Any = None, **counts: int) -> dict[str, Any]:
    return {
        "type": "message_delta",
        "delta": {"stop_reason": reason, "stop_sequence": sequence},
        "usage": {"output_tokens": output, **counts},
    }


PING = {"type": "ping"}
STOP = {"type": "message_stop"}


def text_events(*pieces: str, reason: str = "end_turn", output: int | None = None) -> list[dict[str, Any]]:
    return [
        start(),
        PING,
        block_start(0, text("")),
        *(text_delta(0, p) for p in pieces),
        block_stop(0),
        message_delta(reason, output if output is not None else len(pieces), input_tokens=10),
        STOP,
    ]


def tool_events(*fragments: str, reason: str = "tool_use") -> list[dict[str, Any]]:
    return [
        start(),
        block_start(0, tool_use(arguments={})),
        *(json_delta(0, f) for f in fragments),
        block_stop(0),
        message_delta(reason, len(fragments)),
        STOP,
    ]


def findings(exchange: Exchange) -> set[str]:
    results = Results()
    check_exchange(exchange, results)
    return {f.rule for f in results.findings}


def messages_findings(exchange: Exchange) -> list[tuple[str, str]]:
    results = Results()
    check_exchange(exchange, results)
    return [(f.rule, f.message) for f in results.findings]


TOOLS = request(tools=[{"name": "get_weather", "input_schema": {"type": "object"}}])

# ---------------------------------------------------------------------------- correct answers are silent


CORRECT: dict[str, Callable[[], Exchange]] = {
    "unary text": lambda: unary(message()),
    "unary tool use": lambda: unary(message(tool_use(), stop_reason="tool_use"), TOOLS),
    "unary cut by max_tokens": lambda: unary(message(stop_reason="max_tokens"), request(max_tokens=3)),
    "unary stop sequence": lambda: unary(
        message(text("Hello"), stop_reason="stop_sequence", stop_sequence="world"), request(stop_sequences=["world"])
    ),
    "unary with vendor fields and a server-tool block": lambda: unary(
        message(text("a"), {"type": "server_tool_use", "id": "s", "name": "web_search", "input": {}}, extra=1)
    ),
    "unary empty content": lambda: unary(message(content=[], usage=usage(output=1))),
    "stream text": lambda: stream(sse(*text_events("Hello", " world"))),
    "stream tool use": lambda: stream(sse(*tool_events('{"city"', ': "Lisbon"}')), TOOLS),
    "stream ending in an error event": lambda: stream(
        sse(
            start(),
            block_start(0, text("")),
            text_delta(0, "Hel"),
            {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
        )
    ),
    "stream with pings anywhere": lambda: stream(
        sse(
            PING,
            start(),
            PING,
            block_start(0, text("")),
            PING,
            text_delta(0, "Hi"),
            block_stop(0),
            message_delta(),
            PING,
            STOP,
        )
    ),
    "401": lambda: unary({"type": "error", "error": {"type": "authentication_error", "message": "no"}}, status=401),
    "503 with an unlisted status": lambda: unary(
        {"type": "error", "error": {"type": "api_error", "message": "down"}}, status=503
    ),
}


@pytest.mark.parametrize("name", sorted(CORRECT))
def test_correct_answers_break_no_rule(name: str) -> None:
    assert messages_findings(CORRECT[name]()) == []


# ---------------------------------------------------------------------------- each exchange rule fires


def _broken_stream(*events: dict[str, Any] | tuple[str | None, str], req: dict[str, Any] | None = None) -> Exchange:
    return stream(sse(*events), req)


BROKEN: list[tuple[str, str, Callable[[], Exchange]]] = [
    ("messages_response_matches_schema", "id not a string", lambda: unary(message(id=7))),
    ("messages_response_matches_schema", "text block without text", lambda: unary(message({"type": "text"}))),
    (
        "messages_response_matches_schema",
        "bad stream delta",
        lambda: stream(sse(*text_events("a")).replace(b'"text_delta"', b'"txt_delta"')),
    ),
    ("messages_content_type_declared", "unary as text/plain", lambda: unary(message(), media="text/plain")),
    ("messages_content_type_declared", "error as html", lambda: unary(b"<html>", status=500, media="text/html")),
    (
        "messages_error_body_shape",
        "OpenAI error shape",
        lambda: unary({"error": {"message": "x", "type": "invalid_request_error"}}, status=400),
    ),
    ("messages_error_body_shape", "not JSON", lambda: unary(b"oops", status=500)),
    (
        "messages_error_type_matches_status",
        "404 says invalid_request_error",
        lambda: unary({"type": "error", "error": {"type": "invalid_request_error", "message": "m"}}, status=404),
    ),
    ("messages_usage_present", "no input_tokens", lambda: unary(message(usage={"output_tokens": 3}))),
    (
        "messages_usage_present",
        "message_delta without output_tokens",
        lambda: _broken_stream(
            start(), message_delta(), ("message_delta", '{"type": "message_delta", "delta": {}, "usage": {}}'), STOP
        ),
    ),
    ("messages_usage_counts_non_negative", "negative cache read", lambda: unary(message(usage=usage(read=-1)))),
    (
        "messages_usage_counts_non_negative",
        "string count",
        lambda: unary(message(usage={**usage(), "output_tokens": "3"})),
    ),
    ("messages_usage_counts_nonzero", "zero input", lambda: unary(message(usage=usage(input_tokens=0)))),
    ("messages_usage_counts_nonzero", "zero output with text", lambda: unary(message(usage=usage(output=0)))),
    ("messages_stop_reason_valid", "OpenAI's stop", lambda: unary(message(stop_reason="stop"))),
    ("messages_stop_reason_valid", "null in unary", lambda: unary(message(stop_reason=None))),
    (
        "messages_stop_reason_valid",
        "set in message_start",
        lambda: _broken_stream(start(stop_reason="end_turn"), message_delta(), STOP),
    ),
    (
        "messages_stop_sequence_echoed",
        "not echoed",
        lambda: unary(message(stop_reason="stop_sequence"), request(stop_sequences=["x"])),
    ),
    (
        "messages_stop_sequence_echoed",
        "not one of the request's",
        lambda: unary(message(stop_reason="stop_sequence", stop_sequence="y"), request(stop_sequences=["x"])),
    ),
    (
        "messages_stop_sequence_echoed",
        "text keeps it",
        lambda: unary(
            message(text("a x b"), stop_reason="stop_sequence", stop_sequence="x"), request(stop_sequences=["x"])
        ),
    ),
    (
        "messages_stop_sequence_echoed",
        "set on end_turn",
        lambda: unary(message(stop_sequence="x"), request(stop_sequences=["x"])),
    ),
    (
        "messages_max_tokens_respected",
        "one over",
        lambda: unary(message(stop_reason="max_tokens", usage=usage(output=4)), request(max_tokens=3)),
    ),
    (
        "messages_tool_use_shape",
        "input as a string",
        lambda: unary(message(tool_use(arguments='{"city": "Lisbon"}'), stop_reason="tool_use"), TOOLS),
    ),
    (
        "messages_tool_use_shape",
        "tool not offered",
        lambda: unary(message(tool_use(name="other"), stop_reason="tool_use"), TOOLS),
    ),
    (
        "messages_tool_use_shape",
        "duplicate ids",
        lambda: unary(message(tool_use(), tool_use(), stop_reason="tool_use"), TOOLS),
    ),
    (
        "messages_tool_use_shape",
        "fragments spell a string",
        lambda: _broken_stream(*tool_events('"{\\"city', '\\": 1}"'), req=TOOLS),
    ),
    ("messages_tool_use_shape", "fragments not JSON", lambda: _broken_stream(*tool_events('{"city": '), req=TOOLS)),
    ("messages_tool_use_stop_reason", "tool use with end_turn", lambda: unary(message(tool_use()), TOOLS)),
    (
        "messages_tool_use_stop_reason",
        "tool_use without a block",
        lambda: unary(message(stop_reason="tool_use"), TOOLS),
    ),
    (
        "messages_tool_choice_honoured",
        "named tool ignored",
        lambda: unary(message(), {**TOOLS, "tool_choice": {"type": "tool", "name": "get_weather"}}),
    ),
    (
        "messages_tool_choice_honoured",
        "any ignored",
        lambda: unary(message(), {**TOOLS, "tool_choice": {"type": "any"}}),
    ),
    (
        "messages_tool_choice_honoured",
        "none called a tool",
        lambda: unary(message(tool_use(), stop_reason="tool_use"), {**TOOLS, "tool_choice": {"type": "none"}}),
    ),
    (
        "messages_stream_event_named",
        "no event lines",
        lambda: stream(sse(*((None, json.dumps(e)) for e in text_events("a")))),
    ),
    (
        "messages_stream_event_named",
        "name differs from type",
        lambda: _broken_stream(start(), ("delta", json.dumps(message_delta())), STOP),
    ),
    ("messages_stream_event_named", "data not JSON", lambda: _broken_stream(start(), ("message_delta", "{oops"), STOP)),
    ("messages_stream_event_order", "no message_start", lambda: _broken_stream(*text_events("a")[1:])),
    (
        "messages_stream_event_order",
        "no content_block_start",
        lambda: _broken_stream(start(), text_delta(0, "a"), block_stop(0), message_delta(), STOP),
    ),
    (
        "messages_stream_event_order",
        "index starts at 1",
        lambda: _broken_stream(
            start(), block_start(1, text("")), text_delta(1, "a"), block_stop(1), message_delta(), STOP
        ),
    ),
    (
        "messages_stream_event_order",
        "delta of the wrong kind",
        lambda: _broken_stream(
            start(), block_start(0, text("")), json_delta(0, "{}"), block_stop(0), message_delta(), STOP
        ),
    ),
    (
        "messages_stream_event_order",
        "message_delta with a block open",
        lambda: _broken_stream(
            start(), block_start(0, text("")), text_delta(0, "a"), message_delta(), block_stop(0), STOP
        ),
    ),
    (
        "messages_stream_event_order",
        "message_stop without message_delta",
        lambda: _broken_stream(start(), block_start(0, text("")), text_delta(0, "a"), block_stop(0), STOP),
    ),
    (
        "messages_stream_event_order",
        "events after message_stop",
        lambda: _broken_stream(*text_events("a"), message_delta()),
    ),
    (
        "messages_stream_usage_cumulative",
        "output decreases",
        lambda: _broken_stream(start(output=1), message_delta(None, 5), message_delta("end_turn", 2), STOP),
    ),
    (
        "messages_stream_usage_cumulative",
        "input changes",
        lambda: _broken_stream(start(input_tokens=0), message_delta(input_tokens=10), STOP),
    ),
    (
        "messages_stream_error_event",
        "silent close",
        lambda: _broken_stream(start(), block_start(0, text("")), text_delta(0, "a")),
    ),
    (
        "messages_stream_error_event",
        "malformed error event",
        lambda: _broken_stream(start(), {"type": "error", "error": "Overloaded"}),
    ),
    (
        "messages_stream_error_event",
        "events after the error",
        lambda: _broken_stream(
            start(), {"type": "error", "error": {"type": "api_error", "message": "x"}}, message_delta(), STOP
        ),
    ),
]


@pytest.mark.parametrize(("rule", "what", "build"), BROKEN, ids=[f"{r}: {w}" for r, w, _ in BROKEN])
def test_rule_fires_on_broken_answer(rule: str, what: str, build: Callable[[], Exchange]) -> None:
    assert rule in findings(build()), what


def test_every_exchange_rule_of_the_family_has_a_broken_example() -> None:
    exchange_rules = {r.id for r in REGISTRY if r.family == "messages" and r.kind == "exchange"}
    assert exchange_rules == {rule for rule, _, _ in BROKEN}


def test_every_rule_has_a_fault_of_its_name_and_every_fault_a_rule() -> None:
    assert {r.id for r in REGISTRY if r.family == "messages"} == set(FAULTS)
    assert all(rule_id.startswith("messages_") for rule_id in FAULTS)


def test_warnings_are_warnings() -> None:
    no_cache_counts = message(usage={"input_tokens": 3, "output_tokens": 2})
    results = Results()
    check_exchange(unary(no_cache_counts), results)
    assert [(f.rule, f.severity) for f in results.findings] == [("messages_usage_present", "warning")]
    unknown_type = {"type": "error", "error": {"type": "teapot_error", "message": "m"}}
    results = Results()
    check_exchange(unary(unknown_type, status=418), results)
    assert [(f.rule, f.severity) for f in results.findings] == [("messages_error_body_shape", "warning")]


def test_a_cut_tool_input_is_not_judged_as_json() -> None:
    cut = stream(sse(*tool_events('{"city": "Lis', reason="max_tokens")), TOOLS)
    assert "messages_tool_use_shape" not in findings(cut)


@given(
    input_tokens=st.integers(0, 10**6),
    output=st.integers(1, 10**6),
    read=st.integers(0, 10**6),
    creation=st.integers(0, 10**6),
)
def test_any_valid_usage_holds_and_any_negative_count_fires(
    input_tokens: int, output: int, read: int, creation: int
) -> None:
    counts = usage(input_tokens + 1, output, read, creation)
    exchange = unary(message(usage=counts), request(max_tokens=10**6))
    assert findings(exchange) == set()
    for key in counts:
        broken = unary(message(usage={**counts, key: -1}), request(max_tokens=10**6))
        assert "messages_usage_counts_non_negative" in findings(broken)


# ---------------------------------------------------------------------------- relation rules


def test_truncation_needs_max_tokens_as_stop_reason() -> None:
    full = unary(message(usage=usage(output=30)))
    cut = unary(message(stop_reason="max_tokens", usage=usage(output=4)), request(max_tokens=4))
    assert list(messages_truncation_stop_reason(full, cut, 4, deterministic=True)) == []
    wrong = unary(message(stop_reason="end_turn", usage=usage(output=4)), request(max_tokens=4))
    assert list(messages_truncation_stop_reason(full, wrong, 4, deterministic=False))
    short = unary(message(stop_reason="end_turn", usage=usage(output=2)), request(max_tokens=4))
    assert list(messages_truncation_stop_reason(full, short, 4, deterministic=False)) == []


def test_stop_sequence_gives_the_prefix_and_echoes_it() -> None:
    original = unary(message(text("The lighthouse keeps watch over the sea.")))
    good = unary(message(text("The lighthouse keeps "), stop_reason="stop_sequence", stop_sequence="watch"))
    assert list(messages_stop_sequence_ends_answer(original, good, "watch")) == []
    early = unary(message(text("The lighthouse "), stop_reason="stop_sequence", stop_sequence="watch"))
    assert len(list(messages_stop_sequence_ends_answer(original, early, "watch"))) == 1
    not_echoed = unary(message(text("The lighthouse keeps "), stop_reason="end_turn"))
    assert len(list(messages_stop_sequence_ends_answer(original, not_echoed, "watch"))) == 1


def test_stream_matches_unary_compares_text_usage_and_tools() -> None:
    base = unary(message(text("Hello world"), usage={**usage(output=2), "input_tokens": 10}))
    same = stream(sse(*text_events("Hello", " world")))
    assert list(messages_stream_matches_unary(base, same, deterministic=True)) == []
    longer = stream(sse(*text_events("Hello", " world", " again")))
    problems = list(messages_stream_matches_unary(base, longer, deterministic=True))
    assert any("output_tokens" in p for p in map(str, problems)) and any("text" in p for p in map(str, problems))
    assert list(messages_stream_matches_unary(base, longer, deterministic=False)) == []  # prompt counts agree
    tool_unary = unary(
        message(tool_use(arguments={"city": "Lisbon"}), stop_reason="tool_use", usage=usage(output=2)), TOOLS
    )
    tool_stream = stream(sse(*tool_events('{"city"', ': "Lisbon"}')), TOOLS)
    assert list(messages_stream_matches_unary(tool_unary, tool_stream, deterministic=True)) == []


def test_auth_and_refusal_relations() -> None:
    refused = unary({"type": "error", "error": {"type": "authentication_error", "message": "x"}}, status=401)
    accepted = unary(message())
    forbidden = unary({"type": "error", "error": {"type": "permission_error", "message": "x"}}, status=403)
    assert list(messages_auth_required(refused, refused)) == []
    assert len(list(messages_auth_required(accepted, refused))) == 1
    assert all(type(v).__name__ == "Warn" for v in messages_auth_required(forbidden, refused))
    assert list(messages_auth_styles_accepted(accepted, accepted)) == []
    assert len(list(messages_auth_styles_accepted(accepted, refused))) == 1
    not_found = unary({"type": "error", "error": {"type": "not_found_error", "message": "x"}}, status=404)
    assert list(messages_unknown_model_rejected(not_found, "nope")) == []
    assert list(messages_unknown_model_rejected(accepted, "nope"))
    bad = unary({"type": "error", "error": {"type": "invalid_request_error", "message": "x"}}, status=400)
    server = unary({"type": "error", "error": {"type": "api_error", "message": "x"}}, status=500)
    assert list(messages_invalid_request_rejected(bad, "no max_tokens")) == []
    assert [type(v).__name__ for v in messages_invalid_request_rejected(server, "no max_tokens")] == ["str"]


def test_cache_marker_may_only_split_the_input() -> None:
    plain = unary(message(usage=usage(input_tokens=500)))
    split = unary(message(usage=usage(input_tokens=20, read=480)))
    written = unary(message(usage=usage(input_tokens=20, creation=480)))
    assert list(messages_cache_tokens_partition_input(plain, split)) == []
    assert list(messages_cache_tokens_partition_input(plain, written)) == []
    doubled = unary(message(usage=usage(input_tokens=500, read=480)))
    assert len(list(messages_cache_tokens_partition_input(plain, doubled))) == 1


# ---------------------------------------------------------------------------- the family module


def test_request_headers_are_native() -> None:
    assert family.request_headers("k") == {"x-api-key": "k", "anthropic-version": "2023-06-01"}
    assert family.request_headers(None) == {"anthropic-version": "2023-06-01"}


def test_build_request_translates_chat_messages() -> None:
    chat = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    method, path, operation, body = family.build_request(
        "m", chat, max_tokens=8, stream=True, temperature=0, stop=["x"], ignore_eos=True
    )
    assert (method, path, operation) == ("POST", "/v1/messages", "POST /v1/messages")
    assert body == {
        "model": "m",
        "max_tokens": 8,
        "messages": [{"role": "user", "content": "Hi"}],
        "system": "Be brief.",
        "stream": True,
        "temperature": 0,
        "stop_sequences": ["x"],
        "ignore_eos": True,
    }
    two = [{"role": "system", "content": "A"}, {"role": "system", "content": "B"}, {"role": "user", "content": "Hi"}]
    assert family.build_request("m", two, max_tokens=None, stream=False)[3]["system"] == [text("A"), text("B")]
    assert family.build_request("m", two, max_tokens=None, stream=False)[3]["max_tokens"] == family.DEFAULT_MAX_TOKENS


def test_build_request_translates_tools_and_tool_turns() -> None:
    calls = [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}}]
    chat: list[dict[str, Any]] = [
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": None, "tool_calls": calls},
        {"role": "tool", "tool_call_id": "call_1", "content": "done"},
    ]
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    body = family.build_request("m", chat, max_tokens=8, stream=False, tools=tools, tool_choice="required")[3]
    assert body["messages"][1] == {
        "role": "assistant",
        "content": [{"type": "tool_use", "id": "call_1", "name": "f", "input": {"a": 1}}],
    }
    assert body["messages"][2] == {
        "role": "user",
        "content": [{"type": "tool_result", "tool_use_id": "call_1", "content": "done"}],
    }
    assert body["tools"] == [{"name": "f", "input_schema": {"type": "object"}}]
    assert body["tool_choice"] == {"type": "any"}


def test_read_answer_speaks_chat_terms() -> None:
    answer = family.read_answer(unary(message(stop_reason="max_tokens", usage=usage(20, 5, read=30, creation=2))))
    assert answer is not None
    assert (answer.input_tokens, answer.output_tokens, answer.finish, answer.raw_finish) == (
        52,
        5,
        "length",
        "max_tokens",
    )
    streamed = family.read_answer(stream(sse(*text_events("Hel", "lo"))))
    assert streamed is not None and streamed.stream
    assert streamed.text == "Hello" and [t for _, t in streamed.text_events] == ["Hel", "lo"]
    assert streamed.finish == "stop" and streamed.input_tokens == 10 and streamed.output_tokens == 2
    tool = family.read_answer(unary(message(tool_use(arguments={"city": "Lisbon"}), stop_reason="tool_use"), TOOLS))
    assert tool is not None and tool.finish == "tool_calls" and tool.text == '{"city":"Lisbon"}'
    assert family.read_answer(unary({"type": "error", "error": {}}, status=400)) is None


def test_view_never_raises_on_garbage() -> None:
    for body in (b"", b"[]", b'{"content": 5}', b'{"content": [1, {"type": 2}]}'):
        view = family.messages_view(unary(body))
        assert view.blocks == [] or all(b.type in (None, 2) for b in view.blocks)
    odd = stream(sse(("x", "1"), ("message_start", "[]"), ("content_block_delta", '{"type": "content_block_delta"}')))
    assert family.messages_view(odd).problems == [] and findings(odd) >= {"messages_stream_event_named"}


# ---------------------------------------------------------------------------- the contract document


def _errors(name: str, instance: Any) -> list[str]:
    return [e.message for e in spec.validator_for(name, "messages").iter_errors(instance)]


def test_document_operation_security_and_statuses() -> None:
    document = spec.load_document("messages")
    operation = document["paths"]["/v1/messages"]["post"]
    assert operation["operationId"] == "createMessage"
    assert document["security"] == [{"ApiKeyAuth": []}]
    assert document["components"]["securitySchemes"]["ApiKeyAuth"] == {
        **document["components"]["securitySchemes"]["ApiKeyAuth"],
        "type": "apiKey",
        "in": "header",
        "name": "x-api-key",
    }
    assert set(operation["responses"]) == {"200", "400", "401", "403", "404", "413", "429", "500", "503", "529"}
    assert set(operation["responses"]["200"]["content"]) == {"application/json", "text/event-stream"}


def test_request_schema_accepts_what_the_sdk_sends_and_requires_max_tokens() -> None:
    body = request(
        system=[{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral", "ttl": "1h"}}],
        messages=[
            {"role": "user", "content": [{"type": "text", "text": "hi"}]},
            {"role": "assistant", "content": [tool_use(), {"type": "thinking", "thinking": "t", "signature": "s"}]},
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "ok", "is_error": False}],
            },
        ],
        tools=[{"name": "get_weather", "input_schema": {"type": "object", "properties": {}}}],
        tool_choice={"type": "tool", "name": "get_weather", "disable_parallel_tool_use": True},
        stop_sequences=["x"],
        thinking={"type": "enabled", "budget_tokens": 1024},
        metadata={"user_id": "u"},
        service_tier="auto",
    )
    assert _errors("CreateMessageRequest", body) == []
    without = {k: v for k, v in body.items() if k != "max_tokens"}
    assert _errors("CreateMessageRequest", without) == ["'max_tokens' is a required property"]
    for broken in (
        {**body, "max_tokens": 0},
        {**body, "temperature": 1.5},
        {**body, "messages": [{"role": "system", "content": "x"}]},
        {**body, "messages": [{"role": "user", "content": "   "}]},
        {**body, "messages": [{"role": "user", "content": [tool_use()]}]},
        {**body, "tool_choice": {"type": "required"}},
    ):
        assert _errors("CreateMessageRequest", broken), broken


def test_response_schemas_stay_open_and_catch_real_breaks() -> None:
    assert _errors("Message", message(text("a"), {"type": "web_search_tool_result", "content": []}, vendor=1)) == []
    assert _errors("Message", message(tool_use(arguments='{"a": 1}')))  # input must be an object
    assert _errors("Message", message(stop_reason="stop"))
    assert _errors("Message", message(usage={"output_tokens": 1}))
    for event in (*text_events("a"), *tool_events("{}"), {"type": "future_event", "x": 1}):
        assert _errors("MessageStreamPayload", event) == [], event
    assert _errors("MessageStreamPayload", {"type": "message_delta", "delta": {}, "usage": {}})
    assert (
        _errors("ErrorResponse", {"type": "error", "error": {"type": "api_error", "message": "m"}, "request_id": None})
        == []
    )
    assert _errors("ErrorResponse", {"error": {"type": "api_error", "message": "m"}})


# ---------------------------------------------------------------------------- probes and schemathesis pinning


def test_planned_requests_add_up() -> None:
    assert sum(PLANNED.values()) == PLANNED_REQUESTS
    assert GENERATION_BOUNDS == {"max_tokens": 16}


def test_pin_bounds_cost_and_keeps_negative_cases_negative() -> None:
    body = request(max_tokens=5000, thinking={"type": "enabled", "budget_tokens": 2000}, model="x")
    body["messages"] = [{"role": "user", "content": [tool_use(), {"type": "image", "source": {}}]}]
    body["tools"] = [{"name": "t", "input_schema": {"type": "object"}}]
    body["tool_choice"] = {"type": "tool", "name": "other"}
    positive = copy.deepcopy(body)
    pin_generated_body(positive, "model-under-test", positive=True)
    assert positive["model"] == "model-under-test" and positive["max_tokens"] == 16
    assert "thinking" not in positive and positive["messages"][0]["content"] == "Hello."
    assert positive["tool_choice"] == {"type": "tool", "name": "t"}
    negative = {k: v for k, v in copy.deepcopy(body).items() if k != "max_tokens"}
    pin_generated_body(negative, "model-under-test", positive=False)
    assert "max_tokens" not in negative and "thinking" in negative  # the missing field stays missing
    out_of_range = {**copy.deepcopy(body), "max_tokens": -3}
    pin_generated_body(out_of_range, "m", positive=False)
    assert out_of_range["max_tokens"] == -3
    invalid_choice = {**copy.deepcopy(body), "tool_choice": {"type": "tool"}}
    pin_generated_body(invalid_choice, "m", positive=False)
    assert invalid_choice["tool_choice"] == {"type": "tool"}
