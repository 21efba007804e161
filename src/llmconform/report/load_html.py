"""``REPORT_DIR/load.html``: one self-contained page that renders a load run for a person.

Rendered from the (already redacted) load.json document and the run's requests.csv, nothing else:
the verdict, the latency percentiles (TTFT, ITL, TPOT, E2E, scheduling lag), throughput and request
counts, errors by class, contract violations with example findings and their exchanges, the
per-operation table, SLOs, the calibration, notes, every metric definition, the exact command and the
environment. Four plots are drawn with matplotlib as SVG and inlined: latency percentiles over time and
requests per second over time (from requests.csv; warm-up rows excluded), and the TTFT and ITL
histograms (from ``distributions_ms``).

The page works offline: no script, stylesheet, font or image is loaded from anywhere; the CSS is inline
and the plots' text is drawn as SVG paths. A missing or empty CSV, an empty metric or a partial
document shows a short "no data" note where a plot or a table would be.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import matplotlib
from markupsafe import Markup
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from llmconform.load.measure import TIMED_CLASSES
from llmconform.report._files import write_atomic
from llmconform.report._page import page_environment

__all__ = ["LOAD_HTML", "read_records", "render_load_html", "write_load_html"]

LOAD_HTML = "load.html"
MAX_WINDOWS = 60
PERCENTILES = ("p50", "p90", "p95", "p99", "p999")
SUMMARY_COLUMNS = (*PERCENTILES, "mean", "max")
TIME_SERIES_PERCENTILES = (50.0, 95.0, 99.0)
COLOURS = {"p50": "#1f77b4", "p95": "#ff7f0e", "p99": "#d62728", "ok": "#2ca02c", "failed": "#d62728"}


# -- requests.csv -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Record:
    """The columns of one measured (non-warm-up) row of requests.csv that the plots use."""

    intended_at: float
    ok: bool
    timed: bool
    ttft_ms: float | None
    e2e_ms: float | None

    @property
    def done_at(self) -> float:
        """Epoch seconds the request completed: its send time plus its E2E latency (which includes the lag)."""
        return self.intended_at + (self.e2e_ms or 0.0) / 1000


def _number(cell: str | None) -> float | None:
    """A finite number from a CSV cell; None for an empty or unreadable one."""
    try:
        value = float(cell or "nan")
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _record(row: dict[str, str | None]) -> Record | None:
    """The row as a Record; None for a warm-up row or a damaged one (too few cells, no send time)."""
    intended_at = _number(row.get("intended_at"))
    if intended_at is None or row.get("warmup") != "0" or None in row.values():
        return None
    error_class = row.get("error_class") or None
    return Record(
        intended_at,
        error_class is None,
        error_class in TIMED_CLASSES,
        _number(row.get("ttft_ms")),
        _number(row.get("e2e_ms")),
    )


def read_records(path: Path) -> list[Record]:
    """The measured rows of requests.csv, damaged rows skipped; [] when it is missing or unreadable."""
    records: list[Record] = []
    try:
        with path.open(newline="", encoding="utf-8", errors="replace") as handle:
            for row in csv.DictReader(handle):
                record = _record(row)
                if record is not None:
                    records.append(record)
    except (OSError, csv.Error):
        pass
    return records


# -- time windows -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Windows:
    """Equal windows from the first measured send time: 1 s wide, or wider so there are at most MAX_WINDOWS."""

    start: float
    width_s: float
    count: int

    @classmethod
    def covering(cls, start: float, end: float) -> Windows:
        span = max(end - start, 0.0)
        width = float(max(1, math.ceil(span / MAX_WINDOWS)))
        return cls(start, width, max(1, math.ceil(span / width)))

    def index(self, at: float) -> int:
        return min(max(int((at - self.start) // self.width_s), 0), self.count - 1)

    def starts_s(self) -> list[float]:
        return [i * self.width_s for i in range(self.count)]

    def centres_s(self) -> list[float]:
        return [(i + 0.5) * self.width_s for i in range(self.count)]


def windows_for(records: Sequence[Record]) -> Windows:
    return Windows.covering(min(r.intended_at for r in records), max(r.done_at for r in records))


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) with linear interpolation between the closest ranks."""
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def latency_series(records: Sequence[Record], windows: Windows, metric: str) -> dict[str, list[float]]:
    """p50/p95/p99 of ``metric`` ("ttft_ms" or "e2e_ms") of the timed requests sent in each window (NaN: none)."""
    buckets: list[list[float]] = [[] for _ in range(windows.count)]
    for record in records:
        value = getattr(record, metric)
        if record.timed and value is not None:
            buckets[windows.index(record.intended_at)].append(value)
    return {
        f"p{q:g}": [percentile(bucket, q) if bucket else math.nan for bucket in buckets]
        for q in TIME_SERIES_PERCENTILES
    }


