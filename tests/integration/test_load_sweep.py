"""`llmconform load --sweep` against the embedded mock's capacity model finds the knee.

The mock decodes at most 8 sequences at once (about 24 answers of 32 tokens a second here). The sweep
climbs 4, 8, 16, 32 requests/s, sees 32 saturate, and bisects. The reported maximum rate meets the SLO,
the next measured rate above it does not, throughput levels off past the knee, and TTFT p95 rises
steeply there: what a real server's sweep looks like.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

CLI = [sys.executable, "-m", "llmconform.cli"]


def test_a_sweep_finds_the_knee_of_the_capacity_model(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            *CLI, "load", "--sweep", "--sweep-start", "4", "--slo", "ttft_p95_ms=400", "--max-running", "8",
            "--queue-size", "64", "--duration", "1.5", "--warmup", "0.3", "--output-tokens", "32",
            "--input-tokens", "64", "--report-dir", str(tmp_path),
        ],
        capture_output=True, text=True, timeout=240, env={**os.environ, "COLUMNS": "160"}, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads((tmp_path / "load.json").read_text())
    sweep = report["sweep"]
    points = sweep["points"]
    rates = [point["rate"] for point in points]
    assert rates == sorted(rates) and sweep["slos"] == {"ttft_p95_ms": 400.0}
    best = sweep["max_rate"]
    assert best is not None
    at_best = next(point for point in points if point["rate"] == best)
    above = next(point for point in points if point["rate"] > best)
    assert at_best["meets_slos"] and not above["meets_slos"]
    # Throughput levels off: the low points keep pace with what is offered, the highest falls well behind.
    lowest, highest = points[0], points[-1]
    assert lowest["completion_rate"] >= 0.9 * lowest["rate"]
    assert highest["completion_rate"] <= 0.85 * highest["rate"]
    # TTFT p95 rises steeply past the knee.
    assert highest["latency_ms"]["ttft"]["p95"] >= 4 * lowest["latency_ms"]["ttft"]["p95"]
    for point in points:  # every point kept its own report
        assert (tmp_path / point["report_dir"] / "load.json").exists()
    assert report["files"]["records"] == f"sweep/rate-{best:g}/requests.csv"
    html = (tmp_path / "load.html").read_text()
    assert 'id="plot-sweep"' in html and 'id="sweep-points"' in html
