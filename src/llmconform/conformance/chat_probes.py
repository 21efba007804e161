"""Probes for the chat family: requests sent on purpose to test request -> response relations.

Each probe builds its requests through the chat family helpers, sends them through the Session (so
every answer is also judged by every exchange rule) and hands the answers to a relation rule in
:mod:`llmconform.checks.chat_relations`. Relations that compare two answers to the same request run
only when the target proved deterministic: the baseline request is sent twice and must come back
with the same text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from llmconform.checks.chat_relations import (
    auth_required,
    completion_tokens,
    first_choice,
    invalid_request_rejected,
    model_listed,
    parameter_limits_enforced,
    stop_sequence_ends_answer,
    stream_matches_unary,
    truncation_finish_reason_length,
    unknown_model_rejected,
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
from llmconform.families.chat import (
    MODELS_OPERATION,
    MODELS_PATH,
    chat_request,
    chat_view,
)
from llmconform.json_numbers import as_int

PROMPT = "Write three short sentences about lighthouses and the sea."
SYSTEM = "You are a concise assistant."
JSON_PROMPT = "Describe a lighthouse as a JSON object with the keys 'name' and 'height_m'. Reply in JSON."
# The baseline asks for a bounded answer: long enough to truncate and to pick a stop word from.
FULL_LIMIT = 64
SEED = 7

WEATHER_TOOL: dict[str, Any] = {"type": "function", "function": WEATHER_FUNCTION}
TIME_TOOL: dict[str, Any] = {"type": "function", "function": TIME_FUNCTION}
LIGHTHOUSE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "height_m": {"type": "number"}},
    "required": ["name", "height_m"],
    "additionalProperties": False,
}

# Retries of the baseline after the target refused a probe parameter (max_tokens, temperature, seed).
ADAPT_ATTEMPTS = 3
# Requests each probe sends, so the run can state its plan before it starts (adaptation retries aside).
PLANNED_REQUESTS: dict[str, int] = {
    "baseline": 2,
    "truncation": 3,
    "stop": 1,
    "stream": 2,
    "n": 2,
    "logprobs": 2,
    "tools": 4,
    "json": 3,
    "auth": 2,
    "unknown_model": 1,
    "invalid": 3,
    "limits": 2,
}
MODELS_PLANNED_REQUESTS = 1


@dataclass(slots=True)
class Baseline:
    """The reference answer relations compare against."""

    exchange: Exchange
    text: str
    tokens: int | None


def probe_request(
    session: Session,
    prompt: str = PROMPT,
    *,
    system: str | None = SYSTEM,
    limit: int = FULL_LIMIT,
    **params: Any,
) -> dict[str, Any]:
    """A deterministic probe request in the dialect the target accepts (see :class:`RequestDialect`)."""
    dialect = session.dialect
    body = chat_request(session.model, prompt, system=system)
    if dialect.temperature:
        body["temperature"] = 0
    if dialect.seed:
        body["seed"] = SEED
    body[dialect.limit_key] = limit
    body.update(params)
    return body


def _adapt_dialect(session: Session, refused: Exchange) -> bool:
    """Learn from a 400 naming a parameter the model refuses; True when a retry may now succeed."""
    if refused.status not in (400, 422):
        return False
    try:
        error = refused.json().get("error", {})
        param = error.get("param") if isinstance(error, dict) else None
        message = str(error.get("message", "")) if isinstance(error, dict) else ""
    except (ValueError, AttributeError):
        return False
    named = {p for p in ("max_tokens", "temperature", "seed") if param == p or f"'{p}'" in message}
    dialect = session.dialect
    if "max_tokens" in named and dialect.limit_key == "max_tokens":
        dialect.limit_key = "max_completion_tokens"
    elif "temperature" in named and dialect.temperature:
        dialect.temperature = False
    elif "seed" in named and dialect.seed:
        dialect.seed = False
    else:
        return False
    session.notes.append(
        f"the target refused a probe parameter ({', '.join(sorted(named))}); probes now send "
        f"{dialect.limit_key}, {'temperature 0' if dialect.temperature else 'no temperature'}, "
        f"{'a seed' if dialect.seed else 'no seed'}"
    )
    return True


def run_chat_probes(session: Session) -> None:
    """Every chat probe, in order; relations needing determinism are skipped when it is not shown."""
    baseline = probe_baseline(session)
    if baseline is not None:
        probe_truncation(session, baseline)
        probe_stop(session, baseline)
        probe_stream(session, baseline)
    probe_n(session)
    probe_logprobs(session)
    probe_tools(session)
    probe_json(session)
    probe_auth(session)
    probe_unknown_model(session)
    probe_invalid_requests(session)
    probe_parameter_limits(session)


def run_models_probes(session: Session) -> None:
    """The model list probe."""
    exchange = session.send("GET", MODELS_PATH, operation=MODELS_OPERATION, family="models", label="models: list")
    if exchange.status == 401:
        raise KeyRefused("GET /v1/models answered 401 to the configured key")
    if exchange.ok:
        session.judge("model_listed", model_listed(exchange, session.model), exchange)
    else:
        session.skip("model_listed", f"GET /v1/models answered {exchange.status or exchange.error}")


def probe_baseline(session: Session) -> Baseline | None:
    first = session.chat(probe_request(session), "baseline: unary")
    if first.status == 401:
        raise KeyRefused("the chat endpoint answered 401 to the configured key")
    for _ in range(ADAPT_ATTEMPTS):
        if first.ok or not _adapt_dialect(session, first):
            break
        first = session.chat(probe_request(session), "baseline: unary, adapted")
    second = session.chat(probe_request(session), "baseline: unary, repeated")
    choice = first_choice(chat_view(first)) if first.ok else None
    if choice is None or not isinstance(choice.text, str) or not choice.text:
        why = f"the baseline request got {first.status or first.error} without a text answer"
        for rule in ("truncation_finish_reason_length", "stop_sequence_ends_answer", "stream_matches_unary"):
            session.skip(rule, why)
        return None
    again = first_choice(chat_view(second)) if second.ok else None
    session.deterministic = again is not None and again.text == choice.text
    if not session.deterministic:
        session.notes.append(
            "the target gave two different answers to the same request at temperature 0 with a seed; "
            "relations comparing two answers (stop prefix, stream == unary) were not judged"
        )
    return Baseline(first, choice.text, completion_tokens(first))


def probe_truncation(session: Session, baseline: Baseline) -> None:
    full = baseline.tokens
    if full is None or full < 3:
        session.skip("truncation_finish_reason_length", f"the baseline answer used {full} completion tokens (< 3)")
        return
    limit = max(1, min(8, full // 2))
    for key, stream in (("max_tokens", False), ("max_completion_tokens", False), (session.dialect.limit_key, True)):
        body = probe_request(session)
        body.pop(session.dialect.limit_key)
        body[key] = limit
        if stream:
            body["stream"] = True
        cut = session.chat(body, f"truncation: {key}={limit}{', stream' if stream else ''}")
        if cut.ok:
            session.judge(
                "truncation_finish_reason_length",
                truncation_finish_reason_length(baseline.exchange, cut, limit, bool(session.deterministic)),
                cut,
                baseline.exchange,
            )


def pick_stop(text: str) -> str | None:
    """A word from the later part of ``text`` whose first occurrence is there (so the prefix is non-empty)."""
    for match in re.finditer(r"[A-Za-z]{3,}", text):
        if match.start() >= max(1, len(text) // 3) and text.index(match.group()) == match.start():
            return match.group()
    return None


def probe_stop(session: Session, baseline: Baseline) -> None:
    stop = pick_stop(baseline.text)
    if stop is None:
        session.skip("stop_sequence_ends_answer", "no suitable stop word in the baseline answer")
        return
    stopped = session.chat(probe_request(session, stop=[stop]), f"stop: {stop!r}")
    if not stopped.ok:
        return
    if session.deterministic:
        session.judge(
            "stop_sequence_ends_answer",
            stop_sequence_ends_answer(baseline.exchange, stopped, stop),
            stopped,
            baseline.exchange,
        )
    else:
        session.skip("stop_sequence_ends_answer", "the target is not deterministic")


def probe_stream(session: Session, baseline: Baseline) -> None:
    streamed = session.chat(
        probe_request(session, stream=True, stream_options={"include_usage": True}), "stream: include_usage"
    )
    session.chat(probe_request(session, stream=True), "stream: no usage requested")
    if streamed.ok:
        session.judge(
            "stream_matches_unary",
            stream_matches_unary(baseline.exchange, streamed, bool(session.deterministic)),
            streamed,
            baseline.exchange,
        )


def unary_and_stream(session: Session, body: dict[str, Any], label: str) -> None:
    """Send ``body`` unary and streamed (with usage) and judge that the stream tells the same answer.

    When they differ, the unary request is repeated once: only a target that repeats its unary answer
    is held to a streamed answer equal to it (otherwise just prompt_tokens are compared)."""
    unary = session.chat(body, f"{label}: unary")
    streamed = session.chat({**body, "stream": True, "stream_options": {"include_usage": True}}, f"{label}: stream")
    if not (unary.ok and streamed.ok):
        return
    if list(stream_matches_unary(unary, streamed, deterministic=True)):
        again = session.chat(body, f"{label}: unary, repeated")
        deterministic = again.ok and answer_signature(again) == answer_signature(unary)
    else:
        deterministic = True
    session.judge("stream_matches_unary", stream_matches_unary(unary, streamed, deterministic), streamed, unary)


def answer_signature(exchange: Exchange) -> list[tuple[Any, Any, Any, list[tuple[Any, Any]]]]:
    """What two answers to the same deterministic request must share: per choice text, finish, tool calls."""
    return [
        (c.index, c.text, c.finish_reason, [(t.name, t.arguments) for t in c.tool_calls])
        for c in sorted(chat_view(exchange).choices, key=lambda c: repr(c.index))
    ]


def probe_n(session: Session) -> None:
    unary_and_stream(session, probe_request(session, n=2, limit=16), "n=2")


def probe_logprobs(session: Session) -> None:
    unary_and_stream(session, probe_request(session, logprobs=True, top_logprobs=2, limit=16), "logprobs")


def _tool_request(session: Session, tool_choice: Any, **params: Any) -> dict[str, Any]:
    return probe_request(
        session,
        "What is the weather in Lisbon right now?",
        system=None,
        tools=[WEATHER_TOOL, TIME_TOOL],
        tool_choice=tool_choice,
        **params,
    )


def probe_tools(session: Session) -> None:
    named = {"type": "function", "function": {"name": "get_weather"}}
    unary_and_stream(session, _tool_request(session, named), "tools: named tool_choice")
    session.chat(_tool_request(session, "required"), "tools: tool_choice required")
    session.chat(_tool_request(session, "none"), "tools: tool_choice none")


def probe_json(session: Session) -> None:
    json_object = {"type": "json_object"}
    unary_and_stream(
        session, probe_request(session, JSON_PROMPT, system=None, response_format=json_object), "json_object"
    )
    schema_format = {
        "type": "json_schema",
        "json_schema": {"name": "lighthouse", "schema": LIGHTHOUSE_SCHEMA, "strict": True},
    }
    session.chat(
        probe_request(session, JSON_PROMPT, system=None, response_format=schema_format), "json_schema strict: unary"
    )


def probe_auth(session: Session) -> None:
    probe_bearer_auth(session, session.chat, probe_request(session, limit=4), "auth_required", auth_required)


def probe_unknown_model(session: Session) -> None:
    model = "llmconform-no-such-model-7f3a"
    body = probe_request(session, limit=4)
    body["model"] = model
    exchange = session.chat(body, "unknown model")
    session.judge("unknown_model_rejected", unknown_model_rejected(exchange, model), exchange)


def probe_invalid_requests(session: Session) -> None:
    cases: list[InvalidRequest] = [
        ("a body without 'messages'", {"model": session.model}, None),
        ("'messages' that is not an array", {"model": session.model, "messages": "hello"}, None),
        ("a body that is not JSON", None, b'{"model": "x", "messages": ['),
    ]
    judge_invalid_requests(session, session.chat, cases, "invalid_request_rejected", invalid_request_rejected)


def probe_parameter_limits(session: Session) -> None:
    """The two request limits the rule table states as MUST: at most 4 stop sequences, top_logprobs <= 20."""
    cases = [
        ("5 stop sequences (at most 4)", probe_request(session, stop=["a1", "b2", "c3", "d4", "e5"], limit=4)),
        ("top_logprobs 21 (at most 20)", probe_request(session, logprobs=True, top_logprobs=21, limit=4)),
    ]
    for what, body in cases:
        exchange = session.chat(body, f"limits: {what}")
        session.judge("parameter_limits_enforced", parameter_limits_enforced(exchange, what), exchange)


# ---------------------------------------------------------------------- schemathesis pinning

# Top-level chat request properties capped for cheap positive generation (value = maximum).
GENERATION_BOUNDS = {"n": 2, "max_tokens": 16, "max_completion_tokens": 16, "top_logprobs": 3}
# The contract's own maxima of those properties (the output limits have none).
_VALID_MAXIMUM = {"n": 128, "top_logprobs": 20}


def pin_generated_body(body: dict[str, Any], session: Session, positive: bool) -> None:
    """Point a schemathesis-generated chat body at the model under test and bound what it may cost."""
    if isinstance(body.get("model"), str):
        body["model"] = session.model
    if positive:
        _pin_tool_choice(body)
    if all(body.get(key) is None for key in ("max_tokens", "max_completion_tokens")):
        # Never an unbounded answer on a paid API.
        body[session.dialect.limit_key] = GENERATION_BOUNDS["max_tokens"]
    for key, bound in GENERATION_BOUNDS.items():
        value = as_int(body.get(key))
        # In negative mode an out-of-range value may be the point of the case: only clamp valid values.
        if value is not None and value > bound and (positive or 1 <= value <= _VALID_MAXIMUM.get(key, value)):
            body[key] = bound
    if positive and body.get("stream") is not True:
        body.pop("stream_options", None)


def _pin_tool_choice(body: dict[str, Any]) -> None:
    """Make a generated tool_choice satisfiable, as the model is pinned: a named choice names an offered
    tool, and "required" or a named choice comes with tools (otherwise servers rightly answer 400)."""
    choice = body.get("tool_choice")
    tools = body.get("tools")
    names = [
        t["function"]["name"]
        for t in tools if isinstance(t, dict) and isinstance(t.get("function"), dict)
        and isinstance(t["function"].get("name"), str)
    ] if isinstance(tools, list) else []  # fmt: skip
    if isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        if names:
            choice["function"]["name"] = names[0]
        else:
            del body["tool_choice"]
    elif choice == "required" and not names:
        del body["tool_choice"]
