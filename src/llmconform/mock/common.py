"""What every family's mock endpoints share: faults in force, key comparison, bounded body reading,
the guard around every handler, the paced stream writer and the request id. Each family renders its
own error bodies and reads its own auth headers; the steps below are the same for all of them.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

from starlette.requests import Request
from starlette.responses import Response

from llmconform.mock.capacity import CapacityEngine
from llmconform.mock.config import MockConfig
from llmconform.mock.faults import FAULT_HEADER, active_faults
from llmconform.mock.load_faults import LoadFaultPicker
from llmconform.mock.record import Recorder, RequestRecord

__all__ = [
    "SERVER_FAILURE_MESSAGE",
    "Handler",
    "MockContext",
    "RequestGuard",
    "body_too_large_message",
    "mask_key",
    "new_request_id",
    "paced",
]

# What a family's 500 says when one of its handlers raised (the traceback goes to the server log).
SERVER_FAILURE_MESSAGE = (
    "The mock server failed while handling this request; this is a bug in llmconform's mock. "
    "The traceback is in the server log."
)

# A family's handler once the guard has passed: the request, the faults in force and the request id.
Handler = Callable[[Request, frozenset[str], str], Awaitable[Response]]
# A family's error value (ApiError, ClaudeError, GoogleError, ...).
ErrorT = TypeVar("ErrorT")


def new_request_id() -> str:
    """A fresh, unique value for the ``x-request-id`` header."""
    return "req_" + os.urandom(12).hex()


def mask_key(key: str) -> str:
    """A key as error messages may show it: never whole."""
    return f"{key[:3]}...{key[-4:]}" if len(key) > 10 else "***"


def body_too_large_message(limit: int) -> str:
    """The 413 message for a body over ``limit`` bytes (``MockConfig.max_body_bytes``)."""
    return (
        f"The request body is larger than the mock accepts ({limit} bytes, "
        "MockConfig.max_body_bytes). Send a smaller body or raise the limit."
    )


class MockContext:
    """One mock's config plus the request steps every family runs the same way."""

    def __init__(self, config: MockConfig) -> None:
        self.config = config
        self.models = frozenset(config.models)
        # Capacity model, load faults and server-side record (mock.delivery applies them to each answer).
        self.capacity = CapacityEngine(config.capacity) if config.capacity is not None else None
        self.load_faults = LoadFaultPicker(config.load_faults, config.seed, config.allow_fault_header)
        self.recorder = Recorder(config.record_path) if config.record_path is not None else None

    def open_record(self, request: Request) -> RequestRecord | None:
        """Start ``request``'s record line (None when the mock keeps no record)."""
        if self.recorder is None:
            return None
        record = self.recorder.open(request.url.path)
        request.state.llmconform_record = record
        return record

    @staticmethod
    def record_of(request: Request) -> RequestRecord | None:
        """The record line ``open_record`` started for ``request``, if any."""
        record: RequestRecord | None = getattr(request.state, "llmconform_record", None)
        return record

    def write_record(self, record: RequestRecord) -> None:
        """Append ``record`` to the record file."""
        if self.recorder is not None:
            self.recorder.write(record)

    def faults_for(self, request: Request) -> frozenset[str]:
        """Faults in force for ``request`` (the config's plus those its fault header names)."""
        cfg = self.config
        return active_faults(cfg.faults, request.headers.get(FAULT_HEADER), cfg.allow_fault_header)

    def key_accepted(self, key: str | None) -> bool:
        """Whether ``key`` is the mock's key (constant-time comparison)."""
        return key is not None and hmac.compare_digest(key.encode(), self.config.api_key.encode())

    @staticmethod
    def bearer_key(request: Request) -> str | None:
        """The key of an ``Authorization: Bearer <key>`` header, or None."""
        header = request.headers.get("authorization")
        if not header:
            return None
        scheme, _, key = header.partition(" ")
        return key.strip() if scheme.lower() == "bearer" else None

    async def read_body(self, request: Request) -> bytes | None:
        """The request body, or None when it is larger than ``MockConfig.max_body_bytes``."""
        limit = self.config.max_body_bytes
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            return None
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                return None
            chunks.append(chunk)
        return b"".join(chunks)

    @property
    def ttft_s(self) -> float:
        return self.config.ttft_ms / 1000.0

    @property
    def itl_s(self) -> float:
        return self.config.itl_ms / 1000.0

    async def unary_delay(self, rounds: int) -> None:
        """Wait as long as a stream of ``rounds`` content rounds would take (TTFT + ITL per later round)."""
        delay = self.ttft_s + self.itl_s * (max(rounds, 1) - 1)
        if delay > 0:
            await asyncio.sleep(delay)


async def paced(rounds: Iterable[bytes], ttft: float, itl: float) -> AsyncIterator[bytes]:
    """Send nothing until ``ttft`` has passed, then one round per ``itl`` (all at once when 0)."""
    if ttft > 0:
        await asyncio.sleep(ttft)
    if itl <= 0:
        yield b"".join(rounds)
        return
    for number, frames in enumerate(rounds):
        if number:
            await asyncio.sleep(itl)
        yield frames


@dataclass(frozen=True, slots=True)
class RequestGuard(Generic[ErrorT]):
    """The steps around every handler of one family: a request id, the faults in force, the family's
    auth check, and a 500 in the family's error shape (traceback to ``logger``) when the handler raises.
    """

    context: MockContext
    auth_error: Callable[[Request, frozenset[str]], ErrorT | None]
    render: Callable[[ErrorT, frozenset[str], str], Response]
    server_failure: ErrorT
    logger: logging.Logger

    async def __call__(self, request: Request, handler: Handler) -> Response:
        """Run ``handler`` on ``request`` once auth has passed; its answer, or the family's error answer."""
        record = self.context.open_record(request)
        response = await self._answer(request, handler)
        if record is not None:
            record.status = response.status_code
            if not record.deferred:  # a stream writes its line when it ends
                self.context.write_record(record)
        return response

    async def _answer(self, request: Request, handler: Handler) -> Response:
        request_id = new_request_id()
        faults = frozenset[str]()
        try:
            faults = self.context.faults_for(request)
            refused = self.auth_error(request, faults)
            if refused is not None:
                return self.render(refused, faults, request_id)
            return await handler(request, faults, request_id)
        except Exception:
            self.logger.exception("llmconform mock: unexpected error on %s %s", request.method, request.url.path)
            return self.render(self.server_failure, faults, request_id)
