"""``REPORT_DIR/conformance.json``: the canonical report of one ``llmconform check`` run.

The JUnit and console renderings are made from :func:`conformance_document`, so all three show the
same rules, statuses and findings, redacted once. Shape (architecture.md, CLI contract)::

    {"summary": {"verdict", "exit_code", "target", "embedded_mock", "model", "families",
                 "started_at", "finished_at", "duration_s", "budget", "planned_requests",
                 "sent_requests", "rules": {"total", "passed", "failed", "warned", "skipped"},
                 "findings": {"error", "warning", "omitted"}, "partial", "error"},
     "rules": [{"id", "family", "kind", "severity", "title", "source", "passed", "failed",
                "warned", "skipped", "findings_total", "status"}],
     "findings": [{"rule", "family", "severity", "message", "exchange", "related"}],
     "notes": [...], "command": [...], "environment": {...}}

A rule's ``status`` is ``failed`` (an error-level violation), ``warned`` (only warnings), ``passed``
(judged and held) or ``not_run`` (never judged: skipped or not exercised). ``summary.rules.skipped``
counts the ``not_run`` rules. ``summary.findings`` counts the findings kept in the report;
``omitted`` counts violations beyond the per-rule cap that were tallied but not kept.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from llmconform.checks.findings import Finding, Results, RuleCount
from llmconform.checks.registry import REGISTRY, Rule, Severity
from llmconform.conformance.outcome import ConformanceRun
from llmconform.redact import Redactor
from llmconform.report._files import write_atomic
from llmconform.report._redaction import mask_command, mask_environment, run_redactor, scrub

CONFORMANCE_JSON = "conformance.json"
SCHEMA_VERSION = 1

RuleStatus = Literal["passed", "failed", "warned", "not_run"]


def rule_status(count: RuleCount, findings: list[Finding] | None = None) -> RuleStatus:
    """The status of one rule from its tally (and, defensively, its kept findings)."""
    severities = {f.severity for f in findings or ()}
    if count.failed or Severity.ERROR in severities:
        return "failed"
    if count.warned or Severity.WARNING in severities:
        return "warned"
    if count.passed:
        return "passed"
    return "not_run"


def _listed_rules(run: ConformanceRun) -> list[tuple[str, Rule | None]]:
    """Every registered rule of the run's families, then any other rule the results speak about."""
    families = set(run.families)
    listed: dict[str, Rule | None] = {r.id: r for r in REGISTRY if r.family in families}
    extra = set(run.results.counts) | {f.rule for f in run.results.findings}
    for rule_id in sorted(extra - listed.keys()):
        listed[rule_id] = REGISTRY.rules.get(rule_id)
    return list(listed.items())


def _rule_row(rule_id: str, rule: Rule | None, results: Results, findings: list[Finding]) -> dict[str, Any]:
    count = results.counts.get(rule_id, RuleCount())
    kind: str
    if rule is not None:
        family, kind, title, source = rule.family, rule.kind, rule.title, rule.source
        severity = str(rule.severity)
    else:
        family = findings[0].family if findings else "unknown"
        kind, title, source = "unregistered", "", ""
        severities = {f.severity for f in findings}
        severity = str(max(severities, key=lambda s: s is Severity.ERROR)) if severities else "unknown"
    return {
        "id": rule_id,
        "family": family,
        "kind": kind,
        "severity": severity,
        "title": title,
        "source": source,
        "passed": count.passed,
        "failed": count.failed,
        "warned": count.warned,
        "skipped": count.skipped,
        "findings_total": max(results.findings_total(rule_id), len(findings)),
        "status": rule_status(count, findings),
    }


def _finding_row(finding: Finding, redactor: Redactor) -> dict[str, Any]:
    return {
        "rule": finding.rule,
        "family": finding.family,
        "severity": str(finding.severity),
        "message": finding.message,
        "exchange": finding.exchange.to_report(redactor) if finding.exchange is not None else None,
        "related": [exchange.to_report(redactor) for exchange in finding.related],
    }


def conformance_document(run: ConformanceRun, redactor: Redactor) -> dict[str, Any]:
    """The report of ``run`` as a JSON-ready dict, every string redacted."""
    redactor = run_redactor(run, redactor)
    results = run.results
    by_rule: dict[str, list[Finding]] = {}
    for finding in results.findings:
        by_rule.setdefault(finding.rule, []).append(finding)

    rules = [_rule_row(rule_id, rule, results, by_rule.get(rule_id, [])) for rule_id, rule in _listed_rules(run)]
    statuses = [row["status"] for row in rules]
    ordered = sorted(results.findings, key=lambda f: (f.severity is not Severity.ERROR, f.rule))
    kept = len(results.findings)
    total_violations = sum(row["findings_total"] for row in rules)

    summary: dict[str, Any] = {
        "verdict": run.verdict,
        "exit_code": int(run.exit_code),
        "target": redactor.url(run.target),
        "embedded_mock": run.embedded_mock,
        "model": run.model,
        "families": list(run.families),
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "duration_s": round(run.duration_s, 6),
        "budget": run.budget,
        "planned_requests": run.planned_requests,
        "sent_requests": run.sent_requests,
        "rules": {
            "total": len(rules),
            "passed": statuses.count("passed"),
            "failed": statuses.count("failed"),
            "warned": statuses.count("warned"),
            "skipped": statuses.count("not_run"),
        },
        "findings": {
            "error": sum(1 for f in results.findings if f.severity is Severity.ERROR),
            "warning": sum(1 for f in results.findings if f.severity is not Severity.ERROR),
            "omitted": max(total_violations - kept, 0),
        },
        "partial": run.partial,
        "error": run.error,
    }
    document = {
        "schema_version": SCHEMA_VERSION,
        "summary": summary,
        "rules": rules,
        "findings": [_finding_row(f, redactor) for f in ordered],
        "notes": list(results.notes),
        "command": mask_command(run.command, redactor),
        "environment": mask_environment(run.environment),
        "config": run.config,
    }
    scrubbed: dict[str, Any] = scrub(document, redactor)
    return scrubbed


def dumps_document(document: dict[str, Any]) -> str:
    """Serialise a report document as strict, indented UTF-8 JSON text."""
    return json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def write_conformance_json(run: ConformanceRun, report_dir: Path, redactor: Redactor) -> Path:
    """Write ``report_dir/conformance.json`` atomically and return its path."""
    return write_atomic(Path(report_dir) / CONFORMANCE_JSON, dumps_document(conformance_document(run, redactor)))
