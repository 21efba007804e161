"""The Responses stream state machine (rule table F, R3): framing, event names, sequence numbers, the
lifecycle from response.created to one terminal event, output items opened and closed around their
deltas, and deltas adding up to the finished text.

The stream is read per the SSE standard by :mod:`llmconform.sse`; these rules judge the sequence of typed
events that came out of it. Where a rule mirrors what the openai Python SDK enforces while it assembles a
stream (``lib/streaming/responses/_responses.py``), a break of it makes ``client.responses.stream`` raise.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from llmconform.checks.registry import Severity, Violation, Warn, exchange_rule
from llmconform.exchange import Exchange
from llmconform.families.responses import (
    FAMILY,
    ITEM_EVENT_PREFIXES,
    LIFECYCLE_TYPES,
    TERMINAL_STATUS,
    EventView,
    is_stream_answer,
    responses_view,
)
from llmconform.json_numbers import as_int

_SHOWN = 3


def _has_events(exchange: Exchange) -> bool:
    return is_stream_answer(exchange) and bool(responses_view(exchange).json_events)


@exchange_rule("responses_stream_event_is_json", family=FAMILY, severity=Severity.ERROR, applies=is_stream_answer)
def responses_stream_event_is_json(exchange: Exchange) -> Iterator[Violation]:
    """Every stream event's data is a JSON object with a string ``type``.

    Source: contract-rules.md F R3; OpenAI openapi.yaml ResponseStreamEvent (every event has a type);
    openai-python _streaming.py (json-decodes each event's data) and its ResponseStreamEvent union
    (discriminated by type).
    """
    view = responses_view(exchange)
    if not view.events:
        yield "Expected: at least one event. Received: an empty event stream"
    for event in view.events:
        if event.error is not None:
            yield f"{event.error}: {event.data!r:.120}"
        elif event.payload is not None and event.type is None:
            yield f"event #{event.position}: Expected: a string 'type'. Received: {event.get('type')!r:.60}"
    if exchange.invalid_utf8:
        yield "Expected: UTF-8 text. Received: bytes that are not valid UTF-8 in the stream"


@exchange_rule("responses_stream_event_name_matches_type", family=FAMILY, severity=Severity.ERROR, applies=_has_events)
def responses_stream_event_name_matches_type(exchange: Exchange) -> Iterator[Violation]:
    """Each event's SSE ``event:`` name equals the ``type`` in its data.

    Source: contract-rules.md F R3 (the same framing as Claude's A3: SSE event name == JSON type); OpenAI API
    reference, Responses streaming (every event is sent as ``event: <type>`` with that type in its data).
    Events without an ``event:`` line are a warning: the openai SDK reads the type from the data, but
    clients that dispatch on the event name (EventSource listeners) see only "message".
    """
    unnamed: list[int] = []
    wrong: list[str] = []
    for event in responses_view(exchange).json_events:
        if not isinstance(event.type, str) or event.name == event.type:
            continue
        if event.name == "message":
            unnamed.append(event.position)
        else:
            wrong.append(f"#{event.position} event: {event.name!r} for type {event.type!r}")
    if wrong:
        shown = "; ".join(wrong[:_SHOWN])
        yield f"Expected: event names equal to the data's type. Received: {len(wrong)} mismatch(es), {shown}"
    if unnamed:
        yield Warn(
            f"{len(unnamed)} event(s) have no event: line (first #{unnamed[0]}); their name defaults to 'message'"
        )


@exchange_rule("responses_stream_sequence_numbers", family=FAMILY, severity=Severity.ERROR, applies=_has_events)
def responses_stream_sequence_numbers(exchange: Exchange) -> Iterator[Violation]:
    """Every event carries an integer sequence_number, strictly increasing from the first event on.

    Source: contract-rules.md F R3 ("sequence_number strictly increasing from the first event"); OpenAI
    openapi.yaml ResponseStreamEvent (every event has sequence_number); openai-python
    lib/streaming/responses (``starting_after`` resumes a stream by sequence number).
    """
    previous: tuple[int, int] | None = None
    problems: list[str] = []
    for event in responses_view(exchange).json_events:
        number = as_int(event.get("sequence_number"))
        if number is None:
            problems.append(f"#{event.position} ({event.type}) has sequence_number {event.get('sequence_number')!r}")
            continue
        if previous is not None and number <= previous[1]:
            problems.append(f"#{event.position} ({event.type}) has {number} after {previous[1]} at #{previous[0]}")
        previous = (event.position, number)
    if problems:
        yield (
            f"Expected: an integer sequence_number on every event, strictly increasing. Received: "
            f"{len(problems)} problem(s): {'; '.join(problems[:_SHOWN])}"
        )


@exchange_rule("responses_stream_lifecycle", family=FAMILY, severity=Severity.ERROR, applies=_has_events)
def responses_stream_lifecycle(exchange: Exchange) -> Iterator[Violation]:
    """The stream starts with response.created and ends with exactly one terminal event (response.completed,
    .incomplete or .failed) whose response has the matching status; every lifecycle event is about one
    response id. A stream that reports an ``error`` event as its last event may end without a terminal one.

    Source: contract-rules.md F R3 ("first event response.created; exactly one terminal event ... and it is
    the last"); OpenAI openapi.yaml ResponseCreatedEvent / ResponseCompletedEvent / ResponseIncompleteEvent /
    ResponseFailedEvent / ResponseErrorEvent; openai-python lib/streaming/responses/_responses.py (raises on a
    first event other than response.created and on "Lifecycle response identity changed").
    """
    view = responses_view(exchange)
    events = view.json_events
    first = events[0]
    if first.type != "response.created":
        yield f"Expected: response.created as the first event. Received: {first.type!r} (event #{first.position})"
    terminals = view.terminal_positions
    last = events[-1]
    if not terminals:
        if last.type != "error":
            yield (
                "Expected: a terminal event (response.completed, .incomplete or .failed). Received: none; "
                f"the stream ended with {last.type!r}"
            )
    elif len(terminals) > 1:
        kinds = [view.events[p].type for p in terminals]
        yield f"Expected: exactly one terminal event. Received: {len(terminals)} ({kinds} at events {terminals})"
    elif terminals[0] != last.position:
        after = [e.type for e in events if e.position > terminals[0]]
        yield f"Expected: nothing after the terminal event #{terminals[0]}. Received: {len(after)} event(s) {after[:3]}"
    if terminals and view.done_position is not None and view.done_position > terminals[-1]:
        yield Warn("a 'data: [DONE]' follows the terminal event; OpenAI sends none (the openai SDK stops at it)")
    for position in terminals:
        event = view.events[position]
        response = event.get("response")
        status = response.get("status") if isinstance(response, dict) else None
        expected = TERMINAL_STATUS.get(str(event.type))
        if status != expected:
            yield f"Expected: status {expected!r} in the {event.type} response (#{position}). Received: {status!r}"
    ids = [
        (e.position, e.get("response").get("id"))
        for e in events
        if e.type in LIFECYCLE_TYPES and isinstance(e.get("response"), dict)
    ]
    distinct = list(dict.fromkeys(repr(i) for _, i in ids))
    if len(distinct) > 1:
        yield f"Expected: one response id in every lifecycle event. Received: {len(distinct)} ids {distinct[:_SHOWN]}"


def _item_scoped(event: EventView) -> bool:
    kind = event.type
    return isinstance(kind, str) and kind.startswith(ITEM_EVENT_PREFIXES)


@exchange_rule("responses_stream_item_order", family=FAMILY, severity=Severity.ERROR, applies=_has_events)
def responses_stream_item_order(exchange: Exchange) -> Iterator[Violation]:
    """Output items open and close around their events: each output_index is added once, in increasing order;
    every content, text, refusal and arguments event names an item that was added and is not yet done (by
    its output_index and item_id); a text delta follows its content part; every added item is done, once,
    with the same id and type, before the terminal event.

    Source: contract-rules.md F R3 ("every .delta of an item comes between its added and done"); OpenAI
    openapi.yaml ResponseOutputItemAddedEvent / ResponseOutputItemDoneEvent / ResponseContentPartAddedEvent;
    openai-python lib/streaming/responses/_responses.py (raises on a duplicate output index, on a content
    event before its item, on "Completed output item identity changed" and on "Cannot complete response
    with unfinished output items").
    """
    view = responses_view(exchange)
    opened: dict[int, dict[str, Any]] = {}
    closed: set[int] = set()
    parts: set[tuple[int, int]] = set()
    problems: list[str] = []
    terminal = view.terminal_positions[0] if view.terminal_positions else None
    for event in view.json_events:
        kind = event.type
        index = as_int(event.get("output_index"))
        where = f"#{event.position} {kind}"
        if kind == "response.output_item.added":
            item = event.get("item")
            if index is None or not isinstance(item, dict):
                problems.append(f"{where} lacks an output_index or item")
            elif index in opened:
                problems.append(f"{where} adds output_index {index} a second time")
            else:
                if opened and index < max(opened):
                    problems.append(f"{where} adds output_index {index} after {max(opened)}")
                opened[index] = item
        elif kind == "response.output_item.done":
            item = event.get("item")
            if index not in opened:
                problems.append(f"{where} closes output_index {index}, never added")
            elif index in closed:
                problems.append(f"{where} closes output_index {index} a second time")
            else:
                closed.add(index)
                added = opened[index]
                if not isinstance(item, dict) or (item.get("id"), item.get("type")) != (
                    added.get("id"),
                    added.get("type"),
                ):
                    got = (item.get("id"), item.get("type")) if isinstance(item, dict) else item
                    problems.append(
                        f"{where} item {got!r} differs from the added {(added.get('id'), added.get('type'))!r}"
                    )
            if terminal is not None and event.position > terminal:
                problems.append(f"{where} comes after the terminal event")
        elif _item_scoped(event):
            if index not in opened or index in closed:
                state = "already done" if index in closed else "never added"
                problems.append(f"{where} is for output_index {index!r}, {state}")
                continue
            item_id = opened[index].get("id")
            if event.get("item_id") != item_id:
                problems.append(f"{where} has item_id {event.get('item_id')!r}, the item at {index} is {item_id!r}")
            content = as_int(event.get("content_index"))
            if kind == "response.content_part.added" and content is not None:
                parts.add((index, content))
            elif kind == "response.output_text.delta" and (index, content if content is not None else 0) not in parts:
                problems.append(f"{where} comes before its content part ({index}, {content}) was added")
    unfinished = sorted(set(opened) - closed)
    if unfinished and (terminal is not None or not view.error_positions):
        problems.append(f"output item(s) {unfinished} were added but never done")
    if problems:
        shown = "; ".join(problems[:_SHOWN])
        yield f"Expected: items added, filled and done in order. Received: {len(problems)} problem(s): {shown}"


def _terminal_items(view: Any) -> dict[str, dict[str, Any]]:
    response = view.response
    output = response.get("output") if isinstance(response, dict) else None
    if not isinstance(output, list):
        return {}
    return {i["id"]: i for i in output if isinstance(i, dict) and isinstance(i.get("id"), str)}


def _item_id(view: Any, index: int) -> str:
    item_id = view.added_items.get(index, {}).get("id")
    return item_id if isinstance(item_id, str) else ""


def _part_text(item: Any, content_index: int) -> Any:
    content = item.get("content") if isinstance(item, dict) else None
    if isinstance(content, list) and 0 <= content_index < len(content) and isinstance(content[content_index], dict):
        return content[content_index].get("text")
    return None


@exchange_rule("responses_stream_text_assembles", family=FAMILY, severity=Severity.ERROR, applies=_has_events)
def responses_stream_text_assembles(exchange: Exchange) -> Iterator[Violation]:
    """The deltas of each text part join to the finished text everywhere it is repeated (output_text.done,
    content_part.done, output_item.done, the terminal response); function-call argument deltas join to the
    finished arguments likewise.

    Source: contract-rules.md F R3 (output_text deltas concatenate to the done text); OpenAI openapi.yaml
    ResponseTextDoneEvent ("Emitted when text content is finalized") and
    ResponseFunctionCallArgumentsDoneEvent; openai-python lib/streaming/responses (builds the text from the
    deltas, and takes the finished items from the terminal event).
    """
    view = responses_view(exchange)
    terminal_items = _terminal_items(view)
    problems: list[str] = []

    def compare(what: str, expected: str, received: Any) -> None:
        if received is not None and received != expected:
            shown = received if isinstance(received, str) else repr(received)
            problems.append(f"{what}: joined deltas {expected[-40:]!r} ({len(expected)} chars) vs {shown[-40:]!r}")

    for key in sorted(set(view.text_deltas) | set(view.text_done) | set(view.part_done)):
        index, content = key
        joined = view.text_deltas.get(key, "")
        compare(f"output_text.done ({index}, {content})", joined, view.text_done.get(key))
        compare(f"content_part.done ({index}, {content})", joined, view.part_done.get(key))
        done_item = view.done_items.get(index)
        compare(f"output_item.done {index}", joined, _part_text(done_item, content))
        item_id = _item_id(view, index)
        compare(f"terminal response item {item_id!r}", joined, _part_text(terminal_items.get(item_id), content))
    for index in sorted(set(view.argument_deltas) | set(view.arguments_done)):
        joined = view.argument_deltas.get(index, "")
        compare(f"function_call_arguments.done {index}", joined, view.arguments_done.get(index))
        done_item = view.done_items.get(index)
        compare(f"output_item.done {index} arguments", joined, done_item.get("arguments") if done_item else None)
        item_id = _item_id(view, index)
        final = terminal_items.get(item_id)
        compare(f"terminal response item {item_id!r} arguments", joined, final.get("arguments") if final else None)
    if problems:
        shown = "; ".join(problems[:_SHOWN])
        yield f"Expected: deltas that join to the finished text. Received: {len(problems)} difference(s): {shown}"
