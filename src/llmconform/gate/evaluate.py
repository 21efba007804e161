"""Thresholds + a report directory -> every check the gate made, a verdict and ``REPORT_DIR/gate.json``.

The gate reads what the run left in the report directory: ``conformance.json`` for ``[conformance]``,
``load.json`` for ``[[latency]]``, ``[throughput]`` and ``[errors]``, ``requests.csv`` for the violation
rate and for ``[regression]`` (which also reads the baseline directory's ``requests.csv``). A section
whose report is missing fails with a message saying which command writes it; a file it cannot read fails
likewise. Only a bad thresholds file, or a report or baseline directory that does not exist, is a usage
error (:class:`GateConfigError`, exit code 2).
"""

from __future__ import annotations

import datetime
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

import llmconform
from llmconform.checks import REGISTRY
from llmconform.gate.bootstrap import Interval, rate_windows, relative_change, relative_rate_change
from llmconform.gate.config import (
    ConformanceGate,
    ErrorsGate,
    GateConfig,
    GateConfigError,
    LatencyGate,
    RegressionGate,
    RegressionMetric,
    ThroughputGate,
    load_config,
)
from llmconform.gate.records import RECORDS_FILE, Floats, Records, read_gate_records
from llmconform.report._files import write_atomic

__all__ = ["CONFORMANCE_JSON", "GATE_JSON", "LOAD_JSON", "Check", "GateResult", "run_gate"]

GATE_JSON = "gate.json"
CONFORMANCE_JSON = "conformance.json"
LOAD_JSON = "load.json"
SCHEMA_VERSION = 1
Status = Literal["passed", "failed", "skipped"]

_CHECK_COMMAND = "llmconform check --report-dir {dir}"
_LOAD_COMMAND = "llmconform load --report-dir {dir}"


@dataclass(frozen=True, slots=True)
class Check:
    """One judgement: what was looked at, what was found, the limit, and a sentence saying so."""

    name: str
    section: str
    status: Status
    message: str
    observed: Any = None
    limit: Any = None
    details: dict[str, Any] | None = None

    @property
    def passed(self) -> bool:
        """False only for a failed check (a skipped one does not fail the gate)."""
        return self.status != "failed"

    def to_json(self) -> dict[str, Any]:
        row: dict[str, Any] = {
            "name": self.name,
            "section": self.section,
            "status": self.status,
            "passed": self.passed,
            "observed": self.observed,
            "limit": self.limit,
            "message": self.message,
        }
        if self.details is not None:
            row["details"] = self.details
        return row


@dataclass(frozen=True)
class GateResult:
    """The verdict of one gate run and every check behind it."""

    thresholds: Path
    report_dir: Path
    baseline_dir: Path | None
    today: datetime.date
    checks: list[Check] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)

    @property
    def verdict(self) -> str:
        return "passed" if self.passed else "failed"

    @property
    def exit_code(self) -> int:
        """0 every check held; 1 at least one failed."""
        return 0 if self.passed else 1

    @property
    def failures(self) -> list[Check]:
        return [check for check in self.checks if not check.passed]

    def counts(self) -> dict[str, int]:
        counts = {"passed": 0, "failed": 0, "skipped": 0}
        for check in self.checks:
            counts[check.status] += 1
        return counts

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": "gate",
            "schema_version": SCHEMA_VERSION,
            "llmconform_version": llmconform.__version__,
            "verdict": self.verdict,
            "exit_code": self.exit_code,
            "thresholds": str(self.thresholds),
            "report_dir": str(self.report_dir),
            "baseline_dir": None if self.baseline_dir is None else str(self.baseline_dir),
            "today": self.today.isoformat(),
            "counts": self.counts(),
            "checks": [check.to_json() for check in self.checks],
        }

    def summary_lines(self) -> list[str]:
        """A short text for the console: the verdict, then one line per failed check."""
        counts = self.counts()
        head = (
            f"gate {self.verdict.upper()}: {counts['passed']} passed, {counts['failed']} failed, "
            f"{counts['skipped']} skipped ({self.thresholds} on {self.report_dir})"
        )
        return [head, *(f"  FAIL {check.name}: {check.message}" for check in self.failures)]


# -- reading reports -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Report:
    """A JSON report: its document, or why there is none."""

    path: Path
    document: dict[str, Any] | None
    problem: str | None


