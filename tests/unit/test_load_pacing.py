"""The pacer on a fake clock: closed loop, open-loop arrival schedules, quotas, and in-flight accounting."""

from __future__ import annotations

import itertools
import statistics

import pytest
from tests.builders import load_plan as plan

from llmconform.load.measure import Timing
from llmconform.load.pacing import Pacer, Slot
from llmconform.load.plan import Arrival, LoadPlan, WorkloadSpec

T0 = 500.0


class FakeClock:
    """A perf_counter stand-in: ``sleep`` advances it by exactly the requested time and remembers it."""

    def __init__(self, now: float = T0) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds > 0
        self.sleeps.append(seconds)
        self.now += seconds

    def advance(self, seconds: float) -> None:
        self.now += seconds


def pacer(load: LoadPlan, clock: FakeClock, index: int = 0, count: int = 1) -> Pacer:
    result = Pacer(load, index, count, clock=clock, sleep=clock.sleep)
    result.start()
    return result


def claim_all(source: Pacer, *, limit: int = 100_000) -> list[Slot]:
    """Take slots one after another, each request finishing at once (released before the next claim)."""
    slots: list[Slot] = []
    while (slot := source.next_slot()) is not None:
        slots.append(slot)
        source.release()
        assert len(slots) <= limit, "the pacer never ran out"
    return slots


# --- closed loop ----------------------------------------------------------------------------------------


def test_closed_loop_hands_out_slots_immediately_until_the_duration_ends() -> None:
    clock = FakeClock()
    source = pacer(plan(users=4, duration_s=1.0), clock)
    intended: list[float] = []
    while (slot := source.next_slot()) is not None:
        assert slot.intended == clock.now  # sent the moment it is asked for
        assert not slot.warmup
        intended.append(slot.intended)
        source.release()
        clock.advance(0.3)  # the request took 300 ms
    assert intended == pytest.approx([T0, T0 + 0.3, T0 + 0.6, T0 + 0.9])
    assert clock.sleeps == []  # a closed loop never waits
    assert source.end == T0 + 1.0
    assert source.done


def test_closed_loop_users_take_slots_concurrently_without_waiting() -> None:
    clock = FakeClock()
    source = pacer(plan(users=3, duration_s=1.0), clock)
    slots = [source.next_slot() for _ in range(3)]
    assert all(s is not None and s.intended == T0 for s in slots)
    assert source.in_flight == 3
    assert clock.sleeps == []


# --- open loop: constant arrivals -----------------------------------------------------------------------


def test_constant_open_loop_spaces_intended_times_exactly_one_over_the_rate() -> None:
    clock = FakeClock()
    source = pacer(plan(rate=4.0, duration_s=1.0), clock)
    slots = claim_all(source)
    assert [s.intended for s in slots] == [T0, T0 + 0.25, T0 + 0.5, T0 + 0.75]  # 1/4 s is exact in binary
    assert clock.sleeps == [0.25, 0.25, 0.25]  # each user slept until its slot
    assert source.done


def test_constant_open_loop_rate_and_duration_give_rate_times_duration_slots() -> None:
    clock = FakeClock()
    slots = claim_all(pacer(plan(rate=50.0, duration_s=2.0), clock))
    assert len(slots) == 100
    gaps = [b.intended - a.intended for a, b in itertools.pairwise(slots)]
    assert gaps == pytest.approx([0.02] * 99, abs=1e-9)


def test_a_late_claimer_gets_an_intended_time_in_the_past() -> None:
    """The coordinated-omission guarantee: a missed slot is sent late and its lag measured, never dropped."""
    clock = FakeClock()
    source = pacer(plan(rate=10.0, duration_s=10.0), clock)
    first = source.next_slot()
    assert first is not None and first.intended == T0
    clock.advance(0.5)  # every user was busy for 500 ms: slots at +0.1 .. +0.5 were missed
    late = [source.next_slot() for _ in range(5)]
    assert [s.intended for s in late if s is not None] == pytest.approx(
        [T0 + 0.1, T0 + 0.2, T0 + 0.3, T0 + 0.4, T0 + 0.5]
    )
    assert clock.sleeps == []  # no waiting: they are due already
    sent = clock.now
    lags = [Timing(intended=s.intended, sent=sent).lag_s for s in late if s is not None]
    assert lags == pytest.approx([0.4, 0.3, 0.2, 0.1, 0.0], abs=1e-9)
    assert source.in_flight == 6
    following = source.next_slot()  # back on schedule: the next slot is in the future again
    assert following is not None and following.intended == pytest.approx(T0 + 0.6)
    assert clock.sleeps == pytest.approx([0.1])


