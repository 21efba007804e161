"""The load client: one gevent HTTP connection per locust user, producing the same Exchanges as check.

It is built on geventhttpclient, the transport of locust's FastHttpUser (the fastest client locust
has; httpx and requests under gevent reach a fraction of its rate, see toolchain-facts.md), and
adds what neither gives a streaming LLM client: each network read is handed to the SSE decoder as it
arrives and stamped with its arrival time, a hard per-request deadline (a server dripping a byte a
second cannot hold a user), a size cap counted on the decoded bytes (geventhttpclient does not undo a
Content-Encoding; :class:`~llmconform.client.ContentDecoder` does, bounded), and transport failures
as error classes instead of exceptions. Only the locust processes import it (gevent).
"""

from __future__ import annotations

import socket
import time
from typing import Any
from urllib.parse import urlsplit

import gevent
import orjson
from geventhttpclient import HTTPClient
from geventhttpclient.response import HTTPParseError, HTTPSocketPoolResponse

from llmconform import __version__
from llmconform.client import ContentDecoder, ReadAborted, StreamRecorder, is_text, is_utf8
from llmconform.config import LimitsConfig
from llmconform.exchange import Exchange, TransportError
from llmconform.families import request_headers

__all__ = ["LoadHttp"]


class _Deadline(Exception):
    """Raised by gevent.Timeout when one request outlives its deadline."""