def rate_series(records: Sequence[Record], windows: Windows) -> dict[str, list[float]]:
    """Requests per second that completed in each window, successful and failed apart."""
    counts = {"ok": [0] * windows.count, "failed": [0] * windows.count}
    for record in records:
        counts["ok" if record.ok else "failed"][windows.index(record.done_at)] += 1
    return {name: [n / windows.width_s for n in series] for name, series in counts.items()}


# -- plots ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plot:
    """One figure of the page: an inline SVG, or the reason there is none."""

    id: str
    title: str
    caption: str
    svg: Markup | None
    no_data: str = ""


def _namespaced_ids(svg: str, prefix: str) -> str:
    """Prefix every id (and every reference to one) so several inline SVGs share one document without clashes."""
    svg = re.sub(r'\bid="([^"]+)"', lambda m: f'id="{prefix}-{m[1]}"', svg)
    return re.sub(r'(xlink:href="#|href="#|url\(#)([^")]+)', lambda m: f"{m[1]}{prefix}-{m[2]}", svg)


def svg_of(figure: Figure, plot_id: str) -> Markup:
    """The figure as an inline <svg> element (no XML prolog, no DOCTYPE, no metadata, text as paths)."""
    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "path", "svg.hashsalt": "llmconform", "font.size": 9.0}):
        figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None, "Format": None, "Type": None})
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg") :]
    svg = re.sub(r"<metadata>.*?</metadata>", "", svg, flags=re.DOTALL)
    return Markup(_namespaced_ids(svg, plot_id))


def _new_figure(height_in: float, rows: int = 1) -> tuple[Figure, list[Axes]]:
    figure = Figure(figsize=(9.0, height_in), layout="constrained")
    axes = [figure.add_subplot(rows, 1, i + 1) for i in range(rows)]
    for ax in axes:
        ax.grid(True, color="#dddddd", linewidth=0.6)
        ax.set_axisbelow(True)
    return figure, axes


def latency_over_time_plot(records: Sequence[Record]) -> Plot:
    plot_id = "plot-latency-over-time"
    title = "Latency percentiles over time"
    timed = [r for r in records if r.timed]
    metrics = [(name, label) for name, label in (("ttft_ms", "TTFT"), ("e2e_ms", "E2E")) if _has(timed, name)]
    if not metrics:
        return Plot(plot_id, title, "", None, "no data: no measured request with a complete answer in requests.csv")
    windows = windows_for(records)
    figure, axes = _new_figure(2.6 * len(metrics) + 0.4, rows=len(metrics))
    for ax, (metric, label) in zip(axes, metrics, strict=True):
        for name, values in latency_series(records, windows, metric).items():
            ax.plot(windows.centres_s(), values, marker="o", markersize=3, label=name, color=COLOURS[name])
        ax.set_ylabel(f"{label} (ms)")
        _time_axis(ax, windows)
    axes[-1].set_xlabel("time since the first measured send (s)")
    caption = (
        f"p50/p95/p99 of the measured requests with a complete answer (also those that broke the contract), "
        f"grouped by intended send time into {windows.width_s:g} s windows; warm-up excluded."
    )
    return Plot(plot_id, title, caption, svg_of(figure, plot_id))


def _time_axis(ax: Axes, windows: Windows) -> None:
    """The same x range on every time plot (the whole run), room above the data, the legend outside it."""
    ax.set_xlim(0, windows.count * windows.width_s)
    ax.set_ylim(0, ax.get_ylim()[1] * 1.15)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)


def _has(records: Sequence[Record], metric: str) -> bool:
    return any(getattr(r, metric) is not None for r in records)


