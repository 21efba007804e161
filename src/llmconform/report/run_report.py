"""``REPORT_DIR/report.html`` and ``REPORT_DIR/summary.md``: one run's results for a person and for a CI job.

Both are renderings of the canonical JSON documents already in the report directory, whichever of them are
there: ``conformance.json`` (``llmconform check``), ``load.json`` and ``requests.csv`` (``llmconform load``)
and ``gate.json`` (the gate's verdict on the thresholds). Nothing is measured or judged again here, and the
documents are already redacted.

* report.html is one page a person reads in a minute: the verdict at the top (the gate's when gate.json is
  there, else the worst of the check and load verdicts), the conformance rules by family with the kept
  failing exchanges folded under each broken rule, the load metrics overall and per operation with the four
  plots of load.html (inline SVG), the gate's checks, and each run's exact command and environment. It
  works offline: the CSS is inline, the plots are inline SVG, no script, font or image is loaded, and every
  value is escaped (jinja2 autoescape).
* summary.md is short Markdown for ``$GITHUB_STEP_SUMMARY``: the verdict line, the counts, the failed rules
  with their first message, the key load metrics per operation and the gate checks that failed.

:func:`render_report` writes both; :class:`ReportInputError` says which input is missing or unreadable.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2

from llmconform.report._files import write_atomic
from llmconform.report._page import page_environment
from llmconform.report.load_html import (
    SUMMARY_COLUMNS,
    MetricRow,
    Plot,
    Record,
    command_line,
    format_count,
    format_json,
    format_ms,
    format_rate,
    format_seconds,
    metric_rows,
    plots,
    read_records,
    rule_rows,
)

__all__ = [
    "CONFORMANCE_INPUT",
    "GATE_INPUT",
    "LOAD_INPUT",
    "RECORDS_INPUT",
    "REPORT_HTML",
    "SUMMARY_MD",
    "ReportInputError",
    "RunInputs",
    "overall_verdict",
    "read_inputs",
    "render_report",
    "render_report_html",
    "render_summary_md",
]

REPORT_HTML = "report.html"
SUMMARY_MD = "summary.md"
CONFORMANCE_INPUT = "conformance.json"
LOAD_INPUT = "load.json"
RECORDS_INPUT = "requests.csv"
GATE_INPUT = "gate.json"
INPUTS = (CONFORMANCE_INPUT, LOAD_INPUT, RECORDS_INPUT, GATE_INPUT)

FINDINGS_PER_RULE = 10
SUMMARY_MAX_RULES = 15
SUMMARY_MAX_OPERATIONS = 10
SUMMARY_MESSAGE_WIDTH = 120
STATUS_ORDER = {"failed": 0, "warned": 1, "not_run": 2, "skipped": 2, "passed": 3}
VERDICT_ORDER = ("failed", "error", "incomplete", "passed")
VERDICT_MARK = {"passed": "✅", "failed": "❌", "error": "⚠️", "incomplete": "⚠️"}


class ReportInputError(Exception):
    """The report directory holds nothing to render, or one of its inputs cannot be read."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# -- the inputs -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunInputs:
    """What a report directory holds: each document, or None when its file is not there."""

    report_dir: Path
    conformance: dict[str, Any] | None = None
    load: dict[str, Any] | None = None
    records: list[Record] = field(default_factory=list)
    has_records: bool = False
    gate: dict[str, Any] | None = None


def _read_document(path: Path, required_key: str) -> dict[str, Any] | None:
    """The JSON object in ``path``; None when there is no such file; ReportInputError when it cannot be used."""
    if not path.exists():
        return None
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ReportInputError(f"{path}: cannot read it: {exc}") from exc
    if not isinstance(document, dict) or required_key not in document:
        raise ReportInputError(f"{path}: not an llmconform {path.name} (a JSON object with {required_key!r} expected)")
    return document


def _records_path(report_dir: Path, load: dict[str, Any] | None) -> Path:
    name = _mapping(_mapping(load).get("files")).get("records") or RECORDS_INPUT
    return report_dir / Path(str(name)).name


def read_inputs(report_dir: Path) -> RunInputs:
    """Read every input that is in ``report_dir``; ReportInputError when none is or one cannot be read."""
    if not report_dir.is_dir():
        raise ReportInputError(f"{report_dir}: no such report directory")
    conformance = _read_document(report_dir / CONFORMANCE_INPUT, "summary")
    load = _read_document(report_dir / LOAD_INPUT, "verdict")
    gate = _read_document(report_dir / GATE_INPUT, "verdict")
    records_path = _records_path(report_dir, load)
    has_records = records_path.is_file()
    if has_records:
        try:
            with records_path.open("rb"):
                pass
        except OSError as exc:
            raise ReportInputError(f"{records_path}: cannot read it: {exc}") from exc
    if conformance is None and load is None and gate is None and not has_records:
        raise ReportInputError(
            f"{report_dir}: nothing to report: none of {', '.join(INPUTS)} is there "
            "(run `llmconform check` or `llmconform load` with --report-dir pointing at it)"
        )
    records = read_records(records_path) if has_records else []
    return RunInputs(report_dir, conformance, load, records, has_records, gate)


