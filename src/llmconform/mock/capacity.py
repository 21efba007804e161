"""The mock's capacity model: a bounded waiting queue, a cap on running sequences and an iteration-level
step loop, so latency depends on load the way a continuous-batching inference server's does.

The model (docs/mock-capacity.md; BLIS's step-time regression, mock-realism.md section 2.4):

* A request arrives with its prompt tokens and the number of tokens it will generate. If fewer than
  ``max_running`` sequences run it is admitted at once; else it waits in a FIFO queue of at most
  ``queue_size`` entries; when that is full it is refused (429 with ``Retry-After`` from
  :meth:`Scheduler.drain_estimate_s`).
* The engine runs in steps. One step processes every running sequence: a sequence still in prefill
  gets (a chunk of) its uncached prompt tokens, every other one exactly one new token. A step lasts
  ``step_base_ms + step_per_running_ms * decode_tokens + prefill_ms_per_token * prefill_tokens``,
  times a seeded jitter factor. The step that finishes a sequence's prefill also yields its first
  token. So ITL grows with the batch, TTFT with the uncached prompt length and with the queue wait.
* With ``prefix_cache`` on, a prompt whose leading messages (with the same model, tools and
  response format) were prefilled before is served partly from cache: the longest such prefix, in
  whole blocks of ``prefix_block_tokens`` (at least one prompt token is always computed, as in vLLM).
  Cached tokens cost no prefill time and are reported in each format's cached-token field.

:class:`Scheduler` is the model itself: synchronous, driven by the caller's clock, so tests can run
it on virtual time. :class:`CapacityEngine` drives it on the server's asyncio loop in real time.
No library here does iteration-level batching simulation inside an ASGI server, so both are written
by hand.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import random
import tomllib
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from pydantic import BaseModel, Field, ValidationError

from llmconform.mock.request import ChatRequest
from llmconform.mock.tokenizer import count_prompt_tokens

__all__ = [
    "MAX_JITTER",
    "CapacityConfig",
    "CapacityConfigError",
    "CapacityEngine",
    "Demand",
    "Prefix",
    "Refusal",
    "Scheduler",
    "SequenceState",
    "StepPlan",
    "demand_of",
    "prompt_prefixes",
]

# The largest relative standard deviation of a step's time; the factor itself stays within +-70 %
# (llm-d-inference-sim caps its Gaussian latency spread the same way, mock-realism.md 1.1).
MAX_JITTER = 0.3
_JITTER_CLAMP = 0.7


class CapacityConfigError(ValueError):
    """A capacity config file could not be read; the message names the file and the fix."""


class CapacityConfig(BaseModel, frozen=True, extra="forbid"):
    """The capacity model's parameters (docs/mock-capacity.md); defaults loosely follow a 7-8B model on one
    H100 (mock-realism.md 1.1 and 2)."""

    max_running: int = Field(default=16, ge=1, description="Sequences decoded together at most (vLLM max_num_seqs).")
    queue_size: int = Field(
        default=64, ge=0, description="Requests that may wait for a running slot; one more is refused with 429."
    )
    step_base_ms: float = Field(default=8.0, ge=0.0, description="Fixed time of one engine step in ms (beta0).")
    step_per_running_ms: float = Field(
        default=0.5, ge=0.0, description="Added step time per decode token in the batch in ms (beta2)."
    )
    prefill_ms_per_token: float = Field(
        default=0.05, ge=0.0, description="Added step time per uncached prompt token prefilled in ms (beta1)."
    )
    prefill_chunk_tokens: int | None = Field(
        default=None,
        ge=1,
        description="Chunked prefill: at most this many prompt tokens are prefilled per step, over the whole "
        "batch (None: each prompt's whole prefill in one step).",
    )
    prefix_cache: bool = Field(default=False, description="Serve repeated prompt prefixes from a simulated cache.")
    prefix_block_tokens: int = Field(
        default=16, ge=1, description="Cache block size: cached prefixes count in whole blocks of this many tokens."
    )
    prefix_cache_entries: int = Field(
        default=4096, ge=1, description="Prompt prefixes the cache remembers (least recently used ones go first)."
    )
    jitter: float = Field(
        default=0.0,
        ge=0.0,
        le=MAX_JITTER,
        description=f"Relative standard deviation of each step's time (at most {MAX_JITTER}); 0 for none.",
    )
    seed: int = Field(default=0, description="Seed of the jitter draws.")

    @classmethod
    def from_file(cls, path: Path, **overrides: Any) -> CapacityConfig:
        """The config in a TOML or JSON file (any of the fields above), with ``overrides`` on top."""
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise CapacityConfigError(f"cannot read the capacity config {path}: {exc.strerror or exc}") from None
        try:
            data: Any = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
        except ValueError as exc:
            kind = "JSON" if path.suffix.lower() == ".json" else "TOML"
            raise CapacityConfigError(f"the capacity config {path} is not valid {kind}: {exc}") from None
        if isinstance(data, dict) and isinstance(data.get("capacity"), dict):
            data = data["capacity"]  # a [capacity] table is accepted too
        if not isinstance(data, dict):
            raise CapacityConfigError(f"the capacity config {path} must hold a table of CapacityConfig fields")
        try:
            return cls(**{**data, **overrides})
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}" for e in exc.errors())
            fields = ", ".join(cls.model_fields)
            raise CapacityConfigError(f"the capacity config {path} is invalid ({problems}); fields: {fields}") from None

    def describe(self) -> str:
        """One line naming the settings, for logs and reports."""
        parts = [
            f"max_running {self.max_running}",
            f"queue_size {self.queue_size}",
            f"step {self.step_base_ms:g} ms + {self.step_per_running_ms:g} ms/running",
            f"prefill {self.prefill_ms_per_token:g} ms/token",
        ]
        if self.prefill_chunk_tokens is not None:
            parts.append(f"prefill chunk {self.prefill_chunk_tokens}")
        if self.prefix_cache:
            parts.append(f"prefix cache ({self.prefix_block_tokens}-token blocks)")
        if self.jitter:
            parts.append(f"jitter {self.jitter:g} (seed {self.seed})")
        return ", ".join(parts)


# ------------------------------------------------------------------------------ demands


@dataclass(frozen=True, slots=True)
class Prefix:
    """A leading part of a prompt: its cache key and its prompt tokens."""

    key: bytes
    tokens: int


@dataclass(frozen=True, slots=True)
class Demand:
    """What one request asks of the engine: prompt tokens, tokens to generate (one per step), and the
    prefixes of its prompt the cache may know (shortest first)."""

    prompt_tokens: int
    output_tokens: int
    prefixes: tuple[Prefix, ...] = ()


def _canonical(value: object) -> bytes:
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:  # e.g. an integer beyond 64 bits: any stable encoding will do for a key
        return repr(value).encode()


def prompt_prefixes(chat: ChatRequest) -> tuple[Prefix, ...]:
    """The prefixes of ``chat``'s prompt at each message boundary (1..n messages), each keyed by the model,
    tools, response format and those messages, with its prompt tokens by the mock's formula."""
    tools = [dict(t) for t in chat.tools] or None
    head = hashlib.sha256(_canonical([chat.model, tools, chat.response_format]))
    tokens = count_prompt_tokens([], tools)
    empty = count_prompt_tokens([])
    prefixes: list[Prefix] = []
    for message in chat.messages:
        head.update(_canonical(message))
        tokens += count_prompt_tokens([message]) - empty
        prefixes.append(Prefix(head.copy().digest()[:16], tokens))
    return tuple(prefixes)


