"""When each request of one locust process is meant to be sent: closed loop or an arrival schedule.

Locust's users are closed loops (a user sends, waits for the answer, sends again) and its pacing
wait-times drop missed slots without a trace (coordinated omission by design). Open-loop arrivals
therefore live here, written by hand: the process's users take send slots from one shared schedule
(constant gaps, or exponential gaps for a Poisson process, seeded), sleep until their slot, and
send. When every user is busy the next slot is taken late; the lateness is the scheduling lag, and
latencies run from the intended time, so a stall shows in the numbers instead of thinning the load.

With W worker processes each takes rate/W, offset by its index so the merged arrivals interleave.
A ``max_rate`` ceiling holds closed-loop users too: each process spaces its sends at least W/max_rate
apart, so the whole run never exceeds the ceiling whatever the server's speed.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from llmconform.load.plan import Arrival, LoadPlan

__all__ = ["Pacer", "Slot"]


@dataclass(frozen=True, slots=True)
class Slot:
    """One send slot: its intended time (perf_counter seconds) and whether it falls in the warm-up."""

    intended: float
    warmup: bool


class Pacer:
    """Hands out the send slots of one process until the plan's duration or request count is spent."""

    def __init__(
        self,
        plan: LoadPlan,
        process_index: int = 0,
        process_count: int = 1,
        *,
        clock: Callable[[], float] = time.perf_counter,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.plan = plan
        self._clock = clock
        self._sleep = sleep
        self._index = process_index
        self._count = max(process_count, 1)
        self._rng = random.Random(f"{plan.workload.seed}:arrivals:{process_index}")
        self._start: float | None = None
        self._next_offset = 0.0
        self._slots_scheduled = 0
        self._total_rate = plan.rate or 0.0
        # Closed loop under --max-rate: sends go at least this far apart, counted from an origin (the
        # last send that found the ceiling idle) times a whole number of gaps, so no drift adds a slot.
        self._ceiling_gap = self._count / plan.max_rate if plan.max_rate is not None else 0.0
        self._ceiling_origin = -math.inf
        self._ceiling_sent = 0
        self._quota = _share(plan.requests, process_index, self._count) if plan.requests is not None else None
        self.issued = 0
        self.measured_issued = 0
        self.in_flight = 0
        self.exhausted = False
        if plan.rate is not None:
            local_rate = plan.rate / self._count
            # Interleave the workers' constant schedules; Poisson processes merge into one by themselves.
            self._next_offset = process_index / plan.rate if plan.arrival is Arrival.CONSTANT else 0.0
            self._local_rate = local_rate
            if plan.arrival is Arrival.POISSON:
                self._next_offset = self._rng.expovariate(local_rate)

    def start(self) -> None:
        """Start the schedule's clock (test start in this process)."""
        self._start = self._clock()

    @property
    def started_at(self) -> float:
        if self._start is None:
            self.start()
        assert self._start is not None
        return self._start

    @property
    def end(self) -> float | None:
        """The perf_counter time after which no slot is handed out (None: only the request count ends it)."""
        if self.plan.duration_s is None:
            return None
        return self.started_at + self.plan.warmup_s + self.plan.duration_s

    def seconds_left(self) -> float | None:
        """Seconds until the run's end (None: only the request count ends it)."""
        end = self.end
        return None if end is None else max(end - self._clock(), 0.0)

    def next_slot(self) -> Slot | None:
        """Block until the next send time and return its slot; None when the plan is spent."""
        if self.exhausted:
            return None
        start = self.started_at
        if self.plan.rate is None:
            now = self._clock()
            allowed = self._ceiling_origin + self._ceiling_sent * self._ceiling_gap
            if now >= allowed:
                intended, self._ceiling_origin, self._ceiling_sent = now, now, 1
            else:
                intended = allowed
                self._ceiling_sent += 1
        else:
            intended = start + self._next_offset
            if self.plan.arrival is Arrival.POISSON:
                self._next_offset += self._rng.expovariate(self._local_rate)
            else:
                # Multiplied, not accumulated: slot k is due at exactly (index + k * count) / rate (adding
                # 1/rate k times drifts, and a slot due exactly at the end could land inside the run).
                self._slots_scheduled += 1
                self._next_offset = (self._index + self._slots_scheduled * self._count) / self._total_rate
        end = self.end
        warmup = intended - start < self.plan.warmup_s
        if (end is not None and intended >= end) or (
            not warmup and self._quota is not None and self.measured_issued >= self._quota
        ):
            self.exhausted = True
            return None
        self.issued += 1
        self.measured_issued += int(not warmup)
        self.in_flight += 1
        delay = intended - self._clock()
        if delay > 0:
            try:
                self._sleep(delay)
            except BaseException:  # the user was stopped while it waited for its slot
                self.in_flight -= 1
                raise
        return Slot(intended=intended, warmup=warmup)

    def release(self) -> None:
        """The request of a slot has finished (or was never sent)."""
        self.in_flight -= 1

    @property
    def done(self) -> bool:
        """True when no slot will be handed out any more and no request is in flight."""
        if not self.exhausted and self.end is not None and self._clock() >= self.end:
            self.exhausted = True
        return self.exhausted and self.in_flight == 0


def _share(total: int, index: int, count: int) -> int:
    """This process's part of ``total`` requests (the first ``total % count`` processes take one more)."""
    return total // count + int(index < total % count)
