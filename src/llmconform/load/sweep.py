"""``llmconform load --sweep``: the highest request rate a target sustains within the SLOs.

A sweep is a series of open-loop runs (points), each one a whole load run at a fixed rate with its own
report in ``sweep/rate-R/``. It first climbs geometrically (``start_rate``, then times ``factor``) until a
point breaks an SLO, is saturated (it completes clearly fewer requests per second than were offered, or
too many fail, 429s included) or the ceiling (``--max-rate``) is reached; then it bisects between the
highest point that held and the lowest that did not, ``refine_steps`` times. The answer is the highest
measured rate that met every SLO. Latency is measured from each request's intended send time, so a
queue that builds past the knee shows as rising TTFT instead of as fewer requests.

The search is written by hand: load tools that sweep (GuideLLM, AIPerf) spread rates evenly between a
synchronous and a throughput run and report every point; none stops at the first broken SLO and narrows
in on the boundary, which is what a capacity answer needs, on a live target that bills per request.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from llmconform.load.plan import LoadPlan

__all__ = [
    "SweepPoint",
    "SweepSettings",
    "completion_rate",
    "judge_point",
    "point_summary",
    "run_sweep",
    "sweep_budget",
]

# A per-request SLO (ttft_ms=500) holds at a point when at least this share of its requests met it.
GOODPUT_SHARE = 0.95


class SweepSettings(BaseModel):
    """How the sweep picks its rates and when it calls a point saturated."""

    model_config = ConfigDict(frozen=True)

    start_rate: Annotated[float, Field(gt=0)] = 1.0
    factor: Annotated[float, Field(gt=1)] = 2.0
    max_points: Annotated[int, Field(ge=2)] = 10
    refine_steps: Annotated[int, Field(ge=0)] = 3
    # The ceiling (--max-rate): the climb never offers more.
    max_rate: Annotated[float, Field(gt=0)] | None = None
    # Saturated: fewer than this share of the offered rate completed per second.
    saturation_share: Annotated[float, Field(gt=0, le=1)] = 0.9
    # Saturated (and failing the SLOs): more than this share of requests failed.
    max_error_rate: Annotated[float, Field(ge=0, le=1)] = 0.05


class SweepPoint(BaseModel):
    """One measured rate, as load.json's ``sweep.points`` lists it."""

    rate: float
    latency_ms: dict[str, dict[str, float]]
    throughput: dict[str, float | None]
    # Successful requests per second while the target kept pace (see completion_rate).
    completion_rate: float
    error_rate: float
    meets_slos: bool
    saturated: bool
    slos: dict[str, Any]
    requests: int
    report_dir: str


def point_summary(rate: float, document: dict[str, Any], report_dir: str, settings: SweepSettings) -> SweepPoint:
    """The sweep's view of one point's load.json: its latencies, throughput, errors and SLO verdicts."""
    requests = document.get("requests", {})
    total = int(requests.get("total", 0))
    failed = int(requests.get("failed", 0))
    error_rate = failed / total if total else 1.0
    latency = {
        name: {k: float(v) for k, v in summary.items() if k in ("p50", "p90", "p95", "p99", "max", "mean")}
        for name, summary in document.get("latency_ms", {}).items()
        if summary and name in ("ttft", "itl", "tpot", "e2e", "lag")
    }
    throughput = dict(document.get("throughput", {}))
    completed = completion_rate(document)
    slos = dict(document.get("slos", {}))
    meets, saturated = judge_point(rate, completed, error_rate, slos, settings, total)
    return SweepPoint(
        rate=rate,
        latency_ms=latency,
        throughput=throughput,
        completion_rate=round(completed, 4),
        error_rate=round(error_rate, 6),
        meets_slos=meets,
        saturated=saturated,
        slos=slos,
        requests=total,
        report_dir=report_dir,
    )


