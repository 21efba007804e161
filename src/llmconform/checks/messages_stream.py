"""The Claude-format stream state machine (rule table F, A3-A5): named events, their order, cumulative
usage and how a stream ends.

The stream is read per the SSE standard by :mod:`llmconform.sse`; these rules judge the sequence of
named events that came out of it, as :func:`llmconform.families.messages.messages_view` parsed it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from llmconform.checks.registry import Severity, Violation, Warn, exchange_rule
from llmconform.exchange import Exchange
from llmconform.families.messages import (
    FAMILY,
    KNOWN_ERROR_TYPES,
    STREAM_EVENT_TYPES,
    EventView,
    is_stream_answer,
    messages_view,
)
from llmconform.json_numbers import as_int

# Which delta types fill which block types (anthropic-sdk-python lib/streaming/_messages.py).
_DELTAS_OF_BLOCK = {
    "text": ("text_delta", "citations_delta"),
    "tool_use": ("input_json_delta",),
    "thinking": ("thinking_delta", "signature_delta"),
}
_MAX_REPORTED = 3


def _has_events(exchange: Exchange) -> bool:
    return is_stream_answer(exchange) and bool(messages_view(exchange).json_events)


@exchange_rule("messages_stream_event_named", family=FAMILY, severity=Severity.ERROR, applies=is_stream_answer)
def messages_stream_event_named(exchange: Exchange) -> Iterator[Violation]:
    """Every stream event has an ``event:`` name equal to the ``type`` of its data, which is a JSON object.

    Source: contract-rules.md F A3 ("SSE event: name == JSON type"); Anthropic streaming docs (each event
    has a named event type and matching JSON data); anthropic-sdk-python _streaming.py (skips events
    without a name, so an unnamed stream reads as empty).
    """
    view = messages_view(exchange)
    if not view.events:
        yield "Expected: at least one event. Received: an empty event stream"
    reported = 0
    for event in view.events:
        if reported >= _MAX_REPORTED:
            yield f"... and more events are misnamed or unreadable ({len(view.events)} events in all)"
            return
        if event.error is not None:
            yield f"{event.error}: {event.data!r:.120}"
            reported += 1
        elif event.name != event.type:
            shown = "no event: line ('message')" if event.name == "message" else repr(event.name)
            yield f"event #{event.position}: Expected: event name {event.type!r} (the data's type). Received: {shown}"
            reported += 1
    if exchange.invalid_utf8:
        yield "Expected: UTF-8 text. Received: bytes that are not valid UTF-8 in the stream"


class _Machine:
    """Walks the events once and collects what breaks the documented order."""

    def __init__(self) -> None:
        self.state = "before_start"
        self.open: Any = None
        self.open_type: Any = None
        self.open_deltas = 0
        self.next_index = 0
        self.problems: list[Violation] = []

    def step(self, event: EventView) -> bool:
        """Judge one event; False when the stream may not go on (after message_stop or error)."""
        kind = event.type
        where = f"event #{event.position} ({kind})"
        if self.state == "stopped":
            self.problems.append(f"{where}: Expected: nothing after message_stop. Received: another event")
            return False
        if kind == "ping":
            return True
        if kind == "error":
            return False  # the stream's end is judged by messages_stream_error_event
        if kind not in STREAM_EVENT_TYPES:
            self.problems.append(Warn(f"{where}: an event type this contract does not know; clients skip it"))
            return True
        if self.state == "before_start" and kind != "message_start":
            self.problems.append(f"{where}: Expected: message_start first. Received: {kind}")
            self.state = "message"
        getattr(self, f"_{kind}")(event, where)
        return True

    def _message_start(self, event: EventView, where: str) -> None:
        if self.state != "before_start":
            self.problems.append(f"{where}: Expected: one message_start, first. Received: another one")
        self.state = "message"

    def _content_block_start(self, event: EventView, where: str) -> None:
        index = event.payload.get("index")
        if self.state == "block":
            self.problems.append(
                f"{where}: Expected: block {self.open!r} stopped first. Received: block {index!r} started"
            )
        elif self.state == "delta":
            self.problems.append(f"{where}: Expected: no block after message_delta. Received: block {index!r} started")
        if index != self.next_index:
            self.problems.append(
                f"{where}: Expected: index {self.next_index} (blocks numbered 0, 1, ...). Received: {index!r}"
            )
        block = event.payload.get("content_block")
        self.open, self.open_type, self.open_deltas = index, block.get("type") if isinstance(block, dict) else None, 0
        self.next_index = (index if isinstance(index, int) else self.next_index) + 1
        self.state = "block"

    def _content_block_delta(self, event: EventView, where: str) -> None:
        index = event.payload.get("index")
        if self.state != "block" or index != self.open:
            open_text = f"block {self.open!r} is open" if self.state == "block" else "no block is open"
            self.problems.append(
                f"{where}: Expected: a delta for the open block (after its content_block_start). "
                f"Received: a delta for block {index!r} while {open_text}"
            )
            return
        self.open_deltas += 1
        delta = event.payload.get("delta")
        kind = delta.get("type") if isinstance(delta, dict) else None
        allowed = _DELTAS_OF_BLOCK.get(str(self.open_type))
        if allowed is not None and kind not in allowed:
            self.problems.append(
                f"{where}: Expected: {' or '.join(allowed)} for a {self.open_type} block. Received: {kind!r}"
            )

    def _content_block_stop(self, event: EventView, where: str) -> None:
        index = event.payload.get("index")
        if self.state != "block" or index != self.open:
            self.problems.append(f"{where}: Expected: a stop for the open block. Received: a stop for block {index!r}")
            return
        if self.open_deltas == 0 and str(self.open_type) in _DELTAS_OF_BLOCK:
            self.problems.append(Warn(f"{where}: the {self.open_type} block {index!r} got no content_block_delta"))
        self.state = "message"

    def _message_delta(self, event: EventView, where: str) -> None:
        if self.state == "block":
            self.problems.append(
                f"{where}: Expected: block {self.open!r} stopped before message_delta. Received: it open"
            )
        self.state = "delta"

    def _message_stop(self, event: EventView, where: str) -> None:
        if self.state != "delta":
            self.problems.append(f"{where}: Expected: message_delta before message_stop. Received: none")
        self.state = "stopped"


@exchange_rule("messages_stream_event_order", family=FAMILY, severity=Severity.ERROR, applies=_has_events)
def messages_stream_event_order(exchange: Exchange) -> Iterator[Violation]:
    """Events come in the documented order: message_start, then per content block (numbered 0, 1, ... in
    turn) content_block_start, its deltas of the block's kind, content_block_stop, then message_delta, then
    message_stop last; ping may come anywhere.

    Source: contract-rules.md F A3; Anthropic streaming docs (event flow); anthropic-sdk-python
    lib/streaming/_messages.py accumulate_event (raises on events before message_start; looks blocks up by
    index in arrival order).
    """
    machine = _Machine()
    for event in messages_view(exchange).json_events:
        if not machine.step(event):
            break
    yield from machine.problems[:_MAX_REPORTED]


def _usage_to_compare(exchange: Exchange) -> bool:
    if not _has_events(exchange):
        return False
    view = messages_view(exchange)
    return isinstance(view.start_usage, dict) and any(isinstance(u, dict) for _, u in view.delta_usages)


@exchange_rule("messages_stream_usage_cumulative", family=FAMILY, severity=Severity.ERROR, applies=_usage_to_compare)
def messages_stream_usage_cumulative(exchange: Exchange) -> Iterator[Violation]:
    """Stream usage is cumulative: output_tokens never decreases from message_start through each message_delta,
    and input (and cache) counts a message_delta carries equal message_start's.

    Source: contract-rules.md F A4; anthropic-sdk-python types/message_delta_usage.py ("The cumulative number
    of ... tokens") and lib/streaming/_messages.py (message_delta counts overwrite the snapshot: "Usage counts
    on a message_delta are cumulative totals").
    """
    view = messages_view(exchange)
    start = view.start_usage
    assert isinstance(start, dict)
    previous = as_int(start.get("output_tokens"))
    for position, usage in view.delta_usages:
        if not isinstance(usage, dict):
            continue
        current = as_int(usage.get("output_tokens"))
        if previous is not None and current is not None and current < previous:
            yield (
                f"message_delta (event #{position}): Expected: output_tokens >= {previous} (a running total). "
                f"Received: {current}"
            )
        previous = current if current is not None else previous
        for key in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"):
            at_start, later = as_int(start.get(key)), as_int(usage.get(key))
            if later is not None and at_start is not None and later != at_start:
                yield (
                    f"message_delta (event #{position}): Expected: {key} == message_start's {at_start}. "
                    f"Received: {later}"
                )


@exchange_rule("messages_stream_error_event", family=FAMILY, severity=Severity.ERROR, applies=is_stream_answer)
def messages_stream_error_event(exchange: Exchange) -> Iterator[Violation]:
    """A stream ends with message_stop, or with an error event {"type": "error", "error": {"type", "message"}};
    never with a silent close.

    Source: contract-rules.md F A5; Anthropic streaming docs (errors after the 200 arrive as an error
    event) and errors docs; anthropic-sdk-python _streaming.py (raises on an error event). An unknown
    error.type is a warning.
    """
    view = messages_view(exchange)
    meaningful = [e for e in view.events if e.type != "ping" or e.payload is None]
    last = meaningful[-1] if meaningful else None
    errors = [e for e in view.json_events if e.type == "error"]
    for event in errors:
        error = event.payload.get("error")
        if not isinstance(error, dict) or not all(isinstance(error.get(k), str) for k in ("type", "message")):
            yield f"event #{event.position}: Expected: error {{type: str, message: str}}. Received: {error!r:.100}"
        elif error["type"] not in KNOWN_ERROR_TYPES:
            yield Warn(f"event #{event.position}: error.type {error['type']!r} is not a known Anthropic error type")
    if errors and last is not errors[0]:
        yield f"event #{errors[0].position}: Expected: the error event last. Received: more events after it"
    if last is None or last.type not in ("message_stop", "error"):
        ended = f"after event #{last.position} ({last.type or last.name})" if last is not None else "without events"
        hint = (
            " (a final event without its blank line is discarded by the SSE standard)"
            if exchange.incomplete_trailing_event
            else ""
        )
        yield f"Expected: message_stop or an error event at the end. Received: the stream ended {ended}{hint}"
