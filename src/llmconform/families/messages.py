"""The Claude-format (Anthropic Messages) family: paths, request builders, a parsed view of any answer.

:func:`messages_view` turns an Exchange (a unary ``message`` or an SSE stream of named events) into
one :class:`MessagesView`, so rules and metrics read content blocks, text, tool uses, the stop reason
and usage the same way whatever the wire form was. It never raises on a malformed answer: what it
could not read is listed in ``problems`` (or on the event) and left for the rules to judge.

Sources: anthropics/anthropic-sdk-python ``src/anthropic/types`` (Message, Usage, MessageDeltaUsage,
RawMessageStreamEvent, StopReason) and ``lib/streaming/_messages.py`` (how the SDK accumulates a
stream); Anthropic's streaming and error documentation as summarised in
shared/reference/contract-rules.md sections C.2 and E.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import orjson

from llmconform.exchange import Exchange
from llmconform.families.answer import Answer
from llmconform.families.reading import (
    AnswerPredicates,
    TextJoiner,
    as_list,
    cached_view,
    parse_json,
    read_json_object,
)
from llmconform.json_numbers import as_int

FAMILY = "messages"
MESSAGES_PATH = "/v1/messages"
MESSAGES_OPERATION = f"POST {MESSAGES_PATH}"
ANTHROPIC_VERSION = "2023-06-01"
# max_tokens is required by the format; a chat-format caller that sets no limit gets this one.
DEFAULT_MAX_TOKENS = 4096

STOP_REASONS = (
    "end_turn",
    "max_tokens",
    "stop_sequence",
    "tool_use",
    "pause_turn",
    "refusal",
    "model_context_window_exceeded",
)
STREAM_EVENT_TYPES = (
    "message_start",
    "content_block_start",
    "content_block_delta",
    "content_block_stop",
    "message_delta",
    "message_stop",
    "ping",
    "error",
)
# Anthropic's status table (errors documentation; contract-rules.md section E, rule E2).
ERROR_TYPE_BY_STATUS: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}
# The SDK's ErrorType (types/shared/error_type.py) plus the documented request_too_large.
KNOWN_ERROR_TYPES = frozenset(
    {
        *ERROR_TYPE_BY_STATUS.values(),
        "memory_precondition_failed_error",
        "memory_path_conflict_error",
        "conflict_error",
    }
)
# X2: Claude stop reasons in chat's finish_reason terms (families.answer).
FINISH_BY_STOP_REASON = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
}


@dataclass(slots=True)
class BlockView:
    """One content block, assembled from its start, deltas and stop events when streamed."""

    index: Any
    type: Any
    text: str = ""
    id: Any = None
    name: Any = None
    # The tool input: the object as sent (unary, or a stream's content_block_start); for a stream with
    # input_json_delta fragments, their concatenation parsed as JSON (see ``input_error``).
    input: Any = None
    partial_json: str | None = None
    input_error: str | None = None
    deltas: int = 0
    delta_types: list[Any] = field(default_factory=list)
    started: bool = True
    stopped: bool = False

    @property
    def input_text(self) -> str:
        """The tool input as text: the streamed fragments, or the object's compact JSON."""
        if self.partial_json is not None:
            return self.partial_json
        try:
            return orjson.dumps(self.input).decode() if self.input is not None else ""
        except TypeError:
            return ""


@dataclass(slots=True)
class EventView:
    """One parsed stream event."""

    position: int
    at_s: float
    name: str
    data: str
    payload: Any = None
    error: str | None = None
    # The generated text this event carries (text, thinking or tool-input JSON of a delta).
    text: str = ""

    @property
    def type(self) -> Any:
        return self.payload.get("type") if isinstance(self.payload, dict) else None


