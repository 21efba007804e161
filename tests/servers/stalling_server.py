"""A small conformant chat server that stalls once, like a gateway in a long GC pause or a failover.

It answers GET /v1/models and streamed chat completions (role chunk, one content chunk per token,
finish chunk, usage chunk, [DONE]) with a fixed per-chunk delay. ``stall_after_s`` after the first
request, every request that arrives or is being answered is held until ``stall_s`` have passed. A
closed-loop client barely notices (its few users wait inside the stall and send nothing meanwhile);
an open-loop client keeps its schedule, so the requests meant to go during the stall are late, and
the report must show that as scheduling lag and latency.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

MODEL = "stall-model"
KEY = "sk-stall-test"


class StallingServer:
    """Serve on 127.0.0.1:0 in a thread; use as a context manager."""

    def __init__(self, stall_after_s: float = 1.0, stall_s: float = 1.5, chunk_delay_s: float = 0.002) -> None:
        self.stall_after_s = stall_after_s
        self.stall_s = stall_s
        self.chunk_delay_s = chunk_delay_s
        self._first: float | None = None
        self._lock = threading.Lock()
        self.requests = 0
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> StallingServer:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def hold_if_stalled(self) -> None:
        """Block the calling request while the stall window is open."""
        with self._lock:
            now = time.monotonic()
            if self._first is None:
                self._first = now
            self.requests += 1
            first = self._first
        start, end = first + self.stall_after_s, first + self.stall_after_s + self.stall_s
        now = time.monotonic()
        if start <= now < end:
            time.sleep(end - now)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_: Any) -> None:
                pass

            def _json(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                server.hold_if_stalled()
                model = {"id": MODEL, "object": "model", "created": 0, "owned_by": "tests"}
                self._json(200, {"object": "list", "data": [model]})

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                request = json.loads(self.rfile.read(length) or b"{}")
                server.hold_if_stalled()
                tokens = int(request.get("max_tokens") or 8)
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.send_header("transfer-encoding", "chunked")
                self.end_headers()
                base = {"id": "chatcmpl-stall", "object": "chat.completion.chunk", "created": 1, "model": MODEL}

                def chunk(choices: list[Any], **extra: Any) -> None:
                    payload = json.dumps({**base, "choices": choices, **extra})
                    data = f"data: {payload}\n\n".encode()
                    self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                    self.wfile.flush()

                chunk([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])
                for i in range(tokens):
                    time.sleep(server.chunk_delay_s)
                    word = "word" if i == 0 else " word"
                    chunk([{"index": 0, "delta": {"content": word}, "finish_reason": None}])
                chunk([{"index": 0, "delta": {}, "finish_reason": "length"}])
                prompt = 10
                chunk([], usage={"prompt_tokens": prompt, "completion_tokens": tokens, "total_tokens": prompt + tokens})
                done = b"data: [DONE]\n\n"
                self.wfile.write(f"{len(done):x}\r\n".encode() + done + b"\r\n0\r\n\r\n")
                self.wfile.flush()

        return Handler
