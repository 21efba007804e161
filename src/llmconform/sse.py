"""One incremental Server-Sent Events decoder, used by checks, load and tests alike.

Written by hand because none of our libraries exposes an incremental, byte-fed SSE parser that
follows the standard exactly and reports timing per event (schemathesis buffers the whole body;
httpx-sse splits lines with str.splitlines, which also breaks on characters that are not SSE line
ends). It implements the WHATWG HTML "event stream" interpretation
(https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation):

* lines end with CRLF, LF or CR, also when a CRLF pair is split across two network reads;
* a leading UTF-8 BOM is dropped; lines starting with ``:`` are comments;
* ``field: value`` with one optional space after the colon; a line without a colon is a field with
  an empty value; unknown fields are ignored;
* ``data`` lines are joined with ``\\n``; an empty line dispatches the event, but only if it has data;
* the event type defaults to ``message``; ``id`` containing NUL is ignored; ``retry`` must be digits;
* an event not terminated by an empty line when the stream ends is discarded (reported by
  :meth:`SSEDecoder.close`).

Errors: :class:`SSEError` (a ValueError) is the only exception ``feed`` and ``close`` raise, for a line longer
than ``max_line_bytes``; any other bytes decode (invalid UTF-8 as U+FFFD, flagged in ``invalid_utf8``).

It also notes where a widespread client departs from the standard: the openai Python SDK (3.x,
``_streaming.SSEDecoder``) dispatches an event with empty data at a blank line that ends a block with
``event:`` or ``retry:`` but no ``data:``, and at every blank line once any ``id:`` was seen
(openai/openai-python#2722). ``empty_dispatches_by_openai_sdk`` lists, for each such blank line, how
many events had been dispatched before it, so a check can warn about streams that SDK cannot read.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

DEFAULT_MAX_LINE_BYTES = 8 * 1024 * 1024
_LINE_END = re.compile(r"\r\n|\r|\n")


class SSEError(ValueError):
    """The stream cannot be decoded within the configured limits."""


@dataclass(frozen=True, slots=True)
class SSEEvent:
    """A dispatched event."""

    data: str
    event: str = "message"
    id: str | None = None
    retry: int | None = None


@dataclass(frozen=True, slots=True)
class SSEClose:
    """What remained when the stream ended."""

    incomplete_event: bool
    invalid_utf8: bool


class SSEDecoder:
    """Feed bytes as they arrive; get back the events completed by them."""

    def __init__(self, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._max_line = max_line_bytes
        self._buffer = ""
        self._after_cr = False
        self._started = False
        self._data: list[str] = []
        self._event_type = ""
        self._last_id: str | None = None
        self._retry: int | None = None
        self._pending_fields = False
        self._block_event_or_retry = False
        self._dispatched = 0
        self.invalid_utf8 = False
        self.empty_dispatches_by_openai_sdk: list[int] = []

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        """Decode ``chunk`` and return the events it completed, in order."""
        text = self._decoder.decode(chunk)
        if "\ufffd" in text and b"\xef\xbf\xbd" not in chunk:
            self.invalid_utf8 = True
        return self._consume(text)

    def close(self) -> tuple[list[SSEEvent], SSEClose]:
        """Signal end of stream: flush the decoder; an unterminated event is discarded, not dispatched."""
        tail = self._decoder.decode(b"", final=True)
        if "\ufffd" in tail:
            self.invalid_utf8 = True
        events = self._consume(tail)
        incomplete = bool(self._buffer) or self._pending_fields
        return events, SSEClose(incomplete_event=incomplete, invalid_utf8=self.invalid_utf8)

    def _consume(self, text: str) -> list[SSEEvent]:
        if not text:
            return []
        if not self._started:
            self._started = True
            if text.startswith("\ufeff"):
                text = text[1:]
        events: list[SSEEvent] = []
        start = 0
        if self._after_cr and text.startswith("\n"):
            start = 1  # second half of a CRLF split across reads
        self._after_cr = False
        length = len(text)
        # The regex engine finds the line ends: a per-character Python loop here was ~40% of the CPU
        # of a streamed load request (bench/load_generator_capacity.py).
        for match in _LINE_END.finditer(text, start):
            end = match.start()
            line = self._buffer + text[start:end] if self._buffer else text[start:end]
            self._buffer = ""
            if line.startswith("data: "):  # the usual line, inline: a call per line costs under load
                self._data.append(line[6:])
                self._pending_fields = True
            else:
                event = self._process_line(line)
                if event is not None:
                    events.append(event)
            start = match.end()
            if start == length and start - end == 1 and text[end] == "\r":
                self._after_cr = True  # a CR that ends this read may be the first half of a CRLF
        if start < length:
            self._buffer += text[start:]
            if len(self._buffer) > self._max_line:
                raise SSEError(
                    f"an SSE line exceeded {self._max_line} characters without a line end; "
                    "raise the limit (max_line_bytes) if the server really sends lines this long"
                )
        return events

    def _process_line(self, line: str) -> SSEEvent | None:
        if line == "":
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        self._pending_fields = True
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event_type = value
            self._block_event_or_retry = True
        elif name == "id":
            if "\x00" not in value:
                self._last_id = value
        elif name == "retry":
            self._block_event_or_retry = True
            if value.isascii() and value.isdigit():
                self._retry = int(value)
        return None

    def _dispatch(self) -> SSEEvent | None:
        self._pending_fields = False
        sdk_would_dispatch = self._block_event_or_retry or self._last_id is not None
        self._block_event_or_retry = False
        if not self._data:
            if sdk_would_dispatch:
                self.empty_dispatches_by_openai_sdk.append(self._dispatched)
            self._event_type = ""
            return None
        self._dispatched += 1
        event = SSEEvent(
            data="\n".join(self._data),
            event=self._event_type or "message",
            id=self._last_id,
            retry=self._retry,
        )
        self._data = []
        self._event_type = ""
        return event


def decode_all(payload: bytes) -> list[SSEEvent]:
    """Decode a complete stream at once (for tests and offline analysis)."""
    decoder = SSEDecoder()
    events = decoder.feed(payload)
    tail, _ = decoder.close()
    return events + tail
