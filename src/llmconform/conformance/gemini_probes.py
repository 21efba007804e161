"""Probes of the Gemini API family: requests sent on purpose to test request -> response relations.

Each probe builds its requests with :mod:`llmconform.families.gemini`, sends them through the Session (so
every answer is also judged by every exchange rule) and hands the answers to a relation rule in
:mod:`llmconform.checks.gemini_relations`. Relations comparing two answers to the same request are held
strictly only when the target proved deterministic: the baseline request is sent twice and must come
back with the same text. Requests carry the key as ``x-goog-api-key`` (``request_headers``); the auth
probes send their own credentials.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any
from urllib.parse import quote

from llmconform.checks.gemini_relations import (
    candidates_tokens,
    first_candidate,
    gemini_auth_required,
    gemini_auth_styles_accepted,
    gemini_invalid_request_rejected,
    gemini_model_listed,
    gemini_stop_sequence_ends_answer,
    gemini_stream_matches_unary,
    gemini_truncation_finish_max_tokens,
    gemini_unknown_model_rejected,
)
from llmconform.conformance.chat_probes import pick_stop
from llmconform.conformance.gemini_media_probes import PLANNED_REQUESTS as MEDIA_REQUESTS
from llmconform.conformance.gemini_media_probes import run_gemini_media_probes
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
from llmconform.families.gemini import (
    FAMILY,
    GENERATE_OPERATION,
    GET_MODEL_OPERATION,
    LIST_MODELS_OPERATION,
    MODELS_PATH,
    STREAM_OPERATION,
    gemini_body,
    gemini_view,
    generate_path,
    model_path,
)
from llmconform.json_numbers import as_int

PROMPT = "Write three short sentences about lighthouses and the sea."
SYSTEM = "You are a concise assistant."
TOOL_PROMPT = "What is the weather in Lisbon right now?"
FULL_LIMIT = 64
SEED = 7
THINKING_BUDGET = 64
# Pages of GET /v1beta/models read while looking for the model under test (1000 models each).
MODEL_PAGES = 2


def _gemini_schema(schema: Any) -> Any:
    """A JSON Schema with Gemini's upper-case type names (python-genai types.Type: OBJECT, STRING, ...)."""
    if isinstance(schema, dict):
        return {k: (v.upper() if k == "type" and isinstance(v, str) else _gemini_schema(v)) for k, v in schema.items()}
    if isinstance(schema, list):
        return [_gemini_schema(v) for v in schema]
    return schema


GEMINI_WEATHER_FUNCTION: dict[str, Any] = {
    **WEATHER_FUNCTION,
    "parameters": _gemini_schema(WEATHER_FUNCTION["parameters"]),
}
GEMINI_TIME_FUNCTION: dict[str, Any] = {**TIME_FUNCTION, "parameters": _gemini_schema(TIME_FUNCTION["parameters"])}
WRONG_KEY = "llmconform-wrong-key-000"

# Requests each probe sends at most, so the run can state its plan before it starts.
PLANNED: dict[str, int] = {
    "models": MODEL_PAGES + 1,
    "baseline": 2,
    "truncation": 2,
    "stop": 1,
    "stream": 2,
    "candidates": 3,
    "thinking": 5,
    "tools": 4,
    "media": MEDIA_REQUESTS,
    "auth": 5,
    "unknown_model": 1,
    "invalid": 3,
}
# Upper bound of the requests run_gemini_probes sends, so a run can state its plan up front.
PLANNED_REQUESTS = sum(PLANNED.values())
# schemathesis: request properties bounded for cheap generation (value = maximum; a dotted name is a nested
# property, made required so generated cases carry it). pin_generated_body clamps candidateCount.
GENERATION_BOUNDS: dict[str, int] = {"generationConfig.maxOutputTokens": 16}
# What pin_generated_body allows a generated generationConfig.
OUTPUT_LIMIT = 16
CANDIDATES_LIMIT = 2


@dataclass(slots=True)
class Baseline:
    """The reference answer relations compare against."""

    exchange: Exchange
    text: str
    tokens: int | None
    deterministic: bool