@dataclass(slots=True)
class MessagesView:
    """Everything rules need to know about one Claude-format answer."""

    stream: bool
    # The unary body, or the message of a stream's message_start.
    payload: Any = None
    blocks: list[BlockView] = field(default_factory=list)
    stop_reason: Any = None
    stop_sequence: Any = None
    # The final usage: the unary usage, or message_start's usage overlaid with every message_delta's
    # non-null counts (what the SDK's get_final_message() reports).
    usage: Any = None
    start_usage: Any = None
    delta_usages: list[tuple[int, Any]] = field(default_factory=list)
    events: list[EventView] = field(default_factory=list)
    error_event: EventView | None = None
    message_stop_position: int | None = None
    problems: list[str] = field(default_factory=list)
    _json_events: list[EventView] | None = field(default=None, repr=False, compare=False)

    @property
    def text(self) -> str:
        """The text of every text block, in order."""
        return "".join(b.text for b in self.blocks if b.type == "text")

    @property
    def tool_uses(self) -> list[BlockView]:
        return [b for b in self.blocks if b.type == "tool_use"]

    @property
    def json_events(self) -> list[EventView]:
        """Stream events whose data parsed as a JSON object (computed once: the view is complete when
        messages_view returns it, and several rules ask for it on every stream)."""
        if self._json_events is None:
            self._json_events = [e for e in self.events if isinstance(e.payload, dict)]
        return self._json_events


# ---------------------------------------------------------------------- predicates and request facts


_MESSAGES_ANSWERS = AnswerPredicates(MESSAGES_OPERATION)
is_messages = _MESSAGES_ANSWERS.is_operation
is_messages_answer = _MESSAGES_ANSWERS.is_answer
is_unary_answer = _MESSAGES_ANSWERS.is_unary_answer
is_stream_answer = _MESSAGES_ANSWERS.is_stream_answer


def is_error_answer(exchange: Exchange) -> bool:
    """A completed non-2xx answer of POST /v1/messages."""
    return is_messages(exchange) and exchange.error is None and exchange.status is not None and exchange.status >= 400


def requested_stream(exchange: Exchange) -> bool:
    return exchange.request_body.get("stream") is True


def request_max_tokens(exchange: Exchange) -> int | None:
    return as_int(exchange.request_body.get("max_tokens"))


def request_stop_sequences(exchange: Exchange) -> list[str]:
    stops = exchange.request_body.get("stop_sequences")
    return [s for s in stops if isinstance(s, str)] if isinstance(stops, list) else []


def request_tool_names(exchange: Exchange) -> list[str]:
    tools = exchange.request_body.get("tools")
    if not isinstance(tools, list):
        return []
    return [t["name"] for t in tools if isinstance(t, dict) and isinstance(t.get("name"), str)]


def request_tool_choice(exchange: Exchange) -> dict[str, Any] | None:
    choice = exchange.request_body.get("tool_choice")
    return choice if isinstance(choice, dict) else None


# ---------------------------------------------------------------------- the view


def messages_view(exchange: Exchange) -> MessagesView:
    """Parse (once, cached on the exchange) a Claude-format answer into a MessagesView."""
    return cached_view(exchange, "messages_view", MessagesView, _read_view)


def _read_view(exchange: Exchange) -> MessagesView:
    return _stream_view(exchange) if exchange.is_stream else _unary_view(exchange)


def _unary_view(exchange: Exchange) -> MessagesView:
    view = MessagesView(stream=False)
    view.payload, payload = read_json_object(exchange, view.problems)
    if payload is None:
        return view
    view.stop_reason = payload.get("stop_reason")
    view.stop_sequence = payload.get("stop_sequence")
    view.usage = payload.get("usage")
    if not isinstance(payload.get("content"), list):
        view.problems.append("body has no 'content' array")
    for position, raw in enumerate(as_list(payload.get("content"))):
        if not isinstance(raw, dict):
            view.problems.append(f"content[{position}] is not an object")
            continue
        block = BlockView(index=position, type=raw.get("type"), id=raw.get("id"), name=raw.get("name"))
        block.input = raw.get("input")
        text = raw.get("text") if raw.get("type") == "text" else raw.get("thinking")
        block.text = text if isinstance(text, str) else ""
        block.stopped = True
        view.blocks.append(block)
    return view