def _read_report(path: Path, command: str) -> _Report:
    if not path.is_file():
        return _Report(path, None, f"no {path.name} in {path.parent}; run `{command}` first")
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        return _Report(path, None, f"cannot read {path}: {error}; rerun `{command}`")
    if not isinstance(document, dict):
        return _Report(path, None, f"{path} is not a JSON object; rerun `{command}`")
    return _Report(path, document, None)


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _pct(x: float) -> str:
    return f"{x:+.1%}" if math.isfinite(x) else ("+inf" if x > 0 else "-inf")


# -- [conformance] ----------------------------------------------------------------------------------------


def _conformance_checks(gate: ConformanceGate, report: _Report, today: datetime.date) -> Iterator[Check]:
    for waiver in gate.waivers:
        name = f"conformance.waiver.{waiver.rule}"
        limit = {"expires": waiver.expires.isoformat()}
        if waiver.expired(today):
            yield Check(
                name,
                "conformance",
                "failed",
                f"the waiver of rule {waiver.rule!r} expired on {waiver.expires.isoformat()} ({waiver.reason}); "
                "fix the rule and remove the waiver, or set a later `expires` in [[conformance.waivers]]",
                today.isoformat(),
                limit,
            )
        else:
            yield Check(
                name,
                "conformance",
                "passed",
                f"rule {waiver.rule!r} is waived until {waiver.expires.isoformat()}: {waiver.reason}",
                today.isoformat(),
                limit,
            )
    document = report.document
    if document is None:
        yield Check(
            "conformance.report", "conformance", "failed", f"[conformance] has nothing to judge: {report.problem}"
        )
        return
    summary = _dict(document.get("summary"))
    verdict = summary.get("verdict")
    if verdict == "error" or summary.get("error") or summary.get("partial"):
        reason = summary.get("error") or ("the run is partial" if summary.get("partial") else "verdict 'error'")
        yield Check(
            "conformance.run",
            "conformance",
            "failed",
            f"the conformance run did not finish ({reason}); a release is judged on a complete run: fix the cause "
            f"and rerun `{_CHECK_COMMAND.format(dir=report.path.parent)}`",
            verdict,
            "passed or failed",
        )
    rules = document.get("rules")
    if not isinstance(rules, list):
        yield Check(
            "conformance.report",
            "conformance",
            "failed",
            f"{report.path} has no 'rules' list; rerun `{_CHECK_COMMAND.format(dir=report.path.parent)}` with this "
            "version of llmconform",
        )
        return
    first_message: dict[str, str] = {}
    for finding in document.get("findings") or []:
        finding = _dict(finding)
        rule_id = str(finding.get("rule", ""))
        first_message.setdefault(rule_id, str(finding.get("message", "")))
    for row in rules:
        yield _rule_check(gate, _dict(row), first_message, today)


def _rule_check(gate: ConformanceGate, row: dict[str, Any], first: dict[str, str], today: datetime.date) -> Check:
    rule_id = str(row.get("id", "?"))
    name = f"conformance.{rule_id}"
    failed = int(_number(row.get("failed")) or 0)
    warned = int(_number(row.get("warned")) or 0)
    judged = failed + warned + int(_number(row.get("passed")) or 0)
    known = REGISTRY.rules.get(rule_id)
    default = str(row.get("severity") or (known.severity.value if known else "error"))
    override = gate.severity.get(rule_id)
    severity = override or default
    limit = {"fail_on": gate.fail_on, "severity": severity}
    if override in {"error", "warning"}:
        errors, warnings = (failed + warned, 0) if override == "error" else (0, failed + warned)
    else:
        errors, warnings = failed, warned
    observed = {"judged": judged, "errors": errors, "warnings": warnings}
    if judged == 0:
        return Check(name, "conformance", "skipped", f"rule {rule_id!r} was not exercised by this run", observed, limit)
    if override == "ignore":
        return Check(
            name,
            "conformance",
            "passed",
            f"rule {rule_id!r}: {failed + warned} breach(es) ignored ([conformance.severity] sets 'ignore')",
            observed,
            limit,
        )
    bad = errors > 0 or (gate.fail_on == "warning" and warnings > 0)
    if not bad:
        note = f", {warnings} warning(s) below fail_on = 'error'" if warnings else ""
        return Check(name, "conformance", "passed", f"rule {rule_id!r} held ({judged} judged{note})", observed, limit)
    level = "error" if errors else "warning"
    breaches = errors or warnings
    example = f": {first[rule_id]}" if first.get(rule_id) else ""
    waiver = gate.waiver(rule_id)
    if waiver is not None and not waiver.expired(today):
        return Check(
            name,
            "conformance",
            "passed",
            f"rule {rule_id!r} broke {breaches} time(s) at {level} level, waived until "
            f"{waiver.expires.isoformat()} ({waiver.reason}){example}",
            observed,
            limit,
        )
    return Check(
        name,
        "conformance",
        "failed",
        f"rule {rule_id!r} broke {breaches} time(s) at {level} level{example}",
        observed,
        limit,
    )


