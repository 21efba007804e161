"""Rules of the Gemini API family (v1beta) that one answer shows: shape, media type, error body,
candidates, maxOutputTokens, stop sequences, function calls and thinking
(rule table F, G4 and E3).

Usage arithmetic (G1, G2) is in :mod:`llmconform.checks.gemini_usage`, stream framing (G3) in
:mod:`llmconform.checks.gemini_stream`, the rules judged on probes in :mod:`llmconform.checks.gemini_relations`;
all three register when this module is imported. Every rule
reads the answer through :func:`llmconform.families.gemini.gemini_view`, so a unary answer, an SSE
stream and a JSON-array stream are judged alike.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from llmconform.checks.common import error_object
from llmconform.checks.registry import Severity, Violation, Warn, exchange_rule
from llmconform.checks.schema import schema_violations
from llmconform.exchange import Exchange
from llmconform.families.gemini import (
    FAMILY,
    GET_MODEL_OPERATION,
    LIST_MODELS_OPERATION,
    OPERATIONS,
    GeminiView,
    declared_functions,
    function_calling,
    gemini_view,
    include_thoughts,
    is_generation_answer,
    max_output_tokens,
    requested_candidates,
    requested_sse,
    stop_sequences,
    thinking_disabled,
    usage_count,
)
from llmconform.json_numbers import as_int

DOCUMENT = "gemini"
_MAX_ERRORS = 3
# google.rpc.Code names and the HTTP status Google maps each to (googleapis google/rpc/code.proto).
GRPC_HTTP: dict[str, int] = {
    "OK": 200,
    "CANCELLED": 499,
    "UNKNOWN": 500,
    "INVALID_ARGUMENT": 400,
    "DEADLINE_EXCEEDED": 504,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "PERMISSION_DENIED": 403,
    "RESOURCE_EXHAUSTED": 429,
    "FAILED_PRECONDITION": 400,
    "ABORTED": 409,
    "OUT_OF_RANGE": 400,
    "UNIMPLEMENTED": 501,
    "INTERNAL": 500,
    "UNAVAILABLE": 503,
    "DATA_LOSS": 500,
    "UNAUTHENTICATED": 401,
}
_MAPPED_HTTP = frozenset(GRPC_HTTP.values())


# ------------------------------------------------------------------------------- predicates


def _answer_parsed(exchange: Exchange) -> bool:
    """A 2xx generation answer whose body (or some frame) is a JSON object."""
    if not is_generation_answer(exchange):
        return False
    view = gemini_view(exchange)
    return isinstance(view.payload, dict) if view.kind == "unary" else bool(view.json_frames)


def _blocked(view: GeminiView) -> bool:
    """The prompt itself was blocked (promptFeedback.blockReason): no candidates is then the answer."""
    payloads = [view.payload] if view.kind == "unary" else [f.payload for f in view.json_frames]
    for payload in payloads:
        feedback = payload.get("promptFeedback") if isinstance(payload, dict) else None
        if isinstance(feedback, dict) and feedback.get("blockReason"):
            return True
    return False


def _has_candidates(exchange: Exchange) -> bool:
    return _answer_parsed(exchange) and bool(gemini_view(exchange).candidates)


def _final_usage(exchange: Exchange) -> dict[str, Any] | None:
    usage = gemini_view(exchange).usage
    return usage if isinstance(usage, dict) else None


def _has_usage(exchange: Exchange) -> bool:
    return _answer_parsed(exchange) and _final_usage(exchange) is not None


# ---------------------------------------------------------------------------- shape and type


def _validate(schema_name: str, instance: object, where: str) -> Iterator[str]:
    return schema_violations(schema_name, DOCUMENT, instance, where)


def _is_known_success(exchange: Exchange) -> bool:
    return exchange.ok and exchange.operation in OPERATIONS


@exchange_rule("gemini_response_matches_schema", family=FAMILY, severity=Severity.ERROR, applies=_is_known_success)
def gemini_response_matches_schema(exchange: Exchange) -> Iterator[Violation]:
    """A 2xx body, every partial answer of a stream and every listed model validate against openapi/gemini.yaml.

    Source: openapi/gemini.yaml (GenerateContentResponse, GenerateContentStreamResponse, ListModelsResponse,
    Model), built from googleapis/python-genai google/genai/types.py (GenerateContentResponse, Candidate,
    GenerateContentResponseUsageMetadata, Model) and Google's REST reference for v1beta.
    """
    if exchange.operation in (LIST_MODELS_OPERATION, GET_MODEL_OPERATION):
        try:
            body = exchange.json()
        except ValueError as exc:
            yield f"Expected: a JSON body. Received: {exc}"
            return
        name = "ListModelsResponse" if exchange.operation == LIST_MODELS_OPERATION else "Model"
        yield from _validate(name, body, "body")
        return
    view = gemini_view(exchange)
    if view.kind == "unary":
        if view.payload is None:
            yield f"Expected: a JSON body. Received: {'; '.join(view.problems)}"
            return
        yield from _validate("GenerateContentResponse", view.payload, "body")
        return
    if view.kind == "array" and not isinstance(view.payload, list):
        return  # gemini_stream_frames_are_json reports what the body is
    reported = 0
    for frame in view.json_frames:
        where = f"event #{frame.position}" if view.kind == "sse" else f"element #{frame.position}"
        for message in _validate("GenerateContentStreamResponse", frame.payload, where):
            yield message
            reported += 1
        if reported >= _MAX_ERRORS:
            return


def _has_status(exchange: Exchange) -> bool:
    return exchange.status is not None and exchange.operation in OPERATIONS


@exchange_rule("gemini_content_type_declared", family=FAMILY, severity=Severity.ERROR, applies=_has_status)
def gemini_content_type_declared(exchange: Exchange) -> Iterator[Violation]:
    """The media type is the declared one: text/event-stream for streamGenerateContent?alt=sse, application/json
    for every other answer (the JSON-array stream and every error included).

    Source: openapi/gemini.yaml responses; python-genai _api_client.py (always asks for ?alt=sse and reads
    `data:` lines); contract-rules.md F G3 and E3.
    """
    media = exchange.content_type
    success = exchange.status is not None and 200 <= exchange.status < 300
    expected = "text/event-stream" if success and requested_sse(exchange) else "application/json"
    if media != expected and not (expected == "application/json" and media.endswith("+json")):
        yield f"Expected: Content-Type {expected} (status {exchange.status}). Received: {media or 'none'!r}"


def _is_error(exchange: Exchange) -> bool:
    return (
        exchange.error is None
        and exchange.status is not None
        and exchange.status >= 400
        and exchange.operation in OPERATIONS
    )


@exchange_rule("gemini_error_body_shape", family=FAMILY, severity=Severity.ERROR, applies=_is_error)
def gemini_error_body_shape(exchange: Exchange) -> Iterator[Violation]:
    """A non-2xx answer is {"error": {"code": <the HTTP status>, "message": str, "status": <google.rpc.Code name>}}.

    Source: contract-rules.md F E3 and section E (Gemini); ai.google.dev/gemini-api/docs/troubleshooting (400
    INVALID_ARGUMENT, 403 PERMISSION_DENIED, 404 NOT_FOUND, 429 RESOURCE_EXHAUSTED, 500 INTERNAL, 503
    UNAVAILABLE, 504 DEADLINE_EXCEEDED); python-genai errors.py (APIError reads error.code, .message, .status).
    A status name whose usual HTTP status differs (google/rpc/code.proto) is a warning.
    """
    error = error_object(exchange)
    if isinstance(error, str):
        yield error
        return
    code = error.get("code")
    if as_int(code) != exchange.status:
        yield f"Expected: error.code == {exchange.status} (the HTTP status, an integer). Received: {code!r:.40}"
    if not isinstance(error.get("message"), str):
        yield f"Expected: error.message a string. Received: {error.get('message')!r:.80}"
    status = error.get("status")
    if not isinstance(status, str) or status not in GRPC_HTTP:
        yield f"Expected: error.status a google.rpc.Code name (e.g. INVALID_ARGUMENT). Received: {status!r:.60}"
    elif exchange.status in _MAPPED_HTTP and GRPC_HTTP[status] != exchange.status:
        yield Warn(
            f"Expected: a status name that maps to HTTP {exchange.status}. Received: {status} (usually HTTP "
            f"{GRPC_HTTP[status]})"
        )


# ------------------------------------------------------------------------------- candidates


@exchange_rule(
    "gemini_candidate_count",
    family=FAMILY,
    severity=Severity.ERROR,
    applies=lambda ex: _answer_parsed(ex) and not _blocked(gemini_view(ex)),
)
def gemini_candidate_count(exchange: Exchange) -> Iterator[Violation]:
    """The answer has exactly generationConfig.candidateCount candidates (1 when absent).

    Source: python-genai types.py GenerationConfig.candidate_count ("Number of candidates to generate");
    contract-rules.md F O3 (the same relation for chat's n).
    """
    wanted = requested_candidates(exchange)
    got = len(gemini_view(exchange).candidates)
    if got != wanted:
        yield f"Expected: {wanted} candidate(s) for candidateCount={wanted}. Received: {got}"


@exchange_rule("gemini_candidate_indices_distinct", family=FAMILY, severity=Severity.ERROR, applies=_has_candidates)
def gemini_candidate_indices_distinct(exchange: Exchange) -> Iterator[Violation]:
    """Candidate indices are exactly 0..n-1, each candidate once (a missing index is 0).

    Source: python-genai types.py Candidate.index ("The 0-based index of this candidate in the list of
    generated responses"); contract-rules.md F O3.
    """
    view = gemini_view(exchange)
    for where, index in view.duplicate_indices:
        yield f"{where}: Expected: one candidate per index. Received: index {index!r} twice"
    indices = [c.index for c in view.candidates]
    if not all(isinstance(i, int) and not isinstance(i, bool) for i in indices) or sorted(indices) != list(
        range(len(indices))
    ):
        yield f"Expected: indices {list(range(len(indices)))}. Received: {indices}"


@exchange_rule(
    "gemini_output_within_max_tokens",
    family=FAMILY,
    severity=Severity.ERROR,
    applies=lambda ex: (
        _has_usage(ex)
        and max_output_tokens(ex) is not None
        and usage_count(_final_usage(ex), "candidatesTokenCount") is not None
    ),
)
def gemini_output_within_max_tokens(exchange: Exchange) -> Iterator[Violation]:
    """candidatesTokenCount never exceeds maxOutputTokens per candidate.

    Source: contract-rules.md F G4; python-genai types.py GenerationConfig.max_output_tokens ("Maximum number of
    tokens that can be generated in the response").
    """
    limit = max_output_tokens(exchange)
    used = usage_count(_final_usage(exchange), "candidatesTokenCount")
    assert limit is not None and used is not None
    n = len(gemini_view(exchange).candidates) or 1
    if used > limit * n:
        yield f"Expected: candidatesTokenCount <= maxOutputTokens ({limit}) x {n} candidate(s). Received: {used}"


@exchange_rule(
    "gemini_stop_sequence_excluded",
    family=FAMILY,
    severity=Severity.ERROR,
    applies=lambda ex: _has_candidates(ex) and bool(stop_sequences(ex)),
)
def gemini_stop_sequence_excluded(exchange: Exchange) -> Iterator[Violation]:
    """No candidate's text contains a requested stop sequence.

    Source: python-genai types.py GenerationConfig.stop_sequences ("The set of character sequences (up to 5)
    that will stop output generation. If specified, the API will stop at the first appearance of a stop
    sequence. The stop sequence won't be included as part of the response"); contract-rules.md F O5.
    """
    for candidate in gemini_view(exchange).candidates:
        text = candidate.text or ""
        for stop in stop_sequences(exchange):
            if stop in text:
                at = text.index(stop)
                yield (
                    f"candidate {candidate.index}: Expected: no {stop!r} in the text. Received: it at offset {at}: "
                    f"...{text[max(0, at - 20) : at + len(stop) + 20]!r}"
                )


# ---------------------------------------------------------------------------- function calls


@exchange_rule(
    "gemini_function_call_shape",
    family=FAMILY,
    severity=Severity.ERROR,
    applies=lambda ex: _has_candidates(ex) and any(c.function_calls for c in gemini_view(ex).candidates),
)
def gemini_function_call_shape(exchange: Exchange) -> Iterator[Violation]:
    """Each functionCall names a declared function and carries args as a JSON object; its candidate ends STOP.

    Source: python-genai types.py FunctionCall (name; args "The function parameters and values in JSON object
    format") and FinishReason (STOP: natural stop point; OpenAI's tool_calls has no Gemini counterpart);
    contract-rules.md D.2 (arguments in the wrong JSON type, TGI #2136) and X2.
    """
    declared = declared_functions(exchange)
    for candidate in gemini_view(exchange).candidates:
        for position, call in enumerate(candidate.function_calls):
            where = f"candidate {candidate.index} call {position}"
            if not isinstance(call.name, str) or not call.name:
                yield f"{where}: Expected: functionCall.name. Received: {call.name!r}"
            elif declared and call.name not in declared:
                yield f"{where}: Expected: one of the declared functions {declared}. Received: {call.name!r}"
            if call.args is not None and not isinstance(call.args, dict):
                yield (
                    f"{where}: Expected: functionCall.args as a JSON object. "
                    f"Received: {type(call.args).__name__} {call.args!r:.80}"
                )
        if candidate.function_calls and candidate.finish_reason is not None and candidate.finish_reason != "STOP":
            yield f"candidate {candidate.index}: Expected: finishReason STOP after a function call. " + (
                f"Received: {candidate.finish_reason!r}"
            )


def _mode_judgeable(exchange: Exchange) -> bool:
    """Mode ANY or NONE with functions declared, and allowedFunctionNames (if any) naming a declared one."""
    mode, allowed = function_calling(exchange)
    declared = declared_functions(exchange)
    satisfiable = not allowed or any(name in declared for name in allowed)
    return mode in ("ANY", "NONE") and bool(declared) and satisfiable and _has_candidates(exchange)


@exchange_rule("gemini_function_calling_mode_honoured", family=FAMILY, severity=Severity.ERROR, applies=_mode_judgeable)
def gemini_function_calling_mode_honoured(exchange: Exchange) -> Iterator[Violation]:
    """functionCallingConfig is obeyed: mode ANY -> every candidate calls a function (one of
    allowedFunctionNames when given); mode NONE -> no function call.

    Source: python-genai types.py FunctionCallingConfigMode (ANY: "Model is constrained to always predicting
    function calls only. If allowed_function_names are set, the predicted function calls will be limited to
    any one of allowed_function_names"; NONE: "Model will not predict any function calls").
    """
    mode, allowed = function_calling(exchange)
    for candidate in gemini_view(exchange).candidates:
        names = [call.name for call in candidate.function_calls]
        if mode == "NONE" and names:
            yield f"candidate {candidate.index}: Expected: no function call (mode NONE). Received: calls {names}"
        elif mode == "ANY":
            if not names and candidate.finish_reason != "MAX_TOKENS":
                yield f"candidate {candidate.index}: Expected: a function call (mode ANY). Received: none"
            elif allowed and any(name not in allowed for name in names):
                yield f"candidate {candidate.index}: Expected: calls among {allowed}. Received: {names}"


# --------------------------------------------------------------------------------- thinking


@exchange_rule("gemini_thoughts_only_when_requested", family=FAMILY, severity=Severity.ERROR, applies=_answer_parsed)
def gemini_thoughts_only_when_requested(exchange: Exchange) -> Iterator[Violation]:
    """Thoughts appear only as asked: thinkingBudget 0 -> no thoughtsTokenCount and no thought parts; without
    includeThoughts -> no part marked thought: true (thought text never mixes into the answer).

    Source: python-genai types.py ThinkingConfig (thinking_budget: "0 is DISABLED"; include_thoughts: "whether
    to include thoughts in the response") and Part.thought; contract-rules.md C.3 (thoughts are counted apart
    from candidatesTokenCount).
    """
    view = gemini_view(exchange)
    if thinking_disabled(exchange):
        thoughts = usage_count(view.usage, "thoughtsTokenCount")
        if thoughts:
            yield f"Expected: no thoughtsTokenCount with thinkingBudget 0. Received: {thoughts}"
    if not include_thoughts(exchange):
        for candidate in view.candidates:
            if candidate.thought_parts:
                yield (
                    f"candidate {candidate.index}: Expected: no thought parts without includeThoughts. Received: "
                    f"{candidate.thought_parts} part(s), e.g. {candidate.thought_text[:60]!r}"
                )


# The stream state machine and the probe relations register with this module.
from llmconform.checks import gemini_media, gemini_relations, gemini_stream, gemini_usage  # noqa: E402, F401
