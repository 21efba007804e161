"""load.html: one offline page with every section and four inline SVG plots, from a real run's load.json and CSV.

The fixture under data/load_report/ is a real ``llmconform load --scenario mixed`` run (3 s, 12 requests/s)
against the embedded mock told to commit a warning fault on streams (stream_role_first) and an error fault
on every answer's content type (content_type_declared), with two SLOs: findings, violations, errors,
per-operation rows, SLOs and all three distributions are filled.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
from collections import Counter
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from markupsafe import escape

from llmconform.report.load_html import (
    LOAD_HTML,
    MAX_WINDOWS,
    Record,
    Windows,
    format_ms,
    latency_over_time_plot,
    latency_series,
    percentile,
    rate_series,
    read_records,
    throughput_over_time_plot,
    write_load_html,
)

DATA = Path(__file__).parent / "data" / "load_report"
PLOT_IDS = ("plot-latency-over-time", "plot-throughput-over-time", "plot-ttft-histogram", "plot-itl-histogram")
CSV_HEADER = (
    "intended_at,process,operation,family,stream,warmup,status,error_class,lag_ms,ttft_ms,e2e_ms,tpot_ms,"
    "itl_mean_ms,itl_max_ms,chunks,output_tokens,output_tokens_client,prompt_tokens,finish_reason,good,"
    "violations,error\n"
)


@pytest.fixture
def document() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((DATA / "load.json").read_text(encoding="utf-8"))
    return loaded


@pytest.fixture
def report_dir(tmp_path: Path) -> Path:
    """A report directory holding the real run's requests.csv (load.html is written next to it)."""
    shutil.copy(DATA / "requests.csv", tmp_path / "requests.csv")
    return tmp_path


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The real run's page, rendered once for the tests that only read it."""
    directory = tmp_path_factory.mktemp("load_report")
    shutil.copy(DATA / "requests.csv", directory / "requests.csv")
    document = json.loads((DATA / "load.json").read_text(encoding="utf-8"))
    return write_load_html(document, directory).read_text(encoding="utf-8")


def figure_of(html: str, plot_id: str) -> str:
    match = re.search(rf'<figure id="{plot_id}">(.*?)</figure>', html, flags=re.DOTALL)
    assert match is not None, f"no <figure id={plot_id!r}>"
    return match.group(1)


def external_references(html: str) -> list[str]:
    """Everything that would make a browser fetch something: tags that load, and src/href/url() off the page."""
    tags = re.findall(r"<[A-Za-z][^>]*>", html)
    found = [tag for tag in tags if re.match(r"<(?:script|link|iframe|object|embed|img|base)\b", tag, re.IGNORECASE)]
    for tag in tags:
        for value in re.findall(r"""\s(?:src|href|xlink:href|action|srcset)\s*=\s*["']?([^"'\s>]*)""", tag):
            if not value.startswith("#"):
                found.append(value)
    found += re.findall(r"url\(\s*['\"]?(?!#)[^)]*\)", html)
    found += re.findall(r"@import\b[^;]*", html)
    return found


# -- a real run ------------------------------------------------------------------------------------------------


def test_the_page_is_written_atomically_next_to_the_csv(document: dict[str, Any], report_dir: Path) -> None:
    path = write_load_html(document, report_dir)
    assert path == report_dir / LOAD_HTML
    assert path.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert sorted(p.name for p in report_dir.iterdir()) == ["load.html", "requests.csv"]  # no temporary file left


def test_the_page_loads_nothing_from_anywhere(document: dict[str, Any], page: str) -> None:
    assert external_references(page) == []
    # The only http(s) URLs are SVG namespace names (never fetched) and text from the document (the exchanges).
    urls = set(re.findall(r"https?://[^\s\"'<>]+", unescape(page)))
    namespaces = {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}
    document_text = json.dumps(document)
    assert all(url in namespaces or url in document_text for url in urls), urls - namespaces


def test_every_plot_is_an_inline_svg(page: str) -> None:
    for plot_id in PLOT_IDS:
        figure = figure_of(page, plot_id)
        assert figure.count("<svg") == 1, plot_id
        assert "no data" not in figure
    assert "<?xml" not in page and "<!DOCTYPE svg" not in page and "<metadata>" not in page


def test_ids_are_unique_across_the_inline_svgs(page: str) -> None:
    ids = Counter(re.findall(r'\bid="([^"]+)"', page))
    assert [name for name, count in ids.items() if count > 1] == []
    for reference in re.findall(r'(?:href="#|url\(#)([^")]+)', page):
        assert reference in ids, reference


