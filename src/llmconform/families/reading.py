"""How the family modules read an exchange the same way: which exchanges are answers of an operation,
the family's view of an answer built once per exchange, the JSON body of an answer and the JSON data
of a stream event.

None of these raises on a malformed answer: what could not be read is returned as a problem (a
sentence naming where it was) for the family's view to list and the rules to judge.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from llmconform.exchange import Exchange

__all__ = [
    "AnswerPredicates",
    "TextJoiner",
    "as_list",
    "cached_view",
    "event_payload",
    "parse_json",
    "read_data_list",
    "read_json_array",
    "read_json_object",
]

_Json = TypeVar("_Json", dict[str, Any], list[Any])


class TextJoiner:
    """Builds a view's streamed text fields in linear time: pieces are collected, joined once.

    Written by hand because ``view.text = view.text + piece`` copies the whole text for every piece: a
    stream of many small deltas (a hostile server's 32 MiB of one-character deltas) would take minutes to
    read after the request itself ended. The owner is a view object (the field an attribute) or a dict
    (the field a key). A field read while the stream is being read holds what it held before its first
    piece ("" once a piece came, where it was None); ``flush`` joins one field early, before a later event
    replaces it, and ``join`` joins every field when the stream has been read.
    """

    def __init__(self) -> None:
        self._pending: dict[tuple[int, Any], tuple[Any, Any, list[str]]] = {}

    def append(self, owner: Any, name: Any, piece: str) -> None:
        key = (id(owner), name)
        entry = self._pending.get(key)
        if entry is None:
            current = owner.get(name) if isinstance(owner, dict) else getattr(owner, name)
            entry = self._pending[key] = (owner, name, [current] if isinstance(current, str) else [])
            if current is None:
                _store(owner, name, "")
        entry[2].append(piece)

    def flush(self, owner: Any, name: Any) -> None:
        entry = self._pending.pop((id(owner), name), None)
        if entry is not None:
            _store(owner, name, "".join(entry[2]))

    def join(self) -> None:
        for owner, name, parts in self._pending.values():
            _store(owner, name, "".join(parts))
        self._pending.clear()


def _store(owner: Any, name: Any, value: str) -> None:
    if isinstance(owner, dict):
        owner[name] = value
    else:
        setattr(owner, name, value)


_View = TypeVar("_View")


@dataclass(frozen=True, slots=True)
class AnswerPredicates:
    """Which exchanges are answers of one operation (a family's rules pick their exchanges with these)."""

    operation: str

    def is_operation(self, exchange: Exchange) -> bool:
        """An exchange of the operation, answered or not."""
        return exchange.operation == self.operation

    def is_answer(self, exchange: Exchange) -> bool:
        """A completed 2xx answer (unary or stream) that checks can read."""
        return self.is_operation(exchange) and exchange.ok

    def is_received(self, exchange: Exchange) -> bool:
        """A 2xx answer, complete or cut short by the transport: what load still measures."""
        return self.is_operation(exchange) and received_2xx(exchange)

    def is_unary_answer(self, exchange: Exchange) -> bool:
        """A completed 2xx unary answer."""
        return self.is_answer(exchange) and not exchange.is_stream

    def is_stream_answer(self, exchange: Exchange) -> bool:
        """A completed 2xx stream answer."""
        return self.is_answer(exchange) and exchange.is_stream


def received_2xx(exchange: Exchange) -> bool:
    """Whether the target answered 2xx, whether or not the transport then completed the answer."""
    return exchange.status is not None and 200 <= exchange.status < 300


def cached_view(exchange: Exchange, key: str, kind: type[_View], build: Callable[[Exchange], _View]) -> _View:
    """The view of ``exchange`` cached under ``key``, built by ``build`` (and cached) the first time it is asked for."""
    cached = exchange.cache.get(key)
    if isinstance(cached, kind):
        return cached
    view = build(exchange)
    exchange.cache[key] = view
    return view


def as_list(value: Any) -> list[Any]:
    """``value`` when it is a JSON array, else an empty list."""
    return value if isinstance(value, list) else []


def _read_json(
    exchange: Exchange, problems: list[str], expected: type[_Json], described: str
) -> tuple[Any, _Json | None]:
    try:
        payload = exchange.json()
    except ValueError as exc:
        problems.append(str(exc))
        return None, None
    if not isinstance(payload, expected):
        problems.append(f"body is JSON {type(payload).__name__}, expected {described}")
        return payload, None
    return payload, payload


def read_json_object(exchange: Exchange, problems: list[str]) -> tuple[Any, dict[str, Any] | None]:
    """(the body's JSON or None when it is not JSON, the same when it is an object else None).

    Why the body is not a JSON object is added to ``problems``.
    """
    return _read_json(exchange, problems, dict, "an object")


class ListAnswerView(Protocol):
    """The fields an OpenAI list answer's view (embeddings, images) keeps of the answer's top level."""

    payload: Any
    usage: Any
    has_usage_key: bool
    problems: list[str]


def read_data_list(exchange: Exchange, view: ListAnswerView) -> list[Any] | None:
    """The ``data`` array of an OpenAI list answer (``{"data": [...], "usage": ...}``), with the view's
    payload and usage filled in; None (and a problem noted) when the body is no such object."""
    view.payload, payload = read_json_object(exchange, view.problems)
    if payload is None:
        return None
    view.has_usage_key = "usage" in payload
    view.usage = payload.get("usage")
    data = payload.get("data")
    if not isinstance(data, list):
        view.problems.append("body has no 'data' array")
        return None
    return data


def read_json_array(exchange: Exchange, problems: list[str], described: str) -> tuple[Any, list[Any] | None]:
    """(the body's JSON or None when it is not JSON, the same when it is an array else None).

    Why the body is not a JSON array (``described``: "an array of ...") is added to ``problems``.
    """
    return _read_json(exchange, problems, list, described)


def parse_json(text: str | bytes) -> Any:
    """``json.loads(text)``, raising ValueError for anything that is not JSON, also for JSON nested deeper than
    the parser can recurse (json.loads raises RecursionError there, and a server can send such a text)."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("JSON nested too deeply to parse") from None


def event_payload(data: str, where: str) -> tuple[Any, str | None]:
    """(the JSON of an event's ``data``, None), or (what was read, the problem) when it is not a JSON object.

    ``where`` names the data in the problem ("event #3 data").
    """
    try:
        payload = parse_json(data)
    except ValueError as exc:
        return None, f"{where} is not JSON: {exc}"
    if not isinstance(payload, dict):
        return payload, f"{where} is JSON {type(payload).__name__}, expected an object"
    return payload, None
