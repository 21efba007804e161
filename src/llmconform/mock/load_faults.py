"""Faults under load: what a busy or failing server does to a well-formed request, as opposed to the contract
faults of ``mock.faults`` (which break one rule each).

Kinds (:data:`LOAD_FAULTS`): ``error_429``, ``error_500`` and ``error_503`` answer with that status in the
family's own error shape (429 and 503 with ``Retry-After``); ``disconnect`` closes the connection in the
middle of the answer; ``truncate`` ends the answer cleanly but early, without its terminator or final event;
``malformed_chunk`` sends one stream event whose data is not valid JSON; ``stall`` pauses in the middle of
the answer (``MockConfig.load_fault_stall_s``, 2 s by default).

A request gets at most one, chosen by its ``x-llmconform-load-fault: KIND`` header (when
``MockConfig.allow_fault_header`` is on) or else drawn by rate (``MockConfig.load_faults``, kind ->
probability, from an RNG seeded with ``MockConfig.seed``). "In the middle" is after the first half of the
stream's rounds (:func:`cut_round`); an answer of a single round is cut before its last event.

Each streaming family describes its wire format with a :class:`StreamFormat` (how events are separated,
what a broken event looks like in that format); the delivery (``mock.delivery``) applies the fault.
"""

from __future__ import annotations

import contextvars
import logging
import math
import random
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass

from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

__all__ = [
    "CHAT_SSE",
    "DEFAULT_STALL_S",
    "ERROR_STATUS",
    "GEMINI_ARRAY",
    "GEMINI_SSE",
    "LOAD_FAULTS",
    "LOAD_FAULT_HEADER",
    "MESSAGES_SSE",
    "RESPONSES_SSE",
    "STREAM_ONLY",
    "AbortFlag",
    "AbortableStreamingResponse",
    "LoadFaultPicker",
    "StreamFormat",
    "check_rates",
    "cut_round",
]

LOAD_FAULT_HEADER = "x-llmconform-load-fault"
DEFAULT_STALL_S = 2.0

LOAD_FAULTS: dict[str, str] = {
    "error_429": "429 in the family's error shape (rate limited), with Retry-After.",
    "error_500": "500 in the family's error shape (server error).",
    "error_503": "503 in the family's error shape (overloaded / unavailable), with Retry-After.",
    "disconnect": "The connection closes in the middle of the answer (after half of a stream's rounds).",
    "truncate": "The answer ends cleanly but early: no terminator or final event (half of the stream's rounds).",
    "malformed_chunk": "One stream event's data is not valid JSON (after the first round); streams only.",
    "stall": "The answer pauses in the middle for MockConfig.load_fault_stall_s (2 s by default).",
}
ERROR_STATUS: dict[str, int] = {"error_429": 429, "error_500": 500, "error_503": 503}
# Kinds that need stream events: a unary answer gets none of them.
STREAM_ONLY = frozenset({"malformed_chunk"})


def check_rates(rates: Mapping[str, float]) -> dict[str, float]:
    """``rates`` when every kind is known, every rate within 0..1 and their sum at most 1; else ValueError."""
    unknown = sorted(set(rates) - LOAD_FAULTS.keys())
    if unknown:
        raise ValueError(
            f"unknown load fault(s) {', '.join(map(repr, unknown))}; valid kinds are: {', '.join(LOAD_FAULTS)}"
        )
    for kind, rate in rates.items():
        if not 0.0 <= rate <= 1.0 or math.isnan(rate):
            raise ValueError(f"load fault {kind!r} has rate {rate}; a rate is a probability between 0 and 1")
    total = sum(rates.values())
    if total > 1.0 + 1e-9:
        raise ValueError(f"the load fault rates add up to {total:g}; at most 1 (one fault per request)")
    return dict(rates)


