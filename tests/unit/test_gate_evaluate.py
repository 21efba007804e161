"""The gate end to end on hand-written report directories: conformance.json, load.json, requests.csv."""

from __future__ import annotations

import csv
import datetime
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from llmconform.gate import GATE_JSON, GateConfigError, GateResult, run_gate
from llmconform.load.measure import CSV_COLUMNS

TODAY = datetime.date(2026, 6, 15)


def rule(rule_id: str, severity: str = "error", passed: int = 10, failed: int = 0, warned: int = 0) -> dict[str, Any]:
    return {"id": rule_id, "family": "chat", "severity": severity, "passed": passed, "failed": failed, "warned": warned}


def write_conformance(
    report: Path, rules: list[dict[str, Any]], findings: Sequence[dict[str, Any]] = (), **summary: Any
) -> None:
    verdict = "failed" if any(r["failed"] for r in rules) else "passed"
    document = {
        "schema_version": 1,
        "summary": {"verdict": verdict, "partial": False, "error": None, **summary},
        "rules": rules,
        "findings": list(findings),
    }
    report.mkdir(parents=True, exist_ok=True)
    (report / "conformance.json").write_text(json.dumps(document), encoding="utf-8")


def latency_block(ttft: float, e2e: float, itl: float = 12.0) -> dict[str, Any]:
    def stats(value: float) -> dict[str, float]:
        return {
            "p50": value,
            "p90": value * 1.1,
            "p95": value * 1.2,
            "p99": value * 1.5,
            "mean": value,
            "max": value * 2,
        }

    return {"ttft": stats(ttft), "itl": stats(itl), "itl_per_token": stats(itl), "tpot": stats(itl), "e2e": stats(e2e)}


def write_load(
    report: Path,
    *,
    ttft: float = 60.0,
    scenario: str = "mixed",
    total: int = 100,
    failed: int = 0,
    requests_per_s: float = 10.0,
    **extra: Any,
) -> None:
    document = {
        "kind": "load",
        "verdict": "passed" if not failed else "failed",
        "exit_code": 0 if not failed else 1,
        "scenario": scenario,
        "load_model": "closed(users=8)",
        "partial": False,
        "notes": [],
        "requests": {"total": total, "ok": total - failed, "failed": failed, "good": total - failed},
        "throughput": {
            "requests_per_s": requests_per_s,
            "ok_requests_per_s": requests_per_s,
            "output_tokens_per_s": requests_per_s * 64,
            "goodput_requests_per_s": requests_per_s,
        },
        "latency_ms": latency_block(ttft, 800.0),
        "by_operation": {
            "chat-stream": {"latency_ms": latency_block(ttft, 800.0)},
            "embeddings": {"latency_ms": {"ttft": {}, "e2e": latency_block(0, 90.0)["e2e"]}},
        },
        **extra,
    }
    report.mkdir(parents=True, exist_ok=True)
    (report / "load.json").write_text(json.dumps(document), encoding="utf-8")


