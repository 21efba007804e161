"""report.html and summary.md: renderings of a report directory's conformance.json, load.json, requests.csv, gate.json.

The fixtures under data/run_report/ are real runs, trimmed (fewer passed rules and findings, every 25th CSV row):
* ``passed/``: ``llmconform check`` (every family) and ``llmconform load --scenario mixed --duration 4`` against
  the embedded mock; everything held.
* ``failed/``: ``llmconform check --family chat,models --max-requests 150`` and ``llmconform load --duration 3``
  against ``llmconform mock --fault usage_total_is_sum --fault stream_role_first --fault error_body_shape``,
  plus a gate.json as ``llmconform.gate`` writes it (two checks failed, one passed, one skipped).
"""

from __future__ import annotations

import json
import re
import shutil
from html import unescape
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from llmconform.report.run_report import (
    REPORT_HTML,
    SUMMARY_MD,
    ReportInputError,
    md_text,
    overall_verdict,
    read_inputs,
    render_report,
)

DATA = Path(__file__).parent / "data" / "run_report"
PLOT_IDS = ("plot-latency-over-time", "plot-throughput-over-time", "plot-ttft-histogram", "plot-itl-histogram")
FAILED_RULES = ("usage_total_is_sum", "error_body_shape", "schemathesis.response_schema_conformance")
WARNED_RULES = ("stream_role_first",)
EXTERNAL = re.compile(r"^\s*(?:[a-z][a-z0-9+.-]*:)?//|^\s*(?:https?|ftp|data|javascript):", re.IGNORECASE)


