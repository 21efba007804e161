"""A hostile chat server that breaks HTTP on purpose, to prove the harness's time and size limits.

Written by hand on raw sockets because every HTTP server library refuses to do what this one must:
send bytes that are not UTF-8, bodies and lines far past any sane size, a gzip bomb, a response that
never ends or drips one byte a second, headers and then nothing, a TCP reset in mid-body, a
Content-Length that lies, and an HTTP/1.0 body that ends when the connection closes.

``GET /v1/models`` is always answered correctly (so a run gets going); ``POST /v1/chat/completions``,
unary or ``"stream": true``, misbehaves in the server's :class:`Mode` (or the one a request names in
an ``x-hostile-mode`` header); with a ``schedule`` the n-th chat request is answered in the n-th mode
of it (cyclically), so one run can interleave broken and correct answers and see that the correct
ones survive; :attr:`HostileServer.answered` lists the mode each chat request got, in order.
:attr:`Mode.CONFORMANT` answers correctly (usage exact by word count, ``finish_reason`` "length" when
``max_tokens`` cut the answer), and :attr:`Mode.HTTP10_CLOSE_DELIMITED` sends that same answer in a
legal but old framing, which the harness must accept.

Every misbehaviour is bounded: sizes are fixed, a response that holds the connection open stops
after ``max_hold_s``, when the client goes away, or on :meth:`HostileServer.close`, which returns
within about a second.
"""

from __future__ import annotations

import functools
import json
import socket
import struct
import threading
import time
import zlib
from collections.abc import Sequence
from enum import StrEnum
from types import TracebackType
from typing import Any

MODEL = "hostile-model"
KEY = "sk-hostile-test"
MODE_HEADER = "x-hostile-mode"
CHAT_PATH = "/v1/chat/completions"
MODELS_PATH = "/v1/models"

KIB = 1024
MIB = 1024 * KIB
_MAX_REQUEST_BYTES = 1 * MIB
_TICK_S = 0.05


class Mode(StrEnum):
    """How ``POST /v1/chat/completions`` is answered."""

    CONFORMANT = "conformant"
    # The answer's text holds a byte that is not UTF-8 (0xFF), in the JSON body or in an SSE data line.
    INVALID_UTF8 = "invalid_utf8"
    # A well-framed answer of ``gigantic_bytes`` (unary: one JSON body; stream: many content chunks).
    GIGANTIC_BODY = "gigantic_body"
    # Stream: one SSE ``data:`` line of ``line_bytes`` (unary: answered conformantly; a unary body has no lines).
    GIGANTIC_LINE = "gigantic_line"
    # ``Content-Encoding: gzip``: a few KiB on the wire that inflate to ``bomb_bytes`` of JSON whitespace, or
    # of ``stream_filler`` lines (blank lines by default: the costliest SSE to decode).
    GZIP_BOMB = "gzip_bomb"
    # Valid pieces every few milliseconds, forever (unary: a chunked JSON body that never closes).
    ENDLESS_STREAM = "endless_stream"
    # The answer one byte every ``drip_interval_s`` (shorter than a read timeout, so only a deadline ends it).
    SLOW_DRIP = "slow_drip"
    # Status line and headers, then silence with the connection held open.
    HEADERS_THEN_SILENCE = "headers_then_silence"
    # Half the body, then a TCP reset (SO_LINGER 0).
    RESET_MID_BODY = "reset_mid_body"
    # Content-Length declares more than is sent; then the connection closes.
    CONTENT_LENGTH_OVER = "content_length_over"
    # Content-Length declares less than is sent (the answer is cut at the declared length); then close.
    CONTENT_LENGTH_UNDER = "content_length_under"
    # HTTP/1.0, no Content-Length, the body ends when the connection closes: LEGAL (RFC 9112 section 6.3).
    HTTP10_CLOSE_DELIMITED = "http10_close_delimited"


