"""SIGINT or SIGTERM during `llmconform check` still writes the report of what completed, marked partial."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from llmconform.mock import DEFAULT_API_KEY, DEFAULT_MODELS, MockConfig, MockServer

# Long enough for the CLI to import and send its first requests, far shorter than the whole slow run.
SIGNAL_AFTER_S = 4.0


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_check_writes_a_partial_report(signum: int, tmp_path: Path) -> None:
    # A slow target (every answer takes 0.3 s): the run is surely in flight when the signal comes.
    with MockServer(MockConfig(ttft_ms=300)) as server:
        command = [sys.executable, "-m", "llmconform.cli", "check", "--base-url", server.base_url]
        command += ["--api-key", DEFAULT_API_KEY, "--model", DEFAULT_MODELS[0], "--report-dir", str(tmp_path)]
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "COLUMNS": "160"}
        )
        time.sleep(SIGNAL_AFTER_S)
        assert process.poll() is None, "the run ended before it could be interrupted"
        process.send_signal(signum)
        stdout, _ = process.communicate(timeout=30)
    assert process.returncode == 3, stdout
    summary = json.loads((tmp_path / "conformance.json").read_text())["summary"]
    assert summary["partial"] is True
    assert summary["error"] == "interrupted before the run finished"
    assert 0 < summary["sent_requests"] < summary["planned_requests"]
    assert (tmp_path / "junit.xml").exists()
