"""Rules of the messages family that need several exchanges made on purpose by the probes in
:mod:`llmconform.conformance.messages_probes` (metamorphic and negative requests).

Rules comparing two answers to the same request are held strictly only on a target that repeated its
answer to a repeated request (``deterministic``); otherwise only what cannot depend on sampling (the
prompt's token counts) is compared.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from llmconform.checks.common import refused_with, status_text, streamed_text_matches, text_up_to_stop
from llmconform.checks.registry import Severity, Violation, relation_rule
from llmconform.exchange import Exchange
from llmconform.families.messages import FAMILY, messages_view, output_tokens, total_input_tokens
from llmconform.json_numbers import as_int

_PROMPT_KEYS = ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")


@relation_rule("messages_truncation_stop_reason", family=FAMILY, severity=Severity.ERROR)
def messages_truncation_stop_reason(
    full: Exchange, truncated: Exchange, limit: int, deterministic: bool
) -> Iterator[Violation]:
    """An answer cut by max_tokens says stop_reason "max_tokens" (the same request with a larger limit ran longer).

    Source: contract-rules.md F A2 ("max_tokens reached => "max_tokens""); anthropic-sdk-python
    types/message.py stop_reason ("max_tokens": we exceeded the requested max_tokens). On a target not
    shown deterministic only an answer that used the whole limit is judged.
    """
    cut = messages_view(truncated)
    used = output_tokens(cut.usage)
    reached = used is not None and used >= limit
    if cut.stop_reason != "max_tokens" and (deterministic or reached):
        yield (
            f"Expected: stop_reason 'max_tokens' (with a larger limit the answer used "
            f"{output_tokens(messages_view(full).usage)} output tokens > {limit}). "
            f"Received: {cut.stop_reason!r} with output_tokens {used}"
        )


@relation_rule("messages_stop_sequence_ends_answer", family=FAMILY, severity=Severity.ERROR)
def messages_stop_sequence_ends_answer(original: Exchange, stopped: Exchange, stop: str) -> Iterator[Violation]:
    """With a stop sequence taken from an earlier answer, the answer is that answer's text up to the sequence,
    with stop_reason "stop_sequence" and the sequence echoed.

    Source: contract-rules.md F A2; anthropic-sdk-python types/message_create_params.py stop_sequences
    (stop_reason "stop_sequence", stop_sequence "the matched stop sequence"); judged only on a target
    shown deterministic.
    """
    before, after = messages_view(original).text, messages_view(stopped)
    yield from text_up_to_stop(before, after.text, stop)
    if after.stop_reason != "stop_sequence" or after.stop_sequence != stop:
        yield (
            f"Expected: stop_reason 'stop_sequence' with stop_sequence {stop!r}. "
            f"Received: {after.stop_reason!r} with {after.stop_sequence!r:.60}"
        )


def _tool_calls(exchange: Exchange) -> list[tuple[Any, Any]]:
    return [(b.name, b.input) for b in messages_view(exchange).tool_uses]


@relation_rule("messages_stream_matches_unary", family=FAMILY, severity=Severity.ERROR)
def messages_stream_matches_unary(unary: Exchange, stream: Exchange, deterministic: bool) -> Iterator[Violation]:
    """The streamed answer to a deterministic request equals the unary one: text, tool uses, stop reason and
    usage (the final message_delta usage equals the unary usage).

    Source: contract-rules.md F A4 ("final == non-stream value") and O13 (stream vs unary usage); Anthropic
    streaming docs (the stream carries the same Message). On a target not shown deterministic only the
    prompt's token counts are compared.
    """
    u, s = messages_view(unary), messages_view(stream)
    u_usage = u.usage if isinstance(u.usage, dict) else {}
    s_usage = s.usage if isinstance(s.usage, dict) else {}
    keys = (*_PROMPT_KEYS, "output_tokens") if deterministic else _PROMPT_KEYS
    for key in keys:
        if as_int(u_usage.get(key)) != as_int(s_usage.get(key)):
            yield f"Expected: stream usage.{key} == unary {u_usage.get(key)!r}. Received: {s_usage.get(key)!r}"
    if not deterministic:
        return
    yield from streamed_text_matches(u.text, s.text)
    if (u.stop_reason, u.stop_sequence) != (s.stop_reason, s.stop_sequence):
        yield (
            f"Expected: stop_reason {u.stop_reason!r} (stop_sequence {u.stop_sequence!r}) as unary. "
            f"Received: {s.stop_reason!r} ({s.stop_sequence!r})"
        )
    if _tool_calls(unary) != _tool_calls(stream):
        expected, received = _tool_calls(unary), _tool_calls(stream)
        yield f"Expected: the same tool uses as unary {expected!r:.100}. Received: {received!r:.100}"


@relation_rule("messages_auth_required", family=FAMILY, severity=Severity.ERROR)
def messages_auth_required(without_key: Exchange, wrong_key: Exchange) -> Iterator[Violation]:
    """A request without a key, or with a wrong x-api-key, is refused with 401.

    Source: contract-rules.md F E4 and E2 (401 authentication_error); Anthropic errors documentation
    ("401 authentication_error: there's an issue with your API key"). Another 4xx is a warning; acceptance
    or a 5xx is an error. The body's error type is judged by messages_error_type_matches_status.
    """
    yield from refused_with(without_key, (401,), "a request without a key")
    yield from refused_with(wrong_key, (401,), "a request with a wrong x-api-key")


@relation_rule("messages_auth_styles_accepted", family=FAMILY, severity=Severity.ERROR)
def messages_auth_styles_accepted(api_key_style: Exchange, bearer_style: Exchange) -> Iterator[Violation]:
    """The key is accepted both as x-api-key and as Authorization: Bearer.

    Source: shared/reference/aboai-api.md sections 1 and 4 (the Claude endpoint takes "x-api-key: <key>",
    "or use Authorization"); anthropic-sdk-python _client.py (2.x sends api_key as Authorization: Bearer,
    Anthropic's own header is x-api-key).
    """
    for exchange, style in ((api_key_style, "x-api-key"), (bearer_style, "Authorization: Bearer")):
        if not exchange.ok:
            yield f"Expected: the valid key sent as {style} accepted (2xx). Received: {status_text(exchange)}"


@relation_rule("messages_unknown_model_rejected", family=FAMILY, severity=Severity.ERROR)
def messages_unknown_model_rejected(exchange: Exchange, model: str) -> Iterator[Violation]:
    """A request naming a model that does not exist is refused with 404 (another 4xx is a warning).

    Source: contract-rules.md F E4 and E2 (404 not_found_error); Anthropic errors documentation
    ("404 not_found_error: the requested resource was not found").
    """
    yield from refused_with(exchange, (404,), f"unknown model {model!r}")


@relation_rule("messages_invalid_request_rejected", family=FAMILY, severity=Severity.ERROR)
def messages_invalid_request_rejected(exchange: Exchange, what: str) -> Iterator[Violation]:
    """A malformed request (no max_tokens, messages not an array, a body that is not JSON) is refused with
    400, never accepted and never a 5xx (another 4xx is a warning).

    Source: contract-rules.md F E4 and E2 (400 invalid_request_error); anthropic-sdk-python
    types/message_create_params.py (model, max_tokens and messages required); Anthropic errors docs.
    """
    yield from refused_with(exchange, (400,), what)


@relation_rule("messages_cache_tokens_partition_input", family=FAMILY, severity=Severity.ERROR)
def messages_cache_tokens_partition_input(plain: Exchange, marked: Exchange) -> Iterator[Violation]:
    """A cache_control marker only splits the prompt's tokens: input + cache_creation + cache_read with the
    marker equals input_tokens of the same request without it (cached tokens are never added into input).

    Source: contract-rules.md F A1 ("total input = input + cache_creation + cache_read (never add cache into
    input_tokens)") and D.2 (new-api #2744, crewAI #6788, sglang #39900); anthropic-sdk-python
    types/usage.py ("Total input tokens in a request is the summation of input_tokens,
    cache_creation_input_tokens, and cache_read_input_tokens").
    """
    without, with_marker = messages_view(plain).usage, messages_view(marked).usage
    expected, received = total_input_tokens(without), total_input_tokens(with_marker)
    if expected is None or received is None:
        yield f"Expected: input_tokens in both answers. Received: {without!r:.80} and {with_marker!r:.80}"
        return
    if received != expected:
        parts = {k: with_marker.get(k) for k in _PROMPT_KEYS}
        yield (
            f"Expected: input + cache_creation + cache_read == {expected} (input_tokens without the marker). "
            f"Received: {received} ({parts})"
        )
