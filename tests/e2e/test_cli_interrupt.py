"""SIGINT or SIGTERM during `llmconform check` still writes the report of what completed, marked partial."""

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

from llmconform.mock import DEFAULT_API_KEY, DEFAULT_MODELS, MockConfig, MockServer

# After the plan line (printed just before the first request), let a few slow requests complete.
SIGNAL_AFTER_PLAN_S = 1.5


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
