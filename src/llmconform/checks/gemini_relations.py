"""Gemini rules that need several exchanges made on purpose (metamorphic and negative probes).

The probes (:mod:`llmconform.conformance.gemini_probes`) send the requests; these functions only judge.
Rules comparing two answers to the same request are held strictly only on a target that repeated its
answer to the same request (``deterministic``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from llmconform.checks.common import refused_with, status_text, streamed_text_matches, text_up_to_stop
from llmconform.checks.registry import Severity, Violation, relation_rule
from llmconform.exchange import Exchange
from llmconform.families.gemini import (
    FAMILY,
    MODEL_PREFIX,
    CandidateView,
    GeminiView,
    gemini_view,
    model_id,
    usage_count,
)

USAGE_KEYS = ("promptTokenCount", "candidatesTokenCount", "thoughtsTokenCount", "totalTokenCount")


def first_candidate(view: GeminiView) -> CandidateView | None:
    return view.candidate(0) or (view.candidates[0] if view.candidates else None)


def candidates_tokens(exchange: Exchange) -> int | None:
    """usageMetadata.candidatesTokenCount of an answer (0 when left out), None when it has no usage."""
    return usage_count(gemini_view(exchange).usage, "candidatesTokenCount")


@relation_rule("gemini_truncation_finish_max_tokens", family=FAMILY, severity=Severity.ERROR)
def gemini_truncation_finish_max_tokens(
    full: Exchange, truncated: Exchange, limit: int, deterministic: bool
) -> Iterator[Violation]:
    """An answer cut by maxOutputTokens says finishReason MAX_TOKENS (the same request without the limit ran longer).

    Source: contract-rules.md F G4; python-genai types.py FinishReason.MAX_TOKENS ("The maximum number of tokens
    as specified in the request was reached"); LocalAI #3533 (the chat twin of this bug). On a target not shown
    deterministic only an answer that used the whole limit is judged.
    """
    cut = first_candidate(gemini_view(truncated))
    if cut is None:
        yield f"Expected: a candidate in the answer with maxOutputTokens={limit}. Received: none"
        return
    used = candidates_tokens(truncated)
    reached = used is not None and used >= limit
    if cut.finish_reason != "MAX_TOKENS" and (deterministic or reached):
        yield (
            f"Expected: finishReason MAX_TOKENS (without the limit the answer used {candidates_tokens(full)} "
            f"candidate tokens > {limit}). Received: {cut.finish_reason!r} with candidatesTokenCount {used}"
        )


@relation_rule("gemini_stop_sequence_ends_answer", family=FAMILY, severity=Severity.ERROR)
def gemini_stop_sequence_ends_answer(original: Exchange, stopped: Exchange, stop: str) -> Iterator[Violation]:
    """With a stop sequence taken from an earlier answer, the answer is that answer up to the stop, finish STOP.

    Source: python-genai types.py GenerationConfig.stop_sequences ("the API will stop at the first appearance of
    a stop sequence") and FinishReason.STOP ("Natural stop point of the model or provided stop sequence");
    contract-rules.md F O5. Judged only on a target shown deterministic.
    """
    before = first_candidate(gemini_view(original))
    after = first_candidate(gemini_view(stopped))
    if before is None or after is None or before.text is None:
        yield "Expected: text answers for both requests. Received: a missing candidate or text"
        return
    yield from text_up_to_stop(before.text, after.text or "", stop)
    if after.finish_reason != "STOP":
        yield f"Expected: finishReason STOP at a stop sequence. Received: {after.finish_reason!r}"


def _calls(view: GeminiView) -> list[tuple[Any, Any]]:
    return [(call.name, call.args) for c in view.candidates for call in c.function_calls]


@relation_rule("gemini_stream_matches_unary", family=FAMILY, severity=Severity.ERROR)
def gemini_stream_matches_unary(unary: Exchange, stream: Exchange, deterministic: bool) -> Iterator[Violation]:
    """The streamed answer to a deterministic request equals the unary one: text, thoughts shown, function calls,
    finish reasons and usage.

    Source: contract-rules.md F O9 and O13 (stream == unary, applied to Gemini); python-genai models.py
    (generate_content_stream yields the same GenerateContentResponse type as generate_content). On a target not
    shown deterministic only promptTokenCount (the same prompt) is compared.
    """
    u, s = gemini_view(unary), gemini_view(stream)
    keys = USAGE_KEYS if deterministic else ("promptTokenCount",)
    if isinstance(u.usage, dict) and isinstance(s.usage, dict):
        for key in keys:
            if usage_count(u.usage, key) != usage_count(s.usage, key):
                yield f"Expected: stream {key} == unary {u.usage.get(key)!r}. Received: {s.usage.get(key)!r}"
    if not deterministic:
        return
    by_index = {repr(c.index): c for c in s.candidates}  # by repr: an index may be any JSON value, a list too
    for candidate in u.candidates:
        other = by_index.get(repr(candidate.index))
        if other is None:
            yield f"candidate {candidate.index}: Expected: the candidate in the stream too. Received: missing"
            continue
        for what, mine, theirs in (
            ("text", candidate.text or "", other.text or ""),
            ("thought text", candidate.thought_text, other.thought_text),
        ):
            yield from streamed_text_matches(mine, theirs, what=what, where=f"candidate {candidate.index}: ")
        if candidate.finish_reason != other.finish_reason:
            yield (
                f"candidate {candidate.index}: Expected: finishReason {candidate.finish_reason!r} as unary. "
                f"Received: {other.finish_reason!r}"
            )
    if _calls(u) != _calls(s):
        yield f"Expected: the same function calls as unary {_calls(u)!r:.120}. Received: {_calls(s)!r:.120}"


@relation_rule("gemini_auth_required", family=FAMILY, severity=Severity.ERROR)
def gemini_auth_required(without_key: Exchange, wrong_key: Exchange) -> Iterator[Violation]:
    """A request without a credential, or with a wrong key, is refused with 401 UNAUTHENTICATED or 403
    PERMISSION_DENIED.

    Source: contract-rules.md F E4 and section E (Gemini 403 PERMISSION_DENIED); Google answers a request without
    a key 403 PERMISSION_DENIED ("Method doesn't allow unregistered callers", PublicAffairs/openai-gemini#92) and
    google/rpc/code.proto maps UNAUTHENTICATED to 401. Google itself answers a wrong key 400 INVALID_ARGUMENT
    (API_KEY_INVALID, cequence-io/openai-scala-client#109): like any other 4xx that is a warning; acceptance or a
    5xx is an error.
    """
    yield from refused_with(without_key, (401, 403), "a request without a credential")
    note = " (Google's own answer, API_KEY_INVALID, but clients cannot tell it from a bad body)"
    yield from refused_with(
        wrong_key, (401, 403), "a request with a wrong key", note if wrong_key.status == 400 else ""
    )


@relation_rule("gemini_auth_styles_accepted", family=FAMILY, severity=Severity.ERROR)
def gemini_auth_styles_accepted(by_style: Mapping[str, Exchange]) -> Iterator[Violation]:
    """The key is accepted in each documented place: x-goog-api-key header, Authorization: Bearer, ?key= query.

    Source: shared/reference/aboai-api.md section 3 (AboAI's Gemini routes take any one of the three);
    python-genai _api_client.py (sends x-goog-api-key); Google's REST examples (?key=).
    """
    for style, exchange in by_style.items():
        if not exchange.ok:
            yield f"Expected: the key accepted as {style} (2xx). Received: {status_text(exchange)}"


@relation_rule("gemini_unknown_model_rejected", family=FAMILY, severity=Severity.ERROR)
def gemini_unknown_model_rejected(exchange: Exchange, model: str) -> Iterator[Violation]:
    """A request naming a model that does not exist is refused with 404 NOT_FOUND (another 4xx is a warning).

    Source: contract-rules.md F E4 and section E (Gemini 404 NOT_FOUND); ai.google.dev/gemini-api/docs/
    troubleshooting (404 NOT_FOUND: "The requested resource wasn't found").
    """
    yield from refused_with(exchange, (404,), f"unknown model {model!r}")


@relation_rule("gemini_invalid_request_rejected", family=FAMILY, severity=Severity.ERROR)
def gemini_invalid_request_rejected(exchange: Exchange, what: str) -> Iterator[Violation]:
    """A malformed generateContent request is refused with 400 INVALID_ARGUMENT, never accepted, never a 5xx.

    Source: contract-rules.md F E4 and section E (Gemini 400 INVALID_ARGUMENT: "The request body is
    malformed"); openapi/gemini.yaml GenerateContentRequest (contents required, an array).
    """
    yield from refused_with(exchange, (400,), what)


def listed_names(exchange: Exchange) -> list[str]:
    """The ``name`` strings of a GET /v1beta/models page ([] when it is not one)."""
    try:
        models = exchange.json().get("models")
        return [m["name"] for m in models if isinstance(m, dict) and isinstance(m.get("name"), str)]
    except (ValueError, AttributeError, TypeError):
        return []


@relation_rule("gemini_model_listed", family=FAMILY, severity=Severity.ERROR)
def gemini_model_listed(pages: list[Exchange], described: Exchange | None, model: str) -> Iterator[Violation]:
    """GET /v1beta/models lists the model under test as models/<id>, and GET /v1beta/models/<id> describes it.

    Source: python-genai types.py Model.name and ListModelsResponse (names are "models/{model}"); google-genai
    models.list() is how Gemini clients pick a model; contract-rules.md F M2 (the same rule for /v1/models).
    """
    wanted = MODEL_PREFIX + model_id(model)
    names = [name for page in pages for name in listed_names(page)]
    if wanted not in names:
        more = "..." if len(names) > 10 else ""
        yield f"Expected: {wanted!r} among the listed models. Received: {names[:10]}{more}"
    if described is None:
        return
    if not described.ok:
        yield (
            f"Expected: GET /v1beta/models/{model_id(model)} to describe the model. Received: {status_text(described)}"
        )
        return
    try:
        name = described.json().get("name")
    except (ValueError, AttributeError):
        name = None
    if name != wanted:
        yield f"Expected: the model's name {wanted!r}. Received: {name!r:.80}"
