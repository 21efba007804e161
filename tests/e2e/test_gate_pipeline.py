"""The release pipeline a team runs in CI, end to end on the embedded mock, through the CLI:
check -> load -> gate (-> report). A clean run passes the example gates.toml; a mock fault fails the gate
on the broken rule; extra latency fails the latency gate; a run within noise of its baseline passes the
regression gate and one clearly slower (TTFT 240 ms instead of 60) fails it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from llmconform.mock import MockConfig, MockServer

ROOT = Path(__file__).resolve().parents[2]
GATES = ROOT / "gates.toml"
CLI = [sys.executable, "-m", "llmconform.cli"]
# A short mixed load; its latency and error gates are those of the example gates.toml.
LOAD = ["load", "--scenario", "mixed", "--users", "8", "--duration", "4", "--warmup", "0.5"]
REGRESSION = """\
[regression]
metrics = ["ttft.p50", "e2e.p50"]
tolerance = 0.10
operation = "chat-stream"
"""


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, timeout=180, env={**os.environ, "COLUMNS": "160"}, check=False
    )


def gate(report_dir: Path, thresholds: Path = GATES, *extra: str) -> tuple[int, dict[str, Any]]:
    result = run_cli("gate", "--thresholds", str(thresholds), *extra, str(report_dir))
    assert result.returncode in (0, 1), result.stdout + result.stderr
    return result.returncode, json.loads((report_dir / "gate.json").read_text())


def failed_checks(document: dict[str, Any]) -> set[str]:
    return {check["name"] for check in document["checks"] if check["status"] == "failed"}


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> Path:
    report_dir = tmp_path_factory.mktemp("clean")
    assert run_cli("check", "--family", "chat,models,messages", "--report-dir", str(report_dir)).returncode == 0
    assert run_cli(*LOAD, "--report-dir", str(report_dir)).returncode == 0
    return report_dir


@pytest.mark.xdist_group("gate_pipeline_clean")  # the module's clean run, computed once
def test_a_clean_run_passes_the_example_gates_and_renders_a_report(clean: Path) -> None:
    code, document = gate(clean)
    assert code == 0, failed_checks(document)
    assert document["verdict"] == "passed" and document["counts"]["passed"] > 20
    assert run_cli("report", str(clean)).returncode == 0
    assert "passed" in (clean / "summary.md").read_text().lower()
    assert (clean / "report.html").stat().st_size > 10_000


def test_a_mock_fault_fails_the_gate_on_its_rule(tmp_path: Path) -> None:
    with MockServer(MockConfig(faults=frozenset({"usage_total_is_sum"}))) as server:
        checked = run_cli(
            "check", "--base-url", server.base_url, "--api-key", server.config.api_key, "--family", "chat,models",
            "--model", server.config.models[0], "--report-dir", str(tmp_path),
        )  # fmt: skip
    assert checked.returncode == 1
    assert run_cli(*LOAD, "--mock-fault", "usage_total_is_sum", "--report-dir", str(tmp_path)).returncode == 1
    code, document = gate(tmp_path)
    assert code == 1
    failed = failed_checks(document)
    assert "conformance.usage_total_is_sum" in failed
    assert "errors.violation_rate" in failed
    assert not any(name.startswith("latency.") for name in failed), failed


@pytest.mark.xdist_group("gate_pipeline_clean")  # the module's clean run, computed once
def test_extra_latency_fails_the_latency_gate(clean: Path, tmp_path: Path) -> None:
    shutil.copy(clean / "conformance.json", tmp_path / "conformance.json")
    assert run_cli(*LOAD, "--mock-ttft-ms", "300", "--report-dir", str(tmp_path)).returncode == 0
    code, document = gate(tmp_path)
    assert code == 1
    failed = failed_checks(document)
    assert "latency.ttft.p95" in failed
    assert not any(name.startswith("conformance.") for name in failed), failed


@pytest.mark.xdist_group("gate_pipeline_clean")  # the module's clean run, computed once
def test_within_noise_of_the_baseline_passes_and_a_slowdown_fails(clean: Path, tmp_path: Path) -> None:
    thresholds = tmp_path / "regression.toml"
    thresholds.write_text(REGRESSION)
    again = tmp_path / "again"
    slower = tmp_path / "slower"
    assert run_cli(*LOAD, "--report-dir", str(again)).returncode == 0
    # Four times the baseline's TTFT: the suite runs in parallel processes on two cores, so the baseline itself
    # may be measured on a starved core; a slowdown the gate must catch stands far above that noise.
    assert run_cli(*LOAD, "--mock-ttft-ms", "240", "--report-dir", str(slower)).returncode == 0
    code, document = gate(again, thresholds, "--baseline", str(clean))
    assert code == 0, [c for c in document["checks"] if c["status"] == "failed"]
    code, document = gate(slower, thresholds, "--baseline", str(clean))
    assert code == 1
    assert "regression.ttft.p50" in failed_checks(document)