def _stream_view(exchange: Exchange) -> MessagesView:
    view = MessagesView(stream=True)
    by_index: dict[Any, BlockView] = {}
    joiner = TextJoiner()
    for position, event in enumerate(exchange.events or []):
        item = EventView(position=position, at_s=event.at_s, name=event.event, data=event.data)
        view.events.append(item)
        try:
            item.payload = parse_json(event.data)
        except ValueError as exc:
            item.error = f"event #{position} ({event.event}) data is not JSON: {exc}"
            continue
        if not isinstance(item.payload, dict):
            item.error = f"event #{position} ({event.event}) data is JSON {type(item.payload).__name__}, not an object"
            continue
        _apply_event(view, by_index, item, joiner)
    joiner.join()
    for block in view.blocks:
        if block.type == "tool_use" and block.partial_json is not None:
            try:
                block.input = parse_json(block.partial_json) if block.partial_json else block.input
            except ValueError as exc:
                block.input_error = f"the input_json_delta fragments do not form JSON: {exc}"
    view.usage = _final_usage(view)
    return view


def _apply_event(view: MessagesView, by_index: dict[Any, BlockView], item: EventView, joiner: TextJoiner) -> None:
    payload = item.payload
    kind = payload.get("type")
    if kind == "message_start":
        message = payload.get("message")
        if isinstance(message, dict):
            if view.payload is None:
                view.payload = message
                view.start_usage = message.get("usage")
        else:
            view.problems.append(f"event #{item.position}: message_start without a message object")
    elif kind == "content_block_start":
        raw = payload.get("content_block")
        raw = raw if isinstance(raw, dict) else {}
        block = BlockView(index=payload.get("index"), type=raw.get("type"), id=raw.get("id"), name=raw.get("name"))
        block.input = raw.get("input")
        initial = raw.get("text") if raw.get("type") == "text" else raw.get("thinking")
        block.text = initial if isinstance(initial, str) else ""
        view.blocks.append(block)
        by_index[_key(block.index)] = block
    elif kind == "content_block_delta":
        _apply_delta(view, by_index, item, joiner)
    elif kind == "content_block_stop":
        stopped = by_index.get(_key(payload.get("index")))
        if stopped is not None:
            stopped.stopped = True
    elif kind == "message_delta":
        delta = payload.get("delta")
        if isinstance(delta, dict):
            view.stop_reason = delta.get("stop_reason", view.stop_reason)
            view.stop_sequence = delta.get("stop_sequence", view.stop_sequence)
        view.delta_usages.append((item.position, payload.get("usage")))
    elif kind == "message_stop":
        if view.message_stop_position is None:
            view.message_stop_position = item.position
    elif kind == "error" and view.error_event is None:
        view.error_event = item


def _key(index: Any) -> Any:
    return index if isinstance(index, int) and not isinstance(index, bool) else repr(index)


_BLOCK_OF_DELTA = {"text_delta": "text", "input_json_delta": "tool_use", "thinking_delta": "thinking"}


def _apply_delta(view: MessagesView, by_index: dict[Any, BlockView], item: EventView, joiner: TextJoiner) -> None:
    payload = item.payload
    index = payload.get("index")
    delta = payload.get("delta")
    delta = delta if isinstance(delta, dict) else {}
    kind = delta.get("type")
    block = by_index.get(_key(index))
    if block is None:
        # A delta for a block that was never started: keep its content, mark the block unstarted.
        block = BlockView(index=index, type=_BLOCK_OF_DELTA.get(str(kind)), started=False)
        view.blocks.append(block)
        by_index[_key(index)] = block
    block.deltas += 1
    block.delta_types.append(kind)
    if kind == "text_delta" and isinstance(delta.get("text"), str):
        joiner.append(block, "text", delta["text"])
        item.text = delta["text"]
    elif kind == "thinking_delta" and isinstance(delta.get("thinking"), str):
        joiner.append(block, "text", delta["thinking"])
        item.text = delta["thinking"]
    elif kind == "input_json_delta" and isinstance(delta.get("partial_json"), str):
        joiner.append(block, "partial_json", delta["partial_json"])
        item.text = delta["partial_json"]


_USAGE_KEYS = ("input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")