# -- small helpers --------------------------------------------------------------------------------------------


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _sequence(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def format_value(value: Any) -> str:
    """A gate check's observed value or limit: numbers compactly, None as '–', anything else as text/JSON."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.6g}" if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def one_line(text: Any, limit: int) -> str:
    """``text`` on one line (control characters and runs of blanks as one space), cut to ``limit`` with '…'."""
    line = " ".join(re.sub(r"[\x00-\x1f\x7f-\x9f]", " ", str(text)).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _verdict_of(document: dict[str, Any] | None) -> str | None:
    if document is None:
        return None
    verdict = document.get("verdict", _mapping(document.get("summary")).get("verdict"))
    return str(verdict) if verdict else "incomplete"


def overall_verdict(inputs: RunInputs) -> tuple[str, str]:
    """The verdict at the top of both files and where it comes from.

    gate.json decides when it is there. Otherwise the worst of the check and load verdicts: failed (a contract
    or SLO broken) before error (the check could not finish) before incomplete (the load run was cut short).
    """
    if inputs.gate is not None:
        return _verdict_of(inputs.gate) or "incomplete", "the gate (gate.json)"
    parts = {"conformance": _verdict_of(inputs.conformance), "load": _verdict_of(inputs.load)}
    present = {name: verdict for name, verdict in parts.items() if verdict is not None}
    if not present:
        return "incomplete", "requests.csv only: no verdict was recorded"
    rank = {verdict: i for i, verdict in enumerate(VERDICT_ORDER)}
    worst = min(present.values(), key=lambda v: rank.get(v, 0))
    source = " and ".join(f"{name} ({verdict})" for name, verdict in present.items())
    if len(set(present.values())) > 1:
        return worst, f"the worst of {source}"
    return worst, f"the {source} run{'s' if len(present) > 1 else ''}"


# -- the conformance view -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleView:
    """One rule of conformance.json with the findings the report kept for it."""

    id: str
    family: str
    status: str
    severity: str
    title: str
    source: str
    passed: Any
    failed: Any
    warned: Any
    skipped: Any
    findings_total: Any
    findings: list[dict[str, Any]]

    @property
    def broken(self) -> bool:
        return self.status in ("failed", "warned")


@dataclass(frozen=True)
class FamilyView:
    name: str
    rules: list[RuleView]

    def count(self, status: str) -> int:
        return sum(rule.status == status for rule in self.rules)

    @property
    def broken(self) -> bool:
        return any(rule.broken for rule in self.rules)


def rule_views(conformance: dict[str, Any]) -> list[RuleView]:
    """Every rule of conformance.json with its kept findings (first FINDINGS_PER_RULE), in the document's order."""
    by_rule: dict[str, list[dict[str, Any]]] = {}
    for finding in _sequence(conformance.get("findings")):
        finding = _mapping(finding)
        by_rule.setdefault(str(finding.get("rule", "")), []).append(finding)
    views = []
    for entry in _sequence(conformance.get("rules")):
        entry = _mapping(entry)
        rule_id = str(entry.get("id", ""))
        views.append(
            RuleView(
                id=rule_id,
                family=str(entry.get("family", "unknown")),
                status=str(entry.get("status", "not_run")),
                severity=str(entry.get("severity", "")),
                title=str(entry.get("title", "")),
                source=str(entry.get("source", "")),
                passed=entry.get("passed"),
                failed=entry.get("failed"),
                warned=entry.get("warned"),
                skipped=entry.get("skipped"),
                findings_total=entry.get("findings_total", len(by_rule.get(rule_id, []))),
                findings=by_rule.get(rule_id, [])[:FINDINGS_PER_RULE],
            )
        )
    return views


def family_views(conformance: dict[str, Any]) -> list[FamilyView]:
    """The rules grouped by family (the run's family order, then any other), broken rules first in each."""
    order = [str(f) for f in _sequence(_mapping(conformance.get("summary")).get("families"))]
    grouped: dict[str, list[RuleView]] = {name: [] for name in order}
    for rule in rule_views(conformance):
        grouped.setdefault(rule.family, []).append(rule)
    return [
        FamilyView(name, sorted(rules, key=lambda r: STATUS_ORDER.get(r.status, 0)))
        for name, rules in grouped.items()
        if rules
    ]


def broken_rules(conformance: dict[str, Any] | None) -> list[RuleView]:
    """The failed rules, then the warned ones, each in the document's order."""
    rules = rule_views(conformance or {})
    return [r for r in rules if r.status == "failed"] + [r for r in rules if r.status == "warned"]


# -- the load view --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OperationRow:
    name: str
    duration_s: Any
    total: Any
    ok: Any
    failed: Any
    requests_per_s: Any
    output_tokens_per_s: Any
    ttft: dict[str, Any]
    itl: dict[str, Any]
    e2e: dict[str, Any]


def operation_rows(load: dict[str, Any] | None) -> list[OperationRow]:
    rows = []
    for name, operation in _mapping(_mapping(load).get("by_operation")).items():
        operation = _mapping(operation)
        requests = _mapping(operation.get("requests"))
        throughput = _mapping(operation.get("throughput"))
        latency = _mapping(operation.get("latency_ms"))
        rows.append(
            OperationRow(
                name=str(name),
                duration_s=operation.get("duration_s"),
                total=requests.get("total"),
                ok=requests.get("ok"),
                failed=requests.get("failed"),
                requests_per_s=throughput.get("requests_per_s"),
                output_tokens_per_s=throughput.get("output_tokens_per_s"),
                ttft=_mapping(latency.get("ttft")),
                itl=_mapping(latency.get("itl")),
                e2e=_mapping(latency.get("e2e")),
            )
        )
    return rows


def _first_findings(load: dict[str, Any]) -> dict[str, dict[str, Any]]:
    firsts: dict[str, dict[str, Any]] = {}
    for finding in _sequence(load.get("findings")):
        finding = _mapping(finding)
        firsts.setdefault(str(finding.get("rule", "")), finding)
    return firsts


# -- the gate view --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GateCheck:
    name: str
    section: str
    status: str
    observed: Any
    limit: Any
    message: str

    @property
    def passed(self) -> bool:
        """False only for a failed check (a skipped one does not fail the gate)."""
        return self.status != "failed"


def gate_checks(gate: dict[str, Any] | None) -> list[GateCheck]:
    """The gate's checks; ``status`` (passed/failed/skipped) when gate.json has it, else from ``passed``."""
    checks = []
    for check in _sequence(_mapping(gate).get("checks")):
        check = _mapping(check)
        status = check.get("status") or ("passed" if check.get("passed") is True else "failed")
        checks.append(
            GateCheck(
                name=str(check.get("name", "")),
                section=str(check.get("section") or ""),
                status=str(status),
                observed=check.get("observed"),
                limit=check.get("limit"),
                message=str(check.get("message") or ""),
            )
        )
    return checks


def gate_counts(checks: list[GateCheck]) -> str:
    """'2 failed, 5 passed, 1 skipped' (statuses with no check left out; 'no check' when there is none)."""
    counts: dict[str, int] = {}
    for check in checks:
        counts[check.status] = counts.get(check.status, 0) + 1
    order = sorted(counts, key=lambda status: STATUS_ORDER.get(status, 1))
    return ", ".join(f"{counts[status]} {status}" for status in order) or "no check"


# -- report.html ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunView:
    """One run's command and environment, for the last section."""

    name: str
    command: str
    environment: dict[str, Any]


def _run_views(inputs: RunInputs) -> list[RunView]:
    views = []
    for name, document in (("check", inputs.conformance), ("load", inputs.load)):
        if document is not None:
            views.append(RunView(name, command_line(document), _mapping(document.get("environment"))))
    return views


def _view(inputs: RunInputs) -> dict[str, Any]:
    verdict, verdict_source = overall_verdict(inputs)
    load = inputs.load or {}
    loaded = inputs.load is not None or inputs.has_records
    return {
        "verdict": verdict,
        "verdict_source": verdict_source,
        "report_dir": str(inputs.report_dir),
        "gate": inputs.gate,
        "gate_checks": gate_checks(inputs.gate),
        "gate_counts": gate_counts(gate_checks(inputs.gate)),
        "gate_baseline": _mapping(inputs.gate).get("baseline", _mapping(inputs.gate).get("baseline_dir")),
        "conformance": inputs.conformance,
        "summary": _mapping(_mapping(inputs.conformance).get("summary")),
        "families": family_views(inputs.conformance or {}),
        "conformance_notes": [str(n) for n in _sequence(_mapping(inputs.conformance).get("notes"))],
        "findings_per_rule": FINDINGS_PER_RULE,
        "load": inputs.load,
        "loaded": loaded,
        "load_requests": _mapping(load.get("requests")),
        "load_throughput": _mapping(load.get("throughput")),
        "load_notes": [str(n) for n in _sequence(load.get("notes"))],
        "metric_rows": metric_rows(load) if inputs.load is not None else list[MetricRow](),
        "summary_columns": SUMMARY_COLUMNS,
        "operations": operation_rows(inputs.load),
        "errors": _mapping(load.get("errors")),
        "violations": [row for row in rule_rows(load) if row.violated],
        "first_findings": _first_findings(load),
        "plots": plots(load, inputs.records) if loaded else list[Plot](),
        "load_html": (inputs.report_dir / "load.html").is_file(),
        "runs": _run_views(inputs),
    }


_FILTERS: dict[str, Callable[[Any], str]] = {
    "ms": format_ms,
    "rate": format_rate,
    "integer": format_count,
    "seconds": format_seconds,
    "pretty_json": format_json,
    "value": format_value,
}

_TEMPLATE = """\
{% macro gate_table(checks, id) %}
<div class="scroll">
<table id="{{ id }}">
  <tr><th>check</th><th>section</th><th>result</th><th class="num">observed</th><th class="num">limit</th>
        <th>message</th></tr>
    {% for check in checks %}
    <tr class="status-{{ check.status }}"><td><code>{{ check.name }}</code></td><td>{{ check.section or "–" }}</td>
      <td><span class="chip chip-{{ check.status }}">{{ check.status }}</span></td>
      <td class="num value">{{ check.observed|value }}</td><td class="num value">{{ check.limit|value }}</td>
      <td class="message">{{ check.message }}</td></tr>
    {% endfor %}
</table>
</div>
{% endmacro %}
{% macro rule_table(rules) %}
<div class="scroll">
<table class="rules">
  <tr><th>rule</th><th>status</th><th>severity</th><th class="num">passed</th><th class="num">failed</th>
      <th class="num">warned</th><th class="num">skipped</th><th>source</th></tr>
  {% for rule in rules %}
  <tr class="status-{{ rule.status }}" id="rule-{{ rule.family }}-{{ rule.id }}"><td><code>{{ rule.id }}</code>
      {% if rule.title %}<div class="title">{{ rule.title }}</div>{% endif %}</td>
    <td><span class="chip chip-{{ rule.status }}">{{ rule.status|replace("_", " ") }}</span></td>
    <td class="severity-{{ rule.severity }}">{{ rule.severity }}</td>
    <td class="num">{{ rule.passed|integer }}</td><td class="num">{{ rule.failed|integer }}</td>
    <td class="num">{{ rule.warned|integer }}</td><td class="num">{{ rule.skipped|integer }}</td>
    <td class="source">{{ rule.source }}</td></tr>
  {% if rule.broken and rule.findings %}
  <tr class="findings"><td colspan="8">
    <details class="rule-findings" data-rule="{{ rule.id }}">
      <summary>{{ rule.findings|length }} of {{ rule.findings_total|integer }} findings</summary>
      {% for finding in rule.findings %}
      <div class="finding">
        <div><span class="severity-{{ finding.severity }}">{{ finding.severity }}</span> · {{ finding.message }}</div>
        {% if finding.exchange %}<details><summary>exchange{% if finding.exchange.label %}:
          {{ finding.exchange.label }}{% endif %}</summary><pre>{{ finding.exchange|pretty_json }}</pre></details>
        {% endif %}
        {% if finding.related %}<details><summary>{{ finding.related|length }} related exchange(s)</summary>
          <pre>{{ finding.related|pretty_json }}</pre></details>{% endif %}
      </div>
      {% endfor %}
    </details>
  </td></tr>
  {% endif %}
  {% endfor %}
</table>
</div>
{% endmacro %}
<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>llmconform report · {{ verdict }}</title>
<style>
{{ base_css }}
  td.value { white-space: normal; min-width: 9rem; max-width: 16rem; overflow-wrap: break-word; font-size: .9em; }
  td.message { min-width: 18rem; }
  pre { background: #f6f8fa; border: 1px solid var(--line); padding: .6rem; overflow-x: auto; white-space: pre-wrap;
        word-break: break-word; max-height: 30rem; overflow-y: auto; margin: .3rem 0; }
  .verdict { display: inline-block; padding: .25rem .8rem; border-radius: 4px; color: #fff; font-weight: 700;
             letter-spacing: .04em; text-transform: uppercase; }
  .verdict-error, .verdict-incomplete { background: var(--warn); }
  .chip { display: inline-block; padding: 0 .45rem; border-radius: 3px; font-weight: 600; font-size: .85em; }
  .chip-passed { color: var(--ok); border: 1px solid var(--ok); }
  .chip-failed { color: var(--bad); border: 1px solid var(--bad); }
  .chip-warned, .chip-error, .chip-incomplete { color: var(--warn); border: 1px solid var(--warn); }
  .chip-not_run, .chip-skipped { color: var(--muted); border: 1px solid var(--line); }
  .headline { display: flex; align-items: center; flex-wrap: wrap; gap: .8rem; margin-bottom: .8rem; }
  dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; margin: .4rem 0; }
  details.family { border: 1px solid var(--line); border-radius: 4px; padding: .3rem .8rem; margin: .5rem 0; }
  details.family > summary { cursor: pointer; font-weight: 600; }
  tr.status-failed > td { background: #fff1f0; }
  tr.status-warned > td { background: #fff8eb; }
  tr.findings > td { background: #fafbfc; }
  .finding { border-top: 1px solid var(--line); padding: .4rem 0; }
  .finding:first-child { border-top: 0; }
  .title { color: var(--muted); font-size: .9em; }
  td.source { font-size: .85em; color: var(--muted); max-width: 24rem; }
  details.passed-rules > summary { cursor: pointer; color: var(--muted); }
  .plots { display: grid; grid-template-columns: repeat(auto-fit, minmax(520px, 1fr)); gap: .5rem 1.5rem; }
  figure { margin: 0 0 1.5rem; min-width: 0; }
</style>
</head>
<body>
<header>
  <h1>llmconform report</h1>
  <div class="headline">
    <span id="verdict" class="verdict verdict-{{ verdict }}" data-verdict="{{ verdict }}">{{ verdict }}</span>
    <span id="verdict-source">verdict of {{ verdict_source }}</span>
  </div>
  <dl class="facts">
    {% if gate %}<dt>gate</dt><dd><span id="verdict-gate" class="chip chip-{{ gate.verdict }}">{{ gate.verdict }}</span>
      checks: {{ gate_counts }}</dd>{% endif %}
    {% if conformance %}<dt>conformance</dt><dd><span id="verdict-conformance"
      class="chip chip-{{ summary.verdict }}">{{ summary.verdict }}</span>
      {{ summary.rules.failed|integer }} failed, {{ summary.rules.warned|integer }} warned,
      {{ summary.rules.passed|integer }} passed, {{ summary.rules.skipped|integer }} not run
      of {{ summary.rules.total|integer }} rules</dd>{% endif %}
    {% if load %}<dt>load</dt><dd><span id="verdict-load" class="chip chip-{{ load.verdict }}">{{ load.verdict }}</span>
      {{ load_requests.total|integer }} requests, {{ load_requests.failed|integer }} failed,
      {{ load_throughput.requests_per_s|rate }} requests/s</dd>{% endif %}
    <dt>report directory</dt><dd><code>{{ report_dir }}</code></dd>
  </dl>
</header>

{% if gate %}
<section id="gate">
  <h2>Gate</h2>
  {% if gate_checks %}
  {% set held = gate_checks|selectattr("status", "equalto", "passed")|list %}
  {% set unsettled = gate_checks|rejectattr("status", "equalto", "passed")|sort(attribute="status")|list %}
  {% if unsettled %}{{ gate_table(unsettled, "gate-checks") }}{% endif %}
  {% if held %}
  <details class="passed-rules"{% if not unsettled %} open{% endif %}>
    <summary>{{ held|length }} passed check{{ "s" if held|length != 1 }}</summary>
    {{ gate_table(held, "gate-checks-passed") }}
  </details>
  {% endif %}
  {% else %}<p class="muted">The gate ran no check.</p>{% endif %}
  <dl class="facts">
    <dt>thresholds</dt><dd><code>{{ gate.thresholds or "–" }}</code></dd>
    <dt>baseline</dt><dd>{% if gate_baseline %}<code>{{ gate_baseline }}</code>{% else %}none{% endif %}</dd>
    <dt>exit code</dt><dd>{{ gate.exit_code|integer }}</dd>
  </dl>
</section>
{% endif %}

{% if conformance %}
<section id="conformance">
  <h2>Conformance</h2>
  <dl class="facts">
    <dt>target</dt><dd>{{ summary.target or "–" }}</dd>
    <dt>model</dt><dd>{{ summary.model or "–" }}</dd>
    <dt>families</dt><dd>{{ (summary.families or [])|join(", ") or "–" }}</dd>
    <dt>requests</dt><dd>{{ summary.sent_requests|integer }} sent of {{ summary.planned_requests|integer }} planned
      {% if summary.budget %}(budget {{ summary.budget|integer }}){% endif %} in {{ summary.duration_s|seconds }}</dd>
    <dt>findings</dt><dd>{{ summary.findings.error|integer }} errors, {{ summary.findings.warning|integer }} warnings
      kept{% if summary.findings.omitted %}, {{ summary.findings.omitted|integer }} more omitted{% endif %}</dd>
    {% if summary.started_at %}<dt>started</dt><dd>{{ summary.started_at }}</dd>{% endif %}
  </dl>
  {% if summary.error %}<div class="notes" id="conformance-error"><strong>The check could not finish:</strong>
    {{ summary.error }}</div>{% endif %}
  {% if summary.partial or conformance_notes %}
  <div class="notes"><strong>Notes</strong><ul>
    {% if summary.partial %}<li>partial: the run did not complete as planned</li>{% endif %}
    {% for note in conformance_notes %}<li>{{ note }}</li>{% endfor %}</ul></div>
  {% endif %}
  {% for family in families %}
  <details class="family" id="family-{{ family.name }}"{% if family.broken %} open{% endif %}>
    <summary>{{ family.name }}: {{ family.rules|length }} rule{{ "s" if family.rules|length != 1 }} ·
      {% for status in ("failed", "warned") if family.count(status) %}
      <span class="chip chip-{{ status }}">{{ family.count(status) }} {{ status }}</span>
      {% endfor %}
      {{ family.count("passed") }} passed
      {%- if family.count("not_run") %} · {{ family.count("not_run") }} not run{% endif %}
    </summary>
    {% set unsettled = family.rules|rejectattr("status", "equalto", "passed")|list %}
    {% set held = family.rules|selectattr("status", "equalto", "passed")|list %}
    {% if unsettled %}{{ rule_table(unsettled) }}{% endif %}
    {% if held %}
    <details class="passed-rules"{% if not unsettled %} open{% endif %}>
      <summary>{{ held|length }} passed rule{{ "s" if held|length != 1 }}</summary>
      {{ rule_table(held) }}
    </details>
    {% endif %}
  </details>
  {% endfor %}
</section>
{% endif %}

{% if loaded %}
<section id="load">
  <h2>Load</h2>
  {% if load %}
  <dl class="facts">
    <dt>scenario</dt><dd>{{ load.scenario or "–" }}</dd>
    <dt>load model</dt><dd>{{ load.load_model or "–" }}</dd>
    <dt>target</dt><dd>{{ load.target or "–" }}</dd>
    <dt>model</dt><dd>{{ load.model or "–" }}</dd>
    <dt>duration</dt><dd>{{ load.duration_s|seconds }} measured</dd>
    <dt>requests</dt><dd>{{ load_requests.total|integer }} measured: {{ load_requests.ok|integer }} ok,
      {{ load_requests.failed|integer }} failed, {{ load_requests.good|integer }} good;
      {{ load_requests.warmup_excluded|integer }} in the warm-up</dd>
    <dt>throughput</dt><dd>{{ load_throughput.requests_per_s|rate }} requests/s ·
      {{ load_throughput.goodput_requests_per_s|rate }} good requests/s ·
      {{ load_throughput.output_tokens_per_s|rate }} output tokens/s</dd>
    {% if load_html %}<dt>full load page</dt><dd><a href="load.html">load.html</a></dd>{% endif %}
  </dl>
  {% if load.partial or load_notes %}
  <div class="notes"><strong>Notes</strong><ul>
    {% if load.partial %}<li>partial: the run did not complete as planned</li>{% endif %}
    {% for note in load_notes %}<li>{{ note }}</li>{% endfor %}</ul></div>
  {% endif %}
  <h3>Latency (all operations)</h3>
  <div class="scroll">
  <table id="load-metrics">
    <tr><th>metric</th><th>unit</th>
      {% for column in summary_columns %}<th class="num">{{ column }}</th>{% endfor %}<th class="num">count</th></tr>
    {% for row in metric_rows %}
    <tr><td>{{ row.name }}</td><td>{{ row.unit }}</td>
      {% if row.summary %}
      {% for column in summary_columns %}<td class="num">{{ row.summary.get(column)|ms }}</td>{% endfor %}
      <td class="num">{{ row.summary.get("count")|integer }}</td>
      {% else %}<td colspan="{{ summary_columns|length + 1 }}" class="muted">not recorded</td>{% endif %}
    </tr>
    {% endfor %}
  </table>
  </div>
  <h3>By operation</h3>
  {% if operations %}
  <div class="scroll">
  <table id="operations">
    <tr><th>operation</th><th class="num">requests</th><th class="num">ok</th><th class="num">failed</th>
        <th class="num">req/s</th><th class="num">output tok/s</th><th class="num">TTFT p50 ms</th>
        <th class="num">TTFT p95 ms</th><th class="num">ITL p50 ms</th><th class="num">E2E p50 ms</th>
        <th class="num">E2E p95 ms</th><th class="num">E2E p99 ms</th></tr>
    {% for op in operations %}
    <tr id="operation-{{ op.name }}"><td>{{ op.name }}</td><td class="num">{{ op.total|integer }}</td>
      <td class="num">{{ op.ok|integer }}</td><td class="num">{{ op.failed|integer }}</td>
      <td class="num">{{ op.requests_per_s|rate }}</td><td class="num">{{ op.output_tokens_per_s|rate }}</td>
      <td class="num">{{ op.ttft.get("p50")|ms }}</td><td class="num">{{ op.ttft.get("p95")|ms }}</td>
      <td class="num">{{ op.itl.get("p50")|ms }}</td><td class="num">{{ op.e2e.get("p50")|ms }}</td>
      <td class="num">{{ op.e2e.get("p95")|ms }}</td><td class="num">{{ op.e2e.get("p99")|ms }}</td></tr>
    {% endfor %}
  </table>
  </div>
  {% else %}<p class="muted">No operation was measured.</p>{% endif %}
  <h3>Errors and contract violations</h3>
  {% if errors %}
  <table id="load-errors">
    <tr><th>error class</th><th class="num">requests</th></tr>
    {% for name, count in errors.items() %}
    <tr><td>{{ name }}</td><td class="num">{{ count|integer }}</td></tr>
    {% endfor %}
  </table>
  {% else %}<p class="muted">No failed request.</p>{% endif %}
  {% if violations %}
  <table id="load-violations">
    <tr><th>rule</th><th>severity</th><th class="num">violated</th><th class="num">judged</th>
        <th>first example</th></tr>
    {% for row in violations %}{% set example = first_findings.get(row.rule) %}
    <tr class="status-failed"><td><code>{{ row.rule }}</code></td>
      <td class="severity-{{ row.severity }}">{{ row.severity }}</td>
      <td class="num">{{ row.violated|integer }}</td><td class="num">{{ row.judged|integer }}</td>
      <td>{% if example %}{{ example.message }}{% if example.exchange %}
        <details><summary>exchange</summary><pre>{{ example.exchange|pretty_json }}</pre></details>{% endif %}
        {% else %}<span class="muted">none kept</span>{% endif %}</td></tr>
    {% endfor %}
  </table>
  {% else %}<p class="muted">No contract rule was violated under load.</p>{% endif %}
  {% else %}
  <p class="muted">No load.json: the plots below come from requests.csv alone.</p>
  {% endif %}
  <h3>Plots</h3>
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
{% endif %}

{% if runs %}
<section id="runs">
  <h2>Commands and environment</h2>
  {% for run in runs %}
  <h3>{{ run.name }}</h3>
  <pre id="command-{{ run.name }}">{{ run.command }}</pre>
  {% if run.environment %}
  <table id="environment-{{ run.name }}">
    {% for key, value in run.environment.items() %}<tr><th>{{ key }}</th><td>{{ value }}</td></tr>{% endfor %}
  </table>
  {% endif %}
  {% endfor %}
</section>
{% endif %}
</body>
</html>
"""


def _environment() -> jinja2.Environment:
    return page_environment(_FILTERS)


def render_report_html(inputs: RunInputs) -> str:
    """The report page for the run's inputs."""
    return _environment().from_string(_TEMPLATE).render(**_view(inputs))


# -- summary.md -----------------------------------------------------------------------------------------------

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]|#~])")


