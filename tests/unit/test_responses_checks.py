"""Responses-family rules on hand-made exchanges: each holds on a correct answer and fires on the broken one.

Also: the contract document openapi/responses.yaml (names, samples, schemathesis generation), the family's
request builder and answer reader, the mock's request translation, and the schemathesis body pin.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from llmconform import spec
from llmconform.checks import REGISTRY, Results, Severity, check_exchange
from llmconform.checks.responses_relations import (
    responses_auth_required,
    responses_invalid_request_rejected,
    responses_stream_matches_unary,
    responses_truncation_incomplete,
    responses_unknown_model_rejected,
    responses_unknown_previous_response_rejected,
)
from llmconform.conformance.responses_probes import pin_generated_body
from llmconform.exchange import Exchange, StreamEvent
from llmconform.families import responses as family
from llmconform.families.responses import RESPONSES_OPERATION, responses_view
from llmconform.mock.responses import chat_body

DOCUMENT = "responses"
REQUEST = {"model": "m", "input": "hi"}
TOOLS = [
    {"type": "function", "name": "get_weather", "parameters": {"type": "object"}},
    {"type": "function", "name": "get_time", "parameters": {"type": "object"}},
]

# ------------------------------------------------------------------------------ builders


def usage(input_tokens: int = 9, output_tokens: int = 3, **changes: Any) -> dict[str, Any]:
    value: dict[str, Any] = {
        "input_tokens": input_tokens,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": input_tokens + output_tokens,
    }
    value.update(changes)
    return value


def text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def message_item(text: str, item_id: str = "msg_1", status: str = "completed") -> dict[str, Any]:
    return {"id": item_id, "type": "message", "status": status, "role": "assistant", "content": [text_part(text)]}


def call_item(
    arguments: Any = '{"city":"Lisbon"}', *, name: str = "get_weather", status: str = "completed"
) -> dict[str, Any]:
    return {
        "id": "fc_1",
        "type": "function_call",
        "status": status,
        "arguments": arguments,
        "call_id": "call_1",
        "name": name,
    }


def response_obj(output: list[dict[str, Any]], *, status: str = "completed", **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "resp_1",
        "object": "response",
        "created_at": 1_700_000_000,
        "status": status,
        "error": None,
        "incomplete_details": {"reason": "max_output_tokens"} if status == "incomplete" else None,
        "model": "m",
        "output": output,
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": usage(),
    }
    body.update(changes)
    return body


def exchange(
    request: dict[str, Any], *, status: int = 200, body: Any = None, media: str = "application/json"
) -> Exchange:
    return Exchange(
        family="responses",
        operation=RESPONSES_OPERATION,
        method="POST",
        url="http://127.0.0.1/v1/responses",
        request_headers={},
        request_json={**REQUEST, **request},
        status=status,
        response_headers={"content-type": media},
        body=json.dumps(body).encode() if body is not None else b"",
    )


def unary(body: Any, **request: Any) -> Exchange:
    return exchange(request, body=body)


Event = dict[str, Any] | str | tuple[str, dict[str, Any]]


def stream(events: list[Event], **request: Any) -> Exchange:
    """A streamed answer: dicts get sequence numbers (unless given) and ``event:`` names equal to their type;
    a (name, dict) pair sets the name; a string is raw data."""
    result = exchange({**request, "stream": True}, media="text/event-stream")
    result.events = []
    for number, raw in enumerate(events):
        if isinstance(raw, str):
            result.events.append(StreamEvent(at_s=number / 100, data=raw, event="message"))
            continue
        name, payload = raw if isinstance(raw, tuple) else (str(raw.get("type")), raw)
        payload = {"sequence_number": number, **payload}
        result.events.append(StreamEvent(at_s=number / 100, data=json.dumps(payload), event=name))
    return result


def text_events(
    pieces: tuple[str, ...] = ("Hello", " world"), *, status: str = "completed", final: dict[str, Any] | None = None
) -> list[Event]:
    text = "".join(pieces)
    item_status = "completed" if status == "completed" else "incomplete"
    start = response_obj([], status="in_progress", usage=None, incomplete_details=None)
    where = {"item_id": "msg_1", "output_index": 0}
    added = {"id": "msg_1", "type": "message", "status": "in_progress", "role": "assistant", "content": []}
    terminal = "response.completed" if status == "completed" else "response.incomplete"
    return [
        {"type": "response.created", "response": start},
        {"type": "response.in_progress", "response": start},
        {"type": "response.output_item.added", "output_index": 0, "item": added},
        {"type": "response.content_part.added", **where, "content_index": 0, "part": text_part("")},
        *[
            {"type": "response.output_text.delta", **where, "content_index": 0, "delta": p, "logprobs": []}
            for p in pieces
        ],
        {"type": "response.output_text.done", **where, "content_index": 0, "text": text, "logprobs": []},
        {"type": "response.content_part.done", **where, "content_index": 0, "part": text_part(text)},
        {"type": "response.output_item.done", "output_index": 0, "item": message_item(text, status=item_status)},
        {"type": terminal, "response": final or response_obj([message_item(text, status=item_status)], status=status)},
    ]


def call_events(arguments: tuple[str, ...] = ('{"city":', '"Lisbon"}')) -> list[Event]:
    joined = "".join(arguments)
    start = response_obj([], status="in_progress", usage=None)
    where = {"item_id": "fc_1", "output_index": 0}
    return [
        {"type": "response.created", "response": start},
        {"type": "response.output_item.added", "output_index": 0, "item": call_item("", status="in_progress")},
        *[{"type": "response.function_call_arguments.delta", **where, "delta": a} for a in arguments],
        {"type": "response.function_call_arguments.done", **where, "arguments": joined},
        {"type": "response.output_item.done", "output_index": 0, "item": call_item(joined)},
        {"type": "response.completed", "response": response_obj([call_item(joined)])},
    ]


def results_of(ex: Exchange) -> Results:
    results = Results()
    check_exchange(ex, results)
    return results


def findings(ex: Exchange) -> set[str]:
    return {f.rule for f in results_of(ex).findings}


def errors(ex: Exchange) -> set[str]:
    return {f.rule for f in results_of(ex).findings if f.severity is Severity.ERROR}


def replace(events: list[Event], index: int, **changes: Any) -> list[Event]:
    changed = copy.deepcopy(events)
    target = changed[index]
    assert isinstance(target, dict)
    target.update(changes)
    return changed


# ---------------------------------------------------------------------------- good answers


GOOD_TEXT = response_obj([message_item("Hello world")])


def test_correct_answers_are_silent() -> None:
    assert findings(unary(GOOD_TEXT)) == set()
    assert findings(unary(GOOD_TEXT, max_output_tokens=16)) == set()
    incomplete = response_obj([message_item("Hello", status="incomplete")], status="incomplete", usage=usage(9, 16))
    assert findings(unary(incomplete, max_output_tokens=16)) == set()
    forced = {"tools": TOOLS, "tool_choice": {"type": "function", "name": "get_weather"}}
    assert findings(unary(response_obj([call_item()]), **forced)) == set()
    reasoning = response_obj([{"id": "rs_1", "type": "reasoning", "summary": []}, message_item("Hi")])
    assert findings(unary(reasoning)) == set()
    assert findings(stream(text_events())) == set()
    assert findings(stream(call_events(), **forced)) == set()
    # A named function the request does not offer forces nothing (a lenient server may call another).
    unoffered = {"tools": TOOLS, "tool_choice": {"type": "function", "name": "not_offered"}}
    assert findings(unary(response_obj([call_item()]), **unoffered)) == set()
    assert findings(stream(text_events(("Hel", "lo"), status="incomplete"), max_output_tokens=16)) == set()


def test_unknown_item_and_event_types_are_tolerated() -> None:
    search = {"id": "ws_1", "type": "web_search_call", "status": "completed"}
    assert findings(unary(response_obj([search, message_item("Hi")]))) == set()
    events = text_events()
    events.insert(2, {"type": "response.reasoning_summary_part.added", "item_id": "rs_1", "output_index": 9})
    # an item-scoped event for an item never added is an ordering problem, and only that
    assert findings(stream(events)) == {"responses_stream_item_order"}
    events = text_events()
    events.insert(2, {"type": "response.web_search_call.searching", "item_id": "ws_1"})
    assert findings(stream(events)) == set()


def test_an_error_event_may_end_a_stream() -> None:
    events = text_events()[:5]
    events.append({"type": "error", "code": "server_error", "message": "upstream failed", "param": None})
    assert findings(stream(events)) == set()


# ---------------------------------------------------------------------------- broken answers


def _usage_body(**changes: Any) -> Exchange:
    return unary(response_obj([message_item("Hi")], usage=usage(**changes)))


def _without_usage_key() -> Exchange:
    body = response_obj([message_item("Hi")])
    del body["usage"]
    return unary(body)


def _renamed(events: list[Event], index: int, name: str) -> list[Event]:
    changed = copy.deepcopy(events)
    payload = changed[index]
    assert isinstance(payload, dict)
    changed[index] = (name, payload)
    return changed


def _numbered(events: list[Event], numbers: list[int]) -> list[Event]:
    changed = copy.deepcopy(events)
    for event, number in zip(changed, numbers, strict=True):
        assert isinstance(event, dict)
        event["sequence_number"] = number
    return changed


BROKEN: dict[str, list[Callable[[], Exchange]]] = {
    "responses_matches_schema": [
        lambda: unary({**GOOD_TEXT, "created_at": "now"}),
        lambda: unary(response_obj([call_item({"city": "Lisbon"})])),
        lambda: stream(replace(text_events(), 4, delta=None)),
    ],
    "responses_content_type_declared": [
        lambda: exchange({}, body=GOOD_TEXT, media="text/plain"),
        lambda: exchange({"stream": True}, body=GOOD_TEXT),
        lambda: exchange({}, status=400, body={"error": {"message": "x", "type": "y"}}, media="text/html"),
    ],
    "responses_error_body_shape": [
        lambda: exchange({}, status=400, body={"error": "bad request"}),
        lambda: exchange({}, status=500, body={"message": "x"}),
    ],
    "responses_usage_present": [
        _without_usage_key,
        lambda: unary(
            response_obj([message_item("Hi")], usage={"input_tokens": 1, "output_tokens": 1, "total_tokens": 2})
        ),
        lambda: stream(replace(text_events(), -1, response=response_obj([message_item("Hello world")], usage=None))),
    ],
    "responses_usage_total_is_sum": [lambda: _usage_body(total_tokens=13)],
    "responses_usage_counts_non_negative": [
        lambda: _usage_body(output_tokens_details={"reasoning_tokens": -1}),
        lambda: _usage_body(input_tokens=-1, total_tokens=2),
    ],
    "responses_usage_details_within_parent": [
        lambda: _usage_body(input_tokens_details={"cached_tokens": 10}),
        lambda: _usage_body(output_tokens_details={"reasoning_tokens": 4}),
    ],
    "responses_status_details_consistent": [
        lambda: unary(response_obj([message_item("Hi")], status="incomplete", incomplete_details=None)),
        lambda: unary(response_obj([message_item("Hi")], incomplete_details={"reason": "max_output_tokens"})),
        lambda: unary(response_obj([], status="failed")),
        lambda: unary(response_obj([message_item("Hi")], status="in_progress")),
    ],
    "responses_output_within_max_tokens": [
        lambda: unary(response_obj([message_item("Hi")], usage=usage(9, 17)), max_output_tokens=16),
    ],
    "responses_function_call_shape": [
        lambda: unary(response_obj([call_item("[1, 2]")]), tools=TOOLS),
        lambda: unary(response_obj([call_item("{not json")]), tools=TOOLS),
        lambda: unary(response_obj([call_item(name="get_stock")]), tools=TOOLS),
        lambda: unary(response_obj([{**call_item(), "call_id": ""}]), tools=TOOLS),
    ],
    "responses_tool_choice_honoured": [
        lambda: unary(GOOD_TEXT, tools=TOOLS, tool_choice={"type": "function", "name": "get_weather"}),
        lambda: unary(
            response_obj([call_item(name="get_time")]),
            tools=TOOLS,
            tool_choice={"type": "function", "name": "get_weather"},
        ),
        lambda: unary(GOOD_TEXT, tools=TOOLS, tool_choice="required"),
        lambda: unary(response_obj([call_item()]), tools=TOOLS, tool_choice="none"),
    ],
    "responses_stream_event_is_json": [
        lambda: stream([*text_events()[:3], '{"type": ', *text_events()[3:]]),
        lambda: stream([*text_events()[:3], "[1, 2]", *text_events()[3:]]),
        lambda: stream([]),
    ],
    "responses_stream_event_name_matches_type": [
        lambda: stream(_renamed(text_events(), 4, "response.text.delta")),
    ],
    "responses_stream_sequence_numbers": [
        lambda: stream(_numbered(text_events(), [0, 1, 2, 3, 4, 4, 6, 7, 8, 9])),
        lambda: stream(_numbered(text_events(), [9, 8, 7, 6, 5, 4, 3, 2, 1, 0])),
        lambda: stream(replace(text_events(), 4, sequence_number="4")),
    ],
    "responses_stream_lifecycle": [
        lambda: stream(text_events()[1:]),
        lambda: stream(text_events()[:-1]),
        lambda: stream([*text_events(), text_events()[-1]]),
        lambda: stream([*text_events(), {"type": "response.output_text.delta", "item_id": "msg_1"}]),
        lambda: stream(replace(text_events(), -1, type="response.incomplete")),
        lambda: stream(replace(text_events(), 1, response=response_obj([], status="in_progress", id="resp_2"))),
    ],
    "responses_stream_item_order": [
        lambda: stream([e for i, e in enumerate(text_events()) if i != 8]),
        lambda: stream([*text_events()[:3], text_events()[2], *text_events()[3:]]),
        lambda: stream([e for i, e in enumerate(text_events()) if i != 3]),
        lambda: stream(replace(text_events(), 4, item_id="msg_2")),
        lambda: stream([text_events()[0], text_events()[4], *text_events()[1:4], *text_events()[5:]]),
        lambda: stream(replace(text_events(), 8, item={**message_item("Hello world"), "id": "msg_9"})),
    ],
    "responses_stream_text_assembles": [
        lambda: stream(replace(text_events(), 6, text="Hello world indeed")),
        lambda: stream(replace(text_events(), 7, part=text_part("Hello"))),
        lambda: stream(replace(text_events(), -1, response=response_obj([message_item("Hello")]))),
        lambda: stream(replace(call_events(), 4, arguments='{"city":"Porto"}')),
    ],
}


def test_every_exchange_rule_has_a_broken_example() -> None:
    ids = {r.id for r in REGISTRY if r.family == "responses" and r.kind == "exchange"}
    assert ids == set(BROKEN)


@pytest.mark.parametrize(
    ("rule", "make"),
    [(rule, make) for rule, makers in BROKEN.items() for make in makers],
    ids=[f"{rule}-{i}" for rule, makers in BROKEN.items() for i in range(len(makers))],
)
def test_rule_fires_on_its_break(rule: str, make: Callable[[], Exchange]) -> None:
    assert rule in errors(make())


def test_warnings_only_where_clients_still_cope() -> None:
    unnamed = [(("message", e) if isinstance(e, dict) else e) for e in text_events()]
    result = results_of(stream(unnamed))
    assert {(f.rule, f.severity) for f in result.findings} == {
        ("responses_stream_event_name_matches_type", Severity.WARNING)
    }
    done_after = stream([*text_events(), "[DONE]"])
    assert {(f.rule, f.severity) for f in results_of(done_after).findings} == {
        ("responses_stream_lifecycle", Severity.WARNING)
    }
    no_param = exchange({}, status=401, body={"error": {"message": "bad key", "type": "invalid_request_error"}})
    assert {(f.rule, f.severity) for f in results_of(no_param).findings} == {
        ("responses_error_body_shape", Severity.WARNING)
    }


def test_a_function_call_cut_short_is_not_judged_for_its_arguments() -> None:
    cut = response_obj([call_item('{"city":"Lis', status="incomplete")], status="incomplete", usage=usage(9, 16))
    assert findings(unary(cut, tools=TOOLS, max_output_tokens=16)) == set()


# ---------------------------------------------------------------------------- tolerance


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
KEYS = st.sampled_from(["type", "output", "usage", "status", "output_index", "item", "response", "delta", "item_id"])


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    body=st.dictionaries(KEYS, JSON, max_size=6),
    events=st.lists(st.dictionaries(KEYS, JSON, max_size=6), max_size=6),
)
def test_rules_never_raise_on_hostile_answers(body: dict[str, Any], events: list[dict[str, Any]]) -> None:
    for ex in (unary(body), stream(list(events))):
        result = results_of(ex)
        crashes = [f.message for f in result.findings if "harness" in f.message]
        assert crashes == []
        family.read_answer(ex)


# ---------------------------------------------------------------------------- relation rules


def test_truncation_relation() -> None:
    full = unary(response_obj([message_item("a b c")], usage=usage(9, 40)))
    cut = unary(
        response_obj([message_item("a", status="incomplete")], status="incomplete", usage=usage(9, 16)),
        max_output_tokens=16,
    )
    assert list(responses_truncation_incomplete(full, cut, 16, True)) == []
    wrong = unary(response_obj([message_item("a")], usage=usage(9, 16)), max_output_tokens=16)
    assert list(responses_truncation_incomplete(full, wrong, 16, True))
    assert list(responses_truncation_incomplete(full, wrong, 16, False))  # the whole limit was used
    short = unary(response_obj([message_item("a")], usage=usage(9, 5)), max_output_tokens=16)
    assert list(responses_truncation_incomplete(full, short, 16, False)) == []
    reason = unary(
        response_obj([message_item("a")], status="incomplete", incomplete_details={"reason": "length"}),
        max_output_tokens=16,
    )
    assert list(responses_truncation_incomplete(full, reason, 16, True))
    streamed_completed = stream(text_events(("a",), final=response_obj([message_item("a")], status="incomplete")))
    assert any(
        "response.incomplete" in v
        for v in map(str, responses_truncation_incomplete(full, streamed_completed, 16, True))
    )


def test_stream_matches_unary_relation() -> None:
    base = unary(response_obj([message_item("Hello world")]))
    assert list(responses_stream_matches_unary(base, stream(text_events()), True)) == []
    longer = stream(text_events(("Hello", " world", "!")))
    assert list(responses_stream_matches_unary(base, longer, True))
    assert list(responses_stream_matches_unary(base, longer, False)) == []  # prompt only when not deterministic
    other_usage = unary(response_obj([message_item("Hello world")], usage=usage(10, 3)))
    assert list(responses_stream_matches_unary(other_usage, stream(text_events()), False))
    calls = unary(response_obj([call_item()]))
    assert list(responses_stream_matches_unary(calls, stream(call_events()), True)) == []
    assert list(responses_stream_matches_unary(calls, stream(call_events(('{"city":"Porto"}',))), True))


def _status(code: int | None) -> Exchange:
    ex = exchange({}, status=code or 0, body={"error": {"message": "x", "type": "y"}})
    if code is None:
        ex.status, ex.error = None, "connection reset"
    return ex


@pytest.mark.parametrize(
    ("judge", "refused", "warned", "failed"),
    [
        (lambda e: responses_auth_required(e, e), 401, 403, 200),
        (lambda e: responses_unknown_model_rejected(e, "nope"), 404, 400, 200),
        (lambda e: responses_invalid_request_rejected(e, "no input"), 400, 404, 500),
        (lambda e: responses_invalid_request_rejected(e, "no input"), 422, 413, 200),
        (lambda e: responses_unknown_previous_response_rejected(e, "resp_x"), 400, 409, 200),
        (lambda e: responses_unknown_previous_response_rejected(e, "resp_x"), 404, 403, 500),
    ],
)
def test_refusal_relations(judge: Callable[[Exchange], Any], refused: int, warned: int, failed: int) -> None:
    assert list(judge(_status(refused))) == []
    assert all(type(v).__name__ == "Warn" for v in judge(_status(warned)))
    assert list(judge(_status(warned)))
    assert [v for v in judge(_status(failed)) if isinstance(v, str)]
    assert [v for v in judge(_status(None)) if isinstance(v, str)]


# ---------------------------------------------------------------------------- family interface


def test_build_request_translates_chat_messages() -> None:
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    method, path, operation, body = family.build_request(
        "m", messages, max_tokens=16, stream=True, temperature=0, stop=["x"], ignore_eos=True
    )
    assert (method, path, operation) == ("POST", "/v1/responses", "POST /v1/responses")
    assert body == {
        "model": "m",
        "instructions": "Be brief.",
        "input": "Hi",
        "max_output_tokens": 16,
        "stream": True,
        "temperature": 0,
        "ignore_eos": True,
    }
    turns = [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello"},
        {"role": "user", "content": [{"type": "text", "text": "More"}]},
    ]
    _, _, _, body = family.build_request("m", turns, max_tokens=None, stream=False)
    assert body == {
        "model": "m",
        "input": [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello"},
            {"role": "user", "content": [{"type": "input_text", "text": "More"}]},
        ],
    }
    assert spec.validator_for("CreateResponseRequest", DOCUMENT).is_valid(body)
    assert family.request_headers("sk-1") == {"authorization": "Bearer sk-1"}
    assert family.request_headers(None) == {}


@pytest.mark.parametrize(
    "messages",
    [
        [{"role": "user", "content": "Hi"}],
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
        [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"}, {"role": "user", "content": "Go"}],
        [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}],
    ],
)
def test_the_mock_sees_the_chat_messages_build_request_started_from(messages: list[dict[str, Any]]) -> None:
    """Rules X1/X2 rest on this: one chat-format conversation reaches the generator unchanged."""
    _, _, _, body = family.build_request("m", messages, max_tokens=20, stream=False, temperature=0)
    translated = chat_body(body)
    assert translated["messages"] == messages
    assert (translated["max_tokens"], translated["temperature"]) == (20, 0)


def test_the_mock_translates_items_tools_and_formats() -> None:
    body = {
        "model": "m",
        "instructions": "sys",
        "input": [
            {"type": "message", "role": "developer", "content": "dev"},
            {
                "role": "user",
                "content": [{"type": "input_text", "text": "a"}, {"type": "input_image", "image_url": "u"}],
            },
            {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
            {"type": "function_call", "call_id": "c2", "name": "g", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": "ok"},
            {"type": "reasoning", "id": "rs_1", "summary": []},
        ],
        "tools": [{"type": "function", "name": "f", "parameters": {"type": "object"}}, {"type": "web_search"}],
        "tool_choice": {"type": "function", "name": "f"},
        "text": {"format": {"type": "json_schema", "name": "out", "schema": {"type": "object"}}},
    }
    chat = chat_body(body)
    assert chat["messages"] == [
        {"role": "system", "content": "sys"},
        {"role": "developer", "content": "dev"},
        {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "image_url", "image_url": {"url": "u"}}]},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}},
                {"id": "c2", "type": "function", "function": {"name": "g", "arguments": "{}"}},
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "ok"},
    ]
    assert chat["tools"] == [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    assert chat["tool_choice"] == {"type": "function", "function": {"name": "f"}}
    assert chat["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "out", "schema": {"type": "object"}},
    }


def test_read_answer_maps_onto_chat_terms() -> None:
    answer = family.read_answer(stream(text_events()))
    assert answer is not None
    assert (answer.text, answer.input_tokens, answer.output_tokens, answer.finish, answer.stream) == (
        "Hello world",
        9,
        3,
        "stop",
        True,
    )
    assert [t for _, t in answer.text_events] == ["Hello", " world"]
    cut = response_obj([message_item("Hi", status="incomplete")], status="incomplete")
    answer = family.read_answer(unary(cut))
    assert answer is not None and (answer.finish, answer.raw_finish, answer.text_events) == (
        "length",
        "incomplete/max_output_tokens",
        [],
    )
    answer = family.read_answer(unary(response_obj([call_item()])))
    assert answer is not None and (answer.finish, answer.text) == ("tool_calls", '{"city":"Lisbon"}')
    assert family.read_answer(exchange({}, status=400, body={"error": {}})) is None


def test_the_view_reads_streams_without_item_events_from_the_terminal_response() -> None:
    events = [
        e for e in text_events() if isinstance(e, dict) and e["type"] in ("response.created", "response.completed")
    ]
    view = responses_view(stream(events))
    assert view.text == "Hello world" and view.status == "completed"


# ---------------------------------------------------------------------------- schemathesis pin


def test_pin_bounds_cost_and_keeps_negative_cases_negative() -> None:
    body: dict[str, Any] = {
        "model": "x",
        "input": "hi",
        "max_output_tokens": 4,
        "top_logprobs": 25,
        "previous_response_id": "resp_1",
        "reasoning": {"effort": "high"},
        "tools": [{"type": "web_search"}, {"type": "function", "name": "f", "strict": True}],
        "tool_choice": {"type": "function", "name": "zzz"},
        "stream_options": {"include_obfuscation": True},
        "text": {"format": {"type": "json_schema", "name": "o", "schema": {}, "strict": True}},
    }
    positive = copy.deepcopy(body)
    pin_generated_body(positive, "m", True)
    assert positive == {
        "model": "m",
        "input": "hi",
        "max_output_tokens": 16,
        "top_logprobs": 25,
        "tools": [{"type": "function", "name": "f", "strict": False}],
        "tool_choice": {"type": "function", "name": "f"},
        "text": {"format": {"type": "json_schema", "name": "o", "schema": {}, "strict": False}},
    }
    negative = copy.deepcopy(body)
    pin_generated_body(negative, "m", False)
    assert negative["max_output_tokens"] == 4 and negative["top_logprobs"] == 25 and "reasoning" in negative
    assert "previous_response_id" not in negative
    unbounded: dict[str, Any] = {"model": "x", "input": "hi", "max_output_tokens": 500, "top_logprobs": 20}
    pin_generated_body(unbounded, "m", False)
    assert (unbounded["max_output_tokens"], unbounded["top_logprobs"]) == (16, 3)
    absent: dict[str, Any] = {"model": "x", "input": "hi", "max_output_tokens": -3}
    pin_generated_body(absent, "m", False)
    assert absent["max_output_tokens"] == -3


# ---------------------------------------------------------------------------- the contract document

COMPONENTS = [
    "CreateResponseRequest",
    "InputItem",
    "InputMessage",
    "FunctionCallInput",
    "FunctionCallOutputInput",
    "FunctionTool",
    "ToolChoice",
    "TextFormat",
    "Response",
    "FinishedResponse",
    "ResponseUsage",
    "OutputItem",
    "OutputMessage",
    "FunctionCallItem",
    "ReasoningItem",
    "ResponseServerSentEvent",
    "ResponseStreamEvent",
    "ResponseErrorEvent",
    "ErrorResponse",
    "Error",
]


def _errors(name: str, instance: Any) -> list[str]:
    return [e.message for e in spec.validator_for(name, DOCUMENT).iter_errors(instance)]


def test_document_operation_security_and_statuses() -> None:
    document = spec.load_document(DOCUMENT)
    operation = document["paths"]["/v1/responses"]["post"]
    assert operation["operationId"] == "createResponse"
    assert document["security"] == [{"BearerAuth": []}]
    assert set(operation["responses"]) == {"200", "400", "401", "403", "404", "413", "422", "429", "500", "503"}
    assert set(operation["responses"]["200"]["content"]) == {"application/json", "text/event-stream"}
    for name in COMPONENTS:
        assert name in document["components"]["schemas"]


def test_samples_of_real_answers_validate() -> None:
    assert _errors("FinishedResponse", GOOD_TEXT) == []
    assert _errors("FinishedResponse", response_obj([call_item(), {"type": "web_search_call", "id": "ws"}])) == []
    for event in [*text_events(), *call_events()]:
        assert isinstance(event, dict)
        assert _errors("ResponseStreamEvent", {"sequence_number": 0, **event}) == [], event["type"]
    error_event = {"type": "error", "sequence_number": 3, "message": "x", "code": None, "param": None}
    assert _errors("ResponseStreamEvent", error_event) == []
    assert (
        _errors(
            "ErrorResponse", {"error": {"message": "x", "type": "invalid_request_error", "param": None, "code": None}}
        )
        == []
    )


@pytest.mark.parametrize(
    ("name", "instance"),
    [
        ("FinishedResponse", {**GOOD_TEXT, "usage": None}),
        ("FinishedResponse", {**GOOD_TEXT, "object": "chat.completion"}),
        ("FinishedResponse", {**GOOD_TEXT, "status": "done"}),
        ("FinishedResponse", response_obj([call_item({"city": "Lisbon"})])),
        ("FinishedResponse", {**GOOD_TEXT, "usage": {"input_tokens": 1, "output_tokens": 1, "total_tokens": 2}}),
        ("FinishedResponse", {**GOOD_TEXT, "incomplete_details": {"reason": "length"}}),
        ("ResponseStreamEvent", {"type": "response.output_text.delta", "sequence_number": 1, "item_id": "m"}),
        (
            "ResponseStreamEvent",
            {"type": "response.completed", "sequence_number": 1, "response": {**GOOD_TEXT, "usage": None}},
        ),
        ("ResponseStreamEvent", {"type": "response.something", "delta": "x"}),
    ],
)
def test_contract_breaks_are_rejected(name: str, instance: Any) -> None:
    assert _errors(name, instance)


def test_requests() -> None:
    full = {
        "model": "m",
        "instructions": "Be brief.",
        "input": [
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "Hi"},
                    {"type": "input_image", "image_url": "u", "detail": "low"},
                ],
            },
            {
                "type": "message",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "Yo", "annotations": []}],
            },
            {"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c", "output": "ok"},
            {"type": "reasoning", "id": "rs", "summary": [{"type": "summary_text", "text": "t"}]},
        ],
        "max_output_tokens": 16,
        "temperature": 0,
        "top_p": 1,
        "tools": [
            {"type": "function", "name": "f", "parameters": {"type": "object"}, "strict": None},
            {"type": "web_search_preview"},
        ],
        "tool_choice": {"type": "function", "name": "f"},
        "text": {"format": {"type": "json_schema", "name": "o", "schema": {"type": "object"}, "strict": True}},
        "reasoning": {"effort": "low", "summary": None},
        "stream": False,
        "store": False,
        "previous_response_id": None,
        "ignore_eos": True,
    }
    assert _errors("CreateResponseRequest", full) == []
    for bad in (
        {"model": "m"},
        {"input": "hi"},
        {"model": "", "input": "hi"},
        {"model": "m", "input": 42},
        {"model": "m", "input": []},
        {"model": "m", "input": [{"role": "robot", "content": "x"}]},
        {"model": "m", "input": "hi", "max_output_tokens": 0},
        {"model": "m", "input": "hi", "temperature": 3},
        {"model": "m", "input": "hi", "tools": [{"type": "function", "name": "has space"}]},
        {"model": "m", "input": "hi", "tool_choice": "sometimes"},
        {"model": "m", "input": "hi", "reasoning": {"effort": "extreme"}},
    ):
        assert _errors("CreateResponseRequest", bad), bad


def test_schemathesis_generates_valid_requests() -> None:
    schema = spec.load_schemathesis_schema(DOCUMENT, base_url="http://127.0.0.1:9")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert [op.label for op in operations] == ["POST /v1/responses"]
    seen: list[Any] = []

    @settings(
        max_examples=10, database=None, deadline=None, phases=[Phase.generate], suppress_health_check=list(HealthCheck)
    )
    @given(case=operations[0].as_strategy())
    def generate(case: Any) -> None:
        assert _errors("CreateResponseRequest", case.body) == []
        seen.append(case)

    generate()
    assert seen