def _final_usage(view: MessagesView) -> Any:
    start = view.start_usage
    if not isinstance(start, dict) and not view.delta_usages:
        return start
    usage: dict[str, Any] = dict(start) if isinstance(start, dict) else {}
    for _, delta in view.delta_usages:
        if isinstance(delta, dict):
            for key in _USAGE_KEYS:
                if delta.get(key) is not None:
                    usage[key] = delta[key]
    return usage


# ---------------------------------------------------------------------- usage in shared terms


def total_input_tokens(usage: Any) -> int | None:
    """input + cache_creation + cache_read input tokens (rule A1), or None without an integer input_tokens."""
    if not isinstance(usage, dict):
        return None
    base = as_int(usage.get("input_tokens"))
    if base is None:
        return None
    return base + sum(as_int(usage.get(k)) or 0 for k in ("cache_creation_input_tokens", "cache_read_input_tokens"))


def output_tokens(usage: Any) -> int | None:
    return as_int(usage.get("output_tokens")) if isinstance(usage, dict) else None


def answer_text(view: MessagesView) -> str:
    """All generated text: text blocks and tool inputs (as their JSON text), in block order."""
    parts: list[str] = []
    for block in view.blocks:
        if block.type == "text":
            parts.append(block.text)
        elif block.type == "tool_use":
            parts.append(block.input_text)
    return "".join(parts)


def text_events(view: MessagesView) -> list[tuple[float, str]]:
    """The events that carry generated text, as (arrival time, text): this format's "first token".

    An event counts when it is a content_block_delta with non-empty text, thinking or tool-input JSON;
    message_start, block starts and stops, message_delta, ping and message_stop do not.
    """
    return [(event.at_s, event.text) for event in view.events if event.text]


# ---------------------------------------------------------------------- the shared family interface


def request_headers(api_key: str | None) -> dict[str, str]:
    """The headers every request of this family carries: ``x-api-key`` and ``anthropic-version``."""
    headers = {"anthropic-version": ANTHROPIC_VERSION}
    if api_key:
        headers["x-api-key"] = api_key
    return headers


def _text_of(content: Any) -> list[str]:
    """The texts of a chat-format content (a string, or a list of parts)."""
    if isinstance(content, str):
        return [content]
    texts: list[str] = []
    for part in as_list(content):
        if isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str):
            texts.append(part["text"])
    return texts


def _image_block(part: dict[str, Any]) -> dict[str, Any] | None:
    image = part.get("image_url")
    url = image.get("url") if isinstance(image, dict) else None
    if not isinstance(url, str):
        return None
    if url.startswith("data:") and ";base64," in url:
        media, data = url[5:].split(";base64,", 1)
        return {"type": "image", "source": {"type": "base64", "media_type": media, "data": data}}
    return {"type": "image", "source": {"type": "url", "url": url}}


def _content_blocks(content: Any) -> str | list[dict[str, Any]]:
    if isinstance(content, str):
        return content
    blocks: list[dict[str, Any]] = []
    for part in as_list(content):
        if not isinstance(part, dict):
            continue
        if part.get("type") == "text" and isinstance(part.get("text"), str):
            blocks.append({"type": "text", "text": part["text"]})
        elif part.get("type") == "image_url":
            image = _image_block(part)
            if image is not None:
                blocks.append(image)
    return blocks


def _tool_use_block(call: Any) -> dict[str, Any] | None:
    function = call.get("function") if isinstance(call, dict) else None
    if not isinstance(function, dict):
        return None
    try:
        arguments = json.loads(function.get("arguments") or "{}")
    except (TypeError, ValueError):
        arguments = {}
    return {
        "type": "tool_use",
        "id": str(call.get("id", "")),
        "name": str(function.get("name", "")),
        "input": arguments if isinstance(arguments, dict) else {},
    }