def md_text(text: Any, limit: int = SUMMARY_MESSAGE_WIDTH) -> str:
    """``text`` fit for one Markdown table cell: one line, cut to ``limit``, markup characters escaped."""
    line = one_line(text, limit)
    line = line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MARKDOWN_SPECIAL.sub(r"\\\1", line)


def md_code(text: Any) -> str:
    """``text`` as inline code in a table cell (backticks dropped, pipes escaped)."""
    return "`" + one_line(text, 200).replace("`", "'").replace("|", "\\|") + "`"


def _table(header: Iterable[str], rows: Iterable[Iterable[str]]) -> list[str]:
    header = list(header)
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _conformance_lines(conformance: dict[str, Any]) -> list[str]:
    summary = _mapping(conformance.get("summary"))
    rules = _mapping(summary.get("rules"))
    findings = _mapping(summary.get("findings"))
    families = ", ".join(str(f) for f in _sequence(summary.get("families"))) or "–"
    lines = [
        f"**Conformance: {md_text(summary.get('verdict', '?'))}** · {md_text(summary.get('target', '–'))} · "
        f"model {md_text(summary.get('model') or '–')} · families {md_text(families)}",
        "",
        f"{format_count(rules.get('total'))} rules: {format_count(rules.get('failed'))} failed, "
        f"{format_count(rules.get('warned'))} warned, {format_count(rules.get('passed'))} passed, "
        f"{format_count(rules.get('skipped'))} not run · {format_count(findings.get('error'))} error and "
        f"{format_count(findings.get('warning'))} warning findings · {format_count(summary.get('sent_requests'))} "
        f"requests in {format_seconds(summary.get('duration_s'))}",
    ]
    if summary.get("error"):
        lines += ["", f"The check could not finish: {md_text(summary.get('error'))}"]
    broken = broken_rules(conformance)
    if broken:
        rows = [
            [
                md_code(rule.id),
                md_text(rule.family),
                rule.status,
                md_text(rule.severity),
                md_text(rule.findings[0].get("message", "")) if rule.findings else "",
            ]
            for rule in broken[:SUMMARY_MAX_RULES]
        ]
        lines += ["", *_table(["rule", "family", "status", "severity", "first message"], rows)]
        if len(broken) > SUMMARY_MAX_RULES:
            lines.append(f"\n… and {len(broken) - SUMMARY_MAX_RULES} more broken rules in report.html")
    return lines