def test_the_header_shows_the_verdict_and_the_run(document: dict[str, Any], page: str) -> None:
    verdict = re.search(r'<span id="verdict" [^>]*data-verdict="([^"]+)"[^>]*>([^<]*)</span>', page)
    assert verdict is not None
    assert verdict.groups() == (document["verdict"], document["verdict"]) == ("failed", "failed")
    assert f'<strong id="exit-code">{document["exit_code"]}</strong>' in page
    for key in ("scenario", "load_model", "target", "model"):
        assert f"<dd>{document[key]}</dd>" in page, key


def test_every_section_of_the_document_is_shown(document: dict[str, Any], page: str) -> None:
    for key in document["definitions"]:
        assert f'<dt id="definition-{key}">{key}</dt>' in page, key
    for error_class in document["errors"]:
        assert f"<td>{error_class}</td>" in page
    for rule, entry in document["rules"].items():
        assert f"<code>{rule}</code>" in page
        assert entry["severity"] in page
    for finding in document["findings"]:
        assert escape(finding["message"]) in page
    assert page.count("<summary>exchange</summary>") == len(document["findings"]) > 0
    for operation in document["by_operation"]:
        assert f"<td>{operation}</td>" in page
    for slo in document["slos"]:
        assert f"<code>{slo}</code>" in page
    assert 'id="metric-ttft"' in page and 'id="metric-scheduling-lag"' in page
    assert "llmconform load --duration 3" in page
    assert document["environment"]["platform"] in page
    assert "Not calibrated" in page


def test_numbers_are_formatted_for_people(document: dict[str, Any], page: str) -> None:
    p50 = document["latency_ms"]["ttft"]["p50"]
    assert f'<td class="num">{format_ms(p50)}</td>' in page
    assert format_ms(61.599) == "61.6"
    assert format_ms(1.7583) == "1.76"
    assert format_ms(12345.678) == "12,345.7"
    assert format_ms(None) == format_ms(float("nan")) == format_ms(True) == "–"


def test_a_calibrated_run_shows_the_statement(document: dict[str, Any], report_dir: Path) -> None:
    document["calibration"] = {
        "statement": "the generator adds 4.5 ms at p99 (3.2 ms at p50) at 17.3 requests/s",
        "overhead_ms": {"p50": 3.181, "p99": 4.535},
        "rate_per_s": 17.3,
    }
    html = write_load_html(document, report_dir).read_text(encoding="utf-8")
    assert '<p id="calibration-statement">the generator adds 4.5 ms at p99' in html
    assert '<td class="num">4.54</td>' in html


def test_text_from_the_document_is_escaped(document: dict[str, Any], report_dir: Path) -> None:
    document["notes"] = ["<script>alert('note')</script>"]
    document["findings"][0]["message"] = "<img src=x onerror=alert(1)>"
    document["model"] = "<b>model</b>"
    html = write_load_html(document, report_dir).read_text(encoding="utf-8")
    assert "<script>" not in html and "<img" not in html and "<b>model" not in html
    assert "&lt;script&gt;" in html and "&lt;img src=x" in html
    assert external_references(html) == []


def test_only_the_report_directory_is_read(document: dict[str, Any], tmp_path: Path) -> None:
    outside = tmp_path / "outside.csv"
    shutil.copy(DATA / "requests.csv", outside)
    report = tmp_path / "report"
    report.mkdir()
    document["files"]["records"] = "../outside.csv"
    html = write_load_html(document, report).read_text(encoding="utf-8")
    assert "no data" in figure_of(html, "plot-latency-over-time")


# -- partial and empty documents -----------------------------------------------------------------------------


def test_an_empty_document_renders(tmp_path: Path) -> None:
    html = write_load_html({}, tmp_path).read_text(encoding="utf-8")
    assert 'data-verdict="incomplete"' in html
    for plot_id in PLOT_IDS:
        figure = figure_of(html, plot_id)
        assert "<svg" not in figure and "no data" in figure
    assert external_references(html) == []


def test_a_run_that_measured_nothing_renders(document: dict[str, Any], tmp_path: Path) -> None:
    partial = copy.deepcopy(document)
    partial.update(
        verdict="incomplete",
        exit_code=3,
        partial=True,
        duration_s=0.0,
        notes=["interrupted: the report holds what completed"],
        requests={"total": 0, "ok": 0, "failed": 0, "good": 0, "warmup_excluded": 0},
        latency_ms={name: {} for name in ("ttft", "itl", "itl_per_token", "tpot", "e2e")},
        scheduling_lag_ms={},
        output_tokens_per_s_per_request={},
        distributions_ms={},
        errors={},
        violations={},
        findings=[],
        rules={},
        by_operation={},
        slos={},
        calibration=None,
    )
    (tmp_path / "requests.csv").write_text(CSV_HEADER, encoding="utf-8")
    html = write_load_html(partial, tmp_path).read_text(encoding="utf-8")
    assert 'data-verdict="incomplete"' in html
    assert "interrupted: the report holds what completed" in html
    assert html.count("not recorded") == 7
    for plot_id in PLOT_IDS:
        assert "no data" in figure_of(html, plot_id)
    assert "No contract rule was violated." in html and "No failed request." in html


