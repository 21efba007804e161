"""``REPORT_DIR/load.json``: the canonical report of one ``llmconform load`` run.

Built from the merged measurements of the locust processes (measurements.json) and the plan; the
HTML report and the console summary are renderings of this document. Shape::

    {"kind": "load", "verdict", "exit_code", "scenario", "load_model", "target", "model",
     "duration_s", "partial", "notes",
     "requests": {"total", "ok", "failed", "good", "warmup_excluded"},
     "throughput": {"requests_per_s", "ok_requests_per_s", "output_tokens_per_s", "goodput_requests_per_s"},
     "latency_ms": {"ttft"|"itl"|"itl_per_token"|"tpot"|"e2e": {"p50","p90","p95","p99","p999","mean","max","count"}},
     "output_tokens_per_s_per_request": {...same keys...},
     "scheduling_lag_ms": {...same keys...},
     "distributions_ms": {"ttft"|"itl"|"e2e": [[lower_ms, upper_ms, count], ...]} (40 log-spaced bins),
     "tokens": {"output", "output_client", "prompt", "discrepancy": {"compared", "disagree", "mean_abs"}},
     "errors": {class: count}, "violations": {rule: count}, "findings": [...],
     "retries": {"respected", "total", "by_status": {status: count}, "wait_s"},
     "rules": {rule: {"severity", "source", "judged", "violated"}},
     "by_operation": {name: {"requests", "throughput", "latency_ms"}},
     "slos": {name: {"limit_ms", "value_ms", "met"}},
     "plan": {...}, "calibration": {...} | null, "definitions": {...},
     "files": {...}, "command": [...], "environment": {...}, "llmconform_version"}

An empty metric is ``{}`` (nothing was recorded, e.g. TTFT of a unary scenario).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from llmconform import __version__
from llmconform.checks.registry import REGISTRY, Severity
from llmconform.load.measure import DEFINITIONS
from llmconform.load.plan import LoadPlan
from llmconform.load.tally import ALL, OperationTally, Tally
from llmconform.redact import Redactor
from llmconform.report._files import write_atomic
from llmconform.report._redaction import mask_command, mask_environment, scrub

__all__ = ["LOAD_JSON", "load_document", "load_exit_code", "write_load_json"]

LOAD_JSON = "load.json"
_METRICS = ("ttft", "itl", "itl_per_token", "tpot", "e2e")


def _rate(count: float, duration_s: float) -> float:
    return count / duration_s if duration_s > 0 else 0.0


def _operation_section(tally: OperationTally) -> dict[str, Any]:
    duration = _duration(tally)
    return {
        "duration_s": duration,
        "requests": {"total": tally.total, "ok": tally.ok, "failed": tally.failed, "good": tally.good},
        "throughput": {
            "requests_per_s": _rate(tally.total, duration),
            "ok_requests_per_s": _rate(tally.ok, duration),
            "output_tokens_per_s": _rate(tally.output_tokens, duration),
            "goodput_requests_per_s": _rate(tally.good, duration),
        },
        "latency_ms": {name: _summary(tally, name) for name in _METRICS},
    }


def _summary(tally: OperationTally, name: str) -> dict[str, float | int]:
    metric = tally.metrics.get(name)
    return metric.summary() if metric is not None else {}


def _duration(tally: OperationTally) -> float:
    if tally.first_intended is None or tally.last_done is None:
        return 0.0
    return max(tally.last_done - tally.first_intended, 0.0)


def load_exit_code(tally: Tally, partial: bool) -> int:
    """0 every measured request succeeded and kept the contract; 1 not; 3 nothing could be measured."""
    overall = tally.operations.get(ALL)
    if overall is None or overall.total == 0:
        return 3
    if overall.ok == 0 and set(tally.errors) <= {"connect"}:
        return 3
    errors = any(
        REGISTRY.rules.get(rule) is not None and REGISTRY.rules[rule].severity is Severity.ERROR
        for rule in tally.violations
    )
    if overall.failed or errors:
        return 1
    return 3 if partial else 0


def _slos(plan: LoadPlan, overall: OperationTally) -> dict[str, Any]:
    judged: dict[str, Any] = {}
    for name, limit in plan.slos.items():
        metric, _, rest = name.partition("_")
        if rest.startswith("p"):
            percentile = rest.split("_", 1)[0]
            value = _summary(overall, metric).get(percentile)
            judged[name] = {"limit_ms": limit, "value_ms": value, "met": value is not None and value <= limit}
        else:
            judged[name] = {
                "limit_ms": limit,
                "kind": "per-request (goodput)",
                "met_by": overall.good,
                "of": overall.total,
            }
    return judged


def load_document(
    plan: LoadPlan,
    measurements: dict[str, Any],
    *,
    command: list[str],
    environment: dict[str, Any],
    redactor: Redactor,
    calibration: dict[str, Any] | None = None,
    files: dict[str, str] | None = None,
    extra_notes: list[str] | None = None,
) -> dict[str, Any]:
    """Build the load report document (redacted) from the plan and the merged measurements."""
    tally = Tally.from_wire(measurements.get("tally", {}))
    overall = tally.operation(ALL)
    partial = bool(measurements.get("partial"))
    exit_code = load_exit_code(tally, partial)
    section = _operation_section(overall)
    rules = {}
    for rule_id in sorted(set(tally.rules_judged) | set(tally.violations)):
        rule = REGISTRY.rules.get(rule_id)
        rules[rule_id] = {
            "severity": rule.severity.value if rule else "error",
            "title": rule.title if rule else rule_id,
            "source": rule.source if rule else "",
            "judged": tally.rules_judged.get(rule_id, 0),
            "violated": tally.violations.get(rule_id, 0),
        }
    document: dict[str, Any] = {
        "kind": "load",
        "llmconform_version": __version__,
        "verdict": {0: "passed", 1: "failed", 3: "incomplete"}.get(exit_code, "failed"),
        "exit_code": exit_code,
        "scenario": plan.scenario,
        "load_model": plan.load_model,
        "target": "embedded mock" if plan.embedded else plan.base_url,
        "model": plan.model,
        "duration_s": section["duration_s"],
        "partial": partial,
        "notes": [*measurements.get("notes", []), *(extra_notes or [])],
        "requests": {**section["requests"], "warmup_excluded": tally.warmup},
        "throughput": section["throughput"],
        "latency_ms": section["latency_ms"],
        "output_tokens_per_s_per_request": _summary(overall, "output_tokens_per_s"),
        "scheduling_lag_ms": _summary(overall, "lag"),
        "distributions_ms": {
            name: overall.metrics[name].buckets() for name in ("ttft", "itl", "e2e") if name in overall.metrics
        },
        "tokens": {
            "output": overall.output_tokens,
            "output_client": overall.output_tokens_client,
            "prompt": overall.prompt_tokens,
            "prompt_mean": overall.prompt_tokens / overall.ok if overall.ok else None,
            "discrepancy": {
                "compared": overall.token_compared,
                "disagree": overall.token_disagree,
                "mean_abs": overall.token_abs_diff / overall.token_compared if overall.token_compared else None,
                "tokenizer": plan.tokenizer,
            },
        },
        "errors": dict(sorted(tally.errors.items())),
        "retries": {
            "respected": plan.respect_retry_after,
            "total": sum(tally.retries.values()),
            "by_status": dict(sorted(tally.retries.items())),
            "wait_s": round(tally.retry_wait_s, 3),
        },
        "violations": dict(sorted(tally.violations.items())),
        "findings": tally.findings,
        "rules": rules,
        "by_operation": {name: _operation_section(t) for name, t in sorted(tally.operations.items()) if name != ALL},
        "slos": _slos(plan, overall),
        "plan": plan.model_dump(mode="json", exclude={"report_dir", "locustfile"}),
        "calibration": calibration,
        "definitions": DEFINITIONS,
        "files": files or {},
        "command": mask_command(command, redactor),
        "environment": mask_environment(environment),
    }
    return dict(scrub(document, redactor))


def write_load_json(document: dict[str, Any], report_dir: Path) -> Path:
    """Write load.json atomically."""
    return write_atomic(report_dir / LOAD_JSON, json.dumps(document, indent=2, ensure_ascii=False) + "\n")