# ------------------------------------------------------------------------------ scheduler


@dataclass(eq=False, slots=True)
class SequenceState:
    """One admitted or waiting request inside the scheduler (times are the scheduler's clock)."""

    number: int
    demand: Demand
    cached_tokens: int
    arrived_at: float
    queue_depth_at_arrival: int
    prefill_left: int
    admitted_at: float | None = None
    running_at_admission: int | None = None
    token_times: list[float] = field(default_factory=list)
    finished: bool = False
    cancelled: bool = False

    @property
    def produced(self) -> int:
        return len(self.token_times)

    @property
    def tokens_left(self) -> int:
        return max(self.demand.output_tokens - self.produced, 0)


@dataclass(frozen=True, slots=True)
class Refusal:
    """A request the full queue turned away: when to come back (whole seconds, at least 1)."""

    retry_after_s: int
    drain_s: float
    queue_depth: int
    running: int


@dataclass(frozen=True, slots=True)
class StepPlan:
    """One engine step: when it starts, how long it takes and what it processes."""

    start: float
    duration: float
    prefill: tuple[tuple[SequenceState, int], ...]
    decode: tuple[SequenceState, ...]

    @property
    def end(self) -> float:
        return self.start + self.duration


class Scheduler:
    """The capacity model on the caller's clock (seconds): submit, plan a step, complete it."""

    def __init__(self, config: CapacityConfig) -> None:
        self.config = config
        self.waiting: deque[SequenceState] = deque()
        self.running: list[SequenceState] = []
        self.last_end = -math.inf
        self._rng = random.Random(config.seed)
        self._cache: OrderedDict[bytes, None] = OrderedDict()
        self._numbers = 0

    # ------------------------------------------------------------------ prefix cache

    def _cached_tokens(self, demand: Demand) -> int:
        if not self.config.prefix_cache:
            return 0
        hit = 0
        for prefix in demand.prefixes:
            if prefix.key in self._cache:
                self._cache.move_to_end(prefix.key)
                hit = prefix.tokens
        block = self.config.prefix_block_tokens
        usable = min(hit, demand.prompt_tokens - 1)  # the last prompt token is always computed
        return max(usable // block * block, 0)

    def _remember(self, demand: Demand) -> None:
        if not self.config.prefix_cache:
            return
        for prefix in demand.prefixes:
            self._cache[prefix.key] = None
            self._cache.move_to_end(prefix.key)
        while len(self._cache) > self.config.prefix_cache_entries:
            self._cache.popitem(last=False)

    # ------------------------------------------------------------------ arrivals

    def submit(self, demand: Demand, now: float) -> SequenceState | Refusal:
        """Admit ``demand`` (room in the batch), queue it, or refuse it (queue full)."""
        depth = len(self.waiting)
        if len(self.running) >= self.config.max_running and depth >= self.config.queue_size:
            drain = self.drain_estimate_s()
            return Refusal(max(1, math.ceil(drain)), drain, depth, len(self.running))
        cached = self._cached_tokens(demand)
        self._numbers += 1
        state = SequenceState(
            number=self._numbers,
            demand=demand,
            cached_tokens=cached,
            arrived_at=now,
            queue_depth_at_arrival=depth,
            prefill_left=max(demand.prompt_tokens - cached, 1),
        )
        if len(self.running) < self.config.max_running and not self.waiting:
            self._admit(state, now)
        else:
            self.waiting.append(state)
        return state

    def _admit(self, state: SequenceState, now: float) -> None:
        self.running.append(state)
        state.admitted_at = now
        state.running_at_admission = len(self.running)

    def _admit_waiting(self, now: float) -> None:
        while self.waiting and len(self.running) < self.config.max_running:
            self._admit(self.waiting.popleft(), now)

    def cancel(self, state: SequenceState, now: float) -> None:
        """Forget a sequence whose client went away; its slot goes to the next waiting one."""
        if state.finished or state.cancelled:
            return
        state.cancelled = True
        if state in self.running:
            self.running.remove(state)
        elif state in self.waiting:
            self.waiting.remove(state)
        self._admit_waiting(now)

    # ------------------------------------------------------------------ steps

    def step_ms(self, prefill_tokens: int, decode_tokens: int) -> float:
        """The step time without jitter (the BLIS regression)."""
        cfg = self.config
        return cfg.step_base_ms + cfg.step_per_running_ms * decode_tokens + cfg.prefill_ms_per_token * prefill_tokens

    def _jitter_factor(self) -> float:
        if not self.config.jitter:
            return 1.0
        factor = self._rng.gauss(1.0, self.config.jitter)
        return min(max(factor, 1.0 - _JITTER_CLAMP), 1.0 + _JITTER_CLAMP)

    def plan_step(self, now: float) -> StepPlan | None:
        """The next step (starting at ``now`` or when the last one ended), or None when nothing runs."""
        self._admit_waiting(now)
        if not self.running:
            return None
        budget = self.config.prefill_chunk_tokens or math.inf
        prefill: list[tuple[SequenceState, int]] = []
        decode: list[SequenceState] = []
        for state in self.running:
            if state.prefill_left > 0:
                take = int(min(state.prefill_left, budget))
                if take > 0:
                    prefill.append((state, take))
                    budget -= take
            else:
                decode.append(state)
        prefill_tokens = sum(take for _, take in prefill)
        duration_ms = self.step_ms(prefill_tokens, len(decode)) * self._jitter_factor()
        return StepPlan(max(now, self.last_end), duration_ms / 1000.0, tuple(prefill), tuple(decode))

    def complete_step(self, plan: StepPlan, end: float | None = None) -> list[SequenceState]:
        """Apply ``plan`` at its end: prefill progress, one token per decoding sequence, first tokens for
        finished prefills; finished sequences leave and waiting ones take their slots. Returns the
        sequences that got a token."""
        at = plan.end if end is None else end
        advanced: list[SequenceState] = []
        for state, take in plan.prefill:
            if state.cancelled:
                continue
            state.prefill_left -= take
            if state.prefill_left <= 0:
                state.prefill_left = 0
                state.token_times.append(at)
                self._remember(state.demand)
                advanced.append(state)
        for state in plan.decode:
            if not state.cancelled:
                state.token_times.append(at)
                advanced.append(state)
        for state in advanced:
            if state.produced >= state.demand.output_tokens:
                state.finished = True
                self.running.remove(state)
        self.last_end = at
        self._admit_waiting(at)
        return advanced

    def drain_estimate_s(self) -> float:
        """Seconds until what is running and queued now would be done, at a full batch's step time."""
        states = [*self.running, *self.waiting]
        if not states:
            return 0.0
        batch = min(self.config.max_running, len(states))
        decode_steps = math.ceil(sum(s.tokens_left for s in states) / batch)
        prefill_tokens = sum(s.prefill_left for s in states)
        return (self.step_ms(0, batch) * decode_steps + self.config.prefill_ms_per_token * prefill_tokens) / 1000.0


# ------------------------------------------------------------------------------ engine


class CapacityEngine:
    """The scheduler on an asyncio loop in real time: one per mock app, its task started by the first request.

    Step times are planned back to back (a step starts when the previous one was due to end), so a loop
    that wakes late does not stretch the model's timeline; tokens are stamped with the planned end.
    """

    def __init__(self, config: CapacityConfig) -> None:
        self.config = config
        self.scheduler = Scheduler(config)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        self._events: dict[int, asyncio.Event] = {}

    def _bind(self) -> asyncio.AbstractEventLoop:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # first use, or a new loop (an app reused by another server)
            self._loop = loop
            self.scheduler = Scheduler(self.config)
            self._events.clear()
            self._wake = asyncio.Event()
            self._task = None
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._run(), name="llmconform-mock-capacity")
        return loop

    def now(self) -> float:
        """The engine's clock (the loop's monotonic time)."""
        return asyncio.get_running_loop().time()

    def submit(self, demand: Demand) -> SequenceState | Refusal:
        """Admit, queue or refuse a request (see :meth:`Scheduler.submit`)."""
        loop = self._bind()
        result = self.scheduler.submit(demand, loop.time())
        if isinstance(result, SequenceState):
            self._events[result.number] = asyncio.Event()
            assert self._wake is not None
            self._wake.set()
        return result

    async def wait_token(self, state: SequenceState, index: int) -> float | None:
        """Wait until ``state`` has produced token ``index`` (0-based); its time, or None once it was cancelled."""
        event = self._events.get(state.number)
        while state.produced <= index:
            if state.cancelled or event is None:
                return None
            event.clear()
            await event.wait()
        return state.token_times[index]

    def release(self, state: SequenceState) -> None:
        """The request is answered or abandoned: drop its waiter, and its slot when it is still running."""
        if not state.finished:
            self.scheduler.cancel(state, self.now())
        event = self._events.pop(state.number, None)
        if event is not None:
            event.set()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        scheduler = self.scheduler
        wake = self._wake
        assert wake is not None
        while True:
            plan = scheduler.plan_step(loop.time())
            if plan is None:
                wake.clear()
                await wake.wait()
                continue
            delay = plan.end - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                await asyncio.sleep(0)  # let the handlers run between steps that are already due
            for state in scheduler.complete_step(plan):
                event = self._events.get(state.number)
                if event is not None:
                    event.set()


def demand_of(prompt: ChatRequest | int, output_tokens: int, *, with_prefixes: bool = False) -> Demand:
    """The engine's view of a request: a chat request (its prompt, and its prefixes when the cache wants
    them) or a bare prompt size (embeddings)."""
    if isinstance(prompt, ChatRequest):
        prefixes = prompt_prefixes(prompt) if with_prefixes else ()
        return Demand(prompt.prompt_tokens, max(output_tokens, 1), prefixes)
    return Demand(max(prompt, 0), max(output_tokens, 1))
