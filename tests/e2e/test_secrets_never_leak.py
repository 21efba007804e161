"""A recognisable API key goes through every command, and no output of any of them contains it.

One `llmconform mock` process is the target; it requires the key and breaks two rules, so findings
carry exchanges whose requests held the key in a header and in Gemini's ``?key=`` query parameter.
Then `check` (key by flag), `load` with two workers (key from the environment), `gate` and `report`
run on one report directory, and one `check` crashes inside (an exception whose text holds the
key). Every byte they print and every file they write is searched for the key.

The control that the search can see a leak: the run's findings hold request headers and Gemini URLs
(redacted), and the load really authenticated (requests ok), so a broken redactor would show.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

CLI = [sys.executable, "-m", "llmconform.cli"]
SECRET = "sk-live-Recognisable-Leak-Probe-7319"
FAULTS = ("usage_total_is_sum", "gemini_auth_styles_accepted")
# Check crashes inside its run, with the key in the exception's text (a harness bug, simulated).
CRASHING_CHECK = f"""
import sys
import llmconform.conformance.runner as runner
from llmconform.cli import main

def crash(*args, **kwargs):
    raise RuntimeError("cannot reach https://gateway.invalid/v1beta/models?key={SECRET}")

runner.run_check = crash
sys.argv = ["llmconform", *sys.argv[1:]]
main()
"""


class Outputs:
    """Every text a command printed, and the report directories it wrote into."""

    def __init__(self) -> None:
        self.texts: dict[str, str] = {}

    def run(
        self, label: str, args: list[str], *, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            args,
            capture_output=True,
            text=True,
            timeout=180,
            env={**os.environ, "COLUMNS": "160", **(env or {})},
            check=False,
        )
        self.texts[f"{label} stdout"] = result.stdout
        self.texts[f"{label} stderr"] = result.stderr
        return result


@pytest.fixture(scope="module")
def mock_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    log = tmp_path_factory.mktemp("mock") / "mock.log"
    fault_args = [arg for fault in FAULTS for arg in ("--fault", fault)]
    with log.open("w") as handle:
        process = subprocess.Popen(
            [*CLI, "mock", "--port", "0", "--api-key", SECRET, "--ttft-ms", "5", "--itl-ms", "1", *fault_args],
            stdout=handle,
            stderr=subprocess.STDOUT,
            text=True,
        )
    try:
        deadline = time.monotonic() + 20
        while "listening on " not in log.read_text():
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        url = log.read_text().split("listening on ", 1)[1].split()[0]
        yield url, log
    finally:
        process.terminate()
        process.wait(timeout=15)


def test_no_command_prints_or_writes_the_key(mock_url: tuple[str, Path], tmp_path: Path) -> None:
    url, mock_log = mock_url
    reports = tmp_path / "run"
    outputs = Outputs()

    check = outputs.run(
        "check",
        [
            *CLI,
            "check",
            "--base-url",
            url,
            "--api-key",
            SECRET,
            "--family",
            "chat,gemini",
            "--report-dir",
            str(reports),
        ],
    )
    assert check.returncode == 1, check.stdout + check.stderr
    load = outputs.run(
        "load",
        [
            *CLI, "load", "--base-url", url, "--scenario", "mixed", "--users", "4", "--workers", "2",
            "--duration", "2", "--warmup", "0", "--report-dir", str(reports),
        ],
        env={"LLMCONFORM_API_KEY": SECRET},
    )  # fmt: skip
    assert load.returncode in (0, 1), load.stdout + load.stderr
    gate = outputs.run("gate", [*CLI, "gate", "--thresholds", "gates.toml", str(reports)])
    assert gate.returncode in (0, 1), gate.stdout + gate.stderr
    report = outputs.run("report", [*CLI, "report", str(reports)])
    assert report.returncode == 0, report.stdout + report.stderr
    crash = outputs.run(
        "crashing check",
        [sys.executable, "-c", CRASHING_CHECK, "check", "--base-url", url, "--report-dir", str(tmp_path / "crash")],
        env={"LLMCONFORM_API_KEY": SECRET},
    )
    assert crash.returncode == 3 and "internal error (RuntimeError)" in crash.stderr, crash.stderr
    assert "?key=[REDACTED]" in crash.stderr  # the traceback is there, scrubbed

    # The control: findings hold the exchanges that carried the key, so an unredacted report would leak.
    conformance = json.loads((reports / "conformance.json").read_text())
    rules = {finding["rule"] for finding in conformance["findings"]}
    assert {"usage_total_is_sum", "gemini_auth_styles_accepted"} <= rules
    exchanges = json.dumps([finding.get("exchange") for finding in conformance["findings"]])
    assert '"authorization": "Bearer [REDACTED]"' in exchanges and '"x-goog-api-key": "[REDACTED]"' in exchanges
    load_report = json.loads((reports / "load.json").read_text())
    assert load_report["requests"]["ok"] > 0  # the key was sent and accepted under load, through both workers

    outputs.texts["mock log"] = mock_log.read_text()
    files = [path for path in tmp_path.rglob("*") if path.is_file()]
    assert {"conformance.json", "junit.xml", "load.json", "requests.csv", "load.html", "gate.json", "report.html"} <= {
        path.name for path in files
    }
    leaks = [label for label, text in outputs.texts.items() if SECRET in text]
    leaks += [str(path.relative_to(tmp_path)) for path in files if SECRET.encode() in path.read_bytes()]
    assert not leaks, f"the key leaked into: {leaks}"
