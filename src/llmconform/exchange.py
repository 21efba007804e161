"""The Exchange: the one record that conformance, load, checks and reports all share.

An Exchange is one HTTP request and what came back: status, headers, the body (unary) or the SSE
events with their arrival times (streams), or the transport error that ended it. Checks read
Exchanges; metrics read their timings; reports render them (always through a Redactor).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from llmconform.redact import Redactor

# How much of a body a report keeps; the full body stays in memory for the checks.
REPORT_BODY_LIMIT = 4096
REPORT_EVENT_LIMIT = 40


class TransportError(StrEnum):
    """Why an exchange did not complete normally (the load report's failure classes use these names)."""

    CONNECT = "connect"
    TIMEOUT = "timeout"
    TOO_LARGE = "too_large"
    STREAM_TRUNCATED = "stream_truncated"
    DECODE = "decode"
    PROTOCOL = "protocol"


@dataclass(slots=True)
class StreamEvent:
    """One dispatched SSE event and when its last byte arrived (seconds after the request was sent)."""

    at_s: float
    data: str
    event: str = "message"
    id: str | None = None


@dataclass(slots=True)
class Exchange:
    """One request/response pair, unary or streamed."""

    family: str
    operation: str
    method: str
    url: str
    request_headers: dict[str, str]
    request_json: Any = None
    label: str = ""
    status: int | None = None
    response_headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    # Bytes of the response body received, counted after content decoding (gzip, deflate), the count
    # max_body_bytes limits (the load client keeps a stream's events, not its raw bytes).
    received_bytes: int = 0
    events: list[StreamEvent] | None = None
    started_at: float = 0.0
    elapsed_s: float = 0.0
    ttfb_s: float | None = None
    error: str | None = None
    error_kind: TransportError | None = None
    # The body (unary) or stream held bytes that are not UTF-8.
    invalid_utf8: bool = False
    incomplete_trailing_event: bool = False
    # Blank lines where the openai Python SDK dispatches an empty event (see llmconform.sse): the number
    # of events dispatched before each.
    sse_empty_dispatches: list[int] = field(default_factory=list)
    cache: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def is_stream(self) -> bool:
        """True when the response was read as a server-sent event stream."""
        return self.events is not None

    @property
    def content_type(self) -> str:
        """The media type of the response, lower-cased, without parameters."""
        return self.response_headers.get("content-type", "").split(";", 1)[0].strip().lower()

    @property
    def ok(self) -> bool:
        """True for a completed 2xx response."""
        return self.error is None and self.status is not None and 200 <= self.status < 300

    @property
    def request_body(self) -> dict[str, Any]:
        """The JSON request body when it was an object, else an empty dict."""
        return self.request_json if isinstance(self.request_json, dict) else {}

    def json(self) -> Any:
        """The response body parsed as JSON, or raise ValueError (cached)."""
        if "json" not in self.cache:
            try:
                self.cache["json"] = (json.loads(self.body), None)
            except (ValueError, UnicodeDecodeError, RecursionError) as exc:  # RecursionError: nested too deep
                self.cache["json"] = (None, ValueError(f"body is not valid JSON: {exc}"))
        value, error = self.cache["json"]
        if error is not None:
            raise error
        return value

    def to_report(self, redactor: Redactor) -> dict[str, Any]:
        """A redacted, size-bounded rendering for findings and reports."""
        text = self.body[:REPORT_BODY_LIMIT].decode("utf-8", errors="replace")
        if len(self.body) > REPORT_BODY_LIMIT:
            text += f"... [{len(self.body) - REPORT_BODY_LIMIT} more bytes]"
        rendered: dict[str, Any] = {
            "label": redactor.text(self.label),
            "request": {
                "method": self.method,
                "url": redactor.url(self.url),
                "headers": redactor.headers(self.request_headers),
                "json": _scrub(self.request_json, redactor),
            },
            "response": {
                "status": self.status,
                "headers": redactor.headers(self.response_headers),
            },
            "elapsed_s": round(self.elapsed_s, 6),
        }
        if self.events is not None:
            shown = self.events[:REPORT_EVENT_LIMIT]
            rendered["response"]["events"] = [
                {
                    "at_s": round(e.at_s, 6),
                    "event": e.event,
                    "data": redactor.text(e.data[:REPORT_BODY_LIMIT]),
                }
                for e in shown
            ]
            if len(self.events) > REPORT_EVENT_LIMIT:
                rendered["response"]["events_omitted"] = len(self.events) - REPORT_EVENT_LIMIT
        else:
            rendered["response"]["body"] = redactor.text(text)
        if self.error is not None:
            rendered["error"] = {"kind": str(self.error_kind or ""), "message": redactor.text(self.error)}
        return rendered


def _scrub(value: Any, redactor: Redactor) -> Any:
    if isinstance(value, str):
        return redactor.text(value)
    if isinstance(value, list):
        return [_scrub(v, redactor) for v in value]
    if isinstance(value, dict):
        return {k: _scrub(v, redactor) for k, v in value.items()}
    return value