def test_open_loop_slots_run_out_at_the_duration_end_even_when_claimed_late() -> None:
    clock = FakeClock()
    source = pacer(plan(rate=10.0, duration_s=1.0), clock)
    clock.advance(5.0)  # stalled past the end: the 10 scheduled slots are still handed out, late
    slots = claim_all(source)
    assert len(slots) == 10
    assert slots[0].intended == T0
    assert all(s.intended < T0 + 1.0 for s in slots)


# --- open loop: Poisson arrivals ------------------------------------------------------------------------


def poisson_times(
    seed: int, *, index: int = 0, count: int = 1, requests: int = 2000, rate: float = 100.0
) -> list[float]:
    load = plan(
        rate=rate, arrival=Arrival.POISSON, duration_s=None, requests=requests, workload=WorkloadSpec(seed=seed)
    )
    return [s.intended for s in claim_all(pacer(load, FakeClock(), index, count))]


def test_poisson_arrivals_are_seeded() -> None:
    assert poisson_times(7) == poisson_times(7)
    assert poisson_times(7) != poisson_times(8)
    assert poisson_times(7, index=0, count=2) != poisson_times(7, index=1, count=2)


def test_poisson_gaps_are_exponential_with_mean_one_over_the_rate() -> None:
    times = poisson_times(3, requests=5000, rate=100.0)
    gaps = [b - a for a, b in itertools.pairwise([T0, *times])]  # the first gap runs from the start
    assert len(gaps) == 5000
    assert all(gap > 0 for gap in gaps)
    mean = statistics.fmean(gaps)
    assert mean == pytest.approx(1 / 100.0, rel=0.05)
    assert statistics.pstdev(gaps) / mean == pytest.approx(1.0, rel=0.1)  # exponential: stdev == mean


def test_poisson_process_rate_is_split_across_processes() -> None:
    times = poisson_times(5, index=1, count=4, requests=4000, rate=100.0)
    assert len(times) == 1000  # a quarter of the requests ...
    assert times[-1] - T0 == pytest.approx(1000 / 25.0, rel=0.05)  # ... at a quarter of the rate, 25/s


# --- several processes ----------------------------------------------------------------------------------


def test_two_processes_take_half_the_rate_each_and_their_constant_schedules_interleave() -> None:
    load = plan(rate=10.0, duration_s=1.0)
    first = claim_all(pacer(load, FakeClock(), 0, 2))
    second = claim_all(pacer(load, FakeClock(), 1, 2))
    assert len(first) == len(second) == 5  # 10/s for 1 s, half each
    assert [s.intended - T0 for s in first] == pytest.approx([0.0, 0.2, 0.4, 0.6, 0.8])
    assert [s.intended - T0 for s in second] == pytest.approx([0.1, 0.3, 0.5, 0.7, 0.9])
    merged = sorted(s.intended for s in first + second)
    gaps = [b - a for a, b in itertools.pairwise(merged)]
    assert gaps == pytest.approx([0.1] * 9, abs=1e-9)


def test_three_processes_interleave_evenly() -> None:
    load = plan(rate=30.0, duration_s=1.0)
    merged = sorted(s.intended for index in range(3) for s in claim_all(pacer(load, FakeClock(), index, 3)))
    assert len(merged) == 30
    gaps = [b - a for a, b in itertools.pairwise(merged)]
    assert gaps == pytest.approx([1 / 30] * 29, abs=1e-9)


@pytest.mark.parametrize("rate", [None, 100.0])
def test_the_request_quota_is_split_across_processes(rate: float | None) -> None:
    load = plan(rate=rate, duration_s=None, requests=10)
    shares = [len(claim_all(pacer(load, FakeClock(), index, 3))) for index in range(3)]
    assert shares == [4, 3, 3]


def test_a_request_quota_smaller_than_the_process_count_leaves_some_processes_idle() -> None:
    load = plan(duration_s=None, requests=2)
    assert [len(claim_all(pacer(load, FakeClock(), index, 3))) for index in range(3)] == [1, 1, 0]


def test_the_request_quota_ends_a_run_before_its_duration() -> None:
    clock = FakeClock()
    slots = claim_all(pacer(plan(rate=10.0, duration_s=60.0, requests=7), clock))
    assert len(slots) == 7
    assert clock.now == pytest.approx(T0 + 0.6)


# --- warm-up --------------------------------------------------------------------------------------------


def test_closed_loop_warmup_slots_do_not_count_toward_the_quota() -> None:
    clock = FakeClock()
    source = pacer(plan(duration_s=None, requests=2, warmup_s=1.0), clock)
    slots: list[Slot] = []
    while (slot := source.next_slot()) is not None:
        slots.append(slot)
        source.release()
        clock.advance(0.4)
    assert [s.warmup for s in slots] == [True, True, True, False, False]  # 0, 0.4, 0.8 | 1.2, 1.6
    assert source.issued == 5
    assert source.measured_issued == 2