def _turns(messages: list[dict[str, Any]]) -> tuple[list[str], list[dict[str, Any]]]:
    """Split chat-format messages into system texts and Claude-format turns."""
    system: list[str] = []
    turns: list[dict[str, Any]] = []
    for message in messages:
        role = message.get("role")
        content = message.get("content")
        if role in ("system", "developer"):
            system.extend(_text_of(content))
        elif role == "tool":
            result = {"type": "tool_result", "tool_use_id": str(message.get("tool_call_id", ""))}
            result["content"] = "".join(_text_of(content))
            turns.append({"role": "user", "content": [result]})
        elif role == "assistant" and message.get("tool_calls"):
            blocks: list[dict[str, Any]] = [{"type": "text", "text": t} for t in _text_of(content) if t]
            blocks += [b for b in map(_tool_use_block, as_list(message["tool_calls"])) if b is not None]
            turns.append({"role": "assistant", "content": blocks})
        else:
            turns.append({"role": "assistant" if role == "assistant" else "user", "content": _content_blocks(content)})
    return system, turns


def _tools(tools: Any) -> list[dict[str, Any]]:
    converted: list[dict[str, Any]] = []
    for tool in as_list(tools):
        function = tool.get("function") if isinstance(tool, dict) else None
        if isinstance(function, dict):
            entry: dict[str, Any] = {"name": function.get("name")}
            if "description" in function:
                entry["description"] = function["description"]
            parameters = function.get("parameters")
            entry["input_schema"] = parameters if isinstance(parameters, dict) else {"type": "object"}
            converted.append(entry)
        elif isinstance(tool, dict):
            converted.append(tool)  # already Claude-shaped
    return converted


def _tool_choice(choice: Any) -> Any:
    if choice == "auto":
        return {"type": "auto"}
    if choice == "required":
        return {"type": "any"}
    if choice == "none":
        return {"type": "none"}
    if isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        return {"type": "tool", "name": choice["function"].get("name")}
    return choice


def build_request(
    model: str, messages: list[dict[str, Any]], *, max_tokens: int | None, stream: bool, **params: Any
) -> tuple[str, str, str, dict[str, Any]]:
    """(method, path, operation, body) of a Claude-format request for chat-format ``messages``.

    System (and developer) messages become ``system``: a string for one, a list of text blocks for
    several (the mock reads each block back as one system message, so prompt tokens match chat's).
    Chat tool calls and tool messages become tool_use and tool_result blocks. ``max_tokens`` is
    required by the format (``DEFAULT_MAX_TOKENS`` when None). Of ``params``, ``stop`` becomes
    ``stop_sequences``, chat-format ``tools`` / ``tool_choice`` are translated, ``user`` becomes
    ``metadata.user_id``, and the rest (``temperature``, ``top_p``, ``ignore_eos``, ...) is passed
    through as top-level keys.
    """
    system, turns = _turns(messages)
    body: dict[str, Any] = {
        "model": model,
        "max_tokens": max_tokens if max_tokens is not None else DEFAULT_MAX_TOKENS,
        "messages": turns,
    }
    if len(system) == 1:
        body["system"] = system[0]
    elif system:
        body["system"] = [{"type": "text", "text": text} for text in system]
    if stream:
        body["stream"] = True
    for key, value in params.items():
        if key == "stop":
            stops = [value] if isinstance(value, str) else list(value or [])
            if stops:
                body["stop_sequences"] = stops
        elif key == "tools":
            body["tools"] = _tools(value)
        elif key == "tool_choice":
            body["tool_choice"] = _tool_choice(value)
        elif key == "user":
            body["metadata"] = {"user_id": value}
        else:
            body[key] = value
    return "POST", MESSAGES_PATH, MESSAGES_OPERATION, body


def read_answer(exchange: Exchange) -> Answer | None:
    """A 2xx Claude-format answer as an :class:`Answer` (usage and finish in chat terms), else None; a stream
    the transport cut short gives what arrived before the cut."""
    if not _MESSAGES_ANSWERS.is_received(exchange):
        return None
    view = messages_view(exchange)
    reason = view.stop_reason if isinstance(view.stop_reason, str) else None
    return Answer(
        text_events=text_events(view) if view.stream else [],
        text=answer_text(view),
        input_tokens=total_input_tokens(view.usage),
        output_tokens=output_tokens(view.usage),
        finish=FINISH_BY_STOP_REASON.get(reason, reason) if reason is not None else None,
        raw_finish=reason,
        stream=view.stream,
    )
