"""The OpenAI Responses family (``POST /v1/responses``): paths, request builders, a parsed view of any answer.

:func:`responses_view` turns an Exchange (a unary ``response`` object or a typed SSE stream) into one
:class:`ResponsesView`, so that checks and metrics read the output items, text, function calls, status
and usage the same way whatever the wire form was. For a stream it also keeps what the state-machine
rules need: every event with its SSE name, ``type`` and ``sequence_number``, where each output item was
added and done, and the deltas of each item. It never raises on a malformed answer: what it could not
read is left for the checks to judge.

Source: OpenAI openapi.yaml (CreateResponse, Response, ResponseStreamEvent), openai-python
``types/responses/*.py`` and ``lib/streaming/responses/_responses.py`` (how the SDK assembles a stream).
"""

from __future__ import annotations

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

FAMILY = "responses"
RESPONSES_PATH = "/v1/responses"
RESPONSES_OPERATION = f"POST {RESPONSES_PATH}"
DONE = "[DONE]"

TERMINAL_TYPES = frozenset({"response.completed", "response.incomplete", "response.failed"})
LIFECYCLE_TYPES = frozenset({"response.created", "response.queued", "response.in_progress", *TERMINAL_TYPES})
# The status a terminal event's response must have.
TERMINAL_STATUS = {
    "response.completed": "completed",
    "response.incomplete": "incomplete",
    "response.failed": "failed",
}
# Events scoped to one output item (they carry output_index and item_id).
ITEM_EVENT_PREFIXES = (
    "response.content_part.",
    "response.output_text.",
    "response.refusal.",
    "response.function_call_arguments.",
    "response.reasoning_text.",
    "response.reasoning_summary_text.",
    "response.reasoning_summary_part.",
)
# Deltas that carry generated text (the family's "first token" for load metrics).
TEXT_DELTA_TYPES = frozenset(
    {
        "response.output_text.delta",
        "response.refusal.delta",
        "response.function_call_arguments.delta",
        "response.reasoning_text.delta",
        "response.reasoning_summary_text.delta",
    }
)


@dataclass(slots=True)
class EventView:
    """One dispatched stream event."""

    position: int
    at_s: float
    name: str
    data: str
    payload: Any = None
    error: str | None = None

    @property
    def type(self) -> str | None:
        """The data's ``type`` when it is a string, else None."""
        kind = self.payload.get("type") if isinstance(self.payload, dict) else None
        return kind if isinstance(kind, str) else None

    @property
    def is_done(self) -> bool:
        return self.data.strip() == DONE

    def get(self, key: str) -> Any:
        return self.payload.get(key) if isinstance(self.payload, dict) else None


@dataclass(slots=True)
class ItemView:
    """One output item: for a unary answer as it came; for a stream as its events built it."""

    output_index: int
    type: Any = None
    id: Any = None
    call_id: Any = None
    name: Any = None
    arguments: Any = None
    status: Any = None
    # Generated text of a message item (output_text parts joined); for a stream, the joined deltas.
    text: str = ""
    refusal: str = ""
    raw: dict[str, Any] = field(default_factory=dict)
    added_position: int | None = None
    done_position: int | None = None


