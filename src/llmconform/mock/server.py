"""Run the mock app with uvicorn: in a background thread (``MockServer``) or blocking (``serve``)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Self

import uvicorn

from llmconform.mock.app import create_app
from llmconform.mock.config import MockConfig

__all__ = ["STARTUP_TIMEOUT_S", "MockError", "MockServer", "serve"]

STARTUP_TIMEOUT_S = 10.0
_STOP_TIMEOUT_S = 10.0


class MockError(RuntimeError):
    """The embedded mock could not be started or stopped."""


def _uvicorn_config(config: MockConfig) -> uvicorn.Config:
    return uvicorn.Config(
        create_app(config),
        host=config.host,
        port=config.port,
        log_level="warning",
        access_log=False,
        lifespan="off",
        # A stalled answer (fault request_completes) must not hold up stopping the mock.
        timeout_graceful_shutdown=1,
    )


def _url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


class _Server(uvicorn.Server):
    """A uvicorn server that reports its real address once it listens."""

    def __init__(self, config: uvicorn.Config, on_ready: Callable[[str], None] | None) -> None:
        super().__init__(config)
        self._on_ready = on_ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started and self._on_ready is not None:
            self._on_ready(self.bound_url())

    def bound_url(self) -> str:
        """The base URL of the first listening socket (the real port when 0 was asked for)."""
        sockname = self.servers[0].sockets[0].getsockname()
        return _url(self.config.host, int(sockname[1]))


class MockServer:
    """The mock on a background thread, for tests and for ``llmconform check`` without a URL.

    >>> with MockServer(MockConfig()) as server:  # doctest: +SKIP
    ...     httpx.get(f"{server.base_url}/v1/models", headers=...)
    """

    def __init__(self, config: MockConfig | None = None) -> None:
        self.config = config if config is not None else MockConfig()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._base_url: str | None = None
        self._failure: BaseException | None = None

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT`` of the running server (raises MockError when not started)."""
        if self._base_url is None:
            raise MockError("the mock server is not running; call start() or use it as a context manager")
        return self._base_url

    def start(self) -> str:
        """Start listening and return the base URL; raise MockError if not ready within 10 s."""
        if self._thread is not None:
            return self.base_url
        ready = threading.Event()
        urls: list[str] = []

        def on_ready(url: str) -> None:
            urls.append(url)
            ready.set()

        server = _Server(_uvicorn_config(self.config), on_ready)
        thread = threading.Thread(target=self._run, args=(server, ready), name="llmconform-mock", daemon=True)
        self._server, self._thread = server, thread
        thread.start()
        ready.wait(STARTUP_TIMEOUT_S)
        if not urls:
            self.stop()
            where = f"{self.config.host}:{self.config.port}"
            if self._failure is not None:
                raise MockError(
                    f"the mock server could not start on {where} ({self._failure!r}; uvicorn logged why); "
                    "is the port in use? Use port 0 for a free one."
                )
            raise MockError(f"the mock server did not start on {where} within {STARTUP_TIMEOUT_S:.0f} s")
        self._base_url = urls[0]
        return self._base_url

    def _run(self, server: _Server, ready: threading.Event) -> None:
        try:
            server.run()
        except BaseException as exc:  # uvicorn exits via SystemExit when it cannot bind
            self._failure = exc
        finally:
            ready.set()

    def stop(self) -> None:
        """Stop the server and wait for its thread (idempotent)."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        self._base_url = None
        if server is None or thread is None:
            return
        server.should_exit = True
        thread.join(_STOP_TIMEOUT_S)
        if thread.is_alive():
            server.force_exit = True
            thread.join(_STOP_TIMEOUT_S)
            if thread.is_alive():
                raise MockError(f"the mock server thread did not stop within {2 * _STOP_TIMEOUT_S:.0f} s")

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def serve(config: MockConfig, on_ready: Callable[[str], None] | None = None) -> None:
    """Run the mock in the foreground until interrupted (Ctrl-C / SIGTERM); prints nothing.

    ``on_ready`` is called with the base URL once the server listens, so a caller (the CLI) can
    print the real port when ``config.port`` is 0. uvicorn shuts down gracefully on SIGINT and
    SIGTERM and then re-raises the signal (``KeyboardInterrupt`` for Ctrl-C).
    """
    server = _Server(_uvicorn_config(config), on_ready)
    try:
        server.run()
    except SystemExit as exc:  # uvicorn exits this way when it cannot bind
        raise MockError(
            f"the mock server could not listen on {config.host}:{config.port}; is the port in use? "
            "Use port 0 for a free one."
        ) from exc
