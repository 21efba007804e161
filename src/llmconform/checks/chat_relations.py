"""Rules that need several exchanges made on purpose (metamorphic and negative probes).

The conformance probes (llmconform.conformance.chat_probes) send the requests; these functions only
judge. Rules that compare two answers to the same request are judged only when the target has shown
itself deterministic for that request (two identical unary requests gave identical answers); otherwise
the probe records a skip with the reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from llmconform.checks.common import refused_with, streamed_text_matches, streamed_usage_matches, text_up_to_stop
from llmconform.checks.registry import Severity, Violation, relation_rule
from llmconform.exchange import Exchange
from llmconform.families.chat import ChatView, chat_view
from llmconform.json_numbers import as_int


def completion_tokens(exchange: Exchange) -> int | None:
    """usage.completion_tokens of an answer, if it is an integer."""
    usage = chat_view(exchange).usage
    return as_int(usage.get("completion_tokens")) if isinstance(usage, dict) else None


def first_choice(view: ChatView) -> Any:
    return view.choice(0) or (view.choices[0] if view.choices else None)


@relation_rule("truncation_finish_reason_length", family="chat", severity=Severity.ERROR)
def truncation_finish_reason_length(
    full: Exchange, truncated: Exchange, limit: int, deterministic: bool
) -> Iterator[Violation]:
    """An answer cut by max_tokens says finish_reason "length" (the same request without the limit ran longer).

    Source: contract-rules.md F O4; OpenAI openapi.yaml ChatCompletionChoice.finish_reason ("length if the
    maximum number of tokens specified in the request was reached"); LocalAI #3533, llm-d-inference-sim #29.
    On a target not shown deterministic only an answer that used the whole limit is judged.
    """
    cut = first_choice(chat_view(truncated))
    if cut is None:
        yield f"Expected: a choice in the answer with max_tokens={limit}. Received: none"
        return
    used = completion_tokens(truncated)
    reached = used is not None and used >= limit
    if cut.finish_reason != "length" and (deterministic or reached):
        yield (
            f"Expected: finish_reason 'length' (without the limit the answer used {completion_tokens(full)} "
            f"completion tokens > {limit}). Received: {cut.finish_reason!r} with completion_tokens {used}"
        )


@relation_rule("stop_sequence_ends_answer", family="chat", severity=Severity.ERROR)
def stop_sequence_ends_answer(original: Exchange, stopped: Exchange, stop: str) -> Iterator[Violation]:
    """With a stop sequence taken from an earlier answer, the answer is that answer up to the stop, finish "stop".

    Source: contract-rules.md F O5; OpenAI openapi.yaml CreateChatCompletionRequest.stop ("Up to 4 sequences
    where the API will stop generating further tokens") and finish_reason ("stop ... or if a provided stop
    sequence"); judged only on a target shown deterministic.
    """
    before = first_choice(chat_view(original))
    after = first_choice(chat_view(stopped))
    if before is None or after is None or before.text is None:
        yield "Expected: text answers for both requests. Received: a missing choice or text"
        return
    yield from text_up_to_stop(before.text, after.text or "", stop)
    if after.finish_reason != "stop":
        yield f"Expected: finish_reason 'stop' at a stop sequence. Received: {after.finish_reason!r}"


def _calls(view: ChatView) -> list[tuple[Any, Any]]:
    return [(c.name, c.arguments) for choice in view.choices for c in choice.tool_calls]


@relation_rule("stream_matches_unary", family="chat", severity=Severity.ERROR)
def stream_matches_unary(unary: Exchange, stream: Exchange, deterministic: bool) -> Iterator[Violation]:
    """The streamed answer to a deterministic request equals the unary answer: text, tool calls, finish, usage.

    Source: contract-rules.md F O9 and O13; vLLM test_chat_streaming (concatenated deltas == non-stream text,
    same finish_reason). On a target not shown deterministic only prompt_tokens (the same prompt) is compared.
    """
    u, s = chat_view(unary), chat_view(stream)
    keys = ("prompt_tokens", "completion_tokens", "total_tokens") if deterministic else ("prompt_tokens",)
    yield from streamed_usage_matches(u.usage, s.usage, keys)
    if not deterministic:
        return
    by_index = {repr(c.index): c for c in s.choices}  # by repr: an index may be any JSON value, a list too
    for choice in u.choices:
        other = by_index.get(repr(choice.index))
        if other is None:
            yield f"choice {choice.index}: Expected: the choice in the stream too. Received: missing"
            continue
        yield from streamed_text_matches(choice.text or "", other.text or "", where=f"choice {choice.index}: ")
        if choice.finish_reason != other.finish_reason:
            yield (
                f"choice {choice.index}: Expected: finish_reason {choice.finish_reason!r} as unary. "
                f"Received: {other.finish_reason!r}"
            )
    if _calls(u) != _calls(s):
        yield f"Expected: the same tool calls as unary {_calls(u)!r:.120}. Received: {_calls(s)!r:.120}"


@relation_rule("auth_required", family="chat", severity=Severity.ERROR)
def auth_required(without_key: Exchange, wrong_key: Exchange) -> Iterator[Violation]:
    """A request without a key, or with a wrong key, is refused with 401.

    Source: contract-rules.md F E4; OpenAI error codes guide (401 invalid authentication / incorrect API key);
    schemathesis ignored_auth. Another 4xx is a warning; acceptance or a 5xx is an error.
    """
    yield from refused_with(without_key, (401,), "a request without a key")
    yield from refused_with(wrong_key, (401,), "a request with a wrong key")


@relation_rule("unknown_model_rejected", family="chat", severity=Severity.ERROR)
def unknown_model_rejected(exchange: Exchange, model: str) -> Iterator[Violation]:
    """A request naming a model that does not exist is refused with 404 (another 4xx is a warning).

    Source: contract-rules.md F E4; OpenAI error codes guide (404 model not found / "The model does not
    exist"); vLLM returns 404 for an unknown model.
    """
    yield from refused_with(exchange, (404,), f"unknown model {model!r}")


@relation_rule("invalid_request_rejected", family="chat", severity=Severity.ERROR)
def invalid_request_rejected(exchange: Exchange, what: str) -> Iterator[Violation]:
    """A malformed request is refused with 400 (422 tolerated), never accepted and never a 5xx.

    Source: contract-rules.md F E4; OpenAI openapi.yaml (required model and messages); OpenAI error codes
    guide (400 invalid request); llama.cpp tests (invalid messages -> 400).
    """
    yield from refused_with(exchange, (400, 422), what)


@relation_rule("parameter_limits_enforced", family="chat", severity=Severity.ERROR)
def parameter_limits_enforced(exchange: Exchange, what: str) -> Iterator[Violation]:
    """A request over a documented limit (more than 4 stop sequences, top_logprobs above 20) is refused with 400.

    Source: contract-rules.md F O5 ("stop allows at most 4 items, otherwise 400", MUST) and O7 ("top_logprobs
    > 20 -> 400", MUST); OpenAI openapi.yaml StopConfiguration (maxItems 4) and top_logprobs (maximum 20);
    vLLM test_chat.py (top_logprobs 21 -> BadRequestError). Another 4xx is a warning.
    """
    yield from refused_with(exchange, (400, 422), what)


@relation_rule("model_listed", family="models", severity=Severity.ERROR)
def model_listed(models: Exchange, model: str) -> Iterator[Violation]:
    """GET /v1/models lists the model the run is checking (a model the chat route accepts is listed).

    Source: contract-rules.md F M2; OpenAI openapi.yaml ListModelsResponse; AboAI clients (Cursor, Hermes)
    read /v1/models to pick a model (shared/reference/aboai-api.md).
    """
    try:
        body = models.json()
    except ValueError as exc:
        yield f"Expected: a JSON models list. Received: {exc}"
        return
    data = body.get("data") if isinstance(body, dict) else None
    ids = [m.get("id") for m in data if isinstance(m, dict)] if isinstance(data, list) else []
    if model not in ids:
        yield f"Expected: {model!r} among the listed models. Received: {ids[:10]}{'...' if len(ids) > 10 else ''}"