class LoadFaultPicker:
    """Chooses each request's load fault: by header, else by rate from a seeded RNG (one draw per request)."""

    def __init__(self, rates: Mapping[str, float], seed: int, allow_header: bool) -> None:
        self._ranges: list[tuple[float, str]] = []
        cumulative = 0.0
        for kind in LOAD_FAULTS:  # a fixed order, so a seed gives the same faults to the same request numbers
            if rates.get(kind, 0.0) > 0.0:
                cumulative += rates[kind]
                self._ranges.append((cumulative, kind))
        self._rng = random.Random(seed)
        self._allow_header = allow_header

    @property
    def active(self) -> bool:
        """Whether any request can get a fault (by rate, or by header)."""
        return bool(self._ranges) or self._allow_header

    def pick(self, header: str | None) -> str | None:
        """The fault for one request: the kind its header names (an unknown kind is ignored), else a draw."""
        if header and self._allow_header:
            named = header.strip()
            if named in LOAD_FAULTS:
                return named
        if not self._ranges:
            return None
        draw = self._rng.random()
        return next((kind for bound, kind in self._ranges if draw < bound), None)


def cut_round(count: int) -> int:
    """How many of a stream's ``count`` rounds go out before a truncate, a disconnect or a stall."""
    return max(1, math.ceil(count / 2))


@dataclass(frozen=True, slots=True)
class StreamFormat:
    """How one family frames its stream: the bytes that end an event and a broken event of its kind."""

    name: str
    separator: bytes
    broken: bytes

    def without_last_event(self, chunk: bytes) -> bytes:
        """``chunk`` less its last event (the whole of it when it holds one event)."""
        body = chunk[: -len(self.separator)] if chunk.endswith(self.separator) else chunk
        cut = body.rfind(self.separator)
        return body[: cut + len(self.separator)] if cut >= 0 else b""


CHAT_SSE = StreamFormat("chat", b"\n\n", b'data: {"id": \n\n')
MESSAGES_SSE = StreamFormat("messages", b"\n\n", b'event: content_block_delta\ndata: {"type": \n\n')
RESPONSES_SSE = StreamFormat("responses", b"\n\n", b'event: response.output_text.delta\ndata: {"type": \n\n')
GEMINI_SSE = StreamFormat("gemini", b"\r\n\r\n", b'data: {"candidates": \r\n\r\n')
# Gemini without alt=sse: one JSON array sent element by element ("[e0", ",\r\ne1", ..., "]").
GEMINI_ARRAY = StreamFormat("gemini-array", b",\r\n", b',\r\n{"candidates": ')


# --------------------------------------------------------------------------- the disconnect

# Set in the request's task once its answer was cut on purpose, so the server log stays quiet about it.
_DELIBERATE = contextvars.ContextVar("llmconform_deliberate_disconnect", default=False)
# What uvicorn logs (and then closes the connection) when an app returns before the body's last message.
_UNFINISHED = "ASGI callable returned without completing response."


class _DeliberateDisconnectFilter(logging.Filter):
    """Drops uvicorn's complaint about an unfinished answer when the mock cut that answer on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (_DELIBERATE.get() and record.msg == _UNFINISHED)


def _quiet_uvicorn() -> None:
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _DeliberateDisconnectFilter) for f in logger.filters):
        logger.addFilter(_DeliberateDisconnectFilter())


class AbortableStreamingResponse(StreamingResponse):
    """A streaming answer that can end without its last HTTP message, so the server closes the connection
    mid-body (the client sees an incomplete chunked body). ``aborted`` is asked once the body iterator ends;
    ``on_close`` runs once the answer is over, however it ended.

    Starlette has no way to drop a connection on purpose, and uvicorn closes it exactly when an app returns
    before the final body message; so that message is held back here (written by hand).
    """

    def __init__(
        self,
        content: AsyncIterator[bytes],
        aborted: AbortFlag,
        *,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = None,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(content, status_code=status_code, headers=headers, media_type=media_type)
        self._aborted = aborted
        self._on_close = on_close

    async def stream_response(self, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        async for chunk in self.body_iterator:
            data = chunk if isinstance(chunk, bytes | memoryview) else chunk.encode(self.charset)
            await send({"type": "http.response.body", "body": data, "more_body": True})
        if self._aborted.value:
            return
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            close = getattr(self.body_iterator, "aclose", None)
            if close is not None:
                await close()  # run the stream's cleanup now, also when the client went away mid-stream
            if self._on_close is not None:
                self._on_close()
        if self._aborted.value:
            _quiet_uvicorn()
            _DELIBERATE.set(True)


class AbortFlag:
    """Whether an answer was cut on purpose: set by the body iterator, read by the response."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = False