def throughput_over_time_plot(records: Sequence[Record]) -> Plot:
    plot_id = "plot-throughput-over-time"
    title = "Requests per second over time"
    if not records:
        return Plot(plot_id, title, "", None, "no data: no measured request in requests.csv")
    windows = windows_for(records)
    series = rate_series(records, windows)
    figure, (ax,) = _new_figure(3.0)
    starts = windows.starts_s()
    bars: dict[str, Any] = {"width": windows.width_s, "align": "edge", "edgecolor": "white", "linewidth": 0.5}
    ax.bar(starts, series["ok"], color=COLOURS["ok"], label="ok", **bars)
    ax.bar(starts, series["failed"], bottom=series["ok"], color=COLOURS["failed"], label="failed", **bars)
    ax.set_xlabel("time since the first measured send (s)")
    ax.set_ylabel("requests / s")
    _time_axis(ax, windows)
    caption = (
        f"Measured requests by completion time in {windows.width_s:g} s windows, successful and failed stacked; "
        "the last window may be partly empty."
    )
    return Plot(plot_id, title, caption, svg_of(figure, plot_id))


def _bins(value: Any) -> list[tuple[float, float, float]]:
    bins = []
    for entry in value if isinstance(value, list) else []:
        if isinstance(entry, list | tuple) and len(entry) == 3 and all(_is_number(v) for v in entry):
            lower, upper, count = (float(v) for v in entry)
            if 0 < lower < upper:
                bins.append((lower, upper, count))
    return bins


def histogram_plot(plot_id: str, title: str, metric: str, distributions: dict[str, Any]) -> Plot:
    bins = _bins(distributions.get(metric))
    if not any(count for _, _, count in bins):
        return Plot(plot_id, title, "", None, f"no data: no {metric.upper()} was recorded in this run")
    figure, (ax,) = _new_figure(3.0)
    ax.bar(
        [lower for lower, _, _ in bins],
        [count for _, _, count in bins],
        width=[upper - lower for lower, upper, _ in bins],
        align="edge",
        color=COLOURS["p50"],
        edgecolor="white",
        linewidth=0.4,
    )
    ax.set_xscale("log")
    ax.set_xlabel(f"{metric.upper()} (ms, log scale)")
    ax.set_ylabel("count")
    caption = f"All measured {metric.upper()} values in {len(bins)} log-spaced bins (distributions_ms.{metric})."
    return Plot(plot_id, title, caption, svg_of(figure, plot_id))


def sweep_plot(sweep: dict[str, Any]) -> Plot:
    """Throughput and TTFT/ITL p95 against the offered rate, SLO limits dashed, the max rate marked."""
    plot_id = "plot-sweep"
    title = "Sweep: throughput and latency against the offered rate"
    points = [p for p in _sequence(sweep.get("points")) if isinstance(p, dict) and _is_number(p.get("rate"))]
    if not points:
        return Plot(plot_id, title, "", None, "no data: the sweep measured no point")
    rates = [float(p["rate"]) for p in points]
    figure, (top, bottom) = _new_figure(5.6, rows=2)
    completed = [float(p.get("completion_rate") or 0.0) for p in points]
    top.plot(rates, rates, linestyle=":", color="#888888", label="offered")
    top.plot(rates, completed, marker="o", markersize=4, color=COLOURS["ok"], label="completed")
    top.set_ylabel("requests / s")
    slos = _mapping(sweep.get("slos"))
    for metric, colour in (("ttft", COLOURS["p95"]), ("itl", COLOURS["p99"])):
        values = [_mapping(_mapping(p.get("latency_ms")).get(metric)).get("p95") for p in points]
        if any(_is_number(v) for v in values):
            shown = [float(v) if isinstance(v, int | float) else float("nan") for v in values]
            bottom.plot(rates, shown, marker="o", markersize=4, color=colour, label=f"{metric.upper()} p95")
        limit = slos.get(f"{metric}_p95_ms")
        if isinstance(limit, int | float):
            bottom.axhline(float(limit), linestyle="--", linewidth=1, color=colour, label=f"{metric}_p95_ms SLO")
    bottom.set_ylabel("ms")
    bottom.set_xlabel("offered rate (requests / s)")
    best = sweep.get("max_rate")
    for ax in (top, bottom):
        if isinstance(best, int | float):
            ax.axvline(float(best), color="#333333", linewidth=1, label="max rate meeting the SLOs")
        for point in points:
            if not point.get("meets_slos"):
                ax.axvspan(float(point["rate"]) * 0.98, float(point["rate"]) * 1.02, color="#f2b8b5", alpha=0.5)
        ax.set_ylim(0, ax.get_ylim()[1] * 1.15)
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
    caption = (
        f"{len(points)} open-loop points; latency runs from each request's intended send time, so a queue past "
        "the knee shows as rising TTFT. Points that broke an SLO or saturated are shaded."
    )
    return Plot(plot_id, title, caption, svg_of(figure, plot_id))


