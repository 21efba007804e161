"""Fuzzing the parsers: nothing a server sends makes the SSE decoder, a family reader or a rule raise.

The error types each layer documents, and so the only ones these tests let through:

* :mod:`llmconform.sse` (``SSEDecoder.feed`` / ``close``, ``decode_all``): :class:`~llmconform.sse.SSEError`
  only, for a line longer than ``max_line_bytes``; any byte sequence and any chunking is otherwise decoded.
* The client's :class:`~llmconform.client.StreamRecorder`: :class:`~llmconform.client.ReadAborted` only (the
  decoder's SSEError, or a stream over ``max_body_bytes``), which the clients turn into ``Exchange.error``.
* ``Exchange.json()``: ``ValueError`` only (the body is not JSON, or nests too deep to parse).
* The family readers (``read_answer`` and each family's view: ``chat_view``, ``messages_view``,
  ``gemini_view`` in its unary, ``?alt=sse`` and JSON-array forms, ``responses_view``, ``embeddings_view``,
  the model-list readers): nothing. What they cannot read becomes a problem note on the view.
* Every rule (``applies`` and the rule function of each exchange rule; each relation rule on exchanges of its
  family): nothing. A broken answer is a violation, i.e. a finding; ``check_exchange`` turns an exception into
  a "harness error" warning only as a last resort, so the rules are called directly here to see any.

Inputs: arbitrary bytes in arbitrary chunks; valid SSE framing around per-format answers built from a
template of each format and corrupted (subtrees replaced by junk of the wrong type, keys dropped, events
dropped, repeated or cut short, NaN, infinities, integers past 64 bits, JSON nested past the parser's
recursion limit, truncated streams); and the request bodies the rules read, corrupted the same way.

How many examples: ``LLMCONFORM_FUZZ_EXAMPLES`` (default below, sized for ``make test``), derandomized so CI
sees the same inputs every run; ``LLMCONFORM_FUZZ_RANDOM=1`` (``make fuzz``) draws new ones each run.
"""

from __future__ import annotations

import copy
import inspect
import json
import os
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, note, settings
from hypothesis import strategies as st
from tests.fuzz.answers import (
    CHAT_STREAM,
    ERROR_BODIES,
    GOOGLE_ERROR,
    MODEL,
    RELATION_RULES,
    SHAPES,
    read_and_judge,
    record_stream,
    render_sse,
)

from llmconform.checks import REGISTRY, Warn
from llmconform.checks.registry import Rule
from llmconform.exchange import Exchange, TransportError
from llmconform.families import GENERATION_FAMILIES, Answer, read_answer
from llmconform.sse import SSEDecoder, SSEError, SSEEvent, decode_all

FUZZ_EXAMPLES = int(os.environ.get("LLMCONFORM_FUZZ_EXAMPLES", "300"))
FUZZ_RANDOM = os.environ.get("LLMCONFORM_FUZZ_RANDOM", "") not in ("", "0")