def write_records(
    report: Path, *, n: int = 400, ttft_scale: float = 1.0, seed: int = 0, violated: int = 0, seconds: float = 40.0
) -> None:
    """n chat-stream rows spread evenly over ``seconds``, TTFT lognormal around 60 ms, plus warm-up rows."""
    rng = np.random.default_rng(seed)
    report.mkdir(parents=True, exist_ok=True)
    with (report / "requests.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        for i in range(n + 5):
            ttft = 60.0 * ttft_scale * float(rng.lognormal(0, 0.2))
            row = dict.fromkeys(CSV_COLUMNS, "")
            row.update(
                intended_at=f"{1_800_000_000 + i * seconds / n:.6f}",
                process="0",
                operation="chat-stream",
                family="chat",
                stream="1",
                warmup="1" if i >= n else "0",
                status="200",
                ttft_ms=f"{ttft:.3f}",
                e2e_ms=f"{ttft + 756:.3f}",
                tpot_ms="12.0",
                itl_mean_ms="12.0",
                chunks="64",
                output_tokens="64",
                output_tokens_client="64",
                good="1",
                violations="usage_total_is_sum" if i < violated else "",
            )
            writer.writerow(row)


def gate(tmp_path: Path, toml: str, report: Path, baseline: Path | None = None) -> GateResult:
    thresholds = tmp_path / "gates.toml"
    thresholds.write_text(toml, encoding="utf-8")
    return run_gate(thresholds, report, baseline, TODAY)


def check(result: GateResult, name: str) -> Any:
    matches = [c for c in result.checks if c.name == name]
    assert matches, f"no check {name!r} in {[c.name for c in result.checks]}"
    return matches[0]


CLEAN_RULES = [rule("usage_total_is_sum"), rule("stream_role_first", "warning"), rule("n_choices_count", passed=0)]


# -- [conformance] ----------------------------------------------------------------------------------------


def test_clean_conformance_passes_and_writes_gate_json(tmp_path: Path) -> None:
    write_conformance(tmp_path / "r", CLEAN_RULES)
    result = gate(tmp_path, "[conformance]\n", tmp_path / "r")
    assert (result.verdict, result.exit_code) == ("passed", 0)
    assert check(result, "conformance.usage_total_is_sum").status == "passed"
    assert check(result, "conformance.n_choices_count").status == "skipped"
    written = json.loads((tmp_path / "r" / GATE_JSON).read_text(encoding="utf-8"))
    assert written == result.to_json()
    assert written["verdict"] == "passed" and written["exit_code"] == 0 and written["today"] == "2026-06-15"
    assert written["counts"] == {"passed": 2, "failed": 0, "skipped": 1}
    assert set(written["checks"][0]) == {"name", "section", "status", "passed", "observed", "limit", "message"}


def test_error_finding_fails_naming_the_rule(tmp_path: Path) -> None:
    rules = [rule("usage_total_is_sum", failed=2), rule("stream_role_first", "warning")]
    findings = [{"rule": "usage_total_is_sum", "severity": "error", "message": "Expected: 12 / Received: 13"}]
    write_conformance(tmp_path / "r", rules, findings)
    result = gate(tmp_path, "[conformance]\n", tmp_path / "r")
    assert result.exit_code == 1
    failed = check(result, "conformance.usage_total_is_sum")
    assert failed.status == "failed"
    assert "'usage_total_is_sum' broke 2 time(s) at error level: Expected: 12 / Received: 13" in failed.message
    assert failed.observed == {"judged": 12, "errors": 2, "warnings": 0}
    assert any("usage_total_is_sum" in line for line in result.summary_lines()[1:])


def test_warnings_fail_only_with_fail_on_warning(tmp_path: Path) -> None:
    write_conformance(tmp_path / "r", [rule("stream_role_first", "warning", warned=3)])
    assert gate(tmp_path, "[conformance]\n", tmp_path / "r").exit_code == 0
    result = gate(tmp_path, "[conformance]\nfail_on = 'warning'\n", tmp_path / "r")
    assert result.exit_code == 1
    assert "at warning level" in check(result, "conformance.stream_role_first").message


def test_severity_overrides(tmp_path: Path) -> None:
    write_conformance(
        tmp_path / "r", [rule("usage_total_is_sum", failed=1), rule("stream_role_first", "warning", warned=1)]
    )
    demoted = "[conformance.severity]\nusage_total_is_sum = 'warning'\n"
    assert gate(tmp_path, demoted, tmp_path / "r").exit_code == 0
    promoted = "[conformance.severity]\nusage_total_is_sum = 'ignore'\nstream_role_first = 'error'\n"
    result = gate(tmp_path, promoted, tmp_path / "r")
    assert result.exit_code == 1
    assert [c.name for c in result.failures] == ["conformance.stream_role_first"]
    assert "ignore" in check(result, "conformance.usage_total_is_sum").message


def test_waived_rule_passes_until_it_expires(tmp_path: Path) -> None:
    write_conformance(tmp_path / "r", [rule("usage_total_is_sum", failed=4)])
    waiver = "[[conformance.waivers]]\nrule = 'usage_total_is_sum'\nreason = 'gateway bug ABO-1'\nexpires = {date}\n"
    live = gate(tmp_path, waiver.format(date="2026-06-15"), tmp_path / "r")
    assert live.exit_code == 0
    assert "waived until 2026-06-15 (gateway bug ABO-1)" in check(live, "conformance.usage_total_is_sum").message
    expired = gate(tmp_path, waiver.format(date="2026-06-14"), tmp_path / "r")
    assert expired.exit_code == 1
    names = {c.name for c in expired.failures}
    assert names == {"conformance.waiver.usage_total_is_sum", "conformance.usage_total_is_sum"}
    message = check(expired, "conformance.waiver.usage_total_is_sum").message
    assert "'usage_total_is_sum' expired on 2026-06-14" in message and "expires" in message


def test_expired_waiver_fails_even_when_the_rule_holds(tmp_path: Path) -> None:
    write_conformance(tmp_path / "r", CLEAN_RULES)
    toml = "[[conformance.waivers]]\nrule = 'usage_total_is_sum'\nreason = 'r'\nexpires = 2026-01-01\n"
    result = gate(tmp_path, toml, tmp_path / "r")
    assert [c.name for c in result.failures] == ["conformance.waiver.usage_total_is_sum"]


def test_unfinished_conformance_run_fails(tmp_path: Path) -> None:
    write_conformance(tmp_path / "r", CLEAN_RULES, verdict="error", error="target unreachable")
    result = gate(tmp_path, "[conformance]\n", tmp_path / "r")
    assert "target unreachable" in check(result, "conformance.run").message
    assert result.exit_code == 1


def test_section_without_its_report_fails_with_the_command(tmp_path: Path) -> None:
    write_load(tmp_path / "r")
    result = gate(tmp_path, "[conformance]\n[[latency]]\nmetric='ttft'\npercentile='p95'\nmax_ms=100\n", tmp_path / "r")
    assert [c.name for c in result.failures] == ["conformance.report"]
    assert "llmconform check --report-dir" in result.failures[0].message
    (tmp_path / "s").mkdir()
    result = gate(tmp_path, "[errors]\nmax_error_rate = 0.1\n", tmp_path / "s")
    assert "no load.json" in check(result, "errors.error_rate").message


def test_unreadable_report_is_a_failure_not_a_crash(tmp_path: Path) -> None:
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "conformance.json").write_text("{not json", encoding="utf-8")
    result = gate(tmp_path, "[conformance]\n", tmp_path / "r")
    assert result.exit_code == 1 and "cannot read" in check(result, "conformance.report").message


