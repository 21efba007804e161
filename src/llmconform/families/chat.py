"""The OpenAI chat-completions family: paths, request builders and a parsed view of any answer.

:func:`chat_view` turns an Exchange (unary JSON or an SSE stream) into one :class:`ChatView` so that
checks and metrics read choices, text, tool calls, finish reasons and usage the same way whatever
the wire form was. It never raises on a malformed answer: what it could not read is listed in
``problems`` and left for the checks to judge.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from llmconform.exchange import Exchange
from llmconform.families.answer import Answer
from llmconform.families.reading import (
    AnswerPredicates,
    TextJoiner,
    as_list,
    cached_view,
    event_payload,
    read_json_object,
)
from llmconform.json_numbers import as_int

FAMILY = "chat"
CHAT_PATH = "/v1/chat/completions"
MODELS_PATH = "/v1/models"
CHAT_OPERATION = f"POST {CHAT_PATH}"
MODELS_OPERATION = f"GET {MODELS_PATH}"
DONE = "[DONE]"


@dataclass(slots=True)
class ToolCallView:
    """A tool call, assembled from its stream fragments when streamed."""

    index: int | None
    id: Any = None
    type: Any = None
    name: Any = None
    arguments: Any = None
    fragments: int = 0
    ids_seen: list[Any] = field(default_factory=list)


@dataclass(slots=True)
class ChoiceView:
    """One choice of an answer."""

    index: Any
    text: str | None = None
    role: Any = None
    finish_reason: Any = None
    tool_calls: list[ToolCallView] = field(default_factory=list)
    logprobs: Any = None
    logprob_entries: list[Any] | None = None
    finish_count: int = 0
    first_role: Any = None
    content_after_finish: bool = False


@dataclass(slots=True)
class ChunkView:
    """One parsed stream event."""

    position: int
    at_s: float
    data: str
    payload: Any = None
    error: str | None = None
    # The generated text this chunk carries (see token_deltas), filled in while the view is built.
    text: str = ""

    @property
    def is_done(self) -> bool:
        return self.data.strip() == DONE


@dataclass(slots=True)
class ChatView:
    """Everything checks need to know about one chat answer."""

    stream: bool
    payload: Any = None
    choices: list[ChoiceView] = field(default_factory=list)
    usage: Any = None
    has_usage_key: bool = False
    chunks: list[ChunkView] = field(default_factory=list)
    usage_chunk_positions: list[int] = field(default_factory=list)
    done_position: int | None = None
    problems: list[str] = field(default_factory=list)
    _json_chunks: list[ChunkView] | None = field(default=None, repr=False, compare=False)

    def choice(self, index: int) -> ChoiceView | None:
        for choice in self.choices:
            if choice.index == index:
                return choice
        return None

    @property
    def json_chunks(self) -> list[ChunkView]:
        """Stream events whose data parsed as a JSON object (the chunks proper); computed once, as the view
        is complete when chat_view returns it (a dozen rules ask for it on every stream)."""
        if self._json_chunks is None:
            self._json_chunks = [c for c in self.chunks if isinstance(c.payload, dict)]
        return self._json_chunks


# Model ids that name something other than a chat model; passed over when picking one.
_NOT_CHAT = re.compile(r"embed|whisper|tts|speech|transcri|dall-e|image|audio|moderation|rerank|video", re.I)


def listed_model_ids(exchange: Exchange) -> list[str]:
    """The non-empty ``id`` strings of a GET /v1/models answer, in order ([] when it is not one)."""
    try:
        data = exchange.json().get("data")
        return [m["id"] for m in data if isinstance(m, dict) and isinstance(m.get("id"), str) and m["id"]]
    except (ValueError, AttributeError, TypeError, KeyError):
        return []


def is_chat_model(model_id: str) -> bool:
    """Whether an id does not look like an embeddings, audio, image or video model."""
    return not _NOT_CHAT.search(model_id)


def pick_embedding_model(ids: list[str]) -> str | None:
    """The first listed id that names an embeddings model, if any."""
    return next((i for i in ids if "embed" in i.lower()), None)


def pick_chat_model(ids: list[str]) -> str | None:
    """The first listed id that does not look like an embeddings, audio, image or video model."""
    return next((i for i in ids if not _NOT_CHAT.search(i)), ids[0] if ids else None)


def chat_request(
    model: str,
    prompt: str,
    *,
    system: str | None = None,
    **params: Any,
) -> dict[str, Any]:
    """A minimal chat request body, with ``params`` added as top-level fields."""
    messages: list[dict[str, Any]] = []
    if system is not None:
        messages.append({"role": "system", "content": system})
    messages.append({"role": "user", "content": prompt})
    body: dict[str, Any] = {"model": model, "messages": messages}
    body.update(params)
    return body


def requested_stream(exchange: Exchange) -> bool:
    """True when the request asked for a stream."""
    return exchange.request_body.get("stream") is True


def include_usage_requested(exchange: Exchange) -> bool:
    """True when the request asked for the final usage chunk."""
    options = exchange.request_body.get("stream_options")
    return isinstance(options, dict) and options.get("include_usage") is True


_CHAT_ANSWERS = AnswerPredicates(CHAT_OPERATION)
is_chat = _CHAT_ANSWERS.is_operation
is_chat_answer = _CHAT_ANSWERS.is_answer
is_unary_answer = _CHAT_ANSWERS.is_unary_answer
is_stream_answer = _CHAT_ANSWERS.is_stream_answer


def chat_view(exchange: Exchange) -> ChatView:
    """Parse (once, cached on the exchange) a chat answer into a ChatView."""
    return cached_view(exchange, "chat_view", ChatView, _read_view)


def _read_view(exchange: Exchange) -> ChatView:
    return _stream_view(exchange) if exchange.is_stream else _unary_view(exchange)


def _unary_view(exchange: Exchange) -> ChatView:
    view = ChatView(stream=False)
    view.payload, payload = read_json_object(exchange, view.problems)
    if payload is None:
        return view
    view.has_usage_key = "usage" in payload
    view.usage = payload.get("usage")
    choices = payload.get("choices")
    if not isinstance(choices, list):
        view.problems.append("body has no 'choices' array")
        return view
    for raw in choices:
        if not isinstance(raw, dict):
            view.problems.append("a choice is not an object")
            continue
        choice = ChoiceView(index=raw.get("index"), finish_reason=raw.get("finish_reason"))
        choice.finish_count = 1 if raw.get("finish_reason") is not None else 0
        message = raw.get("message")
        if isinstance(message, dict):
            choice.role = message.get("role")
            content = message.get("content")
            choice.text = content if isinstance(content, str) else None
            for position, call in enumerate(as_list(message.get("tool_calls"))):
                if isinstance(call, dict):
                    raw_function = call.get("function")
                    function: dict[str, Any] = raw_function if isinstance(raw_function, dict) else {}
                    choice.tool_calls.append(
                        ToolCallView(
                            index=position,
                            id=call.get("id"),
                            type=call.get("type"),
                            name=function.get("name"),
                            arguments=function.get("arguments"),
                            fragments=1,
                        )
                    )
        choice.logprobs = raw.get("logprobs")
        if isinstance(choice.logprobs, dict) and isinstance(choice.logprobs.get("content"), list):
            choice.logprob_entries = list(choice.logprobs["content"])
        view.choices.append(choice)
    return view


def _stream_view(exchange: Exchange) -> ChatView:
    view = ChatView(stream=True)
    choices: dict[Any, ChoiceView] = {}
    joiner = TextJoiner()
    events = exchange.events or []
    for position, event in enumerate(events):
        chunk = ChunkView(position=position, at_s=event.at_s, data=event.data)
        view.chunks.append(chunk)
        if chunk.is_done:
            if view.done_position is None:
                view.done_position = position
            continue
        chunk.payload, chunk.error = event_payload(event.data, f"event #{position} data")
        if chunk.error is not None:
            continue
        payload = chunk.payload
        if "usage" in payload:
            view.has_usage_key = True
            if payload["usage"] is not None:
                view.usage_chunk_positions.append(position)
                view.usage = payload["usage"]
        for raw in as_list(payload.get("choices")):
            if not isinstance(raw, dict):
                continue
            text = _delta_text(raw)
            if text:
                chunk.text += text  # a chunk's own few deltas
            index = raw.get("index")
            key = index if isinstance(index, int) else repr(index)
            choice = choices.get(key)
            if choice is None:
                choice = ChoiceView(index=index)
                choices[key] = choice
            _merge_delta(choice, raw, joiner)
    joiner.join()
    view.choices = list(choices.values())
    return view


def _merge_delta(choice: ChoiceView, raw: dict[str, Any], joiner: TextJoiner) -> None:
    delta = raw.get("delta")
    finished_before = choice.finish_count > 0
    if isinstance(delta, dict):
        role = delta.get("role")
        if role is not None:
            if choice.role is None and choice.text is None and not choice.tool_calls:
                choice.first_role = role
            choice.role = role
        content = delta.get("content")
        if isinstance(content, str):
            if finished_before and content:
                choice.content_after_finish = True
            joiner.append(choice, "text", content)
        for fragment in as_list(delta.get("tool_calls")):
            if isinstance(fragment, dict):
                if finished_before:
                    choice.content_after_finish = True
                _merge_tool_fragment(choice, fragment, joiner)
    logprobs = raw.get("logprobs")
    if logprobs is not None:
        choice.logprobs = logprobs
        if isinstance(logprobs, dict) and isinstance(logprobs.get("content"), list):
            if choice.logprob_entries is None:
                choice.logprob_entries = []
            choice.logprob_entries.extend(logprobs["content"])
    if raw.get("finish_reason") is not None:
        choice.finish_count += 1
        choice.finish_reason = raw["finish_reason"]


def _merge_tool_fragment(choice: ChoiceView, fragment: dict[str, Any], joiner: TextJoiner) -> None:
    index = fragment.get("index")
    call: ToolCallView | None = None
    if isinstance(index, int):
        call = next((c for c in choice.tool_calls if c.index == index), None)
    if call is None:
        call = ToolCallView(index=index if isinstance(index, int) else None)
        choice.tool_calls.append(call)
    call.fragments += 1
    if fragment.get("id") is not None:
        if fragment["id"] not in call.ids_seen:
            call.ids_seen.append(fragment["id"])
        call.id = fragment["id"]
    if fragment.get("type") is not None:
        call.type = fragment["type"]
    function = fragment.get("function")
    if isinstance(function, dict):
        if function.get("name") is not None:
            call.name = (call.name or "") + function["name"] if isinstance(function["name"], str) else function["name"]
        arguments = function.get("arguments")
        if isinstance(arguments, str):
            if isinstance(call.arguments, str | None):
                joiner.append(call, "arguments", arguments)
        elif arguments is not None:
            joiner.flush(call, "arguments")
            call.arguments = arguments


def token_deltas(view: ChatView) -> list[tuple[float, str]]:
    """The chunks that carry generated text, as (arrival time, text), in order: chat's "first token".

    A chunk counts when any choice's delta carries non-empty ``content``, ``reasoning_content`` or
    ``reasoning`` (reasoning servers), ``refusal``, or tool-call ``arguments``; role-only chunks,
    usage-only chunks and ``[DONE]`` do not. This is the TTFT/ITL event stream of the load metrics.
    """
    return [(chunk.at_s, chunk.text) for chunk in view.chunks if chunk.text]


_OTHER_TEXT_KEYS = ("reasoning_content", "reasoning", "refusal")


def _delta_text(choice: dict[str, Any]) -> str:
    # Runs for every chunk of every stream under load: plain lookups, no temporary lists.
    delta = choice.get("delta")
    if not isinstance(delta, dict):
        return ""
    content = delta.get("content")
    text = content if isinstance(content, str) else ""
    for key in _OTHER_TEXT_KEYS:
        if key in delta and isinstance(delta[key], str):
            text += delta[key]
    calls = delta.get("tool_calls")
    if isinstance(calls, list):
        for call in calls:
            function = call.get("function") if isinstance(call, dict) else None
            if isinstance(function, dict) and isinstance(function.get("arguments"), str):
                text += function["arguments"]
    return text


def answer_text(view: ChatView) -> str:
    """All generated text of a unary or streamed answer (every choice, tool-call arguments included)."""
    parts: list[str] = []
    for choice in view.choices:
        parts.append(choice.text or "")
        parts.extend(c.arguments for c in choice.tool_calls if isinstance(c.arguments, str))
    return "".join(parts)


def finish_reasons(view: ChatView) -> list[str]:
    """The finish reasons of the choices that have one."""
    return [str(c.finish_reason) for c in view.choices if c.finish_reason is not None]


# ---------------------------------------------------------------------- the shared family interface


def request_headers(api_key: str | None) -> dict[str, str]:
    """The headers every request of this family carries: the key as ``Authorization: Bearer``."""
    return {"authorization": f"Bearer {api_key}"} if api_key else {}


def build_request(
    model: str, messages: list[dict[str, Any]], *, max_tokens: int | None, stream: bool, **params: Any
) -> tuple[str, str, str, dict[str, Any]]:
    """(method, path, operation, body) of a chat request for chat-format ``messages``."""
    body: dict[str, Any] = {"model": model, "messages": messages}
    if max_tokens is not None:
        body["max_tokens"] = max_tokens
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    body.update(params)
    return "POST", CHAT_PATH, CHAT_OPERATION, body


def read_answer(exchange: Exchange) -> Answer | None:
    """A 2xx chat answer as an :class:`Answer` (its first choice's finish), else None. A stream the
    transport cut short still gives what arrived before the cut."""
    if not _CHAT_ANSWERS.is_received(exchange):
        return None
    view = chat_view(exchange)
    usage = view.usage if isinstance(view.usage, dict) else {}
    reasons = finish_reasons(view)
    return Answer(
        text_events=token_deltas(view) if view.stream else [],
        text=answer_text(view) if view.payload is not None or view.stream else "",
        input_tokens=as_int(usage.get("prompt_tokens")),
        output_tokens=as_int(usage.get("completion_tokens")),
        finish=reasons[0] if reasons else None,
        raw_finish=reasons[0] if reasons else None,
        stream=view.stream,
    )
