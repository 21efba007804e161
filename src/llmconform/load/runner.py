"""One ``llmconform load`` run from start to report: target, model, locust, calibration, files.

The CLI builds the options, this module runs them: it starts the embedded mock when there is no
URL, resolves the model, runs locust (engine.py), optionally calibrates the generator against a
zero-latency mock at the rate the run reached, and writes load.json, the HTML report and returns
the exit code with the document for the console summary.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from llmconform import versions
from llmconform.load.collector import WORKER_JOURNALS
from llmconform.load.engine import (
    EMBEDDING_SCENARIOS,
    LoadRunFailed,
    LocustRun,
    MockSettings,
    embedded_mock,
    resolve_model,
    run_locust,
)
from llmconform.load.plan import Arrival, LoadPlan
from llmconform.load.sweep import SweepPoint, SweepSettings, point_summary, run_sweep, sweep_budget
from llmconform.load.tally import ALL, Tally
from llmconform.mock import DEFAULT_API_KEY, MockServer
from llmconform.redact import Redactor
from llmconform.report.load_json import load_document, write_load_json

__all__ = ["LoadOutcome", "LoadRequest", "calibrate", "run_load"]

CALIBRATION_SECONDS = 5.0
# The embedded mock's server-side record of a load run (llmconform.mock.record), in the report directory.
MOCK_RECORD = "mock-record.jsonl"


@dataclass(slots=True)
class LoadRequest:
    """The load run as the CLI understood it (the plan, before the target and model are known)."""

    plan: LoadPlan
    api_key: str | None
    mock_settings: MockSettings = field(default_factory=MockSettings)
    calibrate: bool = False
    remote_workers: int = 0
    master_port: int | None = None
    command: list[str] = field(default_factory=list)
    # --sweep: a series of open-loop runs instead of one (llmconform.load.sweep).
    sweep: SweepSettings | None = None


@dataclass(slots=True)
class LoadOutcome:
    """What the run produced: the report document, the files written and the exit code."""

    document: dict[str, Any]
    paths: list[Path]
    exit_code: int


def environment() -> dict[str, str]:
    """Versions and platform, for the report (and for comparing runs later)."""
    found = versions.environment(("llmconform", "locust", "gevent", "geventhttpclient", "hdrhistogram"))
    found["started_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    return found


def run_load(
    request: LoadRequest,
    *,
    say: Callable[[str], None],
    on_progress: Callable[[dict[str, Any]], None] | None = None,
) -> LoadOutcome:
    """Run the load and write the report; LoadRunFailed when nothing could be measured."""
    plan = request.plan
    api_key = request.api_key
    redactor = Redactor([api_key] if api_key else [])
    env = environment()
    mock: MockServer | None = None
    try:
        if plan.embedded:
            report_dir = Path(plan.report_dir)
            report_dir.mkdir(parents=True, exist_ok=True)
            (report_dir / MOCK_RECORD).unlink(missing_ok=True)  # the record is appended to: start it afresh
            mock_settings = _recording(request.mock_settings, report_dir)
            mock = embedded_mock(mock_settings)
            base_url = mock.start()
            api_key = api_key or DEFAULT_API_KEY
            say(f"embedded mock at {base_url} ({mock_settings.summary()})")
            plan = plan.model_copy(update={"base_url": base_url})
        model = plan.model or resolve_model(plan.base_url, api_key, plan.limits.deadline_s)
        plan = plan.model_copy(update={"model": model})
        if not plan.embedding_model and not plan.embedded and plan.scenario in EMBEDDING_SCENARIOS:
            embedding_model = resolve_model(plan.base_url, api_key, plan.limits.deadline_s, embeddings=True)
            plan = plan.model_copy(update={"embedding_model": embedding_model})
        if request.sweep is not None:
            return _run_sweep(request, plan, api_key, env, redactor, say=say, on_progress=on_progress)
        say(redactor.text(_announce(plan)))
        started = time.monotonic()
        run = run_locust(
            plan,
            api_key,
            remote_workers=request.remote_workers,
            master_port=request.master_port,
            on_progress=on_progress,
        )
        say(f"locust finished in {time.monotonic() - started:.1f} s")
    finally:
        if mock is not None:
            mock.stop()
    calibration = None
    if request.calibrate and not run.interrupted:
        calibration = calibrate(plan, run, say=say)
    document = _document(request, plan, run, env, redactor, calibration)
    directory = Path(plan.report_dir)
    paths = [write_load_json(document, directory), directory / "requests.csv"]
    try:
        from llmconform.report.load_html import write_load_html

        paths.append(write_load_html(document, directory))
    except ImportError as exc:  # the HTML report needs matplotlib and jinja2 (installed with llmconform)
        say(f"HTML report skipped: {exc}")
    return LoadOutcome(document, paths, int(document["exit_code"]))


def _document(
    request: LoadRequest,
    plan: LoadPlan,
    run: LocustRun,
    env: dict[str, str],
    redactor: Redactor,
    calibration: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """load.json's document for one locust run of ``plan`` (one point of a sweep, or the whole run)."""
    notes = ["interrupted: the report holds what completed"] if run.interrupted else []
    journals = sorted(path.name for path in Path(plan.report_dir).glob(WORKER_JOURNALS))
    if journals:
        notes.append(
            f"{', '.join(journals)} hold every request the workers completed, also those whose last batch "
            "did not reach the master's requests.csv"
        )
    document = load_document(
        plan,
        run.measurements,
        command=request.command,
        environment=env,
        redactor=redactor,
        calibration=calibration,
        files={
            "records": "requests.csv",
            "html": "load.html",
            "locust_log": run.log_path.name,
            **({"mock_record": MOCK_RECORD} if plan.embedded else {}),
        },
        extra_notes=notes,
    )
    if plan.embedded:
        document["mock"] = _recording(request.mock_settings, Path(plan.report_dir)).describe()
    if run.interrupted:
        document["partial"] = True
        document["verdict"] = "incomplete"
        document["exit_code"] = 3
    return document


