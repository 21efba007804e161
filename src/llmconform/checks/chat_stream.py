"""The chat stream state machine (rule table F, O8-O12): framing, identity, finish, usage chunk, [DONE].

The stream is read per the SSE standard by :mod:`llmconform.sse` (CRLF, comments, multi-line data,
any chunking are all legal); these rules judge the sequence of events that came out of it.
"""

from __future__ import annotations

from collections.abc import Iterator

from llmconform.checks.registry import Severity, Violation, Warn, exchange_rule
from llmconform.exchange import Exchange
from llmconform.families.chat import chat_view, include_usage_requested, is_stream_answer


def _has_chunks(exchange: Exchange) -> bool:
    return is_stream_answer(exchange) and bool(chat_view(exchange).json_chunks)


@exchange_rule("stream_chunk_is_json", family="chat", severity=Severity.ERROR, applies=is_stream_answer)
def stream_chunk_is_json(exchange: Exchange) -> Iterator[Violation]:
    """Every stream event's data is a JSON object, except the final literal [DONE].

    Source: contract-rules.md F O8; OpenAI openapi.yaml CreateChatCompletionStreamResponse ("streamed chunk
    of a chat completion response"); openai-python _streaming.py (each data is json-decoded).
    """
    view = chat_view(exchange)
    if not view.chunks:
        yield "Expected: at least one event. Received: an empty event stream"
    for chunk in view.chunks:
        if chunk.error is not None:
            yield f"{chunk.error}: {chunk.data!r:.120}"
    if exchange.invalid_utf8:
        yield "Expected: UTF-8 text. Received: bytes that are not valid UTF-8 in the stream"


@exchange_rule("stream_constant_identity", family="chat", severity=Severity.ERROR, applies=_has_chunks)
def stream_constant_identity(exchange: Exchange) -> Iterator[Violation]:
    """All chunks of one stream share the same id, created and object ("chat.completion.chunk").

    Source: contract-rules.md F O8; OpenAI openapi.yaml CreateChatCompletionStreamResponse.id ("Each chunk
    has the same ID") and .created ("Each chunk has the same timestamp"); llama.cpp tests (constant id).
    """
    chunks = chat_view(exchange).json_chunks
    for key in ("id", "created", "object"):
        values = [c.payload.get(key) for c in chunks]
        first = values[0]
        if type(first) in (str, int) and all(type(v) is type(first) and v == first for v in values):
            continue  # the usual case, decided without a repr per chunk (equal str/int values have equal reprs)
        distinct = list(dict.fromkeys(repr(v) for v in values))
        if len(distinct) > 1:
            first_change = next(i for i, v in enumerate(values) if repr(v) != distinct[0])
            yield (
                f"Expected: one {key} for the whole stream. Received: {len(distinct)} values, first change at "
                f"event #{chunks[first_change].position}: {distinct[:3]}"
            )


@exchange_rule("stream_single_finish_reason", family="chat", severity=Severity.ERROR, applies=_has_chunks)
def stream_single_finish_reason(exchange: Exchange) -> Iterator[Violation]:
    """Each choice gets exactly one non-null finish_reason, and no content after it.

    Source: contract-rules.md F O9; OpenAI openapi.yaml ChatCompletionStreamResponse choices[].finish_reason
    (null until the model stops); vLLM test_chat_streaming (exactly one chunk has a finish_reason).
    """
    view = chat_view(exchange)
    for choice in view.choices:
        if choice.finish_count == 0:
            yield f"choice {choice.index}: Expected: a finish_reason before the stream ends. Received: none"
        elif choice.finish_count > 1:
            yield f"choice {choice.index}: Expected: one finish_reason. Received: {choice.finish_count}"
        if choice.content_after_finish:
            yield f"choice {choice.index}: Expected: no content after finish_reason. Received: more deltas"


@exchange_rule("stream_role_first", family="chat", severity=Severity.WARNING, applies=_has_chunks)
def stream_role_first(exchange: Exchange) -> Iterator[Violation]:
    """The first delta of each choice carries role "assistant".

    Source: contract-rules.md F O9 (SHOULD); OpenAI's streaming answers and llama.cpp
    test_chat_completion.py (first chunk delta.role == "assistant"); openai-python accumulates role from it.
    """
    for choice in chat_view(exchange).choices:
        if choice.first_role != "assistant":
            yield (
                f"choice {choice.index}: Expected: role 'assistant' in the first delta. Received: {choice.first_role!r}"
            )


@exchange_rule("stream_done_last", family="chat", severity=Severity.ERROR, applies=is_stream_answer)
def stream_done_last(exchange: Exchange) -> Iterator[Violation]:
    """The stream ends with the event data [DONE], and nothing follows it.

    Source: contract-rules.md F O8; OpenAI API reference for stream ("terminated by a data: [DONE]
    message"); openai-python _streaming.py stops reading at [DONE].
    """
    view = chat_view(exchange)
    if view.done_position is None:
        hint = (
            " (a final event without its terminating blank line is discarded by the SSE standard)"
            if exchange.incomplete_trailing_event
            else ""
        )
        yield f"Expected: a final 'data: [DONE]' event. Received: the stream ended without it{hint}"
    elif view.done_position != len(view.chunks) - 1:
        extra = len(view.chunks) - 1 - view.done_position
        yield f"Expected: nothing after [DONE]. Received: {extra} more event(s)"
    elif exchange.incomplete_trailing_event:
        yield Warn("data after [DONE] was left without a terminating blank line")