def probe_body(
    prompt: str = PROMPT, *, system: str | None = SYSTEM, limit: int = FULL_LIMIT, **config: Any
) -> dict[str, Any]:
    """A deterministic probe request (temperature 0, a seed); ``config`` entries join generationConfig."""
    messages = ([{"role": "system", "content": system}] if system is not None else []) + [
        {"role": "user", "content": prompt}
    ]
    body = gemini_body(messages, max_tokens=limit, temperature=0, seed=SEED)
    body["generationConfig"].update(config)
    return body


def _generate(
    session: Session, body: Any, label: str, *, stream: bool = False, sse: bool = True, **kw: Any
) -> Exchange:
    return session.send(
        "POST",
        generate_path(session.model, stream=stream, sse=sse),
        operation=STREAM_OPERATION if stream else GENERATE_OPERATION,
        family=FAMILY,
        label=label,
        json_body=body,
        **kw,
    )


def run_gemini_probes(session: Session) -> None:
    """Every Gemini probe, in order; relations needing determinism are held loosely when it is not shown."""
    probe_models(session)
    baseline = probe_baseline(session)
    if baseline is not None:
        probe_truncation(session, baseline)
        probe_stop(session, baseline)
        probe_stream(session, baseline)
    probe_candidates(session)
    probe_thinking(session)
    probe_tools(session)
    run_gemini_media_probes(session)
    probe_auth(session)
    probe_unknown_model(session)
    probe_invalid_requests(session)


def probe_models(session: Session) -> None:
    """GET /v1beta/models (following nextPageToken) and GET /v1beta/models/{model}."""
    pages: list[Exchange] = []
    token: str | None = None
    for number in range(MODEL_PAGES):
        query = "?pageSize=1000" + (f"&pageToken={token}" if token else "")
        page = session.send(
            "GET", MODELS_PATH + query, operation=LIST_MODELS_OPERATION, family=FAMILY, label=f"models: page {number}"
        )
        if page.status in (401, 403):
            raise KeyRefused(f"GET {MODELS_PATH} answered {page.status} to the configured key")
        if not page.ok:
            session.skip("gemini_model_listed", f"GET {MODELS_PATH} answered {page.status or page.error}")
            return
        pages.append(page)
        try:
            next_token = page.json().get("nextPageToken")
        except (ValueError, AttributeError):
            next_token = None
        if not isinstance(next_token, str) or not next_token:
            break
        token = next_token
    described = session.send(
        "GET", model_path(session.model), operation=GET_MODEL_OPERATION, family=FAMILY, label="models: get"
    )
    session.judge("gemini_model_listed", gemini_model_listed(pages, described, session.model), pages[0], described)


def probe_baseline(session: Session) -> Baseline | None:
    first = _generate(session, probe_body(), "baseline: unary")
    if first.status in (401, 403):
        raise KeyRefused(f"generateContent answered {first.status} to the configured key")
    second = _generate(session, probe_body(), "baseline: unary, repeated")
    candidate = first_candidate(gemini_view(first)) if first.ok else None
    if candidate is None or not candidate.text:
        why = f"the Gemini baseline request got {first.status or first.error} without a text answer"
        for rule in ("gemini_truncation_finish_max_tokens", "gemini_stop_sequence_ends_answer"):
            session.skip(rule, why)
        return None
    again = first_candidate(gemini_view(second)) if second.ok else None
    deterministic = again is not None and again.text == candidate.text
    if not deterministic:
        session.notes.append(
            "the target gave two different Gemini answers to the same request at temperature 0 with a seed; "
            "relations comparing two answers (stop prefix, stream == unary) were held loosely"
        )
    return Baseline(first, candidate.text, candidates_tokens(first), deterministic)