def _run_sweep(
    request: LoadRequest,
    plan: LoadPlan,
    api_key: str | None,
    env: dict[str, str],
    redactor: Redactor,
    *,
    say: Callable[[str], None],
    on_progress: Callable[[dict[str, Any]], None] | None,
) -> LoadOutcome:
    """Measure one open-loop run per rate the sweep asks for (each with its report in sweep/rate-R/), then
    write load.json: the figures of the highest rate that met the SLOs, plus the ``sweep`` section."""
    assert request.sweep is not None
    settings = request.sweep
    directory = Path(plan.report_dir)
    budget = sweep_budget(plan, settings)
    say(
        redactor.text(
            f"sweep {plan.scenario} on {plan.base_url} model {plan.model}: open loop from {settings.start_rate:g} "
            f"requests/s, x{settings.factor:g} until an SLO breaks or the target saturates, then "
            f"{settings.refine_steps} bisection step(s); at most {settings.max_points} points of "
            f"{plan.duration_s or 0:g} s"
            + (f" after {plan.warmup_s:g} s warm-up each" if plan.warmup_s else "")
            + (f"; budget: at most {budget} requests" if budget is not None else "; no request cap (add --max-rate R)")
        )
    )
    documents: dict[float, dict[str, Any]] = {}
    interrupted = False

    def measure(rate: float) -> SweepPoint:
        nonlocal interrupted
        point_dir = directory / "sweep" / f"rate-{rate:g}"
        point_plan = plan.model_copy(update={"rate": rate, "report_dir": str(point_dir)})
        run = run_locust(
            point_plan,
            api_key,
            remote_workers=request.remote_workers,
            master_port=request.master_port,
            on_progress=on_progress,
        )
        document = _document(request, point_plan, run, env, redactor)
        document["files"].pop("mock_record", None)  # one record for the whole sweep, in REPORT_DIR
        write_load_json(document, point_dir)
        documents[rate] = document
        if run.interrupted:
            interrupted = True
            raise SweepInterrupted
        return point_summary(rate, document, f"sweep/rate-{rate:g}", settings)

    try:
        points, max_rate, notes = run_sweep(settings, measure, say)
    except SweepInterrupted:
        points = [point_summary(r, d, f"sweep/rate-{r:g}", settings) for r, d in sorted(documents.items())]
        held = [point.rate for point in points if point.meets_slos]
        max_rate, notes = (max(held) if held else None), ["interrupted: the sweep stopped before its end"]
    if not documents:
        raise LoadRunFailed("the sweep measured no point")
    shown_rate = max_rate if max_rate is not None else max(documents)
    document = dict(documents[shown_rate])
    shown_dir = f"sweep/rate-{shown_rate:g}"
    document["files"] = {
        **{key: f"{shown_dir}/{name}" for key, name in document["files"].items() if key != "html"},
        "html": "load.html",
        **({"mock_record": MOCK_RECORD} if plan.embedded else {}),
    }
    document["notes"] = [
        f"a sweep of {len(points)} point(s); the figures above are those of {shown_rate:g} requests/s"
        + (" (the highest rate that met every SLO)" if max_rate is not None else " (no rate met every SLO)"),
        *notes,
        *document.get("notes", []),
    ]
    document["sweep"] = {
        "slos": dict(plan.slos),
        "max_rate": max_rate,
        "settings": settings.model_dump(mode="json"),
        "points": [point.model_dump(mode="json") for point in points],
    }
    if interrupted:
        document.update(partial=True, verdict="incomplete", exit_code=3)
    elif max_rate is None:
        document.update(verdict="failed", exit_code=1)
    paths = [write_load_json(document, directory)]
    try:
        from llmconform.report.load_html import write_load_html

        paths.append(write_load_html(document, directory))
    except ImportError as exc:  # the HTML report needs matplotlib and jinja2 (installed with llmconform)
        say(f"HTML report skipped: {exc}")
    return LoadOutcome(document, paths, int(document["exit_code"]))