settings.register_profile(
    "llmconform-fuzz",
    max_examples=FUZZ_EXAMPLES,
    derandomize=not FUZZ_RANDOM,
    database=None,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
FUZZ = settings.get_profile("llmconform-fuzz")

# ------------------------------------------------------------------------------------------ junk values

# Strings the parsers branch on, so corrupted answers still reach the code behind each branch.
KEYWORDS = (
    "[DONE]", "", "stop", "length", "tool_calls", "STOP", "MAX_TOKENS", "SAFETY", "end_turn", "max_tokens",
    "tool_use", "text", "thinking", "text_delta", "input_json_delta", "thinking_delta", "message_start",
    "content_block_start", "content_block_delta", "content_block_stop", "message_delta", "message_stop", "error",
    "completed", "incomplete", "failed", "in_progress", "message", "function_call", "output_text", "refusal",
    "response.completed", "response.output_text.delta", "response.output_item.added", "assistant", "model",
    "function", "float", "base64", "AAAAAA==", "models/m", "{", '{"a": 1}', "\x00", "\ud800",
)  # fmt: skip
KEYS = (
    "choices", "delta", "content", "index", "usage", "finish_reason", "message", "tool_calls", "function",
    "arguments", "role", "type", "text", "candidates", "parts", "usageMetadata", "finishReason", "output",
    "item", "output_index", "content_index", "response", "status", "data", "embedding", "error",
    "prompt_tokens", "completion_tokens", "total_tokens", "input_tokens", "output_tokens", "logprobs",
)  # fmt: skip
HUGE_NUMBERS = (2**63, -(2**63) - 1, 2**64, 10**30, -(10**300), 10**400, 1e308, -1e308, 5e-324)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-3, max_value=300),
    st.integers(),
    st.sampled_from(HUGE_NUMBERS),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(KEYWORDS),
    st.text(max_size=12),
)
junk = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=10,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path into a JSON tree (the root included)."""
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for position, child in enumerate(value):
            found += _paths(child, (*prefix, position))
    return found


def _replace(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    value[path[0]] = new if len(path) == 1 else _replace(value[path[0]], path[1:], new)
    return value


def _delete(value: Any, path: tuple[Any, ...]) -> Any:
    if not path:
        return None
    parent = value
    for step in path[:-1]:
        parent = parent[step]
    del parent[path[-1]]
    return value


@st.composite
def corrupted(draw: st.DrawFn, template: Any, most: int = 4) -> Any:
    """``template`` with up to ``most`` corruptions: a subtree replaced by junk, retyped or deleted."""
    value = copy.deepcopy(template)
    for _ in range(draw(st.integers(min_value=0, max_value=most))):
        path = draw(st.sampled_from(_paths(value)))
        action = draw(st.sampled_from(("junk", "retype", "delete")))
        if action == "delete" and path:
            value = _delete(value, path)
            continue
        old = _get(value, path)
        new = draw(junk) if action == "junk" else draw(st.sampled_from(_retyped(old)))
        value = _replace(value, path, new)
    return value


def _get(value: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        value = value[step]
    return value


def _retyped(value: Any) -> list[Any]:
    """The same value in the wrong type: as a string, in a list, in an object, or as null."""
    return [str(value), [value], {"value": value}, None, True, 0]


# ------------------------------------------------------------------------------- wire-level corruption

# Nested deeper than json.loads can recurse (RecursionError, not ValueError, unless a reader guards it).
DEEP_ARRAY = "[" * 3000
DEEP_OBJECT = '{"a":' * 3000


@st.composite
def event_data(draw: st.DrawFn, payload: Any) -> str:
    """The data of one event for ``payload``: its JSON, or that JSON damaged, or something else entirely."""
    text = json.dumps(payload, allow_nan=True, ensure_ascii=draw(st.booleans()))
    form = draw(st.sampled_from(("json", "json", "json", "json", "cut", "deep", "other")))
    if form == "cut":
        return text[: draw(st.integers(min_value=0, max_value=len(text)))]
    if form == "deep":
        return draw(st.sampled_from((DEEP_ARRAY, DEEP_OBJECT, "[" * 999 + "]" * 999, '{"a":[' * 400)))
    if form == "other":
        return draw(
            st.sampled_from(("[DONE]", "", "null", "1e999", "-Infinity", "NaN", "1" * 5000, '"text"', "[]", "{}"))
            | st.text(max_size=20)
        )
    return text


@st.composite
def sse_wire(draw: st.DrawFn, events: list[tuple[str | None, Any]]) -> bytes:
    """An SSE stream of ``events`` ((SSE event name, payload)): each corrupted, some dropped or repeated, the
    framing varied, junk bytes inserted, the end cut off."""
    chosen = list(events)
    if chosen and draw(st.booleans()):
        chosen = draw(st.lists(st.sampled_from(chosen), max_size=len(chosen) + 3))
    rendered: list[tuple[str | None, str]] = []
    for name, payload in chosen:
        bad = draw(corrupted(payload, most=2)) if draw(st.integers(0, 3)) == 0 else payload
        shown_name = draw(st.sampled_from([name, None, "junk"])) if draw(st.integers(0, 7)) == 0 else name
        rendered.append((shown_name, draw(event_data(bad))))
    wire = render_sse(rendered, draw(st.sampled_from(("\n", "\r\n", "\r"))))
    if draw(st.integers(0, 5)) == 0:
        at = draw(st.integers(min_value=0, max_value=len(wire)))
        wire = wire[:at] + draw(st.binary(max_size=16)) + wire[at:]
    if draw(st.integers(0, 5)) == 0:
        wire = wire[: draw(st.integers(min_value=0, max_value=len(wire)))]
    return wire


@st.composite
def json_body(draw: st.DrawFn, payload: Any) -> bytes:
    """A unary body for ``payload``: corrupted JSON, damaged text, or junk bytes."""
    form = draw(st.sampled_from(("json", "json", "json", "other", "bytes")))
    if form == "bytes":
        return draw(st.binary(max_size=64))
    data = draw(event_data(draw(corrupted(payload))))
    return data.encode("utf-8", errors="surrogatepass") if form == "json" else data.encode("utf-8", "replace")


STATUSES = (200, 200, 200, 200, 200, 201, 204, 400, 401, 404, 413, 429, 500, 503, 529)
CONTENT_TYPES = ("application/json", "text/event-stream", "text/event-stream; charset=utf-8", "text/plain", "")


@st.composite
def exchanges(draw: st.DrawFn, family: str | None = None) -> Exchange:
    """An Exchange as the client records it, with a corrupted answer of one of the formats."""
    # A family without templates here (one added later) gets the answers of every format.
    shapes = [s for s in SHAPES if s[0] == family] or SHAPES
    name, operation, path, requests, stream_events, unary = draw(st.sampled_from(shapes))
    request = draw(st.sampled_from(requests))
    status = 200 if draw(st.integers(0, 2)) else draw(st.sampled_from(STATUSES))
    if request is not None and draw(st.integers(0, 3)) == 0:
        request = draw(corrupted(request, most=3))
    exchange = Exchange(
        family=name,
        operation=operation,
        method=operation.split(" ", 1)[0],
        url="http://127.0.0.1:9" + path,
        request_headers={"content-type": "application/json"},
        request_json=request,
        status=status,
    )
    streamed = stream_events is not None and status < 300 and draw(st.integers(0, 4)) > 0
    if streamed:
        assert stream_events is not None
        exchange.response_headers = {"content-type": draw(st.sampled_from(CONTENT_TYPES[1:3]))}
        wire = draw(sse_wire(stream_events) | st.binary(max_size=200))
        cuts = draw(st.lists(st.integers(min_value=0, max_value=len(wire)), max_size=8))
        record_stream(exchange, wire, cuts, 64 if draw(st.integers(0, 9)) == 0 else 1 << 20)
    else:
        exchange.response_headers = {"content-type": draw(st.sampled_from(CONTENT_TYPES))}
        exchange.body = draw(json_body(unary if status < 300 else ERROR_BODIES[name]))
        exchange.received_bytes = len(exchange.body)
    if draw(st.integers(0, 9)) == 0:
        exchange.error, exchange.error_kind = "cut short", draw(st.sampled_from(list(TransportError)))
        if draw(st.booleans()):
            exchange.status = None
    exchange.elapsed_s = draw(st.floats(min_value=0, max_value=10))
    note(f"exchange: {exchange.family} {exchange.operation} status={exchange.status} error={exchange.error!r}")
    note(f"request: {exchange.request_json!r:.2000}")
    note(f"body: {exchange.body[:2000]!r}")
    return exchange


# --------------------------------------------------------------------------------------- the decoder


# Bytes that mean something to an SSE decoder (line ends, field names, the BOM, broken UTF-8), so arbitrary
# streams hit every branch: a CR at the end of one read and its LF at the start of the next, say.
SSE_TOKENS = (b"\r", b"\n", b"\r\n", b":", b" ", b"data", b"event", b"id", b"retry", b"7", b"x", b"\x00",
              b"\xef\xbb\xbf", b"\xef\xbf\xbd", b"\xff", b"\xc3", b"\xa9", b"\xe2\x82")  # fmt: skip
sse_bytes = st.binary(max_size=400) | st.lists(st.sampled_from(SSE_TOKENS), max_size=80).map(b"".join)


@st.composite
def chunked(draw: st.DrawFn, payloads: st.SearchStrategy[bytes]) -> list[bytes]:
    """A payload split into network reads at arbitrary points (empty reads included)."""
    payload = draw(payloads)
    cuts = sorted(draw(st.lists(st.integers(min_value=0, max_value=len(payload)), max_size=12)))
    return [payload[a:b] for a, b in zip([0, *cuts], [*cuts, len(payload)], strict=True)]


def _decode_reads(reads: list[bytes], max_line_bytes: int) -> list[SSEEvent]:
    decoder = SSEDecoder(max_line_bytes=max_line_bytes)
    events = [event for read in reads for event in decoder.feed(read)]
    tail, _ = decoder.close()
    return events + tail


# The decoder alone is fast: it gets more examples than the tests below that run every rule.
DECODER_EXAMPLES = FUZZ_EXAMPLES * 5


@settings(FUZZ, max_examples=DECODER_EXAMPLES)
@given(reads=chunked(sse_bytes))
@example(reads=[b"data: x\r", b"\n"])  # a CRLF split across two reads is one line end, not two
def test_any_bytes_in_any_chunks_decode_to_the_same_events(reads: list[bytes]) -> None:
    """The decoder raises nothing on any input, and how the bytes are split into reads changes nothing."""
    assert _decode_reads(reads, 1 << 20) == decode_all(b"".join(reads))


@settings(FUZZ, max_examples=DECODER_EXAMPLES)
@given(reads=chunked(sse_bytes | sse_wire(CHAT_STREAM)), limit=st.integers(min_value=1, max_value=64))
def test_a_line_over_the_limit_is_an_sse_error_and_nothing_else(reads: list[bytes], limit: int) -> None:
    try:
        _decode_reads(reads, limit)
    except SSEError as exc:
        assert "max_line_bytes" in str(exc)


# -------------------------------------------------------------------------------- readers and rules


@settings(FUZZ, max_examples=FUZZ_EXAMPLES * 3)
@given(exchange=exchanges())
def test_readers_and_rules_never_raise_on_a_broken_answer(exchange: Exchange) -> None:
    """Every family reader and every exchange rule reads any recorded answer without raising."""
    answer = read_answer(exchange)
    assert answer is None or isinstance(answer, Answer)
    results = read_and_judge(exchange)
    assert all(isinstance(finding.message, str) for finding in results.findings)


# Harness-chosen arguments of relation rules (the limit a probe sent, the stop sequence, ...), by annotation.
def _argument(annotation: str, family: str | None) -> st.SearchStrategy[Any]:
    exchange = exchanges(family)
    answers = st.builds(
        Answer,
        text=st.text(max_size=8),
        input_tokens=st.none() | st.integers(min_value=-2, max_value=2**64),
        output_tokens=st.none() | st.integers(min_value=-2, max_value=2**64),
        finish=st.none() | st.sampled_from(("stop", "length", "tool_calls", "x")),
        stream=st.booleans(),
    )
    known: dict[str, st.SearchStrategy[Any]] = {
        "Exchange": exchange,
        "Exchange | None": st.none() | exchange,
        "list[Exchange]": st.lists(exchange, max_size=3),
        "Mapping[str, Exchange]": st.dictionaries(st.sampled_from(("x-goog-api-key", "bearer", "key")), exchange),
        "Mapping[str, Answer]": st.dictionaries(
            st.sampled_from(GENERATION_FAMILIES), answers | exchanges().map(read_answer).filter(bool), max_size=4
        ),
        "int": st.integers(min_value=0, max_value=64),
        "int | None": st.none() | st.integers(min_value=0, max_value=64),
        "bool": st.booleans(),
        "float": st.floats(min_value=0.25, max_value=4.0),
        "str": st.text(min_size=1, max_size=6) | st.sampled_from((".", MODEL, "Hi")),
        "str | None": st.none() | st.text(min_size=1, max_size=6),
        "list[tuple[int, int]]": st.lists(st.tuples(st.integers(0, 4), st.integers(0, 4)), max_size=3),
    }
    if annotation not in known:
        raise AssertionError(f"no strategy for a relation rule argument annotated {annotation!r}; add one")
    return known[annotation]


def _relation_arguments(rule: Rule) -> st.SearchStrategy[dict[str, Any]]:
    assert rule.function is not None
    family = rule.family if rule.family != "models" else "chat"
    parameters = inspect.signature(rule.function).parameters.values()
    return st.fixed_dictionaries({p.name: _argument(str(p.annotation), family) for p in parameters})


@pytest.mark.parametrize("rule", RELATION_RULES, ids=lambda rule: rule.id)
def test_relation_rules_never_raise_on_broken_answers(rule: Rule) -> None:
    """Each relation rule judges any exchanges of its family (and any answers) without raising."""
    assert rule.function is not None
    function = rule.function

    @settings(FUZZ, max_examples=max(FUZZ_EXAMPLES // 8, 3))
    @given(arguments=_relation_arguments(rule))
    def judge(arguments: dict[str, Any]) -> None:
        violations = list(function(**arguments))
        assert all(isinstance(v, str | Warn) for v in violations), violations

    judge()


# ----------------------------------------------------------------------- what the fuzzing found, kept

# Each crasher the fuzzing found, as the smallest answer that raised before its reader or rule was guarded:
# (id, shape number in SHAPES, request option number, SSE events or None for the unary template, then
# (path, value) replacements in the template). Every one must come back as findings, not an exception.
Replacement = tuple[tuple[Any, ...], Any]
CRASHERS: list[tuple[str, int, int, bool, list[Replacement]]] = [
    # json.loads raises RecursionError (not ValueError) past ~1000 levels: Exchange.json, event data, arguments.
    ("deep-json-body", 1, 0, False, [((), DEEP_ARRAY)]),
    ("deep-json-event", 0, 0, True, [((0, 1), DEEP_OBJECT)]),
    ("deep-messages-event", 3, 0, True, [((0, 1), DEEP_ARRAY)]),
    ("deep-gemini-event", 5, 0, True, [((0, 1), DEEP_ARRAY)]),
    ("deep-tool-arguments", 1, 1, False, [(("choices", 0, "message", "tool_calls", 0, "function", "arguments"),
                                          DEEP_ARRAY)]),
    ("deep-json-mode-content", 1, 4, False, [(("choices", 0, "message", "content"), DEEP_ARRAY),
                                             (("choices", 0, "finish_reason"), "stop")]),
    ("deep-responses-arguments", 11, 1, False, [(("output", 1, "arguments"), DEEP_OBJECT)]),
    # JSON values that are not hashable where a reader or rule looked them up in a set or dict.
    ("gemini-finish-reason-list", 7, 0, False, [(("candidates", 0, "finishReason"), ["STOP"])]),
    ("gemini-error-status-list", 7, 0, False, [(("status",), 400), ((), {**GOOGLE_ERROR, "error": {
        "code": 400, "message": "bad", "status": ["INVALID_ARGUMENT"]}})]),
    ("messages-block-type-list", 3, 0, True, [((5, 1, "content_block", "type"), ["text"]), ((6, 1, "index"), 9)]),
    ("chat-tool-call-id-list", 0, 1, True, [((2, 1, "choices", 0, "delta", "tool_calls", 0, "id"), ["call"])]),
    # A JSON value of the wrong type iterated as a list.
    ("chat-top-logprobs-number", 1, 3, False, [(("choices", 0, "logprobs", "content", 0, "top_logprobs"), 7)]),
    ("chat-request-tools-number", 1, 2, False, [(("request", "tools"), 7)]),
    ("chat-choice-index-list", 1, 0, False, [(("choices", 0, "index"), [0])]),
    ("gemini-candidate-index-list", 7, 0, False, [(("candidates", 0, "index"), [0])]),
]  # fmt: skip


def _crasher(shape: int, option: int, streamed: bool, replacements: list[Replacement]) -> Exchange:
    name, operation, path, requests, stream_events, unary = SHAPES[shape]
    request = copy.deepcopy(requests[option])
    answer = copy.deepcopy([[n, p] for n, p in stream_events or []] if streamed else unary)
    status = 200
    for where, value in replacements:
        if where[:1] == ("request",):
            request = _replace(request, where[1:], value)
        elif where == ("status",):
            status = value
        else:
            answer = _replace(answer, where, value)
    exchange = Exchange(name, operation, operation.split()[0], "http://127.0.0.1:9" + path, {}, request)
    exchange.status = status
    if streamed:
        exchange.response_headers = {"content-type": "text/event-stream"}
        wire = render_sse([(n, p if isinstance(p, str) else json.dumps(p)) for n, p in answer], "\n")
        record_stream(exchange, wire, [], 1 << 20)
    else:
        exchange.response_headers = {"content-type": "application/json"}
        exchange.body = (answer if isinstance(answer, str) else json.dumps(answer)).encode()
    return exchange


@pytest.mark.parametrize(
    ("shape", "option", "streamed", "replacements"), [c[1:] for c in CRASHERS], ids=[c[0] for c in CRASHERS]
)
def test_what_broke_readers_before_is_a_finding(
    shape: int, option: int, streamed: bool, replacements: list[Replacement]
) -> None:
    """Every answer that made a reader or rule raise before it was guarded is read, judged by every exchange
    rule, and compared with itself by every relation rule of its family, without an exception."""
    exchange = _crasher(shape, option, streamed, replacements)
    answer = read_answer(exchange)
    read_and_judge(exchange)
    twin = _crasher(shape, option, streamed, replacements)
    for rule in RELATION_RULES:
        if rule.family == exchange.family:
            assert rule.function is not None
            parameters = list(inspect.signature(rule.function).parameters.values())
            if all(str(p.annotation) in ("Exchange", "bool") for p in parameters):
                list(rule.function(*[exchange if str(p.annotation) == "Exchange" else True for p in parameters]))
    if answer is not None:
        other = read_answer(twin)
        assert other is not None
        for rule_id in ("cross_format_finish_consistent",):
            function = REGISTRY.get(rule_id).function
            assert function is not None
            list(function({"chat": answer, "gemini": other, "messages": Answer(finish="stop")}))


def test_nesting_past_the_parsers_limit_is_a_value_error() -> None:
    """``Exchange.json()`` documents ValueError for a body that is not JSON; too deep to parse is one."""
    exchange = _crasher(1, 0, False, [((), DEEP_ARRAY)])
    with pytest.raises(ValueError, match="not valid JSON"):
        exchange.json()