# -- load.json gates ------------------------------------------------------------------------------------


def _no_load(name: str, section: str, report: _Report, limit: Any = None) -> Check:
    return Check(name, section, "failed", f"nothing to judge: {report.problem}", None, limit)


def _load_run_check(report: _Report) -> Iterator[Check]:
    document = report.document
    if document is None:
        return
    if document.get("partial") or document.get("exit_code") == 3:
        notes = "; ".join(str(n) for n in document.get("notes") or []) or "no measurements"
        yield Check(
            "load.run",
            "load",
            "failed",
            f"the load run did not finish (partial={bool(document.get('partial'))}, exit code "
            f"{document.get('exit_code')}): {notes}; a release is judged on a complete run",
            document.get("exit_code"),
            "0 or 1",
        )


def _latency_check(gate: LatencyGate, report: _Report) -> Check:
    name = gate.name
    document = report.document
    if document is None:
        return _no_load(name, "latency", report, gate.max_ms)
    scenario = document.get("scenario")
    if gate.scenario is not None and scenario != gate.scenario:
        return Check(
            name,
            "latency",
            "skipped",
            f"applies to scenario {gate.scenario!r}; this run's scenario is {scenario!r}",
            None,
            gate.max_ms,
        )
    where = "the whole run"
    source = _dict(document.get("latency_ms"))
    if gate.operation is not None:
        operations = _dict(document.get("by_operation"))
        if gate.operation not in operations:
            listed = ", ".join(sorted(operations)) or "none"
            return Check(
                name,
                "latency",
                "failed",
                f"operation {gate.operation!r} is not in this run (operations: {listed}); fix `operation` in "
                "[[latency]] or run a scenario that sends it",
                None,
                gate.max_ms,
            )
        source = _dict(_dict(operations[gate.operation]).get("latency_ms"))
        where = f"operation {gate.operation!r}"
    observed = _number(_dict(source.get(gate.metric)).get(gate.percentile))
    if observed is None:
        hint = " (TTFT and ITL are measured on streamed requests only)" if gate.metric != "e2e" else ""
        return Check(
            name,
            "latency",
            "failed",
            f"no {gate.metric} was recorded for {where}{hint}; nothing to hold to max_ms = {gate.max_ms:g}",
            None,
            gate.max_ms,
        )
    status: Status = "passed" if observed <= gate.max_ms else "failed"
    relation = "<=" if status == "passed" else ">"
    return Check(
        name,
        "latency",
        status,
        f"{gate.metric} {gate.percentile} of {where} is {observed:.1f} ms {relation} max_ms {gate.max_ms:g}",
        observed,
        gate.max_ms,
    )


def _throughput_checks(gate: ThroughputGate, report: _Report) -> Iterator[Check]:
    for key, minimum in gate.limits().items():
        name = f"throughput.{key}"
        if report.document is None:
            yield _no_load(name, "throughput", report, minimum)
            continue
        observed = _number(_dict(report.document.get("throughput")).get(key))
        if observed is None:
            yield Check(name, "throughput", "failed", f"load.json has no throughput.{key}", None, minimum)
            continue
        status: Status = "passed" if observed >= minimum else "failed"
        relation = ">=" if status == "passed" else "<"
        yield Check(
            name,
            "throughput",
            status,
            f"{key} is {observed:.3g} {relation} min_{key} {minimum:g}",
            observed,
            minimum,
        )


def _rate_check(name: str, numerator: int, total: int, limit: float, what: str) -> Check:
    if total <= 0:
        return Check(name, "errors", "failed", "the run measured no request; nothing to judge", None, limit)
    rate = numerator / total
    status: Status = "passed" if rate <= limit else "failed"
    relation = "<=" if status == "passed" else ">"
    return Check(
        name,
        "errors",
        status,
        f"{numerator} of {total} requests {what} ({rate:.2%}) {relation} {limit:.2%}",
        rate,
        limit,
    )


