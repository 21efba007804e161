"""How one generated answer reaches the client: its timing (fixed TTFT/ITL, or token release times from the
capacity model), the load fault chosen for it, and its line in the server-side record.

Every family calls :func:`deliver` once its answer is generated and before it encodes it (the prompt's
cached tokens are known from then on), renders ``Delivery.refusal`` in its own error shape when there is
one, and sends the encoded answer through :meth:`Delivery.streaming_response` or
:meth:`Delivery.wait_unary` + :meth:`Delivery.unary`. With no capacity model, no load fault and no
record, a stream is the plain ``paced`` stream and a unary answer waits ``MockContext.unary_delay``, as
before these existed.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from llmconform.mock.capacity import CapacityEngine, Refusal, SequenceState, demand_of
from llmconform.mock.common import MockContext, paced
from llmconform.mock.errors import SERVER_ERROR, ApiError
from llmconform.mock.load_faults import (
    ERROR_STATUS,
    LOAD_FAULT_HEADER,
    STREAM_ONLY,
    AbortableStreamingResponse,
    AbortFlag,
    StreamFormat,
    cut_round,
)
from llmconform.mock.record import RequestRecord
from llmconform.mock.request import ChatRequest

__all__ = ["Delivery", "Overload", "deliver", "openai_error"]


@dataclass(frozen=True, slots=True)
class Overload:
    """An answer refused before any work: the capacity model's full queue or an error load fault.

    ``cause`` is ``queue_full`` or the load fault's kind; ``retry_after_s`` None means no ``Retry-After``.
    """

    status: int
    message: str
    retry_after_s: int | None
    cause: str

    @property
    def headers(self) -> dict[str, str]:
        return {} if self.retry_after_s is None else {"retry-after": str(self.retry_after_s)}


def openai_error(overload: Overload) -> ApiError:
    """``overload`` as an OpenAI error (chat, responses, embeddings): 429 ``rate_limit_exceeded``, else a
    ``server_error``."""
    if overload.status == 429:
        return ApiError(429, overload.message, type="requests", code="rate_limit_exceeded", headers=overload.headers)
    return ApiError(overload.status, overload.message, type=SERVER_ERROR, headers=overload.headers)


def _fault_overload(kind: str, retry_after_s: int) -> Overload:
    status = ERROR_STATUS[kind]
    where = f"llmconform mock load fault {kind!r}"
    if status == 429:
        return Overload(429, f"Rate limit reached ({where}). Retry after {retry_after_s} s.", retry_after_s, kind)
    if status == 503:
        message = f"The server is overloaded or unavailable ({where}). Retry after {retry_after_s} s."
        return Overload(503, message, retry_after_s, kind)
    message = f"The server had an error while processing your request ({where}). Retry the request."
    return Overload(status, message, None, kind)


def _queue_full(refusal: Refusal, engine: CapacityEngine) -> Overload:
    cfg = engine.config
    message = (
        f"The server is at capacity: {refusal.running} requests running and {refusal.queue_depth} waiting "
        f"(llmconform mock capacity model: max_running {cfg.max_running}, queue_size {cfg.queue_size}). "
        f"Retry after {refusal.retry_after_s} s."
    )
    return Overload(429, message, refusal.retry_after_s, "queue_full")


def deliver(
    context: MockContext,
    request: Request,
    prompt: ChatRequest | int,
    *,
    stream: bool,
    output_tokens: int,
    steps: int,
) -> Delivery:
    """Start delivering one answer: pick its load fault, admit it to the capacity model (or refuse it).

    ``prompt`` is the chat form of the request (its prompt tokens and prefixes) or a bare prompt size;
    ``output_tokens`` is what the answer's usage reports, ``steps`` how many tokens the engine decodes
    for it (one per step; several choices decode side by side).
    """
    record = context.record_of(request)
    fault = context.load_faults.pick(request.headers.get(LOAD_FAULT_HEADER))
    if fault in STREAM_ONLY and not stream:
        fault = None
    engine = context.capacity
    prompt_tokens = prompt.prompt_tokens if isinstance(prompt, ChatRequest) else prompt
    if record is not None:
        record.stream = stream
        record.input_tokens = prompt_tokens
        record.output_tokens = output_tokens
        record.cached_tokens = 0
        record.load_fault = fault
    if fault in ERROR_STATUS:
        retry = max(1, math.ceil(engine.scheduler.drain_estimate_s())) if engine is not None else 1
        return Delivery(context, record, fault, refusal=_fault_overload(fault, retry))
    if engine is None:
        return Delivery(context, record, fault)
    demand = demand_of(prompt, steps, with_prefixes=engine.config.prefix_cache)
    admitted = engine.submit(demand)
    if isinstance(admitted, Refusal):
        if record is not None:
            record.queue_depth_at_arrival = admitted.queue_depth
        return Delivery(context, record, fault, refusal=_queue_full(admitted, engine))
    if record is not None:
        record.cached_tokens = admitted.cached_tokens
        record.queue_depth_at_arrival = admitted.queue_depth_at_arrival
    return Delivery(context, record, fault, state=admitted, arrived_epoch=time.time())


class Delivery:
    """One answer on its way out (see the module docstring); made by :func:`deliver`."""

    def __init__(
        self,
        context: MockContext,
        record: RequestRecord | None,
        load_fault: str | None,
        *,
        refusal: Overload | None = None,
        state: SequenceState | None = None,
        arrived_epoch: float | None = None,
    ) -> None:
        self.refusal = refusal
        self._arrived_epoch = arrived_epoch
        self.load_fault = load_fault
        self._context = context
        self._record = record
        self._state = state
        self._aborted = AbortFlag()
        self._completed = False
        self._cut = False
        self._finished = False

    @property
    def cached_tokens(self) -> int:
        """Prompt tokens served from the simulated prefix cache (0 without one)."""
        return self._state.cached_tokens if self._state is not None else 0

    @property
    def _plain(self) -> bool:
        return self._state is None and self.load_fault is None and self._record is None

    # ------------------------------------------------------------------ streams

    def streaming_response(
        self, rounds: list[bytes], fmt: StreamFormat, *, media_type: str, headers: Mapping[str, str]
    ) -> Response:
        """The streamed answer: ``rounds`` (the family's encoded rounds of events) paced and faulted."""
        cfg = self._context.config
        if self._plain:
            return StreamingResponse(
                paced(rounds, cfg.ttft_ms / 1000.0, cfg.itl_ms / 1000.0), media_type=media_type, headers=headers
            )
        if self._record is not None:
            self._record.deferred = True
        return AbortableStreamingResponse(
            self._rounds(rounds, fmt), self._aborted, media_type=media_type, headers=headers, on_close=self.finish
        )

    async def _rounds(self, rounds: list[bytes], fmt: StreamFormat) -> AsyncIterator[bytes]:
        count = len(rounds)
        fault = self.load_fault
        cut = cut_round(count)
        if fault == "malformed_chunk" and count == 1:
            yield fmt.broken
        for index, chunk in enumerate(rounds):
            if not await self._until_round(index, count):
                return
            if fault == "stall" and index == (cut if count > 1 else 0):
                await asyncio.sleep(self._context.config.load_fault_stall_s)
            ends_early = fault in ("truncate", "disconnect") and index + 1 == cut
            if ends_early and count == 1:
                chunk = fmt.without_last_event(chunk)
            if index == 0 and self._record is not None:
                self._record.first_token_at = time.time()
            yield chunk
            if fault == "malformed_chunk" and index == 0 and count > 1:
                yield fmt.broken
            if ends_early:
                self._cut = True
                self._aborted.value = fault == "disconnect"
                return
        self._completed = True

    async def _until_round(self, index: int, count: int) -> bool:
        """Wait until round ``index`` of ``count`` is due; False when the engine dropped the sequence."""
        engine, state = self._context.capacity, self._state
        if engine is not None and state is not None:
            token = math.ceil((index + 1) * state.demand.output_tokens / count) - 1
            return await engine.wait_token(state, token) is not None
        cfg = self._context.config
        delay = (cfg.ttft_ms if index == 0 else cfg.itl_ms) / 1000.0
        if delay > 0:
            await asyncio.sleep(delay)
        return True

    # ------------------------------------------------------------------ unary answers

    async def wait_unary(self, rounds: int) -> None:
        """Wait as long as the answer takes to generate: its last token from the engine, or TTFT + ITL per
        later round of its ``rounds`` (the rounds its stream would have)."""
        engine, state, record = self._context.capacity, self._state, self._record
        if engine is not None and state is not None:
            await engine.wait_token(state, state.demand.output_tokens - 1)
            if record is not None and state.token_times:
                record.first_token_at = self._epoch(state.token_times[0])
        elif record is None:
            await self._context.unary_delay(rounds)
        else:
            cfg = self._context.config
            if cfg.ttft_ms > 0:
                await asyncio.sleep(cfg.ttft_ms / 1000.0)
            record.first_token_at = time.time()
            if cfg.itl_ms > 0 and rounds > 1:
                await asyncio.sleep(cfg.itl_ms / 1000.0 * (rounds - 1))
        if self.load_fault == "stall":
            await asyncio.sleep(self._context.config.load_fault_stall_s)

    def unary(self, response: Response) -> Response:
        """The unary ``response`` as sent: cut in half under ``truncate`` (a clean end) or ``disconnect``
        (the connection closes after the half)."""
        fault = self.load_fault
        if fault in ("truncate", "disconnect"):
            self._cut = True
            body = bytes(response.body)
            half = body[: len(body) // 2]
            headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
            if fault == "truncate":
                response = Response(half, status_code=response.status_code, headers=headers)
            else:
                self._aborted.value = True
                response = AbortableStreamingResponse(
                    _once(half), self._aborted, status_code=response.status_code, headers=headers
                )
        else:
            self._completed = True
        self.finish()
        return response

    # ------------------------------------------------------------------ the end

    def _epoch(self, engine_time: float) -> float:
        """An engine time as epoch seconds, counted from this request's arrival (so the two clocks cannot
        drift apart within one record)."""
        state, arrived = self._state, self._arrived_epoch
        if state is None or arrived is None:
            return time.time()
        return arrived + (engine_time - state.arrived_at)

    def finish(self) -> None:
        """The answer is over (sent, cut or abandoned): free its slot and complete its record."""
        if self._finished:
            return
        self._finished = True
        engine, state, record = self._context.capacity, self._state, self._record
        if record is not None and state is not None:
            if state.admitted_at is not None:
                record.admitted_at = self._epoch(state.admitted_at)
            record.running_at_admission = state.running_at_admission
        if engine is not None and state is not None:
            engine.release(state)
        if record is not None and record.deferred:
            record.client_disconnected = not (self._completed or self._cut)
            record.status = 200
            self._context.write_record(record)


async def _once(chunk: bytes) -> AsyncIterator[bytes]:
    yield chunk
