"""`llmconform load` end to end on 127.0.0.1: real locust processes (also master + 2 workers).

Each run is a subprocess (locust patches the standard library for gevent; it never runs inside
pytest) bounded by a few seconds of load and a subprocess timeout.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from hdrh.histogram import HdrHistogram
from tests.servers.stalling_server import KEY, MODEL, StallingServer

from llmconform.load.tally import PERCENTILES

CLI = [sys.executable, "-m", "llmconform.cli"]
FAST_MOCK = ["--mock-ttft-ms", "5", "--mock-itl-ms", "2"]


def run_load(*args: str, env: dict[str, str] | None = None, timeout: float = 150) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, "load", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "COLUMNS": "160", **(env or {})},
        check=False,
    )


def read_rows(directory: Path) -> list[dict[str, str]]:
    with (directory / "requests.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


def measured(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    return [r for r in rows if r["warmup"] == "0"]


def test_default_run_writes_every_report_field(tmp_path: Path) -> None:
    result = run_load("--duration", "2", "--warmup", "0.5", "--report-dir", str(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads((tmp_path / "load.json").read_text())
    for key in (
        "scenario",
        "load_model",
        "duration_s",
        "requests",
        "throughput",
        "latency_ms",
        "scheduling_lag_ms",
        "errors",
        "violations",
        "definitions",
    ):
        assert key in report, key
    assert report["scenario"] == "chat-stream"
    assert set(report["requests"]) >= {"total", "ok", "failed"}
    assert set(report["throughput"]) >= {"requests_per_s", "output_tokens_per_s"}
    for metric in ("ttft", "itl", "tpot", "e2e"):
        assert set(report["latency_ms"][metric]) >= {"p50", "p90", "p95", "p99", "p999", "mean", "max"}, metric
    # The embedded mock's realistic latency is what the load measures: TTFT 60 ms, ITL 12 ms.
    assert 58 <= report["latency_ms"]["ttft"]["p50"] <= 90
    assert 11 <= report["latency_ms"]["itl"]["p50"] <= 16
    assert report["requests"]["failed"] == 0 and report["violations"] == {}
    assert report["tokens"]["output"] == report["tokens"]["output_client"] > 0
    rows = measured(read_rows(tmp_path))
    assert len(rows) == report["requests"]["total"]
    assert "verdict: passed" in result.stdout


def test_master_and_two_workers_merge_histograms_exactly(tmp_path: Path) -> None:
    result = run_load(
        "--workers", "2", "--users", "6", "--duration", "2.5", "--warmup", "0.5", *FAST_MOCK,
        "--report-dir", str(tmp_path),
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads((tmp_path / "load.json").read_text())
    rows = measured(read_rows(tmp_path))
    assert {r["process"] for r in rows} == {"0", "1"}, "both workers generated load"
    assert report["plan"]["workers"] == 2
    # Rebuild TTFT's histogram from the CSV (microseconds, as the workers recorded them): the merged
    # percentiles must be exactly those of one histogram holding every request.
    reference = HdrHistogram(1, 3_600_000_000, 3)
    values = [float(r["ttft_ms"]) for r in rows if r["ttft_ms"]]
    for value in values:
        reference.record_value(max(round(value * 1000), 1))
    ttft = report["latency_ms"]["ttft"]
    assert ttft["count"] == len(values) == report["requests"]["ok"]
    for name, percentile in PERCENTILES.items():
        assert ttft[name] == reference.get_value_at_percentile(percentile) / 1000, name
    assert ttft["max"] == pytest.approx(max(values), abs=0.001)


def test_request_count_ends_the_run(tmp_path: Path) -> None:
    result = run_load("--requests", "15", "--users", "4", "--warmup", "0", *FAST_MOCK, "--report-dir", str(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads((tmp_path / "load.json").read_text())
    assert report["requests"]["total"] == 15
    assert len(read_rows(tmp_path)) == 15


def test_mixed_scenario_reports_each_operation(tmp_path: Path) -> None:
    result = run_load(
        "--scenario", "mixed", "--users", "6", "--duration", "2", *FAST_MOCK, "--report-dir", str(tmp_path)
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads((tmp_path / "load.json").read_text())
    operations = report["by_operation"]
    streamed = {"chat-stream", "messages-stream", "gemini-stream", "responses-stream"}
    # The media operations have weight 1 in 17 (and a video task holds its user ~0.5 s): a short run may miss one.
    media = {"images", "audio", "video"}
    assert (
        {*streamed, "chat-unary", "embeddings", "models"}
        <= set(operations)
        <= {*streamed, *media, "chat-unary", "embeddings", "models"}
    )
    for name in streamed:  # each format's own first token, and usage read in its own terms
        assert operations[name]["latency_ms"]["ttft"]["count"] > 0, name
        assert operations[name]["requests"]["failed"] == 0, (name, operations[name])
        assert operations[name]["throughput"]["output_tokens_per_s"] > 0, name
    assert operations["embeddings"]["latency_ms"]["ttft"] == {}
    assert operations["chat-unary"]["latency_ms"]["ttft"] == {}, "unary answers have no TTFT"
    assert operations["chat-unary"]["latency_ms"]["e2e"]["count"] > 0
    assert operations["models"]["requests"]["ok"] > 0
    for name in media & set(operations):  # TTFT slot: the first byte of the (create) answer; no failures
        assert operations[name]["requests"]["failed"] == 0, (name, operations[name])
    assert sum(o["requests"]["total"] for o in operations.values()) == report["requests"]["total"]


def test_every_answer_is_checked_under_load(tmp_path: Path) -> None:
    result = run_load(
        "--users", "4", "--duration", "2", "--warmup", "0", *FAST_MOCK, "--mock-fault", "usage_total_is_sum",
        "--report-dir", str(tmp_path),
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    report = json.loads((tmp_path / "load.json").read_text())
    total = report["requests"]["total"]
    assert total > 0
    assert report["violations"] == {"usage_total_is_sum": total}, "every answer was judged, every one broke it"
    assert report["errors"] == {"contract": total}
    assert report["latency_ms"]["ttft"]["count"] == total, "answers that broke the contract are still timed"
    assert report["findings"] and report["findings"][0]["rule"] == "usage_total_is_sum"
    assert report["verdict"] == "failed"


def _stall_run(tmp_path: Path, *load_args: str) -> dict[str, Any]:
    with StallingServer(stall_after_s=1.0, stall_s=1.5) as server:
        result = run_load(
            "--base-url", server.base_url, "--api-key", KEY, "--model", MODEL, "--duration", "4", "--warmup", "0",
            "--output-tokens", "8", "--report-dir", str(tmp_path), *load_args,
        )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    report: dict[str, Any] = json.loads((tmp_path / "load.json").read_text())
    return report


def test_open_loop_reports_a_stall_as_lag_and_latency(tmp_path: Path) -> None:
    report = _stall_run(tmp_path, "--rate", "20", "--max-concurrency", "2")
    lag = report["scheduling_lag_ms"]
    # Two in-flight slots, 1.5 s stall: the arrivals meant for the stall go out up to ~1.5 s late, and
    # their latency counts from the intended time.
    assert lag["max"] >= 1000, lag
    assert lag["p95"] >= 300, lag
    assert report["latency_ms"]["e2e"]["max"] >= 1400
    assert report["latency_ms"]["e2e"]["p90"] >= 500, "late requests carry their lag into their latency"
    late = [r for r in measured(read_rows(tmp_path)) if float(r["lag_ms"]) > 100]
    assert len(late) >= 15, "the requests scheduled during the stall are all late, none dropped"
    assert report["requests"]["total"] >= 70, "the open loop kept its 20/s schedule"


def test_a_closed_loop_hides_the_stall_the_open_loop_reports(tmp_path: Path) -> None:
    # The same server and stall as above, driven closed-loop by 2 users: they wait inside the stall and
    # send nothing meanwhile, so only their 2 requests see it; coordinated omission hides the rest.
    report = _stall_run(tmp_path, "--users", "2")
    e2e = report["latency_ms"]["e2e"]
    assert e2e["max"] >= 1400, "the two requests caught in the stall"
    assert e2e["p90"] < 500, "...are all the closed loop shows: its p90 stays low (the open loop's is >= 500)"
    assert report["scheduling_lag_ms"] == {}, "a closed loop has no schedule to be late for"


def test_calibration_states_what_the_generator_adds(tmp_path: Path) -> None:
    result = run_load(
        "--users", "4", "--duration", "1.5", "--warmup", "0", *FAST_MOCK, "--calibrate", "--report-dir", str(tmp_path)
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    calibration = json.loads((tmp_path / "load.json").read_text())["calibration"]
    assert calibration["requests"] > 0 and calibration["failed"] == 0
    assert calibration["rate_per_s"] > 0
    assert 0 < calibration["overhead_ms"]["p50"] <= calibration["overhead_ms"]["p99"]
    assert calibration["statement"].startswith("the generator adds ")
    assert f"at {calibration['rate_per_s']:.1f} requests/s" in calibration["statement"]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_load_keeps_what_completed(signum: int, tmp_path: Path) -> None:
    command = [*CLI, "load", "--users", "4", "--duration", "60", "--warmup", "0", *FAST_MOCK]
    process = subprocess.Popen(
        [*command, "--report-dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "COLUMNS": "160"},
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # wait until requests are being recorded
            csv_file = tmp_path / "requests.csv"
            if csv_file.exists() and len(csv_file.read_text().splitlines()) > 10:
                break
            time.sleep(0.2)
        process.send_signal(signum)
        output, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 3, output
    report = json.loads((tmp_path / "load.json").read_text())
    assert report["partial"] is True and report["verdict"] == "incomplete"
    assert report["requests"]["total"] >= 10
    assert report["requests"]["total"] == len(measured(read_rows(tmp_path)))


def test_a_worker_started_by_hand_joins_a_master(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = str(probe.getsockname()[1])
    master = subprocess.Popen(
        [*CLI, "load", "--remote-workers", "1", "--master-port", port, "--duration", "2", "--warmup", "0", *FAST_MOCK,
         "--report-dir", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, "COLUMNS": "160"},
    )  # fmt: skip
    try:
        worker = run_load("--worker", "--master-host", "127.0.0.1", "--master-port", port, timeout=90)
        output, _ = master.communicate(timeout=90)
    finally:
        if master.poll() is None:
            master.kill()
    assert worker.returncode == 0, worker.stdout + worker.stderr
    assert master.returncode == 0, output
    report = json.loads((tmp_path / "load.json").read_text())
    assert report["requests"]["ok"] > 0 and report["requests"]["failed"] == 0


def test_prompts_file_and_poisson_arrivals(tmp_path: Path) -> None:
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(
        '{"prompt": "Name three rivers."}\n\n'
        '{"messages": [{"role": "user", "content": "Count to five."}], "output_tokens": 5}\n'
    )
    result = run_load(
        "--rate", "15", "--arrival", "poisson", "--duration", "2", "--warmup", "0", "--prompts", str(prompts),
        "--output-tokens", "8", *FAST_MOCK, "--report-dir", str(tmp_path / "report"),
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads((tmp_path / "report" / "load.json").read_text())
    assert report["load_model"].startswith("open(rate=15/s, arrival=poisson")
    rows = measured(read_rows(tmp_path / "report"))
    assert {r["output_tokens"] for r in rows} == {"8", "5"}, "each prompt's own output length, else the default"
    assert 10 <= len(rows) <= 60


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--users", "2", "--rate", "3"], "exclude each other"),
        (["--input-tokens", "lots"], "MEAN:STDEV"),
        (["--slo", "ttft=5"], "METRIC_ms=LIMIT"),
        (["--scenario", "nope"], "unknown scenario"),
        (["--mock-fault", "no_such_fault"], "unknown fault"),
        (["--sweep", "--users", "2"], "--sweep picks its own rates"),
        (["--rate", "5", "--max-rate", "2"], "--rate 5 is above --max-rate 2"),
        (["--base-url", "http://192.0.2.1", "--sweep", "--duration", "2", "--model", "m"], "needs --max-rate R"),
    ],
)
def test_bad_options_exit_2_naming_the_fix(args: list[str], message: str, tmp_path: Path) -> None:
    result = run_load(*args, "--report-dir", str(tmp_path), timeout=60)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr


@pytest.mark.parametrize("model", [None, "m"])
def test_an_unreachable_target_exits_3(model: str | None, tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}"
    extra = ["--model", model] if model else []
    result = run_load("--base-url", url, *extra, "--duration", "1", "--warmup", "0", "--report-dir", str(tmp_path))
    assert result.returncode == 3, result.stdout + result.stderr
    if model:  # the run went ahead: every request failed to connect, and the report says so
        report = json.loads((tmp_path / "load.json").read_text())
        assert set(report["errors"]) == {"connect"} and report["requests"]["ok"] == 0
    else:
        assert "target unreachable" in result.stderr


def test_a_live_url_needs_a_stated_bound_before_anything_is_sent(tmp_path: Path) -> None:
    # 192.0.2.1 (TEST-NET-1) is never contacted: the run is refused while the options are read.
    result = run_load("--base-url", "http://192.0.2.1", "--model", "m", "--report-dir", str(tmp_path), timeout=60)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "--duration SECONDS or --requests N" in result.stderr
    assert not (tmp_path / "load.json").exists()


def test_max_rate_caps_a_closed_loop_and_the_budget_is_said_first(tmp_path: Path) -> None:
    result = run_load(
        *FAST_MOCK, "--users", "8", "--max-rate", "5", "--duration", "2", "--warmup", "0", "--report-dir", str(tmp_path)
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "at most 5 requests/s" in result.stderr and "budget: at most 10 requests" in result.stderr
    assert result.stderr.index("budget:") < result.stderr.index("locust finished")
    sent = [float(row["intended_at"]) for row in read_rows(tmp_path)]
    # 8 users against a 5 ms mock would send hundreds; the ceiling lets through 10, 0.2 s apart.
    assert len(sent) == 10
    assert min(b - a for a, b in zip(sorted(sent), sorted(sent)[1:], strict=False)) >= 0.19
