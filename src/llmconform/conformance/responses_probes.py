"""Probes of the responses family (OpenAI Responses API): requests sent on purpose to test request ->
response relations, each judged by a relation rule in :mod:`llmconform.checks.responses_relations`;
every answer is also judged by every exchange rule.

Relations that compare two answers to the same request run in full only when the target proved
deterministic: the baseline request is sent twice and must come back with the same text. Limits are 16
tokens or more, because OpenAI refuses a smaller max_output_tokens.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

from llmconform.checks.responses_relations import (
    output_tokens,
    responses_auth_required,
    responses_invalid_request_rejected,
    responses_stream_matches_unary,
    responses_truncation_incomplete,
    responses_unknown_model_rejected,
    responses_unknown_previous_response_rejected,
)
from llmconform.conformance.probe_steps import (
    TIME_FUNCTION,
    WEATHER_FUNCTION,
    InvalidRequest,
    KeyRefused,
    judge_invalid_requests,
    probe_bearer_auth,
)
from llmconform.conformance.session import Session
from llmconform.exchange import Exchange
from llmconform.families.responses import FAMILY, RESPONSES_OPERATION, RESPONSES_PATH, responses_view
from llmconform.json_numbers import as_int

PROMPT = "Write three short sentences about lighthouses and the sea."
SYSTEM = "You are a concise assistant."
TOOL_PROMPT = "What is the weather in Lisbon right now?"
# The baseline's limit: long enough to be cut at CUT_LIMIT.
FULL_LIMIT = 64
# The smallest max_output_tokens OpenAI accepts (it answers 400 integer_below_min_value below it).
CUT_LIMIT = 16

# Responses function tools are flat: the function's fields next to "type".
WEATHER_TOOL: dict[str, Any] = {"type": "function", **WEATHER_FUNCTION, "strict": False}
TIME_TOOL: dict[str, Any] = {"type": "function", **TIME_FUNCTION, "strict": False}

# Requests each probe sends at most (adaptation and determinism retries included).
_PLANNED: dict[str, int] = {
    "baseline": 3,
    "truncation": 2,
    "stream": 1,
    "tools": 5,
    "conversation": 1,
    "reasoning": 3,
    "auth": 2,
    "unknown_model": 1,
    "invalid": 3,
    "previous_response": 1,
}
# Upper bound of the requests run_responses_probes sends, so a run can state its plan up front.
PLANNED_REQUESTS = sum(_PLANNED.values())
# schemathesis: top-level request properties bounded for cheap generation (value = maximum).
GENERATION_BOUNDS: dict[str, int] = {"max_output_tokens": CUT_LIMIT, "max_tool_calls": 2, "top_logprobs": 3}


@dataclass(slots=True)
class _Dialect:
    """Whether the target takes ``temperature`` (OpenAI's reasoning models refuse it)."""

    temperature: bool = True


@dataclass(slots=True)
class Baseline:
    """The reference answer relations compare against."""

    exchange: Exchange
    text: str
    tokens: int | None
    # Whether the target repeated the baseline answer (relations comparing two answers are judged in full).
    deterministic: bool


def _send(session: Session, body: dict[str, Any], label: str, **kwargs: Any) -> Exchange:
    return session.send(
        "POST",
        RESPONSES_PATH,
        operation=RESPONSES_OPERATION,
        family=FAMILY,
        label=f"responses {label}",
        json_body=body,
        **kwargs,
    )


def probe_request(
    session: Session,
    dialect: _Dialect,
    prompt: Any = PROMPT,
    *,
    instructions: str | None = SYSTEM,
    limit: int = FULL_LIMIT,
    **params: Any,
) -> dict[str, Any]:
    """A deterministic probe request in the dialect the target accepts."""
    body: dict[str, Any] = {"model": session.model, "input": prompt}
    if instructions is not None:
        body["instructions"] = instructions
    if dialect.temperature:
        body["temperature"] = 0
    body["max_output_tokens"] = limit
    body.update(params)
    return body


def _refuses_temperature(exchange: Exchange) -> bool:
    if exchange.status not in (400, 422):
        return False
    try:
        error = exchange.json().get("error", {})
    except (ValueError, AttributeError):
        return False
    if not isinstance(error, dict):
        return False
    return error.get("param") == "temperature" or "'temperature'" in str(error.get("message", ""))


def run_responses_probes(session: Session) -> None:
    """Send the family's probes through session and judge the relations."""
    dialect = _Dialect(temperature=session.dialect.temperature)
    baseline = probe_baseline(session, dialect)
    if baseline is not None:
        probe_truncation(session, dialect, baseline)
        probe_stream(session, dialect, baseline)
    probe_tools(session, dialect)
    probe_conversation(session, dialect)
    probe_reasoning(session)
    probe_auth(session, dialect)
    probe_unknown_model(session, dialect)
    probe_invalid_requests(session)
    probe_unknown_previous_response(session, dialect)


def probe_baseline(session: Session, dialect: _Dialect) -> Baseline | None:
    first = _send(session, probe_request(session, dialect), "baseline: unary")
    if first.status == 401:
        raise KeyRefused("POST /v1/responses answered 401 to the configured key")
    if _refuses_temperature(first):
        dialect.temperature = False
        session.notes.append("the Responses endpoint refused temperature; its probes now send none")
        first = _send(session, probe_request(session, dialect), "baseline: unary, without temperature")
    second = _send(session, probe_request(session, dialect), "baseline: unary, repeated")
    text = responses_view(first).text if first.ok else ""
    if not text:
        why = f"the Responses baseline request got {first.status or first.error} without a text answer"
        for rule in ("responses_truncation_incomplete", "responses_stream_matches_unary"):
            session.skip(rule, why)
        return None
    deterministic = second.ok and responses_view(second).text == text
    if not deterministic:
        session.notes.append(
            "the Responses endpoint gave two different answers to the same request at temperature 0; "
            "relations comparing two answers were judged on the prompt only"
        )
    return Baseline(first, text, output_tokens(first), deterministic)


def probe_truncation(session: Session, dialect: _Dialect, baseline: Baseline) -> None:
    full = baseline.tokens
    if full is None or full <= CUT_LIMIT:
        session.skip(
            "responses_truncation_incomplete",
            f"the Responses baseline answer used {full} output tokens, not more than {CUT_LIMIT}",
        )
        return
    for stream in (False, True):
        body = probe_request(session, dialect, limit=CUT_LIMIT)
        if stream:
            body["stream"] = True
        cut = _send(session, body, f"truncation: max_output_tokens={CUT_LIMIT}{', stream' if stream else ''}")
        if cut.ok:
            session.judge(
                "responses_truncation_incomplete",
                responses_truncation_incomplete(baseline.exchange, cut, CUT_LIMIT, baseline.deterministic),
                cut,
                baseline.exchange,
            )


def probe_stream(session: Session, dialect: _Dialect, baseline: Baseline) -> None:
    streamed = _send(session, probe_request(session, dialect, stream=True), "stream")
    if streamed.ok:
        session.judge(
            "responses_stream_matches_unary",
            responses_stream_matches_unary(baseline.exchange, streamed, baseline.deterministic),
            streamed,
            baseline.exchange,
        )


def _signature(exchange: Exchange) -> tuple[Any, ...]:
    view = responses_view(exchange)
    return view.text, view.status, [(c.name, c.arguments) for c in view.function_calls]


def unary_and_stream(session: Session, body: dict[str, Any], label: str) -> None:
    """Send ``body`` unary and streamed and judge that the stream tells the same answer.

    When they differ, the unary request is repeated once: only a target that repeats its unary answer is
    held to a streamed answer equal to it (otherwise just input_tokens are compared)."""
    unary = _send(session, body, f"{label}: unary")
    streamed = _send(session, {**body, "stream": True}, f"{label}: stream")
    if not (unary.ok and streamed.ok):
        return
    if list(responses_stream_matches_unary(unary, streamed, deterministic=True)):
        again = _send(session, body, f"{label}: unary, repeated")
        deterministic = again.ok and _signature(again) == _signature(unary)
    else:
        deterministic = True
    session.judge(
        "responses_stream_matches_unary",
        responses_stream_matches_unary(unary, streamed, deterministic),
        streamed,
        unary,
    )


def _tool_request(session: Session, dialect: _Dialect, tool_choice: Any) -> dict[str, Any]:
    prompt = [{"role": "user", "content": [{"type": "input_text", "text": TOOL_PROMPT}]}]
    return probe_request(
        session, dialect, prompt, instructions=None, tools=[WEATHER_TOOL, TIME_TOOL], tool_choice=tool_choice
    )


def probe_tools(session: Session, dialect: _Dialect) -> None:
    """A forced function call (unary and streamed), then tool_choice "required" and "none"."""
    named = {"type": "function", "name": "get_weather"}
    unary_and_stream(session, _tool_request(session, dialect, named), "tools: named tool_choice")
    _send(session, _tool_request(session, dialect, "required"), "tools: tool_choice required")
    _send(session, _tool_request(session, dialect, "none"), "tools: tool_choice none")


def probe_conversation(session: Session, dialect: _Dialect) -> None:
    """A conversation as input items: a user turn, the model's function call and its output."""
    items = [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": TOOL_PROMPT}]},
        {
            "type": "function_call",
            "call_id": "call_llmconform_1",
            "name": "get_weather",
            "arguments": '{"city":"Lisbon"}',
        },
        {"type": "function_call_output", "call_id": "call_llmconform_1", "output": '{"temperature_c": 21}'},
    ]
    body = probe_request(session, dialect, items, instructions=None, tools=[WEATHER_TOOL], tool_choice="auto")
    _send(session, body, "conversation: function call output")


def probe_reasoning(session: Session) -> None:
    """A request for reasoning (no temperature: reasoning models refuse it); a model without reasoning may refuse."""
    body = {
        "model": session.model,
        "instructions": SYSTEM,
        "input": PROMPT,
        "reasoning": {"effort": "low"},
        "max_output_tokens": FULL_LIMIT,
    }
    unary_and_stream(session, body, "reasoning")


def probe_auth(session: Session, dialect: _Dialect) -> None:
    body = probe_request(session, dialect, limit=CUT_LIMIT)
    probe_bearer_auth(session, partial(_send, session), body, "responses_auth_required", responses_auth_required)


def probe_unknown_model(session: Session, dialect: _Dialect) -> None:
    model = "llmconform-no-such-model-7f3a"
    body = probe_request(session, dialect, limit=CUT_LIMIT)
    body["model"] = model
    exchange = _send(session, body, "unknown model")
    session.judge("responses_unknown_model_rejected", responses_unknown_model_rejected(exchange, model), exchange)


def probe_invalid_requests(session: Session) -> None:
    cases: list[InvalidRequest] = [
        ("a body without 'model'", {"input": PROMPT}, None),
        ("'input' that is a number", {"model": session.model, "input": 42}, None),
        ("a body that is not JSON", None, b'{"model": "x", "input": ['),
    ]
    rule = responses_invalid_request_rejected
    judge_invalid_requests(session, partial(_send, session), cases, "responses_invalid_request_rejected", rule)


def probe_unknown_previous_response(session: Session, dialect: _Dialect) -> None:
    response_id = "resp_llmconform_no_such_response_0000"
    body = probe_request(session, dialect, limit=CUT_LIMIT, previous_response_id=response_id)
    exchange = _send(session, body, "unknown previous_response_id")
    session.judge(
        "responses_unknown_previous_response_rejected",
        responses_unknown_previous_response_rejected(exchange, response_id),
        exchange,
    )


# ---------------------------------------------------------------------- schemathesis pinning


def pin_generated_body(body: dict[str, Any], model: str, positive: bool) -> None:
    """Point a schemathesis-generated body at model and bound what it may cost (in place).

    Always: the model is the one under test, the answer is bounded (max_output_tokens set to 16 when
    absent; valid values above 16 clamped), and a string previous_response_id is dropped (the target
    stores nothing the case could continue, so it would be refused for that alone). In positive mode
    the body is also made one OpenAI accepts and that costs nothing extra: max_output_tokens at least
    16, no hosted tools (they run paid searches), a named tool_choice names an offered function, no
    reasoning settings (a model without reasoning refuses them), function tools and JSON schemas not
    strict (strict mode needs schemas written for it), stream_options only with a stream.
    """
    if isinstance(body.get("model"), str):
        body["model"] = model
    limit = as_int(body.get("max_output_tokens"))
    if body.get("max_output_tokens") is None:
        body["max_output_tokens"] = CUT_LIMIT
    elif limit is not None and limit >= 1:
        body["max_output_tokens"] = CUT_LIMIT if positive else min(limit, CUT_LIMIT)
    # In negative mode an out-of-range value may be the point of the case: only valid values are clamped.
    for key, valid_max in (("max_tool_calls", None), ("top_logprobs", 20)):
        value = as_int(body.get(key))
        if value is not None and value > GENERATION_BOUNDS[key] and (valid_max is None or value <= valid_max):
            body[key] = GENERATION_BOUNDS[key]
    if isinstance(body.get("previous_response_id"), str):
        # A valid id is unknown to the target (nothing is stored), so the case would be refused for that alone.
        del body["previous_response_id"]
    if not positive:
        return
    body.pop("reasoning", None)
    if body.get("stream") is not True:
        body.pop("stream_options", None)
    _pin_tools(body)
    text = body.get("text")
    fmt = text.get("format") if isinstance(text, dict) else None
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        fmt["strict"] = False


def _pin_tools(body: dict[str, Any]) -> None:
    tools = body.get("tools")
    functions = (
        [t for t in tools if isinstance(t, dict) and t.get("type") == "function"] if isinstance(tools, list) else []
    )
    for tool in functions:
        tool["strict"] = False
    if isinstance(tools, list):
        body["tools"] = functions
    names = [t["name"] for t in functions if isinstance(t.get("name"), str)]
    choice = body.get("tool_choice")
    if isinstance(choice, dict):
        if choice.get("type") == "function" and names:
            choice["name"] = names[0]
        else:
            del body["tool_choice"]
    elif choice == "required" and not names:
        del body["tool_choice"]