def completion_rate(document: dict[str, Any]) -> float:
    """Successful requests per second, over the run less one typical request's time.

    A run's own throughput divides by the time from the first intended send to the last answer, which
    includes the last request's latency: at 8 requests/s for 2 s with 330 ms answers it reads 6.9/s though
    the target kept pace. Taking the median end-to-end latency off the span measures the pace itself; a
    saturated target falls behind by far more than one request's time, so its rate stays low.
    """
    ok = int(document.get("requests", {}).get("ok", 0))
    span = float(document.get("duration_s") or 0.0)
    typical_s = float(document.get("latency_ms", {}).get("e2e", {}).get("p50") or 0.0) / 1000.0
    pace_span = span - typical_s
    return ok / pace_span if ok and pace_span > 0 else 0.0


def judge_point(
    rate: float,
    completed: float,
    error_rate: float,
    slos: dict[str, Any],
    settings: SweepSettings,
    total: int,
) -> tuple[bool, bool]:
    """(meets every SLO, saturated) for one point."""
    saturated = total == 0 or completed < settings.saturation_share * rate or error_rate > settings.max_error_rate
    held = []
    for verdict in slos.values():
        if "met" in verdict:
            held.append(bool(verdict["met"]))
        else:  # per-request SLO: judged on the share of requests that met it
            of = verdict.get("of") or 0
            held.append(bool(of) and verdict.get("met_by", 0) / of >= GOODPUT_SHARE)
    meets = not saturated and all(held)
    return meets, saturated


def sweep_budget(plan: LoadPlan, settings: SweepSettings) -> int | None:
    """The most requests a sweep can send: every point at the ceiling (None without one)."""
    if settings.max_rate is None or plan.duration_s is None:
        return None
    return settings.max_points * math.ceil(settings.max_rate * (plan.duration_s + plan.warmup_s))


def run_sweep(
    settings: SweepSettings,
    measure: Callable[[float], SweepPoint],
    say: Callable[[str], None],
) -> tuple[list[SweepPoint], float | None, list[str]]:
    """Measure points until the boundary is found; return them (by rate), the max rate and notes."""
    points: dict[float, SweepPoint] = {}
    notes: list[str] = []

    def take(rate: float) -> SweepPoint:
        point = measure(rate)
        points[rate] = point
        state = "meets the SLOs" if point.meets_slos else ("saturated" if point.saturated else "breaks an SLO")
        ttft = point.latency_ms.get("ttft", {}).get("p95")
        shown = f", TTFT p95 {ttft:.0f} ms" if ttft is not None else ""
        say(f"sweep: {rate:g} requests/s offered, {point.completion_rate:.2f}/s completed{shown}: {state}")
        return point

    good: float | None = None
    bad: float | None = None
    rate = settings.start_rate if settings.max_rate is None else min(settings.start_rate, settings.max_rate)
    while len(points) < settings.max_points:
        point = take(rate)
        if not point.meets_slos:
            bad = rate
            break
        good = rate
        if settings.max_rate is not None and rate >= settings.max_rate:
            notes.append(
                f"the SLOs still held at the ceiling --max-rate {settings.max_rate:g}; the target may carry more"
            )
            break
        rate = _round_rate(rate * settings.factor)
        if settings.max_rate is not None:
            rate = min(rate, settings.max_rate)
    if bad is not None and good is None:
        notes.append(f"the first point ({bad:g} requests/s) already broke the SLOs; start lower with --sweep-start")
    for _ in range(settings.refine_steps):
        if good is None or bad is None or len(points) >= settings.max_points:
            break
        middle = _round_rate((good + bad) / 2)
        if middle in points or middle <= good or middle >= bad:
            break
        if take(middle).meets_slos:
            good = middle
        else:
            bad = middle
    if len(points) >= settings.max_points and bad is None:
        notes.append(f"the sweep stopped after {settings.max_points} points without breaking an SLO")
    return [points[r] for r in sorted(points)], good, notes


def _round_rate(rate: float) -> float:
    """Rates to 3 significant digits, so point names and reports stay readable."""
    if rate <= 0:
        return rate
    digits = 2 - math.floor(math.log10(rate))
    return round(rate, max(digits, 0))
