"""Probes of the messages family (Claude format, POST /v1/messages): requests sent on purpose to test
request -> response relations, each judged by a rule in :mod:`llmconform.checks.messages_relations`;
every answer is also judged by every exchange rule.

Relations that compare two answers to the same request (stop prefix, stream == unary at full strength)
run only when the target repeated its baseline answer to the same request at temperature 0. All probes
use the family's native headers (``x-api-key`` and ``anthropic-version``) except the auth probes, which
set their headers themselves.
"""

from __future__ import annotations

from functools import partial
from typing import Any

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
from llmconform.conformance.chat_probes import pick_stop
from llmconform.conformance.probe_steps import (
    NO_API_KEY,
    TIME_FUNCTION,
    WEATHER_FUNCTION,
    InvalidRequest,
    KeyRefused,
    judge_invalid_requests,
)
from llmconform.conformance.session import Session
from llmconform.exchange import Exchange
from llmconform.families.messages import (
    ANTHROPIC_VERSION,
    FAMILY,
    MESSAGES_OPERATION,
    MESSAGES_PATH,
    messages_view,
    output_tokens,
)
from llmconform.json_numbers import as_int

PROMPT = "Write three short sentences about lighthouses and the sea."
SYSTEM = "You are a concise assistant."
TOOL_PROMPT = "What is the weather in Lisbon right now?"
# The baseline asks for a bounded answer: long enough to truncate and to pick a stop word from.
FULL_LIMIT = 64
WRONG_KEY = "sk-llmconform-wrong-key-000"
UNKNOWN_MODEL = "llmconform-no-such-model-7f3a"

# Claude tools name their parameters input_schema.
WEATHER_TOOL: dict[str, Any] = {
    "name": WEATHER_FUNCTION["name"],
    "description": WEATHER_FUNCTION["description"],
    "input_schema": WEATHER_FUNCTION["parameters"],
}
TIME_TOOL: dict[str, Any] = {
    "name": TIME_FUNCTION["name"],
    "description": TIME_FUNCTION["description"],
    "input_schema": TIME_FUNCTION["parameters"],
}
# A system prompt past the largest minimum cacheable length Anthropic documents (2,048 tokens for Haiku
# models), so a real target caches it and reports the split the rule judges.
CACHE_SYSTEM = " ".join(
    f"Rule {n}: answer briefly, stay on the topic of lighthouses, keep a calm tone and never invent facts."
    for n in range(1, 161)
)

# Requests each probe sends at most, so the run can state its plan before it starts.
PLANNED: dict[str, int] = {
    "baseline": 2,
    "truncation": 2,
    "stop": 1,
    "stream": 1,
    "tools": 7,
    "cache": 3,
    "auth": 4,
    "unknown_model": 1,
    "invalid": 3,
}
PLANNED_REQUESTS = sum(PLANNED.values())
# schemathesis: top-level request properties bounded for cheap generation (value = maximum).
GENERATION_BOUNDS: dict[str, int] = {"max_tokens": 16}


def probe_request(
    session: Session, prompt: str = PROMPT, *, system: Any = SYSTEM, limit: int = FULL_LIMIT, **params: Any
) -> dict[str, Any]:
    """A deterministic probe request (temperature 0) with ``params`` added as top-level fields."""
    body: dict[str, Any] = {
        "model": session.model,
        "max_tokens": limit,
        "messages": [{"role": "user", "content": prompt}],
        "temperature": 0,
    }
    if system is not None:
        body["system"] = system
    body.update(params)
    return body


def send(session: Session, body: Any, label: str, **kwargs: Any) -> Exchange:
    """POST a Claude-format request through the session (native headers unless ``auth=False``)."""
    return session.send(
        "POST", MESSAGES_PATH, operation=MESSAGES_OPERATION, family=FAMILY, label=f"messages {label}", json_body=body,
        **kwargs,
    )  # fmt: skip


def run_messages_probes(session: Session) -> None:
    """Every messages probe, in order; relations needing determinism are skipped when it is not shown."""
    baseline = probe_baseline(session)
    if baseline is not None:
        exchange, deterministic = baseline
        probe_truncation(session, exchange, deterministic)
        probe_stop(session, exchange, deterministic)
        probe_stream(session, exchange, deterministic)
    probe_tools(session)
    probe_cache(session)
    probe_auth(session)
    probe_unknown_model(session)
    probe_invalid_requests(session)


def probe_baseline(session: Session) -> tuple[Exchange, bool] | None:
    """The reference answer, sent twice: (the first answer, whether the second repeated its text)."""
    first = send(session, probe_request(session), "baseline: unary")
    if first.status == 401:
        raise KeyRefused(f"POST {MESSAGES_PATH} answered 401 to the configured key")
    second = send(session, probe_request(session), "baseline: unary, repeated")
    text = messages_view(first).text if first.ok else ""
    if not text:
        why = f"the baseline request got {first.status or first.error} without a text answer"
        for rule in ("messages_truncation_stop_reason", "messages_stop_sequence_ends_answer"):
            session.skip(rule, why)
        return None
    deterministic = second.ok and messages_view(second).text == text
    if not deterministic:
        session.notes.append(
            "messages: the target gave two different answers to the same request at temperature 0; relations "
            "comparing two answers (stop prefix, stream == unary text) were judged only loosely or not at all"
        )
    return first, deterministic


