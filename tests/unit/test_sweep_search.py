"""The sweep's search on a fake target whose capacity is known: it climbs, stops at the first point that
breaks an SLO or saturates, bisects towards the boundary, and keeps to its ceiling and point budget."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from llmconform.load.sweep import SweepPoint, SweepSettings, completion_rate, judge_point, run_sweep


def fake_target(capacity: float) -> tuple[list[float], Callable[[float], SweepPoint]]:
    offered: list[float] = []

    def measure(rate: float) -> SweepPoint:
        offered.append(rate)
        keeps_pace = rate <= capacity
        return SweepPoint(
            rate=rate,
            latency_ms={"ttft": {"p95": 50.0 if keeps_pace else 5000.0}},
            throughput={},
            completion_rate=min(rate, capacity),
            error_rate=0.0,
            meets_slos=keeps_pace,
            saturated=not keeps_pace,
            slos={},
            requests=int(rate * 10),
            report_dir=f"sweep/rate-{rate:g}",
        )

    return offered, measure


def test_the_sweep_climbs_then_narrows_in_on_the_capacity() -> None:
    offered, measure = fake_target(capacity=21.0)
    points, best, notes = run_sweep(SweepSettings(start_rate=2, factor=2, refine_steps=3), measure, lambda _: None)
    assert offered[:5] == [2, 4, 8, 16, 32]  # the climb stops at the first point that breaks
    assert offered[5:] == [24, 20, 22]  # bisection between 16 (held) and 32 (broke)
    assert best == 20 and not notes
    assert [p.rate for p in points] == sorted(offered)


def test_the_ceiling_bounds_every_offered_rate() -> None:
    offered, measure = fake_target(capacity=1000.0)
    _, best, notes = run_sweep(SweepSettings(start_rate=2, factor=2, max_rate=10), measure, lambda _: None)
    assert offered == [2, 4, 8, 10] and best == 10
    assert "still held at the ceiling --max-rate 10" in notes[0]


def test_a_first_point_that_breaks_says_to_start_lower() -> None:
    offered, measure = fake_target(capacity=0.5)
    _, best, notes = run_sweep(SweepSettings(start_rate=2), measure, lambda _: None)
    assert offered == [2] and best is None
    assert "--sweep-start" in notes[0]


def test_the_point_budget_ends_a_sweep_that_never_breaks() -> None:
    offered, measure = fake_target(capacity=1e9)
    _, best, notes = run_sweep(SweepSettings(start_rate=1, max_points=4), measure, lambda _: None)
    assert offered == [1, 2, 4, 8] and best == 8
    assert "after 4 points" in notes[0]


def test_completion_rate_takes_one_typical_request_off_the_span() -> None:
    # 16 ok requests offered at 8/s over 2 s; the last answer ends 0.33 s after the window.
    document = {"requests": {"ok": 16}, "duration_s": 2.33, "latency_ms": {"e2e": {"p50": 330.0}}}
    assert completion_rate(document) == pytest.approx(8.0)
    assert completion_rate({"requests": {"ok": 0}, "duration_s": 2.0, "latency_ms": {}}) == 0.0


@pytest.mark.parametrize(
    ("completed", "error_rate", "slos", "expected"),
    [
        (9.5, 0.0, {"ttft_p95_ms": {"met": True}}, (True, False)),
        (9.5, 0.0, {"ttft_p95_ms": {"met": False}}, (False, False)),
        (7.0, 0.0, {}, (False, True)),  # fell behind: saturated
        (9.5, 0.2, {}, (False, True)),  # too many failures (429s included)
        (9.5, 0.0, {"ttft_ms": {"met_by": 96, "of": 100}}, (True, False)),
        (9.5, 0.0, {"ttft_ms": {"met_by": 90, "of": 100}}, (False, False)),
    ],
)
def test_a_point_meets_its_slos_only_when_it_keeps_pace(
    completed: float, error_rate: float, slos: dict[str, dict[str, object]], expected: tuple[bool, bool]
) -> None:
    assert judge_point(10.0, completed, error_rate, slos, SweepSettings(), total=100) == expected
