"""``REPORT_DIR/junit.xml``: the conformance report as JUnit XML, for CI test tabs.

One ``<testsuite name="llmconform.<family>">`` per family and one ``<testcase>`` per rule:

* a rule with error-level findings has a ``<failure>`` (message: the first finding; text: every kept
  message and the redacted request/response of the first finding as compact JSON);
* a rule with warnings only passes, with the warnings in ``<system-out>``;
* a rule never judged is ``<skipped message="not exercised in this run"/>``;
* a run that ended in a harness error gets a ``harness`` testcase with an ``<error>``.

It is rendered from :func:`~llmconform.report.conformance_json.conformance_document`, so it shows
exactly what ``conformance.json`` shows, already redacted. Characters XML 1.0 cannot hold are
dropped; ElementTree escapes the rest.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from llmconform.conformance.outcome import ConformanceRun
from llmconform.redact import Redactor
from llmconform.report._files import write_atomic
from llmconform.report.conformance_json import conformance_document

JUNIT_XML = "junit.xml"
SUITE_PREFIX = "llmconform"
NOT_EXERCISED = "not exercised in this run"
_MESSAGE_LIMIT = 1000

_ILLEGAL_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_safe(text: str) -> str:
    """``text`` without the characters XML 1.0 forbids (control characters, lone surrogates, U+FFFE/F)."""
    return _ILLEGAL_XML.sub("", text)


def _one_line(text: str, limit: int = _MESSAGE_LIMIT) -> str:
    line = " ".join(xml_safe(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _element(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, tag, {k: xml_safe(v) for k, v in attrs.items()})
    if text is not None:
        element.text = xml_safe(text)
    return element


def _failure_text(rule: dict[str, Any], errors: list[dict[str, Any]], omitted: int) -> str:
    lines = [f"- {finding['message']}" for finding in errors]
    if not errors:
        lines.append(f"broken {rule['failed']} time(s); no finding was kept")
    elif omitted > 0:
        lines.append(f"... and {omitted} more violation(s) not kept in the report")
    shown = next((f for f in errors if f["exchange"] is not None), None)
    if shown is not None:
        exchange = shown["exchange"]
        compact = {"request": exchange.get("request"), "response": exchange.get("response")}
        if "error" in exchange:
            compact["error"] = exchange["error"]
        lines += [
            "",
            "first finding's exchange:",
            json.dumps(compact, separators=(",", ":"), ensure_ascii=False),
        ]
    return "\n".join(lines)


def junit_tree(document: dict[str, Any]) -> ET.ElementTree[ET.Element]:
    """Build the JUnit XML tree of a conformance report document."""
    return ET.ElementTree(_junit_root(document))


def _junit_root(document: dict[str, Any]) -> ET.Element:
    summary = document["summary"]
    findings_by_rule: dict[str, list[dict[str, Any]]] = {}
    for finding in document["findings"]:
        findings_by_rule.setdefault(finding["rule"], []).append(finding)

    families: list[str] = list(dict.fromkeys([*summary["families"], *(r["family"] for r in document["rules"])]))
    root = ET.Element("testsuites", {"name": SUITE_PREFIX})
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}

    def suite(name: str, cases: int, failures: int, errors: int, skipped: int, time: str) -> ET.Element:
        for key, value in (
            ("tests", cases),
            ("failures", failures),
            ("errors", errors),
            ("skipped", skipped),
        ):
            totals[key] += value
        return _element(
            root,
            "testsuite",
            name=f"{SUITE_PREFIX}.{name}",
            tests=str(cases),
            failures=str(failures),
            errors=str(errors),
            skipped=str(skipped),
            time=time,
            timestamp=str(summary["started_at"]),
        )

    for family in families:
        rules = [r for r in document["rules"] if r["family"] == family]
        statuses = [r["status"] for r in rules]
        testsuite = suite(
            family,
            len(rules),
            statuses.count("failed"),
            0,
            statuses.count("not_run"),
            "0",
        )
        for rule in rules:
            case = _element(testsuite, "testcase", classname=f"{SUITE_PREFIX}.{family}", name=rule["id"], time="0")
            kept = findings_by_rule.get(rule["id"], [])
            errors = [f for f in kept if f["severity"] == "error"]
            warnings = [f for f in kept if f["severity"] != "error"]
            if rule["status"] == "failed":
                message = errors[0]["message"] if errors else f"rule {rule['id']} was broken"
                _element(
                    case,
                    "failure",
                    _failure_text(rule, errors, rule["findings_total"] - len(kept)),
                    message=_one_line(message),
                    type="error",
                )
            elif rule["status"] == "not_run":
                _element(case, "skipped", message=NOT_EXERCISED)
            if warnings:
                out = [f"warning: {f['message']}" for f in warnings]
                _element(case, "system-out", "\n".join(out))

    if summary["verdict"] == "error" or summary["error"]:
        message = summary["error"] or f"the run ended with exit code {summary['exit_code']}"
        testsuite = suite("harness", 1, 0, 1, 0, "0")
        case = _element(testsuite, "testcase", classname=f"{SUITE_PREFIX}.harness", name="harness", time="0")
        _element(case, "error", message, message=_one_line(message), type="harness")

    for key, value in totals.items():
        root.set(key, str(value))
    root.set("time", f"{float(summary['duration_s'] or 0):.3f}")
    ET.indent(root)
    return root


def junit_xml(document: dict[str, Any]) -> str:
    """The JUnit XML text (with declaration) of a conformance report document."""
    body: str = ET.tostring(_junit_root(document), encoding="unicode")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n"


def write_junit(run: ConformanceRun, report_dir: Path, redactor: Redactor) -> Path:
    """Write ``report_dir/junit.xml`` atomically and return its path."""
    return write_atomic(Path(report_dir) / JUNIT_XML, junit_xml(conformance_document(run, redactor)))