def test_missing_report_dir_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(GateConfigError, match="report directory not found"):
        gate(tmp_path, "[conformance]\n", tmp_path / "nope")
    (tmp_path / "r").mkdir()
    with pytest.raises(GateConfigError, match="baseline directory not found"):
        gate(tmp_path, "[regression]\nmetrics = ['e2e.p50']\n", tmp_path / "r", tmp_path / "nope")


# -- load.json gates ------------------------------------------------------------------------------------

LATENCY = "[[latency]]\nmetric = 'ttft'\npercentile = 'p95'\nmax_ms = 100\n"


def test_latency_gate(tmp_path: Path) -> None:
    write_load(tmp_path / "fast", ttft=60.0)
    write_load(tmp_path / "slow", ttft=300.0)
    assert gate(tmp_path, LATENCY, tmp_path / "fast").exit_code == 0
    slow = gate(tmp_path, LATENCY, tmp_path / "slow")
    failed = check(slow, "latency.ttft.p95")
    assert (failed.status, failed.observed, failed.limit) == ("failed", 360.0, 100.0)
    assert "360.0 ms > max_ms 100" in failed.message


def test_latency_gate_by_operation_and_scenario(tmp_path: Path) -> None:
    write_load(tmp_path / "r", ttft=300.0, scenario="chat-stream")
    toml = (
        "[[latency]]\nmetric = 'ttft'\npercentile = 'p50'\nmax_ms = 100\nscenario = 'mixed'\n"
        "[[latency]]\nmetric = 'ttft'\npercentile = 'p50'\nmax_ms = 400\noperation = 'chat-stream'\n"
        "[[latency]]\nmetric = 'ttft'\npercentile = 'p50'\nmax_ms = 400\noperation = 'embeddings'\n"
        "[[latency]]\nmetric = 'ttft'\npercentile = 'p50'\nmax_ms = 400\noperation = 'chat-streem'\n"
    )
    result = gate(tmp_path, toml, tmp_path / "r")
    assert check(result, "latency.ttft.p50").status == "skipped"
    assert check(result, "latency.ttft.p50[chat-stream]").status == "passed"
    assert "streamed requests only" in check(result, "latency.ttft.p50[embeddings]").message
    assert "operations: chat-stream, embeddings" in check(result, "latency.ttft.p50[chat-streem]").message
    assert len(result.failures) == 2


def test_throughput_gate(tmp_path: Path) -> None:
    write_load(tmp_path / "r", requests_per_s=5.0)
    result = gate(tmp_path, "[throughput]\nmin_requests_per_s = 4\nmin_output_tokens_per_s = 500\n", tmp_path / "r")
    assert check(result, "throughput.requests_per_s").status == "passed"
    failed = check(result, "throughput.output_tokens_per_s")
    assert (failed.status, failed.observed, failed.limit) == ("failed", 320.0, 500.0)