def probe_truncation(session: Session, baseline: Baseline) -> None:
    full = baseline.tokens
    if full is None or full < 3:
        session.skip("gemini_truncation_finish_max_tokens", f"the baseline answer used {full} candidate tokens (< 3)")
        return
    limit = max(1, min(8, full // 2))
    for stream in (False, True):
        cut = _generate(
            session, probe_body(limit=limit), f"truncation: maxOutputTokens={limit}{', stream' if stream else ''}",
            stream=stream,
        )  # fmt: skip
        if cut.ok:
            session.judge(
                "gemini_truncation_finish_max_tokens",
                gemini_truncation_finish_max_tokens(baseline.exchange, cut, limit, baseline.deterministic),
                cut,
                baseline.exchange,
            )


def probe_stop(session: Session, baseline: Baseline) -> None:
    stop = pick_stop(baseline.text)
    if stop is None:
        session.skip("gemini_stop_sequence_ends_answer", "no suitable stop word in the Gemini baseline answer")
        return
    stopped = _generate(session, probe_body(stopSequences=[stop]), f"stop: {stop!r}")
    if not stopped.ok:
        return
    if baseline.deterministic:
        session.judge(
            "gemini_stop_sequence_ends_answer",
            gemini_stop_sequence_ends_answer(baseline.exchange, stopped, stop),
            stopped,
            baseline.exchange,
        )
    else:
        session.skip("gemini_stop_sequence_ends_answer", "the target is not deterministic")


def probe_stream(session: Session, baseline: Baseline) -> None:
    """The baseline streamed as server-sent events and as a JSON array: both tell the unary answer."""
    for sse in (True, False):
        streamed = _generate(
            session, probe_body(), f"stream: {'alt=sse' if sse else 'JSON array'}", stream=True, sse=sse
        )
        if streamed.ok:
            session.judge(
                "gemini_stream_matches_unary",
                gemini_stream_matches_unary(baseline.exchange, streamed, baseline.deterministic),
                streamed,
                baseline.exchange,
            )


def unary_and_stream(session: Session, body: dict[str, Any], label: str) -> None:
    """Send ``body`` unary and as an SSE stream and judge that the stream tells the same answer; when they
    differ, the unary request is repeated once to learn whether the target repeats itself."""
    unary = _generate(session, body, f"{label}: unary")
    streamed = _generate(session, body, f"{label}: stream", stream=True)
    if not (unary.ok and streamed.ok):
        return
    deterministic = True
    if list(gemini_stream_matches_unary(unary, streamed, deterministic=True)):
        again = _generate(session, body, f"{label}: unary, repeated")
        deterministic = again.ok and _signature(again) == _signature(unary)
    session.judge(
        "gemini_stream_matches_unary", gemini_stream_matches_unary(unary, streamed, deterministic), streamed, unary
    )


def _signature(exchange: Exchange) -> list[tuple[Any, ...]]:
    return [
        (c.index, c.text, c.thought_text, c.finish_reason, [(f.name, f.args) for f in c.function_calls])
        for c in sorted(gemini_view(exchange).candidates, key=lambda c: repr(c.index))
    ]


def probe_candidates(session: Session) -> None:
    unary_and_stream(session, probe_body(limit=16, candidateCount=2), "candidateCount=2")


def probe_thinking(session: Session) -> None:
    """Thinking on (hidden thoughts), thinking shown (in google-genai's snake_case spelling), thinking off."""
    unary_and_stream(session, probe_body(limit=16, thinkingConfig={"thinkingBudget": THINKING_BUDGET}), "thinking")
    shown = {"thinking_budget": THINKING_BUDGET, "include_thoughts": True}
    _generate(session, probe_body(limit=16, thinkingConfig=shown), "thinking: include_thoughts (snake_case)")
    _generate(session, probe_body(limit=16, thinkingConfig={"thinkingBudget": 0}), "thinking: off")


def _tool_body(mode: str, **calling: Any) -> dict[str, Any]:
    body = probe_body(TOOL_PROMPT, system=None)
    body["tools"] = [{"functionDeclarations": [GEMINI_WEATHER_FUNCTION, GEMINI_TIME_FUNCTION]}]
    body["toolConfig"] = {"functionCallingConfig": {"mode": mode, **calling}}
    return body


def probe_tools(session: Session) -> None:
    unary_and_stream(session, _tool_body("ANY", allowedFunctionNames=["get_weather"]), "tools: mode ANY")
    _generate(session, _tool_body("NONE"), "tools: mode NONE")


def probe_auth(session: Session) -> None:
    key = session.client.api_key
    if not key:
        for rule in ("gemini_auth_required", "gemini_auth_styles_accepted"):
            session.skip(rule, NO_API_KEY)
        return
    body = probe_body(limit=4)
    without = _generate(session, body, "auth: no credential", auth=False)
    wrong = _generate(session, body, "auth: wrong key", auth=False, headers={"x-goog-api-key": WRONG_KEY})
    session.judge("gemini_auth_required", gemini_auth_required(without, wrong), without, wrong)
    styles = {
        "x-goog-api-key header": _generate(
            session, body, "auth: x-goog-api-key", auth=False, headers={"x-goog-api-key": key}
        ),
        "Authorization: Bearer": _generate(
            session, body, "auth: Bearer", auth=False, headers={"authorization": f"Bearer {key}"}
        ),
    }
    query = session.send(
        "POST",
        generate_path(session.model, stream=False) + f"?key={quote(key, safe='')}",
        operation=GENERATE_OPERATION,
        family=FAMILY,
        label="auth: ?key=",
        json_body=body,
        auth=False,
    )
    styles["?key= query parameter"] = query
    exchanges = list(styles.values())
    session.judge("gemini_auth_styles_accepted", gemini_auth_styles_accepted(styles), exchanges[0], *exchanges[1:])


def probe_unknown_model(session: Session) -> None:
    model = "llmconform-no-such-model-7f3a"
    exchange = session.send(
        "POST",
        generate_path(model, stream=False),
        operation=GENERATE_OPERATION,
        family=FAMILY,
        label="unknown model",
        json_body=probe_body(limit=4),
    )
    session.judge("gemini_unknown_model_rejected", gemini_unknown_model_rejected(exchange, model), exchange)


def probe_invalid_requests(session: Session) -> None:
    cases: list[InvalidRequest] = [
        ("a body without 'contents'", {"generationConfig": {"maxOutputTokens": 4}}, None),
        ("'contents' that is not an array", {"contents": "hello"}, None),
        ("a body that is not JSON", None, b'{"contents": ['),
    ]
    rule = gemini_invalid_request_rejected
    judge_invalid_requests(session, partial(_generate, session), cases, "gemini_invalid_request_rejected", rule)


def pin_generated_body(body: dict[str, Any], model: str, positive: bool) -> None:
    """Point a schemathesis-generated body at model and bound what it may cost (in place).

    The model travels in the path (pinned by the driver), so ``model`` is not written into the body. The output
    limit generationConfig.maxOutputTokens is set to 16 when absent and clamped to 16, candidateCount to 2; in
    negative mode only values that are valid are clamped (an invalid one may be the point of the case), and a
    generationConfig that is not an object is left as it is.
    """
    del model  # the path carries it
    config = body.get("generationConfig")
    if config is None:
        config = body["generationConfig"] = {}
    if not isinstance(config, dict):
        return
    limit = as_int(config.get("maxOutputTokens"))
    absent = "maxOutputTokens" not in config or (positive and limit is None)
    if absent or (limit is not None and limit > OUTPUT_LIMIT):
        config["maxOutputTokens"] = OUTPUT_LIMIT
    count = as_int(config.get("candidateCount"))
    if count is not None and CANDIDATES_LIMIT < count <= 8:
        config["candidateCount"] = CANDIDATES_LIMIT
    if positive:
        _pin_allowed_functions(body)


def _pin_allowed_functions(body: dict[str, Any]) -> None:
    """Make generated allowedFunctionNames satisfiable: they name a declared function (Google refuses a
    forced call to a function that was not declared), or they go."""
    tool_config = body.get("toolConfig")
    calling = tool_config.get("functionCallingConfig") if isinstance(tool_config, dict) else None
    allowed = calling.get("allowedFunctionNames") if isinstance(calling, dict) else None
    if not isinstance(calling, dict) or not isinstance(allowed, list) or not allowed:
        return
    declared = [
        declaration["name"]
        for tool in body.get("tools") or []
        if isinstance(tool, dict) and isinstance(tool.get("functionDeclarations"), list)
        for declaration in tool["functionDeclarations"]
        if isinstance(declaration, dict) and isinstance(declaration.get("name"), str)
    ]
    if not any(name in declared for name in allowed):
        if declared:
            calling["allowedFunctionNames"] = declared[:1]
        else:
            del calling["allowedFunctionNames"]
