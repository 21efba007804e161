"""The load client: one gevent HTTP connection per locust user, producing the same Exchanges as check.

It is built on geventhttpclient, the transport of locust's FastHttpUser (the fastest client locust
has; httpx and requests under gevent reach a fraction of its rate, see toolchain-facts.md), and
adds what neither gives a streaming LLM client: each network read is handed to the SSE decoder as it
arrives and stamped with its arrival time, a hard per-request deadline (a server dripping a byte a
second cannot hold a user), a size cap, and transport failures as error classes instead of
exceptions. Only the locust processes import it (gevent).
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
from llmconform.client import ReadAborted, StreamRecorder
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
        self._client = HTTPClient.from_url(
            self.base_url,
            concurrency=1,
            connection_timeout=limits.connect_timeout_s,
            network_timeout=limits.read_timeout_s,
            headers={"user-agent": f"llmconform/{__version__}"},
        )
        self._path_prefix = urlsplit(self.base_url).path.rstrip("/")

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
                    self._read_body(response, exchange)
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
        exchange.elapsed_s = time.perf_counter() - start
        return exchange, start

    def _read_body(self, response: HTTPSocketPoolResponse, exchange: Exchange) -> None:
        parts: list[bytes] = []
        size = 0
        while True:
            chunk = _read_available(response)
            if not chunk:
                break
            size += len(chunk)
            exchange.received_bytes = size
            parts.append(chunk)
            if size > self.limits.max_body_bytes:
                exchange.body = b"".join(parts)
                raise ReadAborted(
                    TransportError.TOO_LARGE,
                    f"response body exceeded {self.limits.max_body_bytes} bytes; raise max_body_bytes if expected",
                )
        exchange.body = b"".join(parts)

    def _read_stream(self, response: HTTPSocketPoolResponse, exchange: Exchange, start: float) -> None:
        # The raw bytes of a stream are not kept under load: rules and reports read its events (1,000
        # concurrent streams held ~20 MB of bytes nobody read; bench/load_memory.py).
        recorder = StreamRecorder(
            exchange,
            start,
            max_body_bytes=self.limits.max_body_bytes,
            max_line_bytes=self.limits.max_body_bytes,
            keep_raw=False,
        )
        try:
            while chunk := _read_available(response):
                recorder.feed(chunk)
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
    """Close the connection of a response that was not read to its end (it cannot be reused)."""
    sock = response._sock
    response._sock = None
    if sock is not None:
        try:
            sock.close()
        except OSError:
            pass