class SweepInterrupted(Exception):
    """Ctrl-C or SIGTERM stopped a sweep's point: keep the points so far."""


def _recording(settings: MockSettings, report_dir: Path) -> MockSettings:
    """The embedded mock's settings with its server-side record in REPORT_DIR/mock-record.jsonl."""
    return dataclasses.replace(settings, record_path=str(report_dir / MOCK_RECORD))


def _announce(plan: LoadPlan) -> str:
    """What the run will do and the most it may spend, said before anything is sent."""
    bounds = []
    if plan.duration_s is not None:
        bounds.append(f"{plan.duration_s:g} s")
    if plan.requests is not None:
        bounds.append(f"{plan.requests} requests")
    workers = f", {plan.workers} worker process(es)" if plan.workers else ""
    warmup = f" after a {plan.warmup_s:g} s warm-up" if plan.warmup_s else ""
    ceiling = f", at most {plan.max_rate:g} requests/s" if plan.max_rate is not None else ""
    return (
        f"load {plan.scenario} on {plan.base_url} model {plan.model}: {plan.load_model}{ceiling}{workers}, "
        f"{' or '.join(bounds)}{warmup}; budget: {plan.budget().describe()}"
    )


def calibrate(plan: LoadPlan, run: LocustRun, *, say: Callable[[str], None]) -> dict[str, Any] | None:
    """Measure the generator's own overhead at the rate the run reached, against a zero-latency mock.

    The same scenario and workload run open-loop at the measured request rate for a few seconds
    against an embedded mock that answers as fast as it can; what remains of the latency there is the
    generator (and the mock's own serving time, so the figure is an upper bound).
    """
    tally = Tally.from_wire(run.measurements.get("tally", {}))
    overall = tally.operation(ALL)
    duration = (overall.last_done or 0) - (overall.first_intended or 0)
    rate = overall.total / duration if duration > 0 else 0.0
    if rate <= 0:
        say("calibration skipped: the run completed no request to take a rate from")
        return None
    directory = Path(plan.report_dir) / "calibration"
    mock = embedded_mock(MockSettings(ttft_ms=0.0, itl_ms=0.0, tokens_per_chunk=1))
    try:
        base_url = mock.start()
        calibration_plan = plan.model_copy(
            update={
                "base_url": base_url,
                "embedded": True,
                "rate": rate,
                "arrival": Arrival.CONSTANT,
                "users": max(plan.users, 64),
                "duration_s": CALIBRATION_SECONDS,
                "requests": None,
                "warmup_s": 1.0,
                "report_dir": str(directory),
                "workload": plan.workload.model_copy(update={"ignore_eos": True}),
            }
        )
        say(f"calibrating: {rate:.1f} requests/s for {CALIBRATION_SECONDS:g} s against a zero-latency mock")
        calibration_run = run_locust(calibration_plan, DEFAULT_API_KEY)
    except LoadRunFailed as exc:
        say(f"calibration failed: {exc}")
        return None
    finally:
        mock.stop()
    measured = Tally.from_wire(calibration_run.measurements.get("tally", {})).operation(ALL)
    e2e = measured.metrics.get("e2e")
    lag = measured.metrics.get("lag")
    if e2e is None or not e2e.count:
        return None
    overhead = e2e.summary()
    statement = (
        f"the generator adds {overhead['p99']:.1f} ms at p99 ({overhead['p50']:.1f} ms at p50) at {rate:.1f} "
        f"requests/s (measured end to end against a zero-latency mock, whose own serving time is included)"
    )
    say(statement)
    return {
        "rate_per_s": rate,
        "duration_s": CALIBRATION_SECONDS,
        "requests": measured.total,
        "failed": measured.failed,
        "overhead_ms": {k: overhead[k] for k in ("p50", "p90", "p99", "max", "mean")},
        "scheduling_lag_ms": lag.summary() if lag is not None else {},
        "statement": statement,
    }