def test_a_unary_run_has_latency_plots_but_no_stream_histograms(document: dict[str, Any], tmp_path: Path) -> None:
    document["distributions_ms"] = {"e2e": document["distributions_ms"]["e2e"]}
    rows = [f"{1000.0 + i / 4},0,chat-unary,chat,0,0,200,,0.1,,{250.0 + i},,,,,16,16,16,length,1,,\n" for i in range(8)]
    (tmp_path / "requests.csv").write_text(CSV_HEADER + "".join(rows), encoding="utf-8")
    html = write_load_html(document, tmp_path).read_text(encoding="utf-8")
    assert "<svg" in figure_of(html, "plot-latency-over-time")
    assert "<svg" in figure_of(html, "plot-throughput-over-time")
    assert "no data: no TTFT" in figure_of(html, "plot-ttft-histogram")
    assert "no data: no ITL" in figure_of(html, "plot-itl-histogram")


def test_a_damaged_csv_keeps_the_rows_before_the_damage(tmp_path: Path) -> None:
    good = "1000.5,0,chat-stream,chat,1,0,200,,0.1,60.0,800.0,12.0,12.0,14.0,64,64,64,128,length,1,,\n"
    (tmp_path / "requests.csv").write_bytes((CSV_HEADER + good + "1001.0,0,chat-str").encode() + b"\xff\xfe\n")
    assert read_records(tmp_path / "requests.csv") == [Record(1000.5, True, True, 60.0, 800.0)]
    assert read_records(tmp_path / "missing.csv") == []


# -- the time series -------------------------------------------------------------------------------------------


def test_csv_rows_of_the_warm_up_are_not_plotted() -> None:
    records = read_records(DATA / "requests.csv")
    lines = (DATA / "requests.csv").read_text(encoding="utf-8").splitlines()[1:]
    assert len(records) == sum(line.split(",")[5] == "0" for line in lines) > 0
    assert {r.ok for r in records} == {True, False}


def test_windows_are_one_second_or_wider_and_at_most_sixty() -> None:
    assert Windows.covering(100.0, 105.5) == Windows(100.0, 1.0, 6)
    assert Windows.covering(100.0, 100.0) == Windows(100.0, 1.0, 1)
    hour = Windows.covering(0.0, 3600.0)
    assert hour.count <= MAX_WINDOWS and hour.width_s == 60.0
    assert Windows.covering(0.0, 61.0).width_s == 2.0
    assert hour.index(-5.0) == 0 and hour.index(3600.0) == hour.count - 1


def test_latency_series_leave_out_failed_requests_and_gaps() -> None:
    records = [
        Record(0.2, True, True, 10.0, 100.0),
        Record(0.4, True, True, 20.0, 200.0),
        Record(0.6, False, False, 900.0, 1000.0),  # no complete answer: not in the latency lines, in the failed bars
        Record(2.5, True, True, None, 300.0),
    ]
    windows = Windows.covering(0.0, 3.0)
    e2e = latency_series(records, windows, "e2e_ms")
    assert e2e["p50"][0] == 150.0 and e2e["p99"][0] == pytest.approx(199.0)
    assert e2e["p50"][1] != e2e["p50"][1]  # NaN: no request sent in the second window
    assert e2e["p50"][2] == 300.0
    ttft = latency_series(records, windows, "ttft_ms")
    assert ttft["p95"][0] == pytest.approx(19.5) and ttft["p95"][2] != ttft["p95"][2]
    rates = rate_series(records, windows)  # by completion time: intended_at + e2e
    assert rates == {"ok": [2.0, 0.0, 1.0], "failed": [0.0, 1.0, 0.0]}


def test_answers_that_broke_the_contract_are_in_the_latency_lines() -> None:
    records = [Record(0.2, True, True, 10.0, 100.0), Record(0.4, False, True, 30.0, 300.0)]
    e2e = latency_series(records, Windows.covering(0.0, 1.0), "e2e_ms")
    assert e2e["p50"][0] == 200.0


def test_percentile_interpolates_between_ranks() -> None:
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert percentile([1.0, 2.0], 50) == 1.5
    assert percentile([7.0], 99) == 7.0
    assert percentile([float(v) for v in range(1, 101)], 99) == pytest.approx(99.01)


def test_rows_without_latencies_give_no_latency_plot_but_a_throughput_plot() -> None:
    records = [Record(1.0, True, True, None, None), Record(1.5, False, False, None, 20.0)]
    assert "no data" in latency_over_time_plot(records).no_data
    assert throughput_over_time_plot(records).svg is not None