def probe_truncation(session: Session, baseline: Exchange, deterministic: bool) -> None:
    full = output_tokens(messages_view(baseline).usage)
    if full is None or full < 3:
        session.skip("messages_truncation_stop_reason", f"the baseline answer used {full} output tokens (< 3)")
        return
    limit = max(1, min(8, full // 2))
    for stream in (False, True):
        body = probe_request(session, limit=limit)
        if stream:
            body["stream"] = True
        cut = send(session, body, f"truncation: max_tokens={limit}{', stream' if stream else ''}")
        if cut.ok:
            session.judge(
                "messages_truncation_stop_reason",
                messages_truncation_stop_reason(baseline, cut, limit, deterministic),
                cut,
                baseline,
            )


def probe_stop(session: Session, baseline: Exchange, deterministic: bool) -> None:
    stop = pick_stop(messages_view(baseline).text)
    if stop is None:
        session.skip("messages_stop_sequence_ends_answer", "no suitable stop word in the baseline answer")
        return
    stopped = send(session, probe_request(session, stop_sequences=[stop]), f"stop_sequences: {stop!r}")
    if not stopped.ok:
        return
    if deterministic:
        session.judge(
            "messages_stop_sequence_ends_answer",
            messages_stop_sequence_ends_answer(baseline, stopped, stop),
            stopped,
            baseline,
        )
    else:
        session.skip("messages_stop_sequence_ends_answer", "the target is not deterministic")


def probe_stream(session: Session, baseline: Exchange, deterministic: bool) -> None:
    streamed = send(session, probe_request(session, stream=True), "stream")
    if streamed.ok:
        session.judge(
            "messages_stream_matches_unary",
            messages_stream_matches_unary(baseline, streamed, deterministic),
            streamed,
            baseline,
        )


def _signature(exchange: Exchange) -> tuple[Any, ...]:
    view = messages_view(exchange)
    return view.text, view.stop_reason, [(b.name, b.input) for b in view.tool_uses]


def unary_and_stream(session: Session, body: dict[str, Any], label: str) -> None:
    """Send ``body`` unary and streamed and judge that the stream tells the same answer; when they differ,
    the unary request is repeated once, and only a target that repeats itself is held to full equality."""
    unary = send(session, body, f"{label}: unary")
    streamed = send(session, {**body, "stream": True}, f"{label}: stream")
    if not (unary.ok and streamed.ok):
        return
    deterministic = True
    if list(messages_stream_matches_unary(unary, streamed, deterministic=True)):
        again = send(session, body, f"{label}: unary, repeated")
        deterministic = again.ok and _signature(again) == _signature(unary)
    session.judge(
        "messages_stream_matches_unary",
        messages_stream_matches_unary(unary, streamed, deterministic),
        streamed,
        unary,
    )


def _tool_request(session: Session, tool_choice: Any | None, **params: Any) -> dict[str, Any]:
    extra: dict[str, Any] = {"tools": [WEATHER_TOOL, TIME_TOOL], **params}
    if tool_choice is not None:
        extra["tool_choice"] = tool_choice
    return probe_request(session, TOOL_PROMPT, system=None, **extra)


def probe_tools(session: Session) -> None:
    unary_and_stream(
        session, _tool_request(session, {"type": "tool", "name": "get_weather"}), "tools: tool_choice tool"
    )
    send(session, _tool_request(session, {"type": "any"}), "tools: tool_choice any")
    send(session, _tool_request(session, {"type": "auto"}), "tools: tool_choice auto")
    send(session, _tool_request(session, {"type": "none"}), "tools: tool_choice none")
    turns = [
        {"role": "user", "content": TOOL_PROMPT},
        {
            "role": "assistant",
            "content": [
                {"type": "tool_use", "id": "toolu_llmconform_01", "name": "get_weather", "input": {"city": "Lisbon"}}
            ],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "toolu_llmconform_01", "content": "18 C, clear sky"}],
        },
    ]
    send(session, _tool_request(session, None, messages=turns), "tools: tool_result turn")


def probe_cache(session: Session) -> None:
    """The same request with and without a cache_control marker: the marker may only split the input tokens.

    The marked request is sent twice, so a caching target is seen both writing and reading its cache."""
    plain = probe_request(session, system=[{"type": "text", "text": CACHE_SYSTEM}], limit=8)
    marked_system = [{"type": "text", "text": CACHE_SYSTEM, "cache_control": {"type": "ephemeral"}}]
    without = send(session, plain, "cache: no marker")
    marked = [send(session, {**plain, "system": marked_system}, f"cache: marker on system, {n}") for n in (1, 2)]
    if not without.ok:
        session.skip("messages_cache_tokens_partition_input", f"the request without a marker got {without.status}")
        return
    for exchange in marked:
        if exchange.ok:
            session.judge(
                "messages_cache_tokens_partition_input",
                messages_cache_tokens_partition_input(without, exchange),
                exchange,
                without,
            )