@dataclass(slots=True)
class ResponsesView:
    """Everything checks need to know about one Responses answer."""

    stream: bool
    # The unary body, or the response carried by the stream's last terminal event.
    response: Any = None
    items: list[ItemView] = field(default_factory=list)
    events: list[EventView] = field(default_factory=list)
    terminal_positions: list[int] = field(default_factory=list)
    error_positions: list[int] = field(default_factory=list)
    done_position: int | None = None
    # Stream only: joined deltas and finished values per (output_index, content_index) or output_index.
    text_deltas: dict[tuple[int, int], str] = field(default_factory=dict)
    text_done: dict[tuple[int, int], str] = field(default_factory=dict)
    part_done: dict[tuple[int, int], str] = field(default_factory=dict)
    argument_deltas: dict[int, str] = field(default_factory=dict)
    arguments_done: dict[int, str] = field(default_factory=dict)
    added_items: dict[int, dict[str, Any]] = field(default_factory=dict)
    done_items: dict[int, dict[str, Any]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    _json_events: list[EventView] | None = field(default=None, repr=False, compare=False)

    @property
    def json_events(self) -> list[EventView]:
        """Stream events whose data parsed as a JSON object (computed once: the view is complete when built)."""
        if self._json_events is None:
            self._json_events = [e for e in self.events if isinstance(e.payload, dict)]
        return self._json_events

    @property
    def usage(self) -> Any:
        return self.response.get("usage") if isinstance(self.response, dict) else None

    @property
    def status(self) -> Any:
        return self.response.get("status") if isinstance(self.response, dict) else None

    @property
    def incomplete_reason(self) -> Any:
        details = self.response.get("incomplete_details") if isinstance(self.response, dict) else None
        return details.get("reason") if isinstance(details, dict) else None

    @property
    def text(self) -> str:
        """The generated text of all message items, in output order."""
        return "".join(item.text for item in self.items if item.type == "message")

    @property
    def function_calls(self) -> list[ItemView]:
        return [item for item in self.items if item.type == "function_call"]


_RESPONSES_ANSWERS = AnswerPredicates(RESPONSES_OPERATION)
is_responses = _RESPONSES_ANSWERS.is_operation
is_responses_answer = _RESPONSES_ANSWERS.is_answer
is_unary_answer = _RESPONSES_ANSWERS.is_unary_answer
is_stream_answer = _RESPONSES_ANSWERS.is_stream_answer


def requested_stream(exchange: Exchange) -> bool:
    """True when the request asked for a stream."""
    return exchange.request_body.get("stream") is True


def max_output_tokens(exchange: Exchange) -> int | None:
    """The request's max_output_tokens, when it is an integer."""
    return as_int(exchange.request_body.get("max_output_tokens"))


def responses_view(exchange: Exchange) -> ResponsesView:
    """Parse (once, cached on the exchange) a Responses answer into a ResponsesView."""
    return cached_view(exchange, "responses_view", ResponsesView, _read_view)


def _read_view(exchange: Exchange) -> ResponsesView:
    return _stream_view(exchange) if exchange.is_stream else _unary_view(exchange)


def _content_texts(item: dict[str, Any]) -> tuple[str, str]:
    """The joined output_text and refusal texts of a message item's content."""
    text = refusal = ""
    for part in as_list(item.get("content")):
        if isinstance(part, dict):
            if part.get("type") == "output_text" and isinstance(part.get("text"), str):
                text += part["text"]
            elif part.get("type") == "refusal" and isinstance(part.get("refusal"), str):
                refusal += part["refusal"]
    return text, refusal


def _item_from(index: int, raw: dict[str, Any]) -> ItemView:
    item = ItemView(
        output_index=index,
        type=raw.get("type"),
        id=raw.get("id"),
        call_id=raw.get("call_id"),
        name=raw.get("name"),
        arguments=raw.get("arguments"),
        status=raw.get("status"),
        raw=raw,
    )
    item.text, item.refusal = _content_texts(raw)
    return item


def output_items(response: Any) -> list[ItemView]:
    """The output items of a response object, in order."""
    if not isinstance(response, dict):
        return []
    return [_item_from(i, raw) for i, raw in enumerate(as_list(response.get("output"))) if isinstance(raw, dict)]


def _unary_view(exchange: Exchange) -> ResponsesView:
    view = ResponsesView(stream=False)
    view.response, payload = read_json_object(exchange, view.problems)
    if payload is None:
        return view
    view.items = output_items(payload)
    return view


def _stream_view(exchange: Exchange) -> ResponsesView:
    view = ResponsesView(stream=True)
    items: dict[int, ItemView] = {}
    joiner = TextJoiner()
    for position, event in enumerate(exchange.events or []):
        ev = EventView(position=position, at_s=event.at_s, name=event.event, data=event.data)
        view.events.append(ev)
        if ev.is_done:
            if view.done_position is None:
                view.done_position = position
            continue
        ev.payload, ev.error = event_payload(event.data, f"event #{position} data")
        if ev.error is not None:
            continue
        _apply(view, items, ev, joiner)
    joiner.join()
    view.items = [items[i] for i in sorted(items)]
    if not view.items:
        # A stream without item events: read the items off the terminal response, if any.
        view.items = output_items(view.response)
    return view


def _apply(view: ResponsesView, items: dict[int, ItemView], ev: EventView, joiner: TextJoiner) -> None:
    kind = ev.type
    if kind in TERMINAL_TYPES:
        view.terminal_positions.append(ev.position)
        view.response = ev.get("response")
        return
    if kind == "error":
        view.error_positions.append(ev.position)
        return
    index = as_int(ev.get("output_index"))
    if index is None:
        return
    if kind in ("response.output_item.added", "response.output_item.done"):
        raw = ev.get("item")
        if not isinstance(raw, dict):
            return
        current = _item_from(index, raw)
        known = items.get(index)
        if kind == "response.output_item.added":
            view.added_items.setdefault(index, raw)
            if known is None:
                current.added_position = ev.position
                items[index] = current
        else:
            view.done_items[index] = raw
            if known is None:
                known = items[index] = current
            known.done_position = ev.position
            known.type, known.id, known.status, known.raw = current.type, current.id, current.status, raw
            known.call_id, known.name = current.call_id, current.name
            if current.arguments is not None:
                joiner.flush(known, "arguments")
                known.arguments = current.arguments
        return
    item = items.get(index)
    content_index = as_int(ev.get("content_index"))
    key = (index, content_index if content_index is not None else 0)
    if kind == "response.output_text.delta":
        delta = ev.get("delta")
        if isinstance(delta, str):
            joiner.append(view.text_deltas, key, delta)
            if item is not None:
                joiner.append(item, "text", delta)
    elif kind == "response.output_text.done":
        if isinstance(ev.get("text"), str):
            view.text_done[key] = ev.get("text")
    elif kind == "response.content_part.done":
        part = ev.get("part")
        if isinstance(part, dict) and part.get("type") == "output_text" and isinstance(part.get("text"), str):
            view.part_done[key] = part["text"]
    elif kind == "response.refusal.delta":
        delta = ev.get("delta")
        if isinstance(delta, str) and item is not None:
            joiner.append(item, "refusal", delta)
    elif kind == "response.function_call_arguments.delta":
        delta = ev.get("delta")
        if isinstance(delta, str):
            joiner.append(view.argument_deltas, index, delta)
            if item is not None and (item.arguments is None or isinstance(item.arguments, str)):
                joiner.append(item, "arguments", delta)
    elif kind == "response.function_call_arguments.done" and isinstance(ev.get("arguments"), str):
        view.arguments_done[index] = ev.get("arguments")


def text_events(view: ResponsesView) -> list[tuple[float, str]]:
    """The events that carry generated text, as (arrival time, text), in order: this family's "first token".

    An event counts when it is a non-empty ``response.output_text.delta``, ``response.refusal.delta``,
    ``response.function_call_arguments.delta``, or a reasoning text or summary delta. Lifecycle, item and
    part events and ``.done`` events do not.
    """
    found: list[tuple[float, str]] = []
    for event in view.events:
        if event.type in TEXT_DELTA_TYPES:
            delta = event.get("delta")
            if isinstance(delta, str) and delta:
                found.append((event.at_s, delta))
    return found


def answer_text(view: ResponsesView) -> str:
    """All generated text: the message text, refusals and function-call arguments, in output order."""
    parts: list[str] = []
    for item in view.items:
        parts.append(item.text + item.refusal)
        if item.type == "function_call" and isinstance(item.arguments, str):
            parts.append(item.arguments)
    return "".join(parts)


def finish_of(view: ResponsesView) -> tuple[str | None, str | None]:
    """(chat finish_reason, raw status) of an answer: rule X2's mapping of status and incomplete reason."""
    status = view.status
    if not isinstance(status, str):
        return None, None
    reason = view.incomplete_reason
    raw = f"{status}/{reason}" if isinstance(reason, str) else status
    if status == "completed":
        return ("tool_calls" if view.function_calls else "stop"), raw
    if status == "incomplete":
        mapped = {"max_output_tokens": "length", "content_filter": "content_filter"}.get(str(reason))
        return (mapped or raw), raw
    return raw, raw


# ---------------------------------------------------------------------- the shared family interface


def request_headers(api_key: str | None) -> dict[str, str]:
    """The headers every request of this family carries: the key as ``Authorization: Bearer``."""
    return {"authorization": f"Bearer {api_key}"} if api_key else {}


def _input_content(content: Any) -> Any:
    """Chat message content in Responses terms: a string stays; text parts become input_text parts."""
    if not isinstance(content, list):
        return content
    parts: list[Any] = []
    for part in content:
        if isinstance(part, dict) and part.get("type") == "text":
            parts.append({"type": "input_text", "text": part.get("text", "")})
        elif isinstance(part, dict) and part.get("type") == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else None
            parts.append({"type": "input_image", "image_url": url, "detail": "auto"})
        else:
            parts.append(part)
    return parts


def build_request(
    model: str, messages: list[dict[str, Any]], *, max_tokens: int | None, stream: bool, **params: Any
) -> tuple[str, str, str, dict[str, Any]]:
    """(method, path, operation, body) of a Responses request for chat-format ``messages``.

    A leading system message becomes ``instructions``; a lone user message becomes ``input`` as a
    string; any other conversation becomes ``input`` items ``{role, content}``. ``max_tokens`` becomes
    ``max_output_tokens``. ``stop`` is dropped: the Responses API has no stop sequences (OpenAI refuses
    unknown parameters). Other ``params`` (``temperature``, ``ignore_eos``, ...) are top-level keys.
    """
    rest = list(messages)
    body: dict[str, Any] = {"model": model}
    if rest and rest[0].get("role") == "system" and isinstance(rest[0].get("content"), str):
        body["instructions"] = rest.pop(0)["content"]
    if len(rest) == 1 and rest[0].get("role") == "user" and isinstance(rest[0].get("content"), str):
        body["input"] = rest[0]["content"]
    else:
        body["input"] = [{"role": m.get("role"), "content": _input_content(m.get("content"))} for m in rest]
    if max_tokens is not None:
        body["max_output_tokens"] = max_tokens
    if stream:
        body["stream"] = True
    body.update({key: value for key, value in params.items() if key != "stop"})
    return "POST", RESPONSES_PATH, RESPONSES_OPERATION, body


def read_answer(exchange: Exchange) -> Answer | None:
    """A 2xx Responses answer as an :class:`Answer` (usage and status mapped to chat terms), else None; a
    stream the transport cut short gives what arrived before the cut."""
    if not _RESPONSES_ANSWERS.is_received(exchange):
        return None
    view = responses_view(exchange)
    usage = view.usage if isinstance(view.usage, dict) else {}
    finish, raw = finish_of(view)
    return Answer(
        text_events=text_events(view) if view.stream else [],
        text=answer_text(view),
        input_tokens=as_int(usage.get("input_tokens")),
        output_tokens=as_int(usage.get("output_tokens")),
        finish=finish,
        raw_finish=raw,
        stream=view.stream,
    )
