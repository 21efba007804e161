"""--respect-retry-after: the load client waits out a 429's Retry-After and sends again, a bounded number
of times, and reports the retries apart from the requests; without the flag a 429 is a failure."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

CLI = [sys.executable, "-m", "llmconform.cli"]
MAX_RETRIES = 3  # LoadPlan.max_retries


def load(tmp_path: Path, *args: str, seconds: str = "4") -> dict[str, Any]:
    result = subprocess.run(
        [*CLI, "load", "--users", "4", "--duration", seconds, "--warmup", "0", "--output-tokens", "8",
         "--mock-ttft-ms", "5", "--mock-itl-ms", "2", "--report-dir", str(tmp_path), *args],
        capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "160"}, check=False,
    )  # fmt: skip
    assert result.returncode in (0, 1), result.stdout + result.stderr
    report: dict[str, Any] = json.loads((tmp_path / "load.json").read_text())
    report["console"] = result.stdout
    return report


def test_a_429_is_a_failure_unless_retry_after_is_respected(tmp_path: Path) -> None:
    plain = load(tmp_path / "plain", "--load-fault", "error_429=0.3")
    assert plain["retries"] == {"respected": False, "total": 0, "by_status": {}, "wait_s": 0.0}
    assert plain["errors"].get("http_4xx", 0) >= 0.15 * plain["requests"]["total"]

    respected = load(tmp_path / "respected", "--load-fault", "error_429=0.3", "--respect-retry-after")
    retries = respected["retries"]
    assert retries["respected"] and retries["total"] > 0 and set(retries["by_status"]) == {"429"}
    assert retries["wait_s"] >= retries["total"] * 1.0  # the mock asks for at least 1 s
    # Retried requests mostly succeed (those refused in the last second have no time left to retry).
    failed_share = respected["requests"]["failed"] / respected["requests"]["total"]
    assert failed_share < plain["requests"]["failed"] / plain["requests"]["total"]
    assert "retries (Retry-After respected)" in respected["console"]


def test_retries_are_bounded_per_request(tmp_path: Path) -> None:
    # Every answer is a 429: each request is sent at most 1 + MAX_RETRIES times, then counted as failed.
    report = load(tmp_path, "--load-fault", "error_429=1", "--respect-retry-after", seconds="2.5")
    assert report["requests"]["ok"] == 0 and report["requests"]["total"] > 0
    assert 0 < report["retries"]["total"] <= MAX_RETRIES * report["requests"]["total"]