def probe_auth(session: Session) -> None:
    key = session.client.api_key
    if not key:
        session.skip("messages_auth_required", NO_API_KEY)
        session.skip("messages_auth_styles_accepted", NO_API_KEY)
        return
    body = probe_request(session, limit=4)
    version = {"anthropic-version": ANTHROPIC_VERSION}
    without = send(session, body, "auth: no key", auth=False, headers=version)
    wrong = send(session, body, "auth: wrong x-api-key", auth=False, headers={**version, "x-api-key": WRONG_KEY})
    session.judge("messages_auth_required", messages_auth_required(without, wrong), without, wrong)
    native = send(session, body, "auth: x-api-key", auth=False, headers={**version, "x-api-key": key})
    bearer = send(
        session, body, "auth: Authorization Bearer", auth=False, headers={**version, "authorization": f"Bearer {key}"}
    )
    session.judge("messages_auth_styles_accepted", messages_auth_styles_accepted(native, bearer), native, bearer)


def probe_unknown_model(session: Session) -> None:
    body = probe_request(session, limit=4)
    body["model"] = UNKNOWN_MODEL
    exchange = send(session, body, "unknown model")
    session.judge("messages_unknown_model_rejected", messages_unknown_model_rejected(exchange, UNKNOWN_MODEL), exchange)


def probe_invalid_requests(session: Session) -> None:
    turns = [{"role": "user", "content": "Say hello."}]
    cases: list[InvalidRequest] = [
        ("a body without 'max_tokens'", {"model": session.model, "messages": turns}, None),
        ("'messages' that is not an array", {"model": session.model, "max_tokens": 8, "messages": "hello"}, None),
        ("a body that is not JSON", None, b'{"model": "x", "max_tokens": 8, "messages": ['),
    ]
    rule = messages_invalid_request_rejected
    judge_invalid_requests(session, partial(send, session), cases, "messages_invalid_request_rejected", rule)


# ---------------------------------------------------------------------- schemathesis pinning


def pin_generated_body(body: dict[str, Any], model: str, positive: bool) -> None:
    """Point a schemathesis-generated body at ``model`` and bound what it may cost (in place).

    ``max_tokens`` is clamped to 16; a positive body without a valid one gets 16, a negative body without
    one keeps lacking it (the missing required field is the point of such a case, and a conforming target
    refuses it before generating). Positive bodies are also made acceptable to a real target, where the
    schema cannot say it: ``thinking`` is dropped (its budget_tokens >= 1024 must stay below max_tokens),
    content blocks other than text are dropped (tool_use / tool_result ids and thinking signatures cannot be
    generated to match, nor generated images decode; a turn left empty says "Hello."). In both modes a
    valid tool_choice of type any or tool names an offered tool or goes (a target rightly refuses one it
    cannot honour, and schemathesis may count a negative-mode case as positive). Every change keeps the
    body valid under the bounded document schemathesis generated it from (schemathesis re-validates a
    changed body, and one the bounded schema rejects would count as a negative case).
    """
    if isinstance(body.get("model"), str):
        body["model"] = model
    limit = as_int(body.get("max_tokens"))
    bound = GENERATION_BOUNDS["max_tokens"]
    if positive:
        if limit is None or not 1 <= limit <= bound:
            body["max_tokens"] = bound
        body.pop("thinking", None)
        _pin_turns(body)
    elif limit is not None and limit > bound:
        body["max_tokens"] = bound
    _pin_tool_choice(body)


def _pin_turns(body: dict[str, Any]) -> None:
    turns = body.get("messages")
    if not isinstance(turns, list):
        return
    for turn in turns:
        if not isinstance(turn, dict) or not isinstance(turn.get("content"), list):
            continue
        kept = [b for b in turn["content"] if isinstance(b, dict) and b.get("type") == "text"]
        if len(kept) != len(turn["content"]):
            turn["content"] = kept or "Hello."


def _pin_tool_choice(body: dict[str, Any]) -> None:
    """A valid tool_choice of type any or tool is made satisfiable (in both modes: the fix never touches an
    invalid tool_choice, so a negative case stays negative)."""
    choice = body.get("tool_choice")
    if not isinstance(choice, dict) or not (
        choice.get("type") == "any" or (choice.get("type") == "tool" and isinstance(choice.get("name"), str))
    ):
        return
    tools = body.get("tools")
    names = [t["name"] for t in tools if isinstance(t, dict) and isinstance(t.get("name"), str)] if tools else []
    if choice.get("type") == "tool":
        if names:
            choice["name"] = names[0]
        else:
            del body["tool_choice"]
    elif choice.get("type") == "any" and not names:
        del body["tool_choice"]
