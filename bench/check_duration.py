"""How long `llmconform check` takes against the embedded mock, and what the harness adds.

Target (issue 2): a full check of the embedded mock finishes within 60 s on a 2-core machine.
The machine is shared and noisy, so next to the absolute time this prints a ratio measured in the
same run: the check's wall time over the time plain httpx needs to send the same number of chat
requests to the same mock (what generation, checking and reporting cost on top of the traffic).

    .venv/bin/python bench/check_duration.py [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from llmconform.config import CheckConfig
from llmconform.conformance.runner import run_check
from llmconform.mock import DEFAULT_API_KEY, DEFAULT_MODELS, MockConfig, MockServer

TARGET_S = 60.0


def time_check() -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as report_dir:
        start = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-m", "llmconform.cli", "check", "--report-dir", report_dir],
            capture_output=True,
            text=True,
            check=False,
        )
        elapsed = time.perf_counter() - start
        if result.returncode != 0:
            raise SystemExit(f"check failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
        sent = json.loads((Path(report_dir) / "conformance.json").read_text())["summary"]["sent_requests"]
    return elapsed, sent


def time_plain_requests(count: int) -> float:
    body = {"model": DEFAULT_MODELS[0], "messages": [{"role": "user", "content": "Hello there"}], "max_tokens": 32}
    with MockServer(MockConfig()) as server, httpx.Client(base_url=server.base_url) as client:
        headers = {"authorization": f"Bearer {DEFAULT_API_KEY}"}
        start = time.perf_counter()
        for _ in range(count):
            client.post("/v1/chat/completions", json=body, headers=headers).raise_for_status()
        return time.perf_counter() - start


def phase_seconds() -> dict[str, float]:
    """Where the time of one in-process check goes, phase by phase."""
    marks: list[tuple[str, float]] = []
    start = time.perf_counter()
    run_check(
        CheckConfig(),
        command=["bench"],
        say=lambda _text: None,
        on_phase=lambda name, _n: marks.append((name, time.perf_counter())),
    )
    end = time.perf_counter()
    spans = [("startup (mock, plan)", start, marks[0][1] if marks else end)]
    spans += [(name, at, marks[i + 1][1] if i + 1 < len(marks) else end) for i, (name, at) in enumerate(marks)]
    return {name: round(stop - begin, 3) for name, begin, stop in spans}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    checks, baselines, sent = [], [], 0
    for _ in range(args.runs):
        elapsed, sent = time_check()
        checks.append(elapsed)
        baselines.append(time_plain_requests(sent))
    check_s, plain_s = statistics.median(checks), statistics.median(baselines)
    print(
        json.dumps(
            {
                "runs": args.runs,
                "requests_per_check": sent,
                "check_wall_s_median": round(check_s, 2),
                "check_wall_s_all": [round(c, 2) for c in checks],
                "plain_httpx_same_requests_s_median": round(plain_s, 3),
                "ratio_check_over_plain_requests": round(check_s / plain_s, 1),
                "target_s": TARGET_S,
                "within_target": check_s < TARGET_S,
                "phase_seconds_in_process": phase_seconds(),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