def _errors_checks(gate: ErrorsGate, report: _Report, records: Records | None) -> Iterator[Check]:
    counts = _dict(report.document.get("requests")) if report.document is not None else {}
    total = int(_number(counts.get("total")) or 0)
    if gate.max_error_rate is not None:
        if report.document is None:
            yield _no_load("errors.error_rate", "errors", report, gate.max_error_rate)
        else:
            failed = int(_number(counts.get("failed")) or 0)
            yield _rate_check("errors.error_rate", failed, total, gate.max_error_rate, "failed")
    if gate.max_violation_rate is not None:
        name = "errors.violation_rate"
        if report.document is None:
            yield _no_load(name, "errors", report, gate.max_violation_rate)
        elif records is None:
            yield Check(
                name,
                "errors",
                "failed",
                f"no readable {RECORDS_FILE} next to load.json; it holds which requests broke a rule",
                None,
                gate.max_violation_rate,
            )
        else:
            violated = int(records.violated.sum())
            yield _rate_check(name, violated, len(records), gate.max_violation_rate, "broke a contract rule")


# -- [regression] ---------------------------------------------------------------------------------------


def _comparable(current: _Report, baseline: _Report) -> Iterator[Check]:
    if current.document is None or baseline.document is None:
        return
    differences = [
        f"{key} {baseline.document.get(key)!r} -> {current.document.get(key)!r}"
        for key in ("scenario", "load_model")
        if baseline.document.get(key) != current.document.get(key)
    ]
    if differences:
        yield Check(
            "regression.comparable",
            "regression",
            "failed",
            f"the baseline ran a different load ({'; '.join(differences)}); compare runs of the same scenario "
            "and load model",
            {k: current.document.get(k) for k in ("scenario", "load_model")},
            {k: baseline.document.get(k) for k in ("scenario", "load_model")},
        )


def _interval(metric: RegressionMetric, old: Records, new: Records, gate: RegressionGate) -> Interval:
    if metric.kind == "latency":
        return relative_change(
            old.latency_samples(metric.metric),
            new.latency_samples(metric.metric),
            metric.statistic,
            confidence=gate.confidence,
            resamples=gate.resamples,
            seed=gate.seed,
        )
    return relative_rate_change(
        _windows(old, metric.metric),
        _windows(new, metric.metric),
        metric.name,
        confidence=gate.confidence,
        resamples=gate.resamples,
        seed=gate.seed,
    )


def _windows(records: Records, metric: str) -> tuple[Floats, Floats]:
    """The run's throughput ``metric`` as per-window (amount, length) pairs, counted as load.json counts it."""
    if metric == "output_tokens_per_s":
        tokens = np.where(records.timed & ~np.isnan(records.output_tokens), records.output_tokens, 0.0)
        amounts = tokens.astype(np.float64)
    elif metric == "ok_requests_per_s":
        amounts = records.ok.astype(np.float64)
    elif metric == "goodput_requests_per_s":
        amounts = records.good.astype(np.float64)
    else:
        amounts = np.ones(len(records), dtype=np.float64)
    start = float(records.intended_at.min()) if len(records) else 0.0
    return rate_windows(records.done_at, amounts, start)