def plots(document: dict[str, Any], records: Sequence[Record]) -> list[Plot]:
    distributions = _mapping(document.get("distributions_ms"))
    sweep = _mapping(document.get("sweep"))
    return [
        *([sweep_plot(sweep)] if sweep else []),
        latency_over_time_plot(records),
        throughput_over_time_plot(records),
        histogram_plot("plot-ttft-histogram", "TTFT histogram", "ttft", distributions),
        histogram_plot("plot-itl-histogram", "ITL histogram", "itl", distributions),
    ]


# -- formatting -------------------------------------------------------------------------------------------------


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def format_ms(value: Any) -> str:
    """Milliseconds (or any measured value): 2 decimals below 10, 1 decimal above; '–' when absent."""
    if not _is_number(value):
        return "–"
    return f"{value:,.2f}" if abs(value) < 10 else f"{value:,.1f}"


def format_rate(value: Any) -> str:
    return f"{value:,.2f}" if _is_number(value) else "–"


def format_count(value: Any) -> str:
    return f"{value:,.0f}" if _is_number(value) else "–"


def format_seconds(value: Any) -> str:
    return f"{value:,.2f} s" if _is_number(value) else "–"


def format_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


# -- the page's view of the document ------------------------------------------------------------------------


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _sequence(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


@dataclass(frozen=True)
class MetricRow:
    name: str
    unit: str
    summary: dict[str, Any]


def metric_rows(document: dict[str, Any]) -> list[MetricRow]:
    latency = _mapping(document.get("latency_ms"))
    rows = [MetricRow(name, "ms", _mapping(latency.get(name))) for name in ("ttft", "itl", "itl_per_token", "tpot")]
    rows.append(MetricRow("e2e", "ms", _mapping(latency.get("e2e"))))
    rows.append(MetricRow("scheduling lag", "ms", _mapping(document.get("scheduling_lag_ms"))))
    per_request = _mapping(document.get("output_tokens_per_s_per_request"))
    rows.append(MetricRow("output tokens/s per request", "tok/s", per_request))
    return rows


@dataclass(frozen=True)
class RuleRow:
    rule: str
    severity: str
    title: str
    source: str
    judged: Any
    violated: Any


def rule_rows(document: dict[str, Any]) -> list[RuleRow]:
    """Every judged or violated rule, the violated ones first (most violations first), then by name."""
    rules = _mapping(document.get("rules"))
    violations = _mapping(document.get("violations"))
    rows = []
    for rule in sorted(set(rules) | set(violations)):
        entry = _mapping(rules.get(rule))
        violated = entry.get("violated", violations.get(rule, 0))
        rows.append(
            RuleRow(
                rule=rule,
                severity=str(entry.get("severity", "")),
                title=str(entry.get("title", "")),
                source=str(entry.get("source", "")),
                judged=entry.get("judged"),
                violated=violated,
            )
        )
    return sorted(rows, key=lambda row: (-(row.violated if _is_number(row.violated) else 0), row.rule))


@dataclass(frozen=True)
class SloRow:
    name: str
    limit_ms: Any
    kind: str
    value: str
    met: bool | None


def slo_rows(document: dict[str, Any]) -> list[SloRow]:
    rows = []
    for name, slo in sorted(_mapping(document.get("slos")).items()):
        slo = _mapping(slo)
        if "met" in slo:
            rows.append(SloRow(name, slo.get("limit_ms"), "run percentile", format_ms(slo.get("value_ms")), slo["met"]))
        else:
            value = f"met by {format_count(slo.get('met_by'))} of {format_count(slo.get('of'))} requests"
            rows.append(SloRow(name, slo.get("limit_ms"), str(slo.get("kind", "per request")), value, None))
    return rows


def command_line(document: dict[str, Any]) -> str:
    return shlex.join(str(part) for part in _sequence(document.get("command")))


def _view(document: dict[str, Any], records: Sequence[Record]) -> dict[str, Any]:
    verdict = str(document.get("verdict") or "incomplete")
    return {
        "doc": document,
        "verdict": verdict,
        "requests": _mapping(document.get("requests")),
        "throughput": _mapping(document.get("throughput")),
        "tokens": _mapping(document.get("tokens")),
        "discrepancy": _mapping(_mapping(document.get("tokens")).get("discrepancy")),
        "metric_rows": metric_rows(document),
        "summary_columns": SUMMARY_COLUMNS,
        "plots": plots(document, records),
        "sweep": _mapping(document.get("sweep")),
        "errors": _mapping(document.get("errors")),
        "rule_rows": rule_rows(document),
        "findings": [_mapping(f) for f in _sequence(document.get("findings"))],
        "by_operation": _mapping(document.get("by_operation")),
        "slo_rows": slo_rows(document),
        "calibration": _mapping(document.get("calibration")),
        "notes": [str(note) for note in _sequence(document.get("notes"))],
        "definitions": _mapping(document.get("definitions")),
        "command": command_line(document),
        "environment": _mapping(document.get("environment")),
        "files": _mapping(document.get("files")),
        "plan": _mapping(document.get("plan")),
    }


# -- the page ---------------------------------------------------------------------------------------------------

_FILTERS: dict[str, Callable[[Any], str]] = {
    "ms": format_ms,
    "rate": format_rate,
    "integer": format_count,
    "seconds": format_seconds,
    "pretty_json": format_json,
}

_TEMPLATE = """\
<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>llmconform load · {{ doc.scenario or "?" }} · {{ verdict }}</title>
<style>
{{ base_css }}
  tr.violated td { background: #fff1f0; }
  pre { background: #f6f8fa; border: 1px solid var(--line); padding: .6rem; overflow-x: auto; white-space: pre-wrap;
        word-break: break-word; max-height: 36rem; overflow-y: auto; }
  .verdict { display: inline-block; padding: .25rem .8rem; border-radius: 4px; color: #fff; font-weight: 700;
             letter-spacing: .04em; text-transform: uppercase; margin: 0 .6rem 0 0; }
  .verdict-incomplete { background: var(--warn); }
  .headline { display: flex; align-items: center; flex-wrap: wrap; gap: .4rem; margin-bottom: .8rem; }
  dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; margin: 0; }
  figure { margin: 0 0 1.5rem; }
  .plots { display: grid; grid-template-columns: 1fr; gap: .5rem; }
  .met { color: var(--ok); font-weight: 600; }
  .missed { color: var(--bad); font-weight: 600; }
  .finding { border: 1px solid var(--line); border-radius: 4px; padding: .5rem .8rem; margin: .5rem 0; }
  dl.definitions dt { font-weight: 600; margin-top: .6rem; }
  dl.definitions dd { margin: .1rem 0 0 1.2rem; }
</style>
</head>
<body>
<header>
  <h1>llmconform load report</h1>
  <div class="headline">
    <span id="verdict" class="verdict verdict-{{ verdict }}" data-verdict="{{ verdict }}">{{ verdict }}</span>
    <span>exit code <strong id="exit-code">{{ doc.exit_code|integer }}</strong></span>
    {% if doc.partial %}<span class="notes">partial: the run did not complete as planned</span>{% endif %}
  </div>
  <dl class="facts">
    <dt>scenario</dt><dd>{{ doc.scenario or "–" }}</dd>
    <dt>load model</dt><dd>{{ doc.load_model or "–" }}</dd>
    <dt>target</dt><dd>{{ doc.target or "–" }}</dd>
    <dt>model</dt><dd>{{ doc.model or "–" }}</dd>
    <dt>duration</dt><dd>{{ doc.duration_s|seconds }} measured</dd>
    {% if environment.started_at %}<dt>started</dt><dd>{{ environment.started_at }}</dd>{% endif %}
    {% if doc.llmconform_version %}<dt>llmconform</dt><dd>{{ doc.llmconform_version }}</dd>{% endif %}
  </dl>
</header>

{% if notes %}
<section id="notes" class="notes">
  <strong>Notes</strong>
  <ul>{% for note in notes %}<li>{{ note }}</li>{% endfor %}</ul>
</section>
{% endif %}

<section id="requests">
  <h2>Requests and throughput</h2>
  <table>
    <tr><th>requests</th><th class="num">total</th><th class="num">ok</th><th class="num">failed</th>
        <th class="num">good</th><th class="num">warm-up (not measured)</th></tr>
    <tr><td>measured</td><td class="num">{{ requests.total|integer }}</td><td class="num">{{ requests.ok|integer }}</td>
        <td class="num">{{ requests.failed|integer }}</td><td class="num">{{ requests.good|integer }}</td>
        <td class="num">{{ requests.warmup_excluded|integer }}</td></tr>
  </table>
  <table>
    <tr><th>throughput</th><th class="num">value</th></tr>
    <tr><td>requests/s</td><td class="num">{{ throughput.requests_per_s|rate }}</td></tr>
    <tr><td>successful requests/s</td><td class="num">{{ throughput.ok_requests_per_s|rate }}</td></tr>
    <tr><td>goodput (requests/s)</td><td class="num">{{ throughput.goodput_requests_per_s|rate }}</td></tr>
    <tr><td>output tokens/s</td><td class="num">{{ throughput.output_tokens_per_s|rate }}</td></tr>
  </table>
  {% if tokens %}
  <table id="tokens">
    <tr><th>tokens</th><th class="num">value</th></tr>
    <tr><td>output (server usage)</td><td class="num">{{ tokens.output|integer }}</td></tr>
    <tr><td>output (client{% if discrepancy.tokenizer %}, {{ discrepancy.tokenizer }}{% endif %})</td>
        <td class="num">{{ tokens.output_client|integer }}</td></tr>
    <tr><td>prompt</td><td class="num">{{ tokens.prompt|integer }}</td></tr>
    {% if discrepancy %}<tr><td>requests whose counts differ by more than 10%</td>
        <td class="num">{{ discrepancy.disagree|integer }} of {{ discrepancy.compared|integer }}</td></tr>{% endif %}
  </table>
  {% endif %}
</section>

<section id="latency">
  <h2>Latency</h2>
  <table id="metrics">
    <tr><th>metric</th><th>unit</th>
      {% for column in summary_columns %}<th class="num">{{ column }}</th>{% endfor %}<th class="num">count</th></tr>
    {% for row in metric_rows %}
    <tr id="metric-{{ row.name|replace(' ', '-') }}"><td>{{ row.name }}</td><td>{{ row.unit }}</td>
      {% if row.summary %}
      {% for column in summary_columns %}<td class="num">{{ row.summary.get(column)|ms }}</td>{% endfor %}
      <td class="num">{{ row.summary.get("count")|integer }}</td>
      {% else %}<td colspan="{{ summary_columns|length + 1 }}" class="muted">not recorded</td>{% endif %}
    </tr>
    {% endfor %}
  </table>
</section>

{% if sweep %}
<section id="sweep">
  <h2>Sweep</h2>
  <p>Highest rate that met every SLO:
    <strong id="sweep-max-rate">{{ sweep.max_rate|rate }}</strong> requests/s
  {% if sweep.slos %}(SLOs: {% for name, limit in sweep.slos.items() -%}
    <code>{{ name }} &le; {{ limit|ms }}</code>{% if not loop.last %}, {% endif %}
  {%- endfor %}){% endif %}.</p>
  <table id="sweep-points">
    <tr><th>offered (req/s)</th><th>completed (req/s)</th><th>TTFT p95 (ms)</th><th>ITL p95 (ms)</th>
      <th>E2E p95 (ms)</th><th>errors</th><th>verdict</th><th>report</th></tr>
    {% for point in sweep.points %}
    {% set latency = point.latency_ms %}
    <tr class="{{ 'held' if point.meets_slos else 'broke' }}">
      <td>{{ point.rate|rate }}</td><td>{{ point.completion_rate|rate }}</td>
      <td>{{ latency.get('ttft', {}).get('p95')|ms }}</td><td>{{ latency.get('itl', {}).get('p95')|ms }}</td>
      <td>{{ latency.get('e2e', {}).get('p95')|ms }}</td><td>{{ '%.1f'|format(point.error_rate * 100) }}%</td>
      <td>{{ 'meets the SLOs' if point.meets_slos else ('saturated' if point.saturated else 'breaks an SLO') }}</td>
      <td><code>{{ point.report_dir }}/load.json</code></td></tr>
    {% endfor %}
  </table>
</section>
{% endif %}

<section id="plots">
  <h2>Plots</h2>
  <div class="plots">
  {% for plot in plots %}
    <figure id="{{ plot.id }}">
      <h3>{{ plot.title }}</h3>
      {% if plot.svg %}{{ plot.svg }}
      <figcaption>{{ plot.caption }}</figcaption>
      {% else %}<p class="no-data">{{ plot.no_data }}</p>{% endif %}
    </figure>
  {% endfor %}
  </div>
</section>

<section id="errors">
  <h2>Errors by class</h2>
  {% if errors %}
  <table>
    <tr><th>class</th><th class="num">requests</th></tr>
    {% for name, count in errors.items() %}
    <tr><td>{{ name }}</td><td class="num">{{ count|integer }}</td></tr>
    {% endfor %}
  </table>
  {% else %}<p class="muted">No failed request.</p>{% endif %}
</section>

<section id="contract">
  <h2>Contract rules</h2>
  {% set violated = rule_rows|selectattr("violated")|list %}
  {% if violated %}
  <h3>Violations</h3>
  <table id="violations">
    <tr><th>rule</th><th>severity</th><th>title</th><th>source</th><th class="num">violated</th>
        <th class="num">judged</th></tr>
    {% for row in violated %}
    <tr class="violated"><td><code>{{ row.rule }}</code></td>
      <td class="severity-{{ row.severity }}">{{ row.severity }}</td><td>{{ row.title }}</td>
      <td>{{ row.source }}</td><td class="num">{{ row.violated|integer }}</td>
      <td class="num">{{ row.judged|integer }}</td></tr>
    {% endfor %}
  </table>
  {% else %}<p class="muted">No contract rule was violated.</p>{% endif %}
  {% if findings %}
  <h3>Example findings</h3>
  {% for finding in findings %}
  <div class="finding">
    <div><code>{{ finding.rule }}</code> · <span class="severity-{{ finding.severity }}">{{ finding.severity }}</span>
      {% if finding.operation %} · operation {{ finding.operation }}{% endif %}
      {% if finding.family %} · family {{ finding.family }}{% endif %}</div>
    <p>{{ finding.message }}</p>
    {% if finding.exchange %}
    <details><summary>exchange</summary><pre>{{ finding.exchange|pretty_json }}</pre></details>
    {% endif %}
  </div>
  {% endfor %}
  {% endif %}
  {% if rule_rows %}
  <details id="rules">
    <summary>All {{ rule_rows|length }} rules judged on the answers</summary>
    <table>
      <tr><th>rule</th><th>severity</th><th>title</th><th>source</th><th class="num">judged</th>
          <th class="num">violated</th></tr>
      {% for row in rule_rows %}
      <tr{% if row.violated %} class="violated"{% endif %}><td><code>{{ row.rule }}</code></td>
        <td class="severity-{{ row.severity }}">{{ row.severity }}</td><td>{{ row.title }}</td><td>{{ row.source }}</td>
        <td class="num">{{ row.judged|integer }}</td><td class="num">{{ row.violated|integer }}</td></tr>
      {% endfor %}
    </table>
  </details>
  {% endif %}
</section>

<section id="operations">
  <h2>By operation</h2>
  {% if by_operation %}
  <div class="scroll">
  <table>
    <tr><th>operation</th><th class="num">duration</th><th class="num">total</th><th class="num">ok</th>
        <th class="num">failed</th><th class="num">good</th><th class="num">req/s</th><th class="num">ok req/s</th>
        <th class="num">goodput req/s</th><th class="num">output tok/s</th><th class="num">TTFT p50 ms</th>
        <th class="num">TTFT p95 ms</th><th class="num">E2E p50 ms</th><th class="num">E2E p95 ms</th>
        <th class="num">E2E p99 ms</th></tr>
    {% for name, op in by_operation.items() %}
    {% set req = op.get("requests") or {} %}{% set tp = op.get("throughput") or {} %}
    {% set lat = op.get("latency_ms") or {} %}{% set ttft = lat.get("ttft") or {} %}{% set e2e = lat.get("e2e") or {} %}
    <tr><td>{{ name }}</td><td class="num">{{ op.get("duration_s")|seconds }}</td>
      <td class="num">{{ req.get("total")|integer }}</td><td class="num">{{ req.get("ok")|integer }}</td>
      <td class="num">{{ req.get("failed")|integer }}</td><td class="num">{{ req.get("good")|integer }}</td>
      <td class="num">{{ tp.get("requests_per_s")|rate }}</td>
      <td class="num">{{ tp.get("ok_requests_per_s")|rate }}</td>
      <td class="num">{{ tp.get("goodput_requests_per_s")|rate }}</td>
      <td class="num">{{ tp.get("output_tokens_per_s")|rate }}</td>
      <td class="num">{{ ttft.get("p50")|ms }}</td><td class="num">{{ ttft.get("p95")|ms }}</td>
      <td class="num">{{ e2e.get("p50")|ms }}</td><td class="num">{{ e2e.get("p95")|ms }}</td>
      <td class="num">{{ e2e.get("p99")|ms }}</td></tr>
    {% endfor %}
  </table>
  </div>
  {% else %}<p class="muted">No operation was measured.</p>{% endif %}
</section>

<section id="slos">
  <h2>SLOs</h2>
  {% if slo_rows %}
  <table>
    <tr><th>SLO</th><th class="num">limit ms</th><th>kind</th><th>value</th><th>met</th></tr>
    {% for row in slo_rows %}
    <tr><td><code>{{ row.name }}</code></td><td class="num">{{ row.limit_ms|ms }}</td><td>{{ row.kind }}</td>
      <td>{{ row.value }}</td>
      <td>{% if row.met is none %}<span class="muted">see goodput</span>{% elif row.met %}<span class="met">met</span>
          {% else %}<span class="missed">missed</span>{% endif %}</td></tr>
    {% endfor %}
  </table>
  {% else %}<p class="muted">No SLO was given (<code>--slo NAME=MS</code>).</p>{% endif %}
</section>

<section id="calibration">
  <h2>Calibration</h2>
  {% if calibration %}
  <p id="calibration-statement">{{ calibration.get("statement", "") }}</p>
  {% set overhead = calibration.get("overhead_ms") or {} %}
  {% if overhead %}
  <table>
    <tr><th>generator overhead</th>{% for key in overhead %}<th class="num">{{ key }}</th>{% endfor %}</tr>
    <tr><td>ms</td>{% for value in overhead.values() %}<td class="num">{{ value|ms }}</td>{% endfor %}</tr>
  </table>
  {% endif %}
  {% else %}
  <p class="muted">Not calibrated (<code>--calibrate</code> measures the generator's own overhead).</p>
  {% endif %}
</section>

<section id="definitions">
  <h2>Definitions</h2>
  <dl class="definitions">
  {% for name, text in definitions.items() %}
    <dt id="definition-{{ name }}">{{ name }}</dt><dd>{{ text }}</dd>
  {% endfor %}
  </dl>
</section>

<section id="run">
  <h2>Command and environment</h2>
  <pre id="command">{{ command }}</pre>
  {% if environment %}
  <table id="environment">
    {% for key, value in environment.items() %}<tr><th>{{ key }}</th><td>{{ value }}</td></tr>{% endfor %}
  </table>
  {% endif %}
  {% if files %}
  <table id="files">
    <tr><th>file</th><th>name</th></tr>
    {% for key, name in files.items() %}<tr><td>{{ key }}</td><td><code>{{ name }}</code></td></tr>{% endfor %}
  </table>
  {% endif %}
  {% if plan %}
  <details><summary>Plan</summary><pre>{{ plan|pretty_json }}</pre></details>
  {% endif %}
</section>
</body>
</html>
"""


def _environment() -> jinja2.Environment:
    return page_environment(_FILTERS)


def render_load_html(document: dict[str, Any], records: Sequence[Record]) -> str:
    """The page for ``document`` with plots from ``records`` (the measured rows of requests.csv)."""
    return _environment().from_string(_TEMPLATE).render(**_view(document, records))


def _records_path(document: dict[str, Any], report_dir: Path) -> Path:
    name = _mapping(document.get("files")).get("records") or "requests.csv"
    path = (report_dir / str(name)).resolve()
    # A sweep's records are in sweep/rate-R/; a name that leads out of the report directory is ignored.
    return path if path.is_relative_to(report_dir.resolve()) else report_dir / Path(str(name)).name


def write_load_html(document: dict[str, Any], report_dir: Path) -> Path:
    """Write ``report_dir/load.html`` atomically from ``document`` and the run's requests.csv; return its path."""
    records = read_records(_records_path(document, report_dir))
    return write_atomic(report_dir / LOAD_HTML, render_load_html(document, records))
