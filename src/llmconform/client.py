"""The HTTP client every part uses to talk to a target, producing Exchanges.

It wraps one ``httpx.Client`` and adds what httpx leaves to the caller: a hard per-request
deadline (a server dripping one byte a second never trips a read timeout), a cap on body size,
incremental SSE decoding with an arrival time per event, and the mapping of transport failures to
:class:`~llmconform.exchange.TransportError` classes instead of exceptions.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from llmconform import __version__
from llmconform.exchange import Exchange, StreamEvent, TransportError
from llmconform.families import request_headers as family_headers
from llmconform.sse import SSEDecoder, SSEError


@dataclass(frozen=True, slots=True)
class ClientLimits:
    """Time and size limits for one request."""

    connect_timeout_s: float = 10.0
    read_timeout_s: float = 60.0
    deadline_s: float = 120.0
    max_body_bytes: int = 32 * 1024 * 1024
    max_line_bytes: int = 8 * 1024 * 1024


class TargetClient:
    """Sends requests to one base URL with one credential and records each as an Exchange."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        limits: ClientLimits | None = None,
        on_exchange: Callable[[Exchange], None] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.limits = limits or ClientLimits()
        self._on_exchange = on_exchange
        self._http = httpx.Client(
            timeout=httpx.Timeout(
                self.limits.read_timeout_s, connect=self.limits.connect_timeout_s, pool=self.limits.deadline_s
            ),
            headers={"user-agent": f"llmconform/{__version__}"},
            follow_redirects=False,
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> TargetClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def auth_headers(self, family: str = "chat") -> dict[str, str]:
        """The credential (and version) headers of ``family``'s native style, if a key is configured."""
        return family_headers(family, self.api_key)

    def send(
        self,
        method: str,
        path: str,
        *,
        family: str,
        operation: str,
        json_body: Any = None,
        raw_body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        auth: bool = True,
        label: str = "",
    ) -> Exchange:
        """Send one request and return its Exchange; never raises for transport problems."""
        request_headers: dict[str, str] = {}
        if auth:
            request_headers.update(self.auth_headers(family))
        content: bytes | None = raw_body
        if json_body is not None and raw_body is None:
            content = _encode_json(json_body)
            request_headers["content-type"] = "application/json"
        if headers:
            request_headers.update({k.lower(): v for k, v in headers.items()})
        url = self.base_url + path
        exchange = Exchange(
            family=family,
            operation=operation,
            method=method,
            url=url,
            request_headers=request_headers,
            request_json=json_body,
            label=label,
            started_at=time.time(),
        )
        start = time.perf_counter()
        deadline = start + self.limits.deadline_s
        try:
            with self._http.stream(method, url, content=content, headers=request_headers) as response:
                exchange.ttfb_s = time.perf_counter() - start
                exchange.status = response.status_code
                exchange.response_headers = {k.lower(): v for k, v in response.headers.items()}
                if exchange.content_type == "text/event-stream":
                    self._read_stream(response, exchange, start, deadline)
                else:
                    self._read_body(response, exchange, deadline)
        except httpx.ConnectError as exc:
            exchange.error, exchange.error_kind = (
                f"cannot connect to {self.base_url}: {exc}",
                TransportError.CONNECT,
            )
        except httpx.TimeoutException as exc:
            kind = TransportError.CONNECT if isinstance(exc, httpx.ConnectTimeout) else TransportError.TIMEOUT
            exchange.error, exchange.error_kind = f"{type(exc).__name__}: {exc}", kind
        except (httpx.RemoteProtocolError, httpx.ReadError) as exc:
            kind = TransportError.STREAM_TRUNCATED if exchange.status is not None else TransportError.PROTOCOL
            exchange.error, exchange.error_kind = f"{type(exc).__name__}: {exc}", kind
        except httpx.DecodingError as exc:
            exchange.error, exchange.error_kind = f"cannot decode body: {exc}", TransportError.DECODE
        except httpx.HTTPError as exc:
            exchange.error, exchange.error_kind = f"{type(exc).__name__}: {exc}", TransportError.PROTOCOL
        except ReadAborted as abort:
            exchange.error, exchange.error_kind = abort.message, abort.kind
        exchange.elapsed_s = time.perf_counter() - start
        if self._on_exchange is not None:
            self._on_exchange(exchange)
        return exchange

    def _read_body(self, response: httpx.Response, exchange: Exchange, deadline: float) -> None:
        parts: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            exchange.received_bytes = size
            if size > self.limits.max_body_bytes:
                exchange.body = b"".join(parts)
                raise ReadAborted(
                    TransportError.TOO_LARGE,
                    f"response body exceeded {self.limits.max_body_bytes} bytes; raise max_body_bytes if expected",
                )
            parts.append(chunk)
            if time.perf_counter() > deadline:
                exchange.body = b"".join(parts)
                raise ReadAborted(TransportError.TIMEOUT, f"response not complete after {self.limits.deadline_s} s")
        exchange.body = b"".join(parts)

    def _read_stream(self, response: httpx.Response, exchange: Exchange, start: float, deadline: float) -> None:
        recorder = StreamRecorder(
            exchange, start, max_body_bytes=self.limits.max_body_bytes, max_line_bytes=self.limits.max_line_bytes
        )
        try:
            for chunk in response.iter_bytes():
                recorder.feed(chunk)
                if time.perf_counter() > deadline:
                    raise ReadAborted(TransportError.TIMEOUT, f"stream not complete after {self.limits.deadline_s} s")
            recorder.close()
        finally:
            recorder.finish()


class StreamRecorder:
    """Turns the bytes of an SSE response into an Exchange's timed events as they arrive.

    Both clients use it (httpx here, geventhttpclient under load): each chunk is fed to the SSE decoder
    and its events are stamped with the chunk's arrival time (seconds after ``start``); the size cap and
    decoding failures end the read with :class:`ReadAborted`. ``keep_raw`` keeps the stream's bytes as
    the exchange body; the load client leaves it off (rules and reports read the events).
    """

    def __init__(
        self, exchange: Exchange, start: float, *, max_body_bytes: int, max_line_bytes: int, keep_raw: bool = True
    ) -> None:
        self.exchange = exchange
        self.start = start
        self.max_body_bytes = max_body_bytes
        self.decoder = SSEDecoder(max_line_bytes=max_line_bytes)
        self.events: list[StreamEvent] = []
        exchange.events = self.events
        self.raw: list[bytes] | None = [] if keep_raw else None

    def feed(self, chunk: bytes) -> None:
        """Take one network read."""
        now = time.perf_counter() - self.start
        exchange = self.exchange
        exchange.received_bytes += len(chunk)
        if exchange.received_bytes > self.max_body_bytes:
            raise ReadAborted(
                TransportError.TOO_LARGE,
                f"stream exceeded {self.max_body_bytes} bytes; raise max_body_bytes if expected",
            )
        if self.raw is not None:
            self.raw.append(chunk)
        try:
            decoded = self.decoder.feed(chunk)
        except SSEError as exc:
            raise ReadAborted(TransportError.DECODE, str(exc)) from exc
        for event in decoded:
            self.events.append(StreamEvent(at_s=now, data=event.data, event=event.event, id=event.id))

    def close(self) -> None:
        """The stream ended: dispatch what the decoder still held."""
        try:
            tail, closed = self.decoder.close()
        except SSEError as exc:
            raise ReadAborted(TransportError.DECODE, str(exc)) from exc
        now = time.perf_counter() - self.start
        self.events.extend(StreamEvent(at_s=now, data=e.data, event=e.event, id=e.id) for e in tail)
        self.exchange.incomplete_trailing_event = closed.incomplete_event

    def finish(self) -> None:
        """Record what the decoder noticed (also after an abort)."""
        if self.raw is not None:
            self.exchange.body = b"".join(self.raw)
        self.exchange.invalid_utf8 = self.decoder.invalid_utf8
        self.exchange.sse_empty_dispatches = list(self.decoder.empty_dispatches_by_openai_sdk)


def _encode_json(value: Any) -> bytes:
    try:
        return orjson.dumps(value)
    except TypeError:  # integers beyond 64 bits (generated negative cases): the stdlib encoder takes them
        return json.dumps(value, ensure_ascii=False).encode("utf-8")


class ReadAborted(Exception):
    """A response read stopped on purpose: too large, past its deadline, or undecodable."""

    def __init__(self, kind: TransportError, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