def _regression_checks(gate: RegressionGate, report_dir: Path, baseline_dir: Path | None) -> Iterator[Check]:
    if baseline_dir is None:
        yield Check(
            "regression.baseline",
            "regression",
            "failed",
            "[regression] needs a baseline: pass --baseline DIR, the report directory of an earlier "
            "`llmconform load` run of the same scenario, or remove [regression]",
        )
        return
    current = read_gate_records(report_dir / RECORDS_FILE)
    baseline = read_gate_records(baseline_dir / RECORDS_FILE)
    yield from _comparable(
        _read_report(report_dir / LOAD_JSON, _LOAD_COMMAND.format(dir=report_dir)),
        _read_report(baseline_dir / LOAD_JSON, _LOAD_COMMAND.format(dir=baseline_dir)),
    )
    for which, records, where in (("current", current, report_dir), ("baseline", baseline, baseline_dir)):
        if records is None or len(records) == 0:
            yield Check(
                f"regression.{which}",
                "regression",
                "failed",
                f"no measured request in {where / RECORDS_FILE}; run `{_LOAD_COMMAND.format(dir=where)}` first",
            )
    if current is None or baseline is None or len(current) == 0 or len(baseline) == 0:
        return
    current, baseline = current.only(gate.operation), baseline.only(gate.operation)
    scope = f" of operation {gate.operation!r}" if gate.operation else ""
    limit = {"tolerance": gate.tolerance, "confidence": gate.confidence}
    for metric in gate.parsed_metrics():
        name = f"regression.{metric.name}"
        higher_is_worse = metric.kind == "latency"
        try:
            interval = _interval(metric, baseline, current, gate)
        except ValueError as error:
            yield Check(name, "regression", "failed", f"{metric.name}{scope} cannot be compared: {error}", None, limit)
            continue
        details = interval.to_json()
        change = _pct(interval.change)
        if interval.too_few:
            yield Check(
                name,
                "regression",
                "passed",
                f"{metric.name}{scope} changed {change}, but with {interval.n_old} and {interval.n_new} samples "
                f"the change cannot be told from noise (at least 5 per run are needed); run longer",
                interval.change,
                limit,
                details,
            )
            continue
        ci = f"{gate.confidence:.0%} CI {_pct(interval.low)} .. {_pct(interval.high)}"
        bad = "slower" if higher_is_worse else "lower"
        if interval.regressed(gate.tolerance, higher_is_worse=higher_is_worse):
            status: Status = "failed"
            verdict = f"a regression: the whole interval is beyond the {gate.tolerance:.0%} tolerance ({bad})"
        elif (interval.high > gate.tolerance) if higher_is_worse else (interval.low < -gate.tolerance):
            status = "passed"
            verdict = f"inconclusive: the interval reaches past the {gate.tolerance:.0%} tolerance but not wholly"
        else:
            status = "passed"
            verdict = f"within the {gate.tolerance:.0%} tolerance"
        yield Check(
            name,
            "regression",
            status,
            f"{metric.name}{scope}: {interval.old:.4g} -> {interval.new:.4g} ({change}, {ci}); {verdict}",
            interval.change,
            limit,
            details,
        )


# -- the gate ---------------------------------------------------------------------------------------------


def evaluate(
    config: GateConfig,
    report_dir: Path,
    baseline_dir: Path | None = None,
    today: datetime.date | None = None,
    thresholds: Path = Path("<thresholds>"),
) -> GateResult:
    """Judge a report directory against an already-loaded config (writes nothing)."""
    if not report_dir.is_dir():
        raise GateConfigError(
            f"{report_dir}: report directory not found; pass the --report-dir of a `llmconform check` or "
            "`llmconform load` run"
        )
    if baseline_dir is not None and not baseline_dir.is_dir():
        raise GateConfigError(
            f"{baseline_dir}: baseline directory not found; pass --baseline DIR, the report directory of an "
            "earlier `llmconform load` run"
        )
    day = today or datetime.date.today()
    checks: list[Check] = []
    if config.conformance is not None:
        report = _read_report(report_dir / CONFORMANCE_JSON, _CHECK_COMMAND.format(dir=report_dir))
        checks.extend(_conformance_checks(config.conformance, report, day))
    if config.needs_load:
        load = _read_report(report_dir / LOAD_JSON, _LOAD_COMMAND.format(dir=report_dir))
        checks.extend(_load_run_check(load))
        checks.extend(_latency_check(entry, load) for entry in config.latency)
        if config.throughput is not None:
            checks.extend(_throughput_checks(config.throughput, load))
        if config.errors is not None:
            records = (
                read_gate_records(report_dir / RECORDS_FILE) if config.errors.max_violation_rate is not None else None
            )
            checks.extend(_errors_checks(config.errors, load, records))
    if config.regression is not None:
        checks.extend(_regression_checks(config.regression, report_dir, baseline_dir))
    return GateResult(thresholds, report_dir, baseline_dir, day, checks)


def run_gate(
    thresholds: Path,
    report_dir: Path,
    baseline_dir: Path | None = None,
    today: datetime.date | None = None,
    *,
    write: bool = True,
) -> GateResult:
    """Load the thresholds file, judge ``report_dir`` and write ``report_dir/gate.json``.

    Raises GateConfigError (exit code 2) for a bad thresholds file or a missing report or baseline
    directory; every problem with the reports themselves is a failed check (exit code 1).
    """
    config = load_config(thresholds)
    result = evaluate(config, report_dir, baseline_dir, today, thresholds)
    if write:
        write_atomic(report_dir / GATE_JSON, json.dumps(result.to_json(), indent=2, ensure_ascii=False) + "\n")
    return result
