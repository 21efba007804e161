"""The llmconform mock behind a counter: how many answers it finished sending (the server's own count).

Tests of interruptions compare what the harness kept on disk with this count.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

from llmconform.mock import MockConfig
from llmconform.mock.app import create_app


class CountingApp:
    """An ASGI app that counts the answers to ``methods`` whose last body byte went out."""

    def __init__(self, app: Any, methods: frozenset[str]) -> None:
        self.app = app
        self.methods = methods
        self.completed = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] not in self.methods:
            await self.app(scope, receive, send)
            return

        async def counting_send(message: Any) -> None:
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                self.completed += 1

        await self.app(scope, receive, counting_send)

    def wait_for(self, at_least: int, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while self.completed < at_least:
            assert time.monotonic() < deadline, f"only {self.completed} answers after {timeout_s} s"
            time.sleep(0.05)


@contextmanager
def counting_mock(config: MockConfig, methods: frozenset[str]) -> Iterator[tuple[str, CountingApp]]:
    """Serve the mock on 127.0.0.1 (a free port) in a thread; yield its URL and its counter."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app = CountingApp(create_app(config), methods)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the counting mock did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}", app
    finally:
        server.should_exit = True
        thread.join(timeout=10)
