"""report.html in a real browser: the page rendered from a real failed run (with a gate) in headless Chromium.

Chromium takes a screenshot (a real PNG with something drawn on it) and dumps the DOM it built: the verdict
says failed, the gate's checks and the broken rules are there, and each of the four plot figures holds a
parsed <svg>. Without Chromium the test skips, or fails when $CI is set (.ci/run installs it and sets CI).
"""

from __future__ import annotations

import shutil
from html.parser import HTMLParser
from pathlib import Path

from PIL import Image  # installed with matplotlib, which the HTML report needs
from tests.browser import PLOT_IDS, chromium, run_browser

from llmconform.report.run_report import REPORT_HTML, render_report

DATA = Path(__file__).parents[1] / "unit" / "data" / "run_report"


class RenderedPage(HTMLParser):
    """From a dumped DOM: the verdict, every element id, the rules with findings, the plot figures with an <svg>."""

    def __init__(self) -> None:
        super().__init__()
        self.verdict_attributes: dict[str, str | None] = {}
        self.verdict_text = ""
        self.ids: set[str] = set()
        self.rule_findings: set[str] = set()
        self.figures_with_svg: set[str] = set()
        self._in_verdict = False
        self._figure: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        element_id = attributes.get("id")
        if element_id:
            self.ids.add(element_id)
        if element_id == "verdict":
            self.verdict_attributes = attributes
            self._in_verdict = True
        if tag == "details" and attributes.get("class") == "rule-findings":
            self.rule_findings.add(attributes.get("data-rule") or "")
        if tag == "figure":
            self._figure = element_id
        if tag == "svg" and self._figure is not None:
            self.figures_with_svg.add(self._figure)

    def handle_endtag(self, tag: str) -> None:
        if tag == "figure":
            self._figure = None
        self._in_verdict = False

    def handle_data(self, data: str) -> None:
        if self._in_verdict:
            self.verdict_text += data


def test_a_run_report_renders_in_chromium(tmp_path: Path) -> None:
    binary = chromium()
    report = tmp_path / "report"
    shutil.copytree(DATA / "failed", report)
    render_report(report)
    url = (report / REPORT_HTML).as_uri()

    screenshot = tmp_path / "report.png"
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
    assert page.verdict_attributes.get("data-verdict") == "failed"
    assert page.verdict_text.strip() == "failed"
    assert {"gate-checks", "verdict-gate", "verdict-conformance", "verdict-load", "operations"} <= page.ids
    assert {"command-check", "command-load", "rule-chat-usage_total_is_sum"} <= page.ids
    assert page.rule_findings == {
        "usage_total_is_sum",
        "error_body_shape",
        "schemathesis.response_schema_conformance",
        "stream_role_first",
    }
    assert page.figures_with_svg == set(PLOT_IDS)
