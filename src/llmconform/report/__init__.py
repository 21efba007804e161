"""Report writers: a run's findings -> ``conformance.json`` (canonical), ``junit.xml`` and the console.

Every writer takes a :class:`~llmconform.redact.Redactor`; no string reaches a file or the terminal
without passing through it.
"""

from llmconform.report.conformance_json import (
    CONFORMANCE_JSON,
    conformance_document,
    rule_status,
    write_conformance_json,
)
from llmconform.report.console import CheckProgress, render_summary, verdict_line
from llmconform.report.junit import JUNIT_XML, junit_tree, junit_xml, write_junit

__all__ = [
    "CONFORMANCE_JSON",
    "JUNIT_XML",
    "CheckProgress",
    "conformance_document",
    "junit_tree",
    "junit_xml",
    "render_summary",
    "rule_status",
    "verdict_line",
    "write_conformance_json",
    "write_junit",
]
