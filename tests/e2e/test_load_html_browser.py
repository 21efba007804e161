"""load.html in a real browser: `llmconform load` as a user runs it, then headless Chromium renders the page.

Chromium takes a screenshot (a real PNG with something drawn on it) and dumps the DOM it built: the verdict
says passed and each of the four plot figures holds a parsed <svg>. Without Chromium the test skips, or fails
when $CI is set (.ci/run installs it and sets CI).
"""

from __future__ import annotations

import os
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

from PIL import Image  # installed with matplotlib, which the HTML report needs
from tests.browser import PLOT_IDS, chromium, run_browser

CLI = [sys.executable, "-m", "llmconform.cli"]
LOAD_TIMEOUT_S = 120


class RenderedPage(HTMLParser):
    """From a dumped DOM: the verdict element's attributes and text, and which plot figures hold an <svg>."""

    def __init__(self) -> None:
        super().__init__()
        self.verdict_attributes: dict[str, str | None] = {}
        self.verdict_text = ""
        self.figures_with_svg: set[str] = set()
        self._in_verdict = False
        self._figure: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if attributes.get("id") == "verdict":
            self.verdict_attributes = attributes
            self._in_verdict = True
        if tag == "figure":
            self._figure = attributes.get("id")
        if tag == "svg" and self._figure is not None:
            self.figures_with_svg.add(self._figure)

    def handle_endtag(self, tag: str) -> None:
        if tag == "figure":
            self._figure = None
        self._in_verdict = False

    def handle_data(self, data: str) -> None:
        if self._in_verdict:
            self.verdict_text += data


def test_a_load_report_renders_in_chromium(tmp_path: Path) -> None:
    binary = chromium()
    report = tmp_path / "report"
    load = subprocess.run(
        [*CLI, "load", "--duration", "3", "--warmup", "0.5", "--report-dir", str(report)],
        capture_output=True,
        text=True,
        timeout=LOAD_TIMEOUT_S,
        env={**os.environ, "COLUMNS": "160"},
        check=False,
    )
    assert load.returncode == 0, load.stdout + load.stderr
    url = (report / "load.html").as_uri()

    screenshot = tmp_path / "load.png"
    shot = run_browser(binary, tmp_path / "profile", f"--screenshot={screenshot}", "--window-size=1280,2400", url)
    assert shot.returncode == 0, shot.stderr
    data = screenshot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 10_000
    with Image.open(screenshot) as image:
        assert image.size == (1280, 2400)
        colours = image.convert("RGB").getcolors(maxcolors=1 << 16)
    assert colours is None or len(colours) > 50  # None: more colours than that; a blank page has 1

    dom = run_browser(binary, tmp_path / "profile", "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr
    page = RenderedPage()
    page.feed(dom.stdout)
    assert page.verdict_attributes.get("data-verdict") == "passed"
    assert page.verdict_text.strip() == "passed"
    assert page.figures_with_svg == set(PLOT_IDS)
