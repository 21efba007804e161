"""SIGINT or SIGTERM during `llmconform check` still writes the report of what completed, marked partial;
SIGKILL loses at most the request in flight (journal.jsonl)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from tests.servers.counting_mock import counting_mock

from llmconform.mock import DEFAULT_API_KEY, DEFAULT_MODELS, MockConfig, MockServer

# After the plan line (printed just before the first request), let a few slow requests complete.
SIGNAL_AFTER_PLAN_S = 1.5
ALL_METHODS = frozenset({"GET", "POST"})


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_check_writes_a_partial_report(signum: int, tmp_path: Path) -> None:
    # A slow target (every answer takes 0.3 s): the run is surely in flight when the signal comes.
    with MockServer(MockConfig(ttft_ms=300)) as server:
        command = [sys.executable, "-m", "llmconform.cli", "check", "--base-url", server.base_url]
        command += ["--api-key", DEFAULT_API_KEY, "--model", DEFAULT_MODELS[0], "--report-dir", str(tmp_path)]
        process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env={**os.environ, "COLUMNS": "160"}
        )
        stderr = process.stderr
        assert stderr is not None
        planned = threading.Event()
        lines: list[str] = []

        def watch() -> None:
            for line in stderr:
                lines.append(line)
                if "plan:" in line:
                    planned.set()

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        assert planned.wait(timeout=60), "".join(lines)
        time.sleep(SIGNAL_AFTER_PLAN_S)
        assert process.poll() is None, "the run ended before it could be interrupted"
        process.send_signal(signum)
        process.wait(timeout=30)
        watcher.join(timeout=5)
    assert process.returncode == 3, "".join(lines)
    summary = json.loads((tmp_path / "conformance.json").read_text())["summary"]
    assert summary["partial"] is True
    assert summary["error"] == "interrupted before the run finished"
    assert 0 < summary["sent_requests"] < summary["planned_requests"]
    assert (tmp_path / "junit.xml").exists()


def test_a_killed_check_keeps_every_completed_exchange_in_its_journal(tmp_path: Path) -> None:
    # SIGKILL leaves no chance to write conformance.json; journal.jsonl was appended as the run went.
    with counting_mock(MockConfig(ttft_ms=50, faults=frozenset({"usage_total_is_sum"})), ALL_METHODS) as (url, app):
        command = [sys.executable, "-m", "llmconform.cli", "check", "--base-url", url, "--family", "chat"]
        command += ["--api-key", DEFAULT_API_KEY, "--model", DEFAULT_MODELS[0], "--report-dir", str(tmp_path)]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            app.wait_for(25)
            process.kill()
            process.wait(timeout=10)
        finally:
            if process.poll() is None:
                process.kill()
        time.sleep(0.2)
        answered = app.completed
    assert not (tmp_path / "conformance.json").exists()
    lines = [json.loads(line) for line in (tmp_path / "journal.jsonl").read_text().splitlines()]
    exchanges = [line for line in lines if line["kind"] == "exchange"]
    # A check sends one request at a time: at most that one was in flight.
    assert answered - 1 <= len(exchanges) <= answered
    assert [line["n"] for line in exchanges] == list(range(1, len(exchanges) + 1))
    findings = [line for line in lines if line["kind"] == "finding"]
    assert any(line["rule"] == "usage_total_is_sum" for line in findings)
    assert all(line["exchange"] in {None, *range(1, len(exchanges) + 1)} for line in findings)
