"""Headless Chromium for the tests that render the HTML reports (load.html, report.html)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

# The plot figures both pages hold, by element id.
PLOT_IDS = ("plot-latency-over-time", "plot-throughput-over-time", "plot-ttft-histogram", "plot-itl-histogram")
INSTALL_HINT = "Chromium is not installed: run `apt-get install -y chromium` (after `apt-get update`)"
BROWSER_TIMEOUT_S = 60
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run")


def chromium() -> str:
    """The Chromium binary; a skip (a failure under CI) when there is none."""
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail(INSTALL_HINT)
        pytest.skip(INSTALL_HINT)
    return binary


def run_browser(binary: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run headless Chromium once with its own profile directory (a screenshot or a DOM dump)."""
    return subprocess.run(
        [binary, *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=BROWSER_TIMEOUT_S,
        check=False,
    )