def test_open_loop_warmup_slots_do_not_count_toward_the_quota() -> None:
    slots = claim_all(pacer(plan(rate=2.0, duration_s=None, requests=3, warmup_s=1.0), FakeClock()))
    assert [(s.intended - T0, s.warmup) for s in slots] == [
        (0.0, True),
        (0.5, True),
        (1.0, False),  # the warm-up ends at 1.0 s: a slot at exactly 1.0 is measured
        (1.5, False),
        (2.0, False),
    ]


def test_the_duration_runs_after_the_warmup() -> None:
    source = pacer(plan(rate=4.0, duration_s=1.0, warmup_s=0.5), FakeClock())
    slots = claim_all(source)
    assert source.end == T0 + 1.5
    assert [s.warmup for s in slots] == [True, True] + [False] * 4


# --- in flight and done ---------------------------------------------------------------------------------


def test_done_only_when_exhausted_and_nothing_is_in_flight() -> None:
    clock = FakeClock()
    source = pacer(plan(duration_s=None, requests=1), clock)
    assert not source.done
    slot = source.next_slot()
    assert slot is not None
    assert source.in_flight == 1
    assert not source.done
    assert source.next_slot() is None  # the quota is spent ...
    assert source.exhausted
    assert not source.done  # ... but a request is still in flight
    source.release()
    assert source.in_flight == 0
    assert source.done
    assert source.next_slot() is None


def test_done_when_the_duration_passes_without_a_further_claim() -> None:
    clock = FakeClock()
    source = pacer(plan(rate=1.0, duration_s=2.0), clock)
    assert source.next_slot() is not None
    clock.advance(1.0)
    assert not source.done  # in flight, and the duration is not over
    source.release()
    assert not source.done  # nothing in flight, but the duration is not over
    clock.advance(1.0)
    assert source.done  # the clock reached the end: no slot will be handed out
    assert source.exhausted


class Stopped(BaseException):
    """Stands in for locust stopping a user (GreenletExit) while it sleeps towards its slot."""


def test_a_sleep_interrupted_by_an_exception_releases_its_in_flight_slot() -> None:
    clock = FakeClock()

    def interrupted(seconds: float) -> None:
        raise Stopped

    source = Pacer(plan(rate=1.0, duration_s=10.0), clock=clock, sleep=interrupted)
    source.start()
    assert source.next_slot() is not None  # due at once: no sleep
    with pytest.raises(Stopped):
        source.next_slot()  # due in 1 s: the sleep is interrupted
    assert source.in_flight == 1  # only the first slot's request
    source.release()
    assert source.in_flight == 0


def test_the_schedule_clock_starts_on_first_use_when_not_started() -> None:
    clock = FakeClock()
    source = Pacer(plan(rate=2.0, duration_s=1.0), clock=clock, sleep=clock.sleep)
    clock.advance(3.0)
    slot = source.next_slot()
    assert slot is not None and slot.intended == T0 + 3.0
    assert source.started_at == T0 + 3.0


@pytest.mark.parametrize(("rate", "origin"), [(10.0, 0.0), (7.0, 0.0), (7.0, 1.0)])
def test_a_constant_schedule_has_rate_times_duration_slots_whatever_the_clock_origin(
    rate: float, origin: float
) -> None:
    slots = claim_all(pacer(plan(rate=rate, duration_s=1.0), FakeClock(origin)))
    assert len(slots) == rate


# --- the --max-rate ceiling ---------------------------------------------------------------------------


@pytest.mark.parametrize(("count", "index"), [(1, 0), (4, 2)])
def test_max_rate_spaces_closed_loop_sends_so_the_run_never_exceeds_it(count: int, index: int) -> None:
    clock = FakeClock()
    source = pacer(plan(users=8, duration_s=2.0, max_rate=10.0), clock, index, count)
    slots = claim_all(source)
    gaps = [later.intended - earlier.intended for earlier, later in itertools.pairwise(slots)]
    # Each of `count` processes sends at most max_rate / count per second: 20 / count slots in 2 s.
    assert len(slots) == 20 // count
    assert min(gaps) == pytest.approx(count / 10.0)


def test_without_a_ceiling_closed_loop_sends_as_fast_as_answers_come() -> None:
    clock = FakeClock()
    source = pacer(plan(users=8, duration_s=0.01), clock)
    for _ in range(50):  # answers take 0.1 ms: 50 sends in 5 ms, far above any ceiling
        assert source.next_slot() is not None
        source.release()
        clock.advance(0.0001)
    assert not clock.sleeps