def test_error_and_violation_rates(tmp_path: Path) -> None:
    write_load(tmp_path / "r", total=400, failed=8)
    write_records(tmp_path / "r", n=400, violated=2)
    result = gate(tmp_path, "[errors]\nmax_error_rate = 0.01\nmax_violation_rate = 0.01\n", tmp_path / "r")
    error_rate = check(result, "errors.error_rate")
    assert (error_rate.status, error_rate.observed) == ("failed", 0.02)
    assert "8 of 400 requests failed (2.00%) > 1.00%" in error_rate.message
    violation_rate = check(result, "errors.violation_rate")
    assert (violation_rate.status, violation_rate.observed) == ("passed", 0.005)


def test_partial_load_run_fails(tmp_path: Path) -> None:
    write_load(tmp_path / "r", partial=True, notes=["locust stopped early"])
    result = gate(tmp_path, LATENCY, tmp_path / "r")
    assert "locust stopped early" in check(result, "load.run").message and result.exit_code == 1


# -- [regression] -------------------------------------------------------------------------------------

REGRESSION = "[regression]\nmetrics = ['ttft.p50', 'ttft.p95', 'e2e.p50', 'throughput.requests_per_s']\n"


def test_regression_against_a_baseline(tmp_path: Path) -> None:
    for name, scale, seed in (("old", 1.0, 1), ("same", 1.0, 2), ("slow", 1.3, 3)):
        write_load(tmp_path / name)
        write_records(tmp_path / name, ttft_scale=scale, seed=seed)
    same = gate(tmp_path, REGRESSION, tmp_path / "same", tmp_path / "old")
    assert same.exit_code == 0, same.summary_lines()
    slow = gate(tmp_path, REGRESSION, tmp_path / "slow", tmp_path / "old")
    assert {c.name for c in slow.failures} == {"regression.ttft.p50", "regression.ttft.p95"}
    failed = check(slow, "regression.ttft.p50")
    assert "a regression" in failed.message and failed.observed == pytest.approx(0.3, abs=0.05)
    assert failed.details["low"] > 0.10 and failed.details["n_baseline"] == 400
    assert check(slow, "regression.e2e.p50").status == "passed"  # +2%: within tolerance
    assert check(slow, "regression.throughput.requests_per_s").status == "passed"


def test_regression_needs_a_baseline_and_records(tmp_path: Path) -> None:
    write_load(tmp_path / "new")
    write_records(tmp_path / "new")
    result = gate(tmp_path, REGRESSION, tmp_path / "new")
    assert [c.name for c in result.failures] == ["regression.baseline"]
    assert "--baseline DIR" in result.failures[0].message
    (tmp_path / "old").mkdir()
    result = gate(tmp_path, REGRESSION, tmp_path / "new", tmp_path / "old")
    assert [c.name for c in result.failures] == ["regression.baseline"]
    assert "no measured request" in result.failures[0].message


def test_regression_refuses_different_scenarios(tmp_path: Path) -> None:
    write_load(tmp_path / "old", scenario="chat-stream")
    write_load(tmp_path / "new", scenario="mixed")
    for name in ("old", "new"):
        write_records(tmp_path / name)
    result = gate(tmp_path, REGRESSION, tmp_path / "new", tmp_path / "old")
    assert [c.name for c in result.failures] == ["regression.comparable"]
    assert "scenario 'chat-stream' -> 'mixed'" in result.failures[0].message


def test_regression_with_few_requests_passes(tmp_path: Path) -> None:
    write_records(tmp_path / "old", n=4, seed=1)
    write_records(tmp_path / "new", n=4, ttft_scale=2.0, seed=2)
    result = gate(tmp_path, "[regression]\nmetrics = ['ttft.p50']\n", tmp_path / "new", tmp_path / "old")
    assert result.exit_code == 0
    assert "cannot be told from noise" in check(result, "regression.ttft.p50").message


def test_regression_by_operation_with_no_such_requests(tmp_path: Path) -> None:
    write_records(tmp_path / "old", seed=1)
    write_records(tmp_path / "new", seed=2)
    toml = "[regression]\nmetrics = ['ttft.p50']\noperation = 'messages-stream'\n"
    result = gate(tmp_path, toml, tmp_path / "new", tmp_path / "old")
    assert "cannot be compared" in check(result, "regression.ttft.p50").message
    assert result.exit_code == 1