class HostileServer:
    """Serve on 127.0.0.1:0 in threads; use as a context manager (or call :meth:`start` and :meth:`close`)."""

    def __init__(
        self,
        mode: Mode = Mode.CONFORMANT,
        *,
        gigantic_bytes: int = 2 * MIB,
        line_bytes: int = 2 * MIB,
        bomb_bytes: int = 64 * MIB,
        drip_interval_s: float = 1.0,
        max_hold_s: float = 30.0,
        schedule: Sequence[Mode] = (),
        stream_filler: bytes = b"\n",
    ) -> None:
        self.mode = Mode(mode)
        self.schedule = tuple(Mode(m) for m in schedule) or (self.mode,)
        self.gigantic_bytes = gigantic_bytes
        self.line_bytes = line_bytes
        self.bomb_bytes = bomb_bytes
        self.stream_filler = stream_filler
        self.drip_interval_s = drip_interval_s
        self.max_hold_s = max_hold_s
        self.requests: dict[str, int] = {}
        self.answered: list[Mode] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(_TICK_S)
        self.port: int = self._listener.getsockname()[1]
        self._acceptor = threading.Thread(target=self._accept, name="hostile-accept", daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> HostileServer:
        if Mode.GZIP_BOMB in self.schedule:  # compressed now, so no answer waits for it
            _gzip_bomb(self.stream_filler, self.bomb_bytes)
            _gzip_bomb(b" ", self.bomb_bytes)
        self._acceptor.start()
        return self

    def close(self) -> None:
        """Stop accepting, cut every open connection, and wait (about a second at most) for the threads."""
        self._stop.set()
        with self._lock:
            for conn in self._connections:
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        self._acceptor.join(timeout=1)
        for thread in list(self._threads):
            thread.join(timeout=1)
        self._listener.close()

    def __enter__(self) -> HostileServer:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    # --- connections -------------------------------------------------------------------------------

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except (TimeoutError, OSError):
                continue
            thread = threading.Thread(target=self._serve, args=(conn,), name="hostile-conn", daemon=True)
            with self._lock:
                self._connections.add(conn)
                self._threads = [t for t in self._threads if t.is_alive()]
                self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(self.max_hold_s)
        buffer = b""
        try:
            while not self._stop.is_set():
                request, buffer = _read_request(conn, buffer)
                if request is None:
                    return
                if not self._answer(conn, request):
                    return
        except OSError:
            return  # the client went away or reset: nothing to answer
        finally:
            with self._lock:
                self._connections.discard(conn)
            conn.close()

    def _answer(self, conn: socket.socket, request: _Request) -> bool:
        """Answer one request; True when the connection may carry another."""
        with self._lock:
            self.requests[request.path] = self.requests.get(request.path, 0) + 1
        if request.method == "GET" and request.path.split("?")[0] == MODELS_PATH:
            model = {"id": MODEL, "object": "model", "created": 0, "owned_by": "tests"}
            return _send_json(conn, 200, {"object": "list", "data": [model]})
        if request.method != "POST" or request.path.split("?")[0] != CHAT_PATH:
            error = {"message": f"no route {request.method} {request.path}", "type": "invalid_request_error"}
            return _send_json(conn, 404, {"error": {**error, "param": None, "code": "not_found"}})
        try:
            body = json.loads(request.body or b"{}")
        except ValueError:
            body = None
        if not isinstance(body, dict):
            error = {"message": "the body is not a JSON object", "type": "invalid_request_error"}
            return _send_json(conn, 400, {"error": {**error, "param": None, "code": None}})
        with self._lock:
            mode = Mode(request.headers.get(MODE_HEADER, self.schedule[len(self.answered) % len(self.schedule)]))
            self.answered.append(mode)
        stream = body.get("stream") is True
        return self._misbehave(conn, mode, body, stream)

    # --- the modes -----------------------------------------------------------------------------------

    def _misbehave(self, conn: socket.socket, mode: Mode, body: dict[str, Any], stream: bool) -> bool:
        media = "text/event-stream" if stream else "application/json"
        payload = _stream_payload(body) if stream else _unary_payload(body)
        if mode is Mode.CONFORMANT or (mode is Mode.GIGANTIC_LINE and not stream):
            return self._send_framed(conn, media, payload, stream)
        if mode is Mode.HTTP10_CLOSE_DELIMITED:
            conn.sendall(b"HTTP/1.0 200 OK\r\n" + _header_lines({"content-type": media}) + b"\r\n" + payload)
            return False
        if mode is Mode.INVALID_UTF8:
            return self._send_framed(conn, media, payload.replace(b"word", b"w\xffrd", 1), stream)
        if mode is Mode.GIGANTIC_BODY:
            return self._send_gigantic(conn, media, body, stream)
        if mode is Mode.GIGANTIC_LINE:
            line = _chunk_event(_chunk([{"index": 0, "delta": {"content": "x" * self.line_bytes}}]))
            finish = _chunk_event(_chunk([{"index": 0, "delta": {}, "finish_reason": "stop"}]))
            _send_head(conn, 200, {"content-type": media, "transfer-encoding": "chunked"})
            for event in (line, finish, b"data: [DONE]\n\n", b""):
                _send_chunk(conn, event)
            return True
        if mode is Mode.GZIP_BOMB:
            bomb = _gzip_bomb(self.stream_filler if stream else b" ", self.bomb_bytes)
            return _send_response(conn, 200, {"content-type": media, "content-encoding": "gzip"}, bomb)
        if mode is Mode.ENDLESS_STREAM:
            self._send_endless(conn, media, stream)
            return False
        if mode is Mode.SLOW_DRIP:
            _send_head(conn, 200, {"content-type": media, "content-length": str(len(payload))})
            until = time.monotonic() + self.max_hold_s
            for byte in payload:
                if not self._hold(self.drip_interval_s, until):
                    break
                conn.sendall(bytes([byte]))
            return False
        if mode is Mode.HEADERS_THEN_SILENCE:
            framing = {"transfer-encoding": "chunked"} if stream else {"content-length": str(len(payload))}
            _send_head(conn, 200, {"content-type": media, **framing})
            self._wait_for_close(conn)
            return False
        if mode is Mode.RESET_MID_BODY:
            _send_head(conn, 200, {"content-type": media, "content-length": str(len(payload))})
            conn.sendall(payload[: len(payload) // 2])
            time.sleep(0.05)  # let the half body reach the client before the reset
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return False
        if mode is Mode.CONTENT_LENGTH_OVER:
            # It closes the connection after this answer and says so, so no client reuses it: the next
            # request's outcome must not depend on whether the close had arrived yet.
            _send_head(
                conn, 200, {"content-type": media, "content-length": str(len(payload) + 100), "connection": "close"}
            )
            conn.sendall(payload)
            return False
        if mode is Mode.CONTENT_LENGTH_UNDER:
            _send_head(
                conn, 200, {"content-type": media, "content-length": str(len(payload) - 20), "connection": "close"}
            )
            conn.sendall(payload)
            return False
        raise AssertionError(f"unhandled mode {mode}")

    def _send_framed(self, conn: socket.socket, media: str, payload: bytes, stream: bool) -> bool:
        """A correct framing: Content-Length for unary answers, chunked transfer for streams."""
        if not stream:
            return _send_response(conn, 200, {"content-type": media}, payload)
        _send_head(conn, 200, {"content-type": media, "transfer-encoding": "chunked"})
        for event in payload.split(b"\n\n")[:-1]:
            _send_chunk(conn, event + b"\n\n")
        _send_chunk(conn, b"")
        return True

    def _send_gigantic(self, conn: socket.socket, media: str, body: dict[str, Any], stream: bool) -> bool:
        words = self.gigantic_bytes // 5
        if not stream:
            answer = _unary_answer(" ".join(["word"] * words), words, "stop")
            return _send_response(conn, 200, {"content-type": media}, _json_bytes(answer))
        _send_head(conn, 200, {"content-type": media, "transfer-encoding": "chunked"})
        sent = 0
        piece = " word" * 10_000  # 50 KB deltas: under a 64 KiB line limit
        while sent < self.gigantic_bytes and not self._stop.is_set():
            event = _chunk_event(_chunk([{"index": 0, "delta": {"content": piece}, "finish_reason": None}]))
            _send_chunk(conn, event)
            sent += len(event)
        _send_chunk(conn, _chunk_event(_chunk([{"index": 0, "delta": {}, "finish_reason": "stop"}])))
        _send_chunk(conn, b"data: [DONE]\n\n")
        _send_chunk(conn, b"")
        return True

    def _send_endless(self, conn: socket.socket, media: str, stream: bool) -> None:
        _send_head(conn, 200, {"content-type": media, "transfer-encoding": "chunked"})
        if stream:
            _send_chunk(conn, _chunk_event(_chunk([{"index": 0, "delta": {"role": "assistant", "content": ""}}])))
            piece = _chunk_event(_chunk([{"index": 0, "delta": {"content": " word"}, "finish_reason": None}]))
        else:
            _send_chunk(conn, b'{"id": "chatcmpl-hostile", "object": "chat.completion", "choices": [')
            piece = b" " * 64
        until = time.monotonic() + self.max_hold_s
        while self._hold(0.01, until):
            _send_chunk(conn, piece)

    def _hold(self, seconds: float, until: float) -> bool:
        """Sleep ``seconds``; False when the server is closing or the hold has lasted until ``until``."""
        return not self._stop.wait(seconds) and time.monotonic() < until

    def _wait_for_close(self, conn: socket.socket) -> None:
        """Hold the connection open until the client closes it, the server stops, or max_hold_s pass."""
        conn.settimeout(_TICK_S)
        until = time.monotonic() + self.max_hold_s
        while not self._stop.is_set() and time.monotonic() < until:
            try:
                if conn.recv(4096) == b"":
                    return
            except TimeoutError:
                continue


_BOMB_LOCK = threading.Lock()


def _gzip_bomb(filler: bytes, size: int) -> bytes:
    """Gzip of a valid answer followed by ``size`` bytes of ``filler`` (JSON whitespace, or SSE lines), made
    once per process (concurrent servers wait for the first to finish instead of compressing it again)."""
    with _BOMB_LOCK:
        return _compressed_bomb(filler, size)


@functools.cache
def _compressed_bomb(filler: bytes, size: int) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    parts = [compressor.compress(_unary_payload({}) if filler == b" " else _stream_payload({}))]
    block = filler * (MIB // len(filler))
    parts.extend(compressor.compress(block) for _ in range(size // len(block)))
    parts.append(compressor.flush())
    return b"".join(parts)


class _Request:
    def __init__(self, method: str, path: str, headers: dict[str, str], body: bytes) -> None:
        self.method = method
        self.path = path
        self.headers = headers
        self.body = body


def _read_request(conn: socket.socket, buffer: bytes) -> tuple[_Request | None, bytes]:
    """Read one request (head and Content-Length body); None when the client closed the connection."""
    while b"\r\n\r\n" not in buffer:
        data = conn.recv(64 * KIB)
        if not data or len(buffer) > _MAX_REQUEST_BYTES:
            return None, b""
        buffer += data
    head, _, rest = buffer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, path, _version = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = min(int(headers.get("content-length", "0") or 0), _MAX_REQUEST_BYTES)
    while len(rest) < length:
        data = conn.recv(64 * KIB)
        if not data:
            return None, b""
        rest += data
    return _Request(method, path, headers, rest[:length]), rest[length:]


def _header_lines(headers: dict[str, str]) -> bytes:
    return b"".join(f"{name}: {value}\r\n".encode("latin-1") for name, value in headers.items())


def _send_head(conn: socket.socket, status: int, headers: dict[str, str]) -> None:
    reason = {200: "OK", 400: "Bad Request", 404: "Not Found"}[status]
    conn.sendall(f"HTTP/1.1 {status} {reason}\r\n".encode() + _header_lines(headers) + b"\r\n")


def _send_response(conn: socket.socket, status: int, headers: dict[str, str], body: bytes) -> bool:
    _send_head(conn, status, {**headers, "content-length": str(len(body))})
    conn.sendall(body)
    return True


def _send_json(conn: socket.socket, status: int, value: Any) -> bool:
    return _send_response(conn, status, {"content-type": "application/json"}, _json_bytes(value))


def _send_chunk(conn: socket.socket, data: bytes) -> None:
    conn.sendall(f"{len(data):x}\r\n".encode() + data + b"\r\n")


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()


def _answer_words(body: dict[str, Any]) -> tuple[int, str]:
    limit = body.get("max_tokens") or body.get("max_completion_tokens")
    if isinstance(limit, int) and 0 < limit < 8:
        return limit, "length"
    return 8, "stop"


def _unary_answer(text: str, completion_tokens: int, finish: str) -> dict[str, Any]:
    message = {"role": "assistant", "content": text}
    return {
        "id": "chatcmpl-hostile",
        "object": "chat.completion",
        "created": 1,
        "model": MODEL,
        "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
        "usage": {"prompt_tokens": 10, "completion_tokens": completion_tokens, "total_tokens": 10 + completion_tokens},
    }


def _unary_payload(body: dict[str, Any]) -> bytes:
    words, finish = _answer_words(body)
    return _json_bytes(_unary_answer(" ".join(["word"] * words), words, finish))


def _chunk(choices: list[Any], **extra: Any) -> dict[str, Any]:
    base = {"id": "chatcmpl-hostile", "object": "chat.completion.chunk", "created": 1, "model": MODEL}
    return {**base, "choices": choices, **extra}


def _chunk_event(value: dict[str, Any]) -> bytes:
    return b"data: " + _json_bytes(value) + b"\n\n"


def _stream_payload(body: dict[str, Any]) -> bytes:
    words, finish = _answer_words(body)
    events = [_chunk([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])]
    events += [
        _chunk([{"index": 0, "delta": {"content": "word" if i == 0 else " word"}, "finish_reason": None}])
        for i in range(words)
    ]
    events.append(_chunk([{"index": 0, "delta": {}, "finish_reason": finish}]))
    options = body.get("stream_options")
    if isinstance(options, dict) and options.get("include_usage") is True:
        usage = {"prompt_tokens": 10, "completion_tokens": words, "total_tokens": 10 + words}
        events.append(_chunk([], usage=usage))
    return b"".join(_chunk_event(event) for event in events) + b"data: [DONE]\n\n"
