"""The HTTP client every part uses to talk to a target, producing Exchanges.

It wraps one ``httpx.Client`` and adds what httpx leaves to the caller: a hard per-request
deadline (a server dripping one byte a second never trips a read timeout), a cap on body size
counted on the decoded bytes (a gzip bomb stops inflating at the cap), incremental SSE decoding with
an arrival time per event, and the mapping of transport failures to
:class:`~llmconform.exchange.TransportError` classes instead of exceptions.
"""

from __future__ import annotations

import json
import time
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from llmconform import __version__
from llmconform.exchange import Exchange, StreamEvent, TransportError
from llmconform.families import request_headers as family_headers
from llmconform.sse import DEFAULT_MAX_LINE_BYTES, SSEDecoder, SSEError

# The content codings both clients undo (ContentDecoder); check asks for exactly these.
ACCEPT_ENCODING = "gzip, deflate"


@dataclass(frozen=True, slots=True)
class ClientLimits:
    """Time and size limits for one request."""

    connect_timeout_s: float = 10.0
    read_timeout_s: float = 60.0
    deadline_s: float = 120.0
    max_body_bytes: int = 32 * 1024 * 1024
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES


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
            headers={"user-agent": f"llmconform/{__version__}", "accept-encoding": ACCEPT_ENCODING},
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
        # An absolute URL (a media URL a target answered, often on another host) is fetched as given.
        url = path if path.startswith(("http://", "https://")) else self.base_url + path
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
        for chunk in _decoded(response, self.limits.max_body_bytes):
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
        exchange.invalid_utf8 = is_text(exchange.content_type) and not is_utf8(exchange.body)

    def _read_stream(self, response: httpx.Response, exchange: Exchange, start: float, deadline: float) -> None:
        recorder = StreamRecorder(
            exchange, start, max_body_bytes=self.limits.max_body_bytes, max_line_bytes=self.limits.max_line_bytes
        )
        try:
            for chunk in _decoded(response, self.limits.max_body_bytes):
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


def is_text(media_type: str) -> bool:
    """Whether a body of ``media_type`` is text (JSON, text/*, or undeclared); audio, images and video are not."""
    return (
        not media_type
        or media_type.startswith("text/")
        or media_type == "application/json"
        or (media_type.endswith("+json"))
    )


def is_utf8(data: bytes) -> bool:
    """Whether a complete body is valid UTF-8 (JSON exchanged between systems must be: RFC 8259 section 8.1)."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _decoded(response: httpx.Response, max_bytes: int) -> Iterator[bytes]:
    """The body's bytes as they arrive, content coding undone by :class:`ContentDecoder` (not by httpx)."""
    decoder = ContentDecoder(response.headers.get("content-encoding", ""), max_bytes)
    for raw in response.iter_raw():
        yield from decoder.decode(raw)
    if tail := decoder.flush():
        yield tail


class ContentDecoder:
    """Undoes a response's Content-Encoding (gzip or deflate) as its bytes arrive, never inflating past a limit.

    httpx and geventhttpclient inflate each network read whole: 64 KiB of a gzip bomb become 64 MiB in
    memory before a size cap can look at them. Here zlib's ``max_length`` inflates a read in pieces of at
    most ``PIECE_BYTES`` (so a caller can check its deadline between them: a few KiB on the wire can be
    seconds of SSE decoding) and stops one byte past ``max_bytes``, which ends the read as too_large. An
    unknown coding (one the client never asked for) or a corrupt or unfinished compressed body ends it as
    decode. Identity bodies pass through untouched.
    """

    PIECE_BYTES = 256 * 1024

    def __init__(self, content_encoding: str, max_bytes: int) -> None:
        codings = [c.strip().lower() for c in content_encoding.split(",") if c.strip().lower() not in ("", "identity")]
        self.coding = codings[0] if len(codings) == 1 else ", ".join(codings)
        self.max_bytes = max_bytes
        self.produced = 0
        self._raw_deflate_tried = False
        self._inflater: Any = None  # zlib's Decompress type is not importable for annotations
        if not codings:
            return
        if self.coding in ("gzip", "x-gzip"):
            self._inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif self.coding == "deflate":
            self._inflater = zlib.decompressobj()
        else:
            raise ReadAborted(
                TransportError.DECODE,
                f"the body has Content-Encoding {content_encoding!r}; only one of {ACCEPT_ENCODING} can be decoded",
            )

    def decode(self, data: bytes) -> Iterator[bytes]:
        """Inflate one network read, piece by piece; raise ReadAborted past the limit or on a corrupt body."""
        if self._inflater is None:
            if data:
                yield data
            return
        while data:
            out = self._inflate(data, min(self.PIECE_BYTES, self.max_bytes - self.produced + 1))
            self.produced += len(out)
            if self.produced > self.max_bytes:
                raise ReadAborted(
                    TransportError.TOO_LARGE,
                    f"the {self.coding}-encoded body inflated past {self.max_bytes} bytes (a compression bomb?); "
                    "raise max_body_bytes if expected",
                )
            if out:
                yield out
            data = self._inflater.unconsumed_tail

    def _inflate(self, data: bytes, max_length: int) -> bytes:
        try:
            out: bytes = self._inflater.decompress(data, max_length)
        except zlib.error as exc:
            if self.coding != "deflate" or self.produced or self._raw_deflate_tried:
                raise ReadAborted(TransportError.DECODE, f"cannot decode the {self.coding} body: {exc}") from exc
            # "deflate" is the zlib format (RFC 9110 section 8.4.1.2), but some servers send raw deflate.
            self._raw_deflate_tried = True
            self._inflater = zlib.decompressobj(-zlib.MAX_WBITS)
            return self._inflate(data, max_length)
        return out

    def flush(self) -> bytes:
        """The body ended: return what the inflater still held; a compressed body must be complete."""
        if self._inflater is None:
            return b""
        out: bytes = self._inflater.flush()
        self.produced += len(out)
        if self.produced > self.max_bytes:
            raise ReadAborted(
                TransportError.TOO_LARGE,
                f"the {self.coding}-encoded body inflated past {self.max_bytes} bytes;"
                " raise max_body_bytes if expected",
            )
        if not self._inflater.eof:
            raise ReadAborted(TransportError.DECODE, f"the {self.coding} body ended before its end marker (cut short)")
        return out


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