class LoadHttp:
    """Sends requests to one base URL over one keep-alive connection and records each as an Exchange."""

    def __init__(self, base_url: str, api_key: str | None, limits: LimitsConfig) -> None:
        self.base_url = base_url.rstrip("/")
        self.limits = limits
        self._api_key = api_key
        self._headers_by_family: dict[str, dict[str, str]] = {}
        self._client = self._new_client()
        self._path_prefix = urlsplit(self.base_url).path.rstrip("/")

    def _new_client(self) -> HTTPClient:
        return HTTPClient.from_url(
            self.base_url,
            concurrency=1,
            connection_timeout=self.limits.connect_timeout_s,
            network_timeout=self.limits.read_timeout_s,
            headers={"user-agent": f"llmconform/{__version__}"},
        )

    def close(self) -> None:
        self._client.close()

    def send(
        self, method: str, path: str, *, family: str, operation: str, json_body: Any = None, label: str = ""
    ) -> tuple[Exchange, float]:
        """Send one request; return its Exchange and the perf_counter time it was sent. Never raises."""
        family_headers = self._headers_by_family.get(family)
        if family_headers is None:
            family_headers = self._headers_by_family[family] = request_headers(family, self._api_key)
        headers = dict(family_headers)
        body = b""
        if json_body is not None:
            body = orjson.dumps(json_body)
            headers["content-type"] = "application/json"
        url = self.base_url + path
        exchange = Exchange(
            family=family,
            operation=operation,
            method=method,
            url=url,
            request_headers=headers,
            request_json=json_body,
            label=label,
            started_at=time.time(),
        )
        start = time.perf_counter()
        response: HTTPSocketPoolResponse | None = None
        try:
            with gevent.Timeout(self.limits.deadline_s, _Deadline):
                response = self._client.request(method, self._path_prefix + path, body=body, headers=headers)
                exchange.ttfb_s = time.perf_counter() - start
                exchange.status = response.status_code
                exchange.response_headers = {k.lower(): v for k, v in response.items()}
                if exchange.content_type == "text/event-stream":
                    self._read_stream(response, exchange, start)
                else:
                    self._read_body(response, exchange, start)
        except _Deadline:
            exchange.error = f"response not complete after {self.limits.deadline_s} s (the request deadline)"
            exchange.error_kind = TransportError.TIMEOUT
        except ReadAborted as abort:
            exchange.error, exchange.error_kind = abort.message, abort.kind
        except TimeoutError as exc:
            exchange.error = f"no data for {self.limits.read_timeout_s} s: {exc}"
            exchange.error_kind = TransportError.TIMEOUT
        except (ConnectionRefusedError, socket.gaierror) as exc:
            exchange.error, exchange.error_kind = f"cannot connect to {self.base_url}: {exc}", TransportError.CONNECT
        except (HTTPParseError, OSError) as exc:
            kind = TransportError.STREAM_TRUNCATED if exchange.status is not None else TransportError.PROTOCOL
            if exchange.status is None and isinstance(exc, OSError) and not isinstance(exc, ConnectionResetError):
                kind = TransportError.CONNECT
            exchange.error, exchange.error_kind = f"{type(exc).__name__}: {exc}", kind
        finally:
            if response is not None:
                if exchange.error is not None:
                    _discard(response)
                else:
                    response.release()
            if exchange.error is not None and exchange.error_kind is not TransportError.CONNECT:
                # geventhttpclient pools a connection the moment its parser sees the end of a message, before
                # it sees what follows (bytes past a short Content-Length, which the next request would read
                # as its answer), and keeps it when the request failed inside it: start over on a fresh one.
                self._client.close()
                self._client = self._new_client()
        exchange.elapsed_s = time.perf_counter() - start
        return exchange, start

    def _check_deadline(self, start: float) -> None:
        """gevent.Timeout interrupts only a greenlet that waits; decoding what a fast server sends (or what
        a few KiB of gzip inflate to) never waits, so the deadline is also checked between pieces."""
        if time.perf_counter() - start > self.limits.deadline_s:
            raise _Deadline

    def _read_body(self, response: HTTPSocketPoolResponse, exchange: Exchange, start: float) -> None:
        parts: list[bytes] = []
        decoder = ContentDecoder(exchange.response_headers.get("content-encoding", ""), self.limits.max_body_bytes)
        try:
            while raw := _read_available(response):
                for chunk in decoder.decode(raw):
                    parts.append(chunk)
                    exchange.received_bytes += len(chunk)
                    if exchange.received_bytes > self.limits.max_body_bytes:
                        raise ReadAborted(
                            TransportError.TOO_LARGE,
                            f"response body exceeded {self.limits.max_body_bytes} bytes; raise max_body_bytes if "
                            "expected",
                        )
                self._check_deadline(start)
            parts.append(decoder.flush())
        finally:
            exchange.body = b"".join(parts)
        exchange.invalid_utf8 = is_text(exchange.content_type) and not is_utf8(exchange.body)

    def _read_stream(self, response: HTTPSocketPoolResponse, exchange: Exchange, start: float) -> None:
        # The raw bytes of a stream are not kept under load: rules and reports read its events (1,000
        # concurrent streams held ~20 MB of bytes nobody read; bench/load_memory.py).
        recorder = StreamRecorder(
            exchange,
            start,
            max_body_bytes=self.limits.max_body_bytes,
            max_line_bytes=self.limits.max_line_bytes,
            keep_raw=False,
        )
        decoder = ContentDecoder(exchange.response_headers.get("content-encoding", ""), self.limits.max_body_bytes)
        try:
            while raw := _read_available(response):
                for chunk in decoder.decode(raw):
                    recorder.feed(chunk)
                    self._check_deadline(start)
            if tail := decoder.flush():
                recorder.feed(tail)
            recorder.close()
        finally:
            recorder.finish()


def _read_available(response: HTTPSocketPoolResponse) -> bytes:
    """Return the body bytes that have arrived (waiting for at least one), or b"" at the end.

    geventhttpclient's ``read(n)`` waits until n bytes are there, which would stamp a whole burst of
    stream events with the time of the last one; this reads what one ``recv`` brings instead, through
    the parser that the response already uses (chunked and content-length framing stay its job).
    """
    buffer = response._body_buffer
    while not buffer and not _complete(response):
        sock = response._sock
        if sock is None:
            break
        data = sock.recv(response.block_size)
        response.feed(data)
        if not data:
            if not _complete(response):
                raise ConnectionResetError("the server closed the connection before the response was complete")
            break
    out = bytes(buffer)
    del buffer[:]
    return out


def _complete(response: HTTPSocketPoolResponse) -> bool:
    return bool(response.message_complete)


def _discard(response: HTTPSocketPoolResponse) -> None:
    """Close the connection of a response that was not read to its end (it cannot be reused) and free its
    place in the pool: a closed socket that is not released holds the user's one pool slot, and every later
    request of that user would wait for it until its deadline."""
    sock, pool = response._sock, response._pool
    response._sock = response._pool = None
    if sock is not None and pool is not None:
        pool.release_socket(sock)  # closes it
    elif sock is not None:
        try:
            sock.close()
        except OSError:
            pass