def _load_lines(load: dict[str, Any]) -> list[str]:
    requests = _mapping(load.get("requests"))
    throughput = _mapping(load.get("throughput"))
    lines = [
        f"**Load: {md_text(load.get('verdict', '?'))}** · {md_text(load.get('scenario') or '–')} · "
        f"{md_text(load.get('load_model') or '–')} · {format_seconds(load.get('duration_s'))} on "
        f"{md_text(load.get('target') or '–')}",
        "",
        f"{format_count(requests.get('total'))} requests ({format_count(requests.get('ok'))} ok, "
        f"{format_count(requests.get('failed'))} failed) · {format_rate(throughput.get('requests_per_s'))} "
        f"requests/s · goodput {format_rate(throughput.get('goodput_requests_per_s'))} requests/s · "
        f"{format_rate(throughput.get('output_tokens_per_s'))} output tokens/s",
    ]
    operations = operation_rows(load)
    if operations:
        rows = [
            [
                md_text(op.name),
                format_count(op.total),
                format_count(op.failed),
                format_rate(op.requests_per_s),
                format_ms(op.ttft.get("p50")),
                format_ms(op.ttft.get("p95")),
                format_ms(op.e2e.get("p95")),
            ]
            for op in operations[:SUMMARY_MAX_OPERATIONS]
        ]
        header = ["operation", "requests", "errors", "req/s", "TTFT p50 ms", "TTFT p95 ms", "E2E p95 ms"]
        lines += ["", *_table(header, rows)]
    errors = _mapping(load.get("errors"))
    if errors:
        lines += ["", "Errors: " + ", ".join(f"{md_text(k, 40)} {format_count(v)}" for k, v in errors.items())]
    violations = _mapping(load.get("violations"))
    if violations:
        shown = ", ".join(f"{md_code(k)} {format_count(v)}" for k, v in list(violations.items())[:SUMMARY_MAX_RULES])
        lines += ["", "Contract violations under load: " + shown]
    return lines