class Tags(HTMLParser):
    """Every start tag's name and attributes of a page (attribute values unescaped, as the browser sees them)."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def tags_of(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = Tags()
    parser.feed(html)
    return parser.tags


def external_references(html: str) -> list[str]:
    """Every attribute that would fetch or open something outside the page (src, href, ... to a URL or scheme)."""
    return [
        f"<{tag} {name}={value!r}>"
        for tag, attributes in tags_of(html)
        for name, value in attributes.items()
        if name in ("src", "href", "xlink:href", "action", "formaction", "poster", "data", "srcset", "background")
        and value is not None
        and EXTERNAL.search(value)
    ]


def copy_run(name: str, tmp_path: Path, *, without: tuple[str, ...] = ()) -> Path:
    target = tmp_path / name
    shutil.copytree(DATA / name, target, ignore=shutil.ignore_patterns(*without) if without else None)
    return target


def rendered(report_dir: Path) -> tuple[str, str]:
    paths = render_report(report_dir)
    assert paths == [report_dir / REPORT_HTML, report_dir / SUMMARY_MD]
    return paths[0].read_text(encoding="utf-8"), paths[1].read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def passed(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    return rendered(copy_run("passed", tmp_path_factory.mktemp("run")))


@pytest.fixture(scope="module")
def failed(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    return rendered(copy_run("failed", tmp_path_factory.mktemp("run")))


def load_document(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((DATA / name / "load.json").read_text(encoding="utf-8"))
    return document


def verdict_of(html: str) -> str:
    match = re.search(r'id="verdict"[^>]*data-verdict="([^"]+)"[^>]*>([^<]*)<', html)
    assert match is not None
    assert match[1] == match[2]
    return match[1]


def figures_with_svg(html: str) -> set[str]:
    return {m[1] for m in re.finditer(r'<figure id="([^"]+)">\s*<h3>[^<]*</h3>\s*<svg', html)}


# -- the passed run ------------------------------------------------------------------------------------------------


def test_a_passed_run_shows_every_part(passed: tuple[str, str]) -> None:
    html, summary = passed
    assert verdict_of(html) == "passed"
    for part in ("verdict-conformance", "verdict-load", "conformance", "load", "operations", "runs"):
        assert f'id="{part}"' in html
    assert 'id="gate"' not in html
    assert figures_with_svg(html) == set(PLOT_IDS)
    for operation in load_document("passed")["by_operation"]:
        assert f'id="operation-{operation}"' in html
        assert f"| {operation} |" in summary
    assert '<pre id="command-check">llmconform check --report-dir' in html
    assert '<pre id="command-load">llmconform load --scenario mixed' in html
    assert 'id="environment-load"' in html and "locust" in html

    assert summary.startswith("## ✅ llmconform: PASSED\n")
    assert "140 rules: 0 failed, 0 warned, 139 passed, 1 not run" in summary
    assert "| rule |" not in summary  # no failed rule, no table of them
    assert len(summary.splitlines()) < 60


def test_passed_families_are_folded(passed: tuple[str, str]) -> None:
    html, _ = passed
    families = re.findall(r'<details class="family" id="family-([a-z]+)"( open)?>', html)
    assert {name for name, _ in families} >= {"models", "chat", "messages", "gemini", "responses", "embeddings"}
    # Only a family with a failed or warned rule opens; the passed rules of each sit in a closed <details>.
    assert all(opened == "" for _, opened in families)
    assert '<details class="passed-rules">' in html


# -- the failed run ------------------------------------------------------------------------------------------------


def test_the_gate_gives_the_verdict_and_its_checks(failed: tuple[str, str]) -> None:
    html, summary = failed
    assert verdict_of(html) == "failed"
    assert "verdict of the gate (gate.json)" in html
    table = html[html.index('id="gate-checks"') : html.index("</table>", html.index('id="gate-checks"'))]
    assert table.count('<tr class="status-failed">') == 2
    assert table.count('<tr class="status-skipped">') == 1
    assert '<tr class="status-passed">' not in table  # the passed checks are folded away
    held = html[html.index('id="gate-checks-passed"') : html.index("</table>", html.index('id="gate-checks-passed"'))]
    assert held.count('<tr class="status-passed">') == 1
    assert "load.chat-stream.ttft.p95_ms" in held and "7.951" in held and "500" in held
    assert "<code>gates.toml</code>" in html and "checks: 2 failed, 1 skipped, 1 passed" in html

    assert summary.startswith("## ❌ llmconform: FAILED\n")
    assert "**Gate: failed** · checks: 2 failed, 1 skipped, 1 passed" in summary
    assert "| `conformance.failed_rules` | 3 | 0 | 3 rules failed; at most 0 allowed |" in summary
    assert "| `load.error_rate` | 1 | 0.01 |" in summary
    assert "load.chat-stream.ttft.p95_ms" not in summary  # a passed check is not listed
    assert "baseline.ttft_p95_regression" not in summary  # nor a skipped one


def test_failing_rules_with_their_exchanges(failed: tuple[str, str]) -> None:
    html, summary = failed
    conformance = json.loads((DATA / "failed" / "conformance.json").read_text(encoding="utf-8"))
    for rule in (*FAILED_RULES, *WARNED_RULES):
        status = "failed" if rule in FAILED_RULES else "warned"
        assert re.search(rf'<tr class="status-{status}" id="rule-chat-{re.escape(rule)}">', html)
        assert f'<details class="rule-findings" data-rule="{rule}">' in html
        first = next(f for f in conformance["findings"] if f["rule"] == rule)
        assert md_text(first["message"])[:60] in summary
        assert f"| `{rule}` | chat | {status} |" in summary
    # The family holding them is open; the exchange is there, escaped, to unfold.
    assert '<details class="family" id="family-chat" open>' in html
    assert "&#34;url&#34;: &#34;http://127.0.0.1:18471/v1/chat/completions&#34;" in html
    assert "Bearer [REDACTED]" in html
    assert "3 failed, 1 warned, 41 passed, 1 not run" in summary


def test_load_metrics_per_operation(failed: tuple[str, str]) -> None:
    html, summary = failed
    operation = load_document("failed")["by_operation"]["chat-stream"]
    ttft, e2e = operation["latency_ms"]["ttft"], operation["latency_ms"]["e2e"]
    row = html[html.index('id="operation-chat-stream"') :].split("</tr>")[0]
    cells = re.findall(r'<td class="num">([^<]*)</td>', row)
    assert cells[:3] == ["3,493", "0", "3,493"]
    assert f"{ttft['p50']:.2f}" in cells and f"{ttft['p95']:.2f}" in cells and f"{e2e['p95']:.2f}" in cells
    assert f"| chat-stream | 3,493 | 3,493 | 1,164.67 | {ttft['p50']:.2f} | {ttft['p95']:.2f} | {e2e['p95']:.2f} |" in (
        summary
    )
    assert "Errors: contract 3,493" in summary
    assert "`stream_role_first` 3,493" in summary and "`usage_total_is_sum` 3,493" in summary
    assert 'id="load-violations"' in html and figures_with_svg(html) == set(PLOT_IDS)
    assert len(summary.splitlines()) < 60


def test_without_a_gate_the_worst_run_verdict_decides(tmp_path: Path) -> None:
    html, summary = rendered(copy_run("failed", tmp_path, without=("gate.json", "requests.csv")))
    assert verdict_of(html) == "failed"
    assert "verdict of the conformance (failed) and load (failed) runs" in html
    assert 'id="gate"' not in html and "Gate" not in summary
    # No requests.csv: the time plots say so, the histograms come from load.json.
    assert figures_with_svg(html) == {"plot-ttft-histogram", "plot-itl-histogram"}
    assert "no data: no measured request" in html


def test_a_passing_gate_overrides_failed_runs(tmp_path: Path) -> None:
    report_dir = copy_run("failed", tmp_path)
    (report_dir / "gate.json").write_text(
        json.dumps({"verdict": "passed", "exit_code": 0, "checks": [], "thresholds": "t.toml", "baseline": None}),
        encoding="utf-8",
    )
    html, summary = rendered(report_dir)
    assert verdict_of(html) == "passed"
    assert summary.startswith("## ✅ llmconform: PASSED")
    assert "The gate ran no check." in html and "checks: no check" in summary


# -- offline and escaped -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("run", ["passed", "failed"])
def test_the_page_loads_nothing_from_outside(run: str, request: pytest.FixtureRequest) -> None:
    html, _ = request.getfixturevalue(run)
    assert external_references(html) == []
    tags = {tag for tag, _ in tags_of(html)}
    assert not tags & {"script", "link", "img", "iframe", "object", "embed", "base"}
    assert "@import" not in html and "url(http" not in html
    # The http:// that is left is text: the targets and the escaped exchanges (and the SVG namespaces).
    assert "http://127.0.0.1" in unescape(html)


def test_every_value_is_escaped(tmp_path: Path) -> None:
    report_dir = copy_run("failed", tmp_path)
    hostile = '<script>alert("x")</script> | `code` <img src=https://evil.example/x.png>'
    path = report_dir / "conformance.json"
    document = json.loads(path.read_text(encoding="utf-8"))
    document["findings"][0]["message"] = hostile
    document["findings"][0]["exchange"]["response"]["body"] = hostile
    document["summary"]["target"] = hostile
    path.write_text(json.dumps(document), encoding="utf-8")
    gate_path = report_dir / "gate.json"
    gate = json.loads(gate_path.read_text(encoding="utf-8"))
    gate["checks"][0]["message"] = hostile
    gate_path.write_text(json.dumps(gate), encoding="utf-8")

    html, summary = rendered(report_dir)
    assert "<script" not in html and "<img" not in html
    assert external_references(html) == []
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    assert unescape(html).count(hostile) >= 3
    assert "<script" not in summary and "<img" not in summary
    assert r"&lt;script&gt;alert(\"x\")" not in summary  # quotes stay as they are
    assert r"&lt;script&gt;alert(\"x\")&lt;/script&gt; \| \`code\`" not in summary
    assert '&lt;script&gt;alert("x")&lt;/script&gt; \\| \\`code\\`' in summary


def test_summary_cells_are_one_line_and_short() -> None:
    text = "first line\nsecond | line " + "x" * 300
    cell = md_text(text)
    assert "\n" not in cell and "\\|" in cell and cell.endswith("…")
    assert len(cell.replace("\\", "")) == 120


# -- partial inputs ------------------------------------------------------------------------------------------------


def test_conformance_alone(tmp_path: Path) -> None:
    report_dir = tmp_path / "check"
    report_dir.mkdir()
    shutil.copy(DATA / "failed" / "conformance.json", report_dir)
    html, summary = rendered(report_dir)
    assert verdict_of(html) == "failed"
    assert "verdict of the conformance (failed) run" in html
    assert 'id="load"' not in html and "<svg" not in html and 'id="command-load"' not in html
    assert "**Load" not in summary and "usage_total_is_sum" in summary


def test_requests_csv_alone_draws_the_time_plots(tmp_path: Path) -> None:
    report_dir = tmp_path / "csv"
    report_dir.mkdir()
    shutil.copy(DATA / "passed" / "requests.csv", report_dir)
    html, summary = rendered(report_dir)
    assert verdict_of(html) == "incomplete"
    assert figures_with_svg(html) == {"plot-latency-over-time", "plot-throughput-over-time"}
    assert "requests.csv only" in summary


def test_overall_verdict_ranks_failed_first(tmp_path: Path) -> None:
    report_dir = tmp_path / "both"
    report_dir.mkdir()
    (report_dir / "conformance.json").write_text(json.dumps({"summary": {"verdict": "error"}}), encoding="utf-8")
    (report_dir / "load.json").write_text(json.dumps({"verdict": "failed"}), encoding="utf-8")
    assert overall_verdict(read_inputs(report_dir)) == ("failed", "the worst of conformance (error) and load (failed)")
    (report_dir / "load.json").write_text(json.dumps({"verdict": "incomplete"}), encoding="utf-8")
    assert overall_verdict(read_inputs(report_dir))[0] == "error"
    (report_dir / "conformance.json").write_text(json.dumps({"summary": {"verdict": "passed"}}), encoding="utf-8")
    assert overall_verdict(read_inputs(report_dir))[0] == "incomplete"


# -- missing and unreadable inputs -----------------------------------------------------------------------------------


def test_an_empty_directory_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(ReportInputError) as error:
        render_report(tmp_path)
    message = str(error.value)
    assert str(tmp_path) in message
    for name in ("conformance.json", "load.json", "requests.csv", "gate.json"):
        assert name in message
    assert error.value.message == message
    assert not (tmp_path / REPORT_HTML).exists() and not (tmp_path / SUMMARY_MD).exists()


def test_a_missing_directory_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(ReportInputError, match="no such report directory"):
        render_report(tmp_path / "nowhere")


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("conformance.json", "{not json", "cannot read it"),
        ("load.json", "[1, 2]", "not an llmconform load.json"),
        ("gate.json", '{"checks": []}', "not an llmconform gate.json"),
        ("conformance.json", b"\xff\xfe{}", "cannot read it"),
    ],
)
def test_an_unreadable_input_is_an_input_error(tmp_path: Path, name: str, content: str | bytes, expected: str) -> None:
    report_dir = copy_run("failed", tmp_path)
    path = report_dir / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(ReportInputError, match=expected) as error:
        render_report(report_dir)
    assert str(path) in str(error.value)
    assert not (report_dir / REPORT_HTML).exists()
