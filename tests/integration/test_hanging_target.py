"""A target that stops answering never hangs the harness: requests end at their deadline, become
request_completes findings, and the run stops after a few timeouts in a row (exit 1)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmconform.config import CheckConfig, LimitsConfig, TargetConfig
from llmconform.conformance.outcome import ExitCode
from llmconform.conformance.runner import run_check

MODELS = json.dumps({"object": "list", "data": [{"id": "m", "object": "model", "created": 0, "owned_by": "x"}]})


class HangingServer:
    """Answers GET /v1/models properly; every other request hangs in the way ``mode`` says."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self._stop = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> HangingServer:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._listener.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            try:
                request = conn.recv(65536)
                if request.startswith(b"GET /v1/models"):
                    body = MODELS.encode()
                    conn.sendall(
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                        + f"Content-Length: {len(body)}\r\n\r\n".encode()
                        + body
                    )
                    return
                if self.mode == "headers_then_silence":
                    conn.sendall(
                        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
                    )
                if self.mode == "drip":
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n")
                while not self._stop.is_set():
                    if self.mode == "drip":
                        conn.sendall(b" ")
                    time.sleep(0.2)
            except OSError:
                return


@pytest.fixture(params=["no_answer", "headers_then_silence", "drip"])
def hanging_url(request: pytest.FixtureRequest) -> Iterator[str]:
    with HangingServer(request.param) as server:
        yield f"http://127.0.0.1:{server.port}"


def test_a_hanging_target_ends_in_findings_not_a_hang(hanging_url: str, tmp_path: Path) -> None:
    config = CheckConfig(
        target=TargetConfig(base_url=hanging_url, model="m"),
        report_dir=tmp_path,
        limits=LimitsConfig(read_timeout_s=0.5, deadline_s=1.0),
    )
    start = time.perf_counter()
    outcome, _ = run_check(config, command=["test"], say=lambda _text: None)
    elapsed = time.perf_counter() - start
    assert outcome.exit_code == ExitCode.BROKEN
    assert outcome.partial
    assert outcome.results.count("request_completes").failed >= 3
    assert outcome.results.count("model_listed").passed == 1  # what was measured before the stall is kept
    assert elapsed < 20
