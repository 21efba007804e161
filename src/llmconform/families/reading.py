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
from typing import Any, TypeVar

from llmconform.exchange import Exchange

__all__ = ["AnswerPredicates", "as_list", "cached_view", "event_payload", "read_json_array", "read_json_object"]

_Json = TypeVar("_Json", dict[str, Any], list[Any])
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


def read_json_array(exchange: Exchange, problems: list[str], described: str) -> tuple[Any, list[Any] | None]:
    """(the body's JSON or None when it is not JSON, the same when it is an array else None).

    Why the body is not a JSON array (``described``: "an array of ...") is added to ``problems``.
    """
    return _read_json(exchange, problems, list, described)


def event_payload(data: str, where: str) -> tuple[Any, str | None]:
    """(the JSON of an event's ``data``, None), or (what was read, the problem) when it is not a JSON object.

    ``where`` names the data in the problem ("event #3 data").
    """
    try:
        payload = json.loads(data)
    except ValueError as exc:
        return None, f"{where} is not JSON: {exc}"
    if not isinstance(payload, dict):
        return payload, f"{where} is JSON {type(payload).__name__}, expected an object"
    return payload, None