def _gate_lines(gate: dict[str, Any]) -> list[str]:
    checks = gate_checks(gate)
    failed = [check for check in checks if not check.passed]
    lines = [f"**Gate: {md_text(gate.get('verdict', '?'))}** · checks: {gate_counts(checks)}"]
    if failed:
        rows = [
            [
                md_code(c.name),
                md_text(format_value(c.observed), 40),
                md_text(format_value(c.limit), 40),
                md_text(c.message),
            ]
            for c in failed
        ]
        lines += ["", *_table(["failed check", "observed", "limit", "message"], rows)]
    return lines


def render_summary_md(inputs: RunInputs) -> str:
    """The Markdown summary of the run (for $GITHUB_STEP_SUMMARY)."""
    verdict, source = overall_verdict(inputs)
    lines = [f"## {VERDICT_MARK.get(verdict, '')} llmconform: {verdict.upper()}".replace("  ", " "), ""]
    lines.append(f"Verdict of {md_text(source)}.")
    for section in (
        _gate_lines(inputs.gate) if inputs.gate is not None else [],
        _conformance_lines(inputs.conformance) if inputs.conformance is not None else [],
        _load_lines(inputs.load) if inputs.load is not None else [],
    ):
        if section:
            lines += ["", *section]
    if inputs.load is None and inputs.has_records:
        lines += ["", "Load: requests.csv only (no load.json); see the plots in report.html."]
    lines += ["", f"Full report: `{REPORT_HTML}` in the report directory."]
    return "\n".join(lines) + "\n"


# -- both files -----------------------------------------------------------------------------------------------


def render_report(report_dir: Path) -> list[Path]:
    """Write ``report.html`` and ``summary.md`` into ``report_dir`` from the inputs there; return their paths.

    Raises ReportInputError (naming the directory and what is missing) when none of conformance.json,
    load.json, requests.csv and gate.json is there, or when one of them cannot be read.
    """
    inputs = read_inputs(report_dir)
    return [
        write_atomic(report_dir / REPORT_HTML, render_report_html(inputs)),
        write_atomic(report_dir / SUMMARY_MD, render_summary_md(inputs)),
    ]