@exchange_rule(
    "stream_usage_only_if_requested",
    family="chat",
    severity=Severity.ERROR,
    applies=lambda ex: _has_chunks(ex) and not include_usage_requested(ex),
)
def stream_usage_only_if_requested(exchange: Exchange) -> Iterator[Violation]:
    """Without stream_options.include_usage, no chunk carries usage and none has empty choices.

    Source: contract-rules.md F O10; OpenAI openapi.yaml ChatCompletionStreamOptions.include_usage ("If set,
    an additional chunk will be streamed ..."), apfel #100 (an unrequested usage chunk breaks clients).
    """
    view = chat_view(exchange)
    for chunk in view.json_chunks:
        if chunk.payload.get("usage") is not None:
            yield f"Expected: no usage without include_usage. Received: usage in event #{chunk.position}"
            return
        if chunk.payload.get("choices") == []:
            yield f"Expected: no empty-choices chunk without include_usage. Received: event #{chunk.position}"
            return


@exchange_rule(
    "stream_usage_chunk_final",
    family="chat",
    severity=Severity.ERROR,
    applies=lambda ex: _has_chunks(ex) and include_usage_requested(ex),
)
def stream_usage_chunk_final(exchange: Exchange) -> Iterator[Violation]:
    """With include_usage, the last chunk before [DONE] has choices [] and the usage; earlier chunks have none.

    Source: contract-rules.md F O10; OpenAI openapi.yaml ChatCompletionStreamOptions.include_usage ("an
    additional chunk will be streamed before the data: [DONE] message. The usage field on this chunk shows
    the token usage statistics for the entire request, and the choices field will always be an empty array.
    All other chunks will also include a usage field, but with a null value").
    """
    chunks = chat_view(exchange).json_chunks
    last = chunks[-1]
    if not isinstance(last.payload.get("usage"), dict):
        yield f"Expected: usage on the last chunk (event #{last.position}). Received: {last.payload.get('usage')!r}"
    if last.payload.get("choices") != []:
        yield f"Expected: choices [] on the usage chunk. Received: {last.payload.get('choices')!r:.80}"
    for chunk in chunks[:-1]:
        if chunk.payload.get("usage") is not None:
            yield f"Expected: usage null before the final chunk. Received: usage in event #{chunk.position}"
            return


@exchange_rule(
    "stream_tool_call_deltas",
    family="chat",
    severity=Severity.ERROR,
    applies=lambda ex: _has_chunks(ex) and any(c.tool_calls for c in chat_view(ex).choices),
)
def stream_tool_call_deltas(exchange: Exchange) -> Iterator[Violation]:
    """Streamed tool-call fragments all carry an integer index; each index is one call with one id.

    Source: contract-rules.md F O12; OpenAI openapi.yaml ChatCompletionMessageToolCallChunk (index
    required); ollama #7881, mistral.rs #1507 (missing index breaks the SDKs' reassembly).
    """
    for choice in chat_view(exchange).choices:
        if any(call.index is None for call in choice.tool_calls):
            yield f"choice {choice.index}: Expected: an integer index on every tool-call fragment. Received: none"
        ids = [call.id for call in choice.tool_calls if call.id is not None]
        if len(ids) != len({repr(i) for i in ids}):  # by repr: an id may be any JSON value, a list too
            yield f"choice {choice.index}: Expected: distinct tool-call ids per index. Received: {ids}"
        for call in choice.tool_calls:
            if len(call.ids_seen) > 1:
                yield (
                    f"choice {choice.index}: Expected: one call (one id) per index. Received: ids "
                    f"{call.ids_seen} at index {call.index} (a second call must take the next index)"
                )


@exchange_rule("stream_sdk_compatible", family="chat", severity=Severity.WARNING, applies=is_stream_answer)
def stream_sdk_compatible(exchange: Exchange) -> Iterator[Violation]:
    """Before [DONE], no blank line makes the openai Python SDK dispatch an event without data.

    Source: openai-python 3.x _streaming.SSEDecoder.decode (dispatches at a blank line when event, id or
    retry is set, even without data) and openai/openai-python#2722; legal under the WHATWG SSE standard,
    so a warning: clients built on that SDK fail with JSONDecodeError on such streams.
    """
    view = chat_view(exchange)
    done = view.done_position if view.done_position is not None else len(view.chunks)
    before_done = [position for position in exchange.sse_empty_dispatches if position <= done]
    if before_done:
        yield (
            f"{len(before_done)} blank line(s) end a block with event:/retry: but no data:, or follow an id: "
            f"(first after event #{before_done[0] - 1 if before_done[0] else 'none'}); the openai Python SDK "
            "dispatches them as events with empty data and fails to parse them"
        )
