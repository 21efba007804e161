"""What the rules of several families judge the same way: a request that should have been refused,
an answer stopped by a stop sequence, a streamed answer against the unary one (text, usage) and the
``error`` object of an error body. These are pieces of rules, not rules: they register nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from llmconform.checks.registry import Violation, Warn
from llmconform.exchange import Exchange

__all__ = [
    "error_object",
    "first_difference",
    "refused_with",
    "status_text",
    "streamed_text_matches",
    "streamed_usage_matches",
    "text_up_to_stop",
]


def status_text(exchange: Exchange) -> str:
    """What came back, for a violation message: the status, or that there was no answer and why."""
    return f"status {exchange.status}" if exchange.status is not None else f"no answer ({exchange.error})"


def refused_with(exchange: Exchange, expected: tuple[int, ...], what: str, note: str = "") -> Iterator[Violation]:
    """Nothing when the status is expected; a warning for another 4xx; an error for acceptance or a 5xx.

    ``what`` names the request in the message ("a request without a key"); ``note`` is added after the status.
    """
    if exchange.status in expected:
        return
    message = f"Expected: {' or '.join(map(str, expected))} for {what}. Received: {status_text(exchange)}{note}"
    if exchange.status is not None and 400 <= exchange.status < 500:
        yield Warn(message)
    else:
        yield message


def first_difference(a: str, b: str) -> int:
    """The offset of the first character where ``a`` and ``b`` differ (the shorter length when one is a prefix)."""
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return i
    return min(len(a), len(b))


def streamed_text_matches(unary: str, streamed: str, *, what: str = "text", where: str = "") -> Iterator[Violation]:
    """The streamed ``what`` equals the unary one; ``where`` ("choice 0: ") starts the message."""
    if unary != streamed:
        yield (
            f"{where}Expected: streamed {what} == unary {what} ({len(unary)} chars). "
            f"Received: {len(streamed)} chars, first difference at offset {first_difference(unary, streamed)}"
        )


def streamed_usage_matches(unary: Any, streamed: Any, keys: tuple[str, ...]) -> Iterator[Violation]:
    """The stream's usage object has the unary usage's values under ``keys`` (judged when both are objects)."""
    if isinstance(unary, dict) and isinstance(streamed, dict):
        for key in keys:
            if unary.get(key) != streamed.get(key):
                yield f"Expected: stream usage.{key} == unary {unary.get(key)!r}. Received: {streamed.get(key)!r}"


def text_up_to_stop(before: str, after: str, stop: str) -> Iterator[Violation]:
    """The text of an answer stopped by ``stop`` is the earlier answer ``before`` up to the sequence."""
    expected = before[: before.index(stop)] if stop in before else before
    if after != expected:
        yield (
            f"Expected: the text up to {stop!r}: {expected[-60:]!r} (ending). Received: {after[-60:]!r} (ending), "
            f"{len(after)} vs {len(expected)} chars"
        )


def error_object(exchange: Exchange) -> dict[str, Any] | str:
    """The ``error`` object of a JSON error body, or the violation saying why there is none."""
    try:
        body = exchange.json()
    except ValueError as exc:
        return f"Expected: a JSON error body (status {exchange.status}). Received: {exc}"
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return f"Expected: an 'error' object. Received: {type(error).__name__} {error!r:.100}"
    return error
