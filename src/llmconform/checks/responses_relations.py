"""Rules of the responses family that judge several exchanges made on purpose by the probes
(:mod:`llmconform.conformance.responses_probes`): truncation by max_output_tokens, stream against unary,
auth, unknown model, invalid bodies and an unknown previous_response_id.

Rules that compare two answers to the same request are judged in full only when the target has shown
itself deterministic for that request (two identical unary requests gave identical answers).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from llmconform.checks.common import refused_with, streamed_text_matches, streamed_usage_matches
from llmconform.checks.registry import Severity, Violation, relation_rule
from llmconform.exchange import Exchange
from llmconform.families.responses import FAMILY, ResponsesView, responses_view
from llmconform.json_numbers import as_int


def output_tokens(exchange: Exchange) -> int | None:
    """usage.output_tokens of a finished answer, if it is an integer."""
    usage = responses_view(exchange).usage
    return as_int(usage.get("output_tokens")) if isinstance(usage, dict) else None


@relation_rule("responses_truncation_incomplete", family=FAMILY, severity=Severity.ERROR)
def responses_truncation_incomplete(
    full: Exchange, truncated: Exchange, limit: int, deterministic: bool
) -> Iterator[Violation]:
    """An answer cut by max_output_tokens is "incomplete" with incomplete_details.reason "max_output_tokens" (a
    stream ends with response.incomplete), when the same request without the cut ran longer.

    Source: contract-rules.md F R2 and X2 (length <=> incomplete/max_output_tokens) and D.2
    (earendil-works/pi#7817: a compatible server said reason "length"); OpenAI openapi.yaml
    Response.incomplete_details and ResponseIncompleteEvent. On a target not shown deterministic only an
    answer that used the whole limit is judged.
    """
    view = responses_view(truncated)
    used = output_tokens(truncated)
    if not (deterministic or (used is not None and used >= limit)):
        return
    if view.status != "incomplete" or view.incomplete_reason != "max_output_tokens":
        yield (
            f"Expected: status 'incomplete' with reason 'max_output_tokens' (without the cut the answer used "
            f"{output_tokens(full)} output tokens > {limit}). Received: status {view.status!r}, reason "
            f"{view.incomplete_reason!r}, output_tokens {used}"
        )
    if view.stream and view.terminal_positions:
        last = view.events[view.terminal_positions[-1]].type
        if last != "response.incomplete":
            yield f"Expected: the stream ends with response.incomplete. Received: {last!r}"


def _calls(view: ResponsesView) -> list[tuple[Any, Any]]:
    return [(item.name, item.arguments) for item in view.function_calls]


@relation_rule("responses_stream_matches_unary", family=FAMILY, severity=Severity.ERROR)
def responses_stream_matches_unary(unary: Exchange, stream: Exchange, deterministic: bool) -> Iterator[Violation]:
    """The streamed answer to a deterministic request equals the unary answer: text, function calls, status and
    incomplete reason, and usage (the terminal event's usage equals the unary usage).

    Source: contract-rules.md F R3 ("terminal response usage ... equals the unary usage for the same
    request") and O13 (stream vs non-stream usage); vLLM test_chat_streaming (streamed text == unary text).
    On a target not shown deterministic only input_tokens (the same prompt) is compared.
    """
    u, s = responses_view(unary), responses_view(stream)
    keys = ("input_tokens", "output_tokens", "total_tokens") if deterministic else ("input_tokens",)
    yield from streamed_usage_matches(u.usage, s.usage, keys)
    if not deterministic:
        return
    yield from streamed_text_matches(u.text, s.text)
    if (u.status, u.incomplete_reason) != (s.status, s.incomplete_reason):
        yield (
            f"Expected: status {u.status!r} / reason {u.incomplete_reason!r} as unary. "
            f"Received: {s.status!r} / {s.incomplete_reason!r}"
        )
    if _calls(u) != _calls(s):
        yield f"Expected: the same function calls as unary {_calls(u)!r:.120}. Received: {_calls(s)!r:.120}"


@relation_rule("responses_auth_required", family=FAMILY, severity=Severity.ERROR)
def responses_auth_required(without_key: Exchange, wrong_key: Exchange) -> Iterator[Violation]:
    """POST /v1/responses without a key, or with a wrong key, is refused with 401.

    Source: contract-rules.md F E4; OpenAI error codes guide (401 invalid authentication / incorrect API
    key); schemathesis ignored_auth. Another 4xx is a warning; acceptance or a 5xx is an error.
    """
    yield from refused_with(without_key, (401,), "a request without a key")
    yield from refused_with(wrong_key, (401,), "a request with a wrong key")


@relation_rule("responses_unknown_model_rejected", family=FAMILY, severity=Severity.ERROR)
def responses_unknown_model_rejected(exchange: Exchange, model: str) -> Iterator[Violation]:
    """A request naming a model that does not exist is refused with 404 (another 4xx is a warning).

    Source: contract-rules.md F E4; OpenAI error codes guide (404 "The model does not exist or you do not
    have access to it").
    """
    yield from refused_with(exchange, (404,), f"unknown model {model!r}")


@relation_rule("responses_invalid_request_rejected", family=FAMILY, severity=Severity.ERROR)
def responses_invalid_request_rejected(exchange: Exchange, what: str) -> Iterator[Violation]:
    """A malformed request is refused with 400 (422 tolerated), never accepted and never a 5xx.

    Source: contract-rules.md F E4 ("400/422 for schema-invalid bodies (never 5xx)"); OpenAI openapi.yaml
    CreateResponse; OpenAI error codes guide (400 invalid request).
    """
    yield from refused_with(exchange, (400, 422), what)


@relation_rule("responses_unknown_previous_response_rejected", family=FAMILY, severity=Severity.ERROR)
def responses_unknown_previous_response_rejected(exchange: Exchange, response_id: str) -> Iterator[Violation]:
    """A previous_response_id the server does not know is refused with 400 (404 tolerated), never answered
    as if it were absent (that would silently drop the conversation).

    Source: OpenAI openapi.yaml CreateResponse.previous_response_id ("The unique ID of the previous response
    to the model. Use this to create multi-turn conversations"); OpenAI answers an unknown id with 400
    "Previous response with id ... not found" (param previous_response_id).
    """
    if exchange.status == 404:
        return
    yield from refused_with(exchange, (400,), f"unknown previous_response_id {response_id!r}")
