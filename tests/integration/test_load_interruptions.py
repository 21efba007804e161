"""A load run with workers that is stopped, or killed outright, keeps what it measured.

SIGTERM to ``llmconform load --workers 2`` writes a partial report (exit 3). SIGKILL of every process
of the run (the parent, the locust master and its workers) writes nothing more, yet every request the
target completed is on disk but those in flight: each record is appended the moment it completes
(requests.csv in a local run, each worker's requests.worker-N.csv journal in a distributed one). The
target counts the answers it finished sending, so the test compares with the server's own count.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from tests.servers.counting_mock import CountingApp, counting_mock

from llmconform.mock import MockConfig

CLI = [sys.executable, "-m", "llmconform.cli"]
USERS = 4


@pytest.fixture
def counted_mock() -> Iterator[tuple[str, CountingApp]]:
    with counting_mock(MockConfig(ttft_ms=20, itl_ms=5), frozenset({"POST"})) as served:
        yield served


def start_load(url: str, report_dir: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            *CLI, "load", "--base-url", url, "--api-key", "sk-llmconform-mock", "--users", str(USERS),
            "--duration", "30", "--warmup", "0", "--output-tokens", "16", "--report-dir", str(report_dir), *extra,
        ],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, "COLUMNS": "160"},
    )  # fmt: skip


def rows_in(paths: list[Path]) -> int:
    total = 0
    for path in paths:
        with path.open(newline="") as handle:
            total += sum(1 for _ in csv.DictReader(handle))
    return total


def test_sigterm_with_workers_writes_a_partial_report(counted_mock: tuple[str, CountingApp], tmp_path: Path) -> None:
    url, app = counted_mock
    process = start_load(url, tmp_path, "--workers", "2")
    try:
        app.wait_for(40)
        process.send_signal(signal.SIGTERM)
        answered = app.completed
        output, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 3, output
    report = json.loads((tmp_path / "load.json").read_text())
    assert report["partial"] is True and report["verdict"] == "incomplete"
    assert report["requests"]["total"] > 0
    journals = sorted(tmp_path.glob("requests.worker-*.csv"))
    assert len(journals) == 2, "a partial run keeps each worker's journal"
    # The master may miss the workers' last batch; their journals hold every answer but those in flight.
    assert rows_in(journals) >= max(report["requests"]["total"], answered - USERS)
    assert any("requests.worker-" in note for note in report["notes"])


@pytest.mark.parametrize("workers", [0, 2])
def test_a_killed_run_loses_only_the_requests_in_flight(
    workers: int, counted_mock: tuple[str, CountingApp], tmp_path: Path
) -> None:
    url, app = counted_mock
    process = start_load(url, tmp_path, "--workers", str(workers))
    try:
        app.wait_for(60)
        run = psutil.Process(process.pid)
        everyone = [run, *run.children(recursive=True)]
        assert len(everyone) >= 2 + workers  # the parent, locust's process(es)
        for member in everyone:  # a crash of the whole run: nobody gets to write a report
            member.kill()
        psutil.wait_procs(everyone, timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=10)
    time.sleep(0.3)
    answered = app.completed
    assert not (tmp_path / "load.json").exists()
    on_disk = rows_in(sorted(tmp_path.glob("requests.worker-*.csv")) if workers else [tmp_path / "requests.csv"])
    # At most one request per user was in flight when the run died; every completed one is on disk.
    assert answered - USERS <= on_disk <= answered, (answered, on_disk)
