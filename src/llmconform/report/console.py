"""What ``llmconform check`` prints: live progress while it runs, a summary when it ends.

:func:`render_summary` renders :func:`~llmconform.report.conformance_json.conformance_document`, so
the terminal shows the same (redacted) rules and findings as the report files. Text from the target
is always printed as plain :class:`rich.text.Text`, never as markup, and stripped of control codes.

:class:`CheckProgress` draws a rich progress bar on a terminal and falls back to one plain line per
phase when the output is a file or a CI log.
"""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from rich import box
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

from llmconform.conformance.outcome import ConformanceRun
from llmconform.redact import Redactor
from llmconform.report.conformance_json import conformance_document

MAX_FINDINGS_SHOWN = 10
PER_RULE_SHOWN = 2
_MESSAGE_WIDTH = 160

STATUS_STYLE = {"passed": "green", "failed": "bold red", "warned": "yellow", "not_run": "dim"}
_STATUS_ORDER = {"failed": 0, "warned": 1, "passed": 2, "not_run": 3}
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _one_line(text: str, limit: int = _MESSAGE_WIDTH) -> str:
    line = " ".join(_CONTROL.sub(" ", text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


_STATUS_SHORT = {"passed": "PASS", "failed": "FAIL", "warned": "WARN", "not_run": "-"}


def _rules_table(rules: list[dict[str, Any]]) -> Table:
    # Status first, compact box, no-wrap ids: the table stays readable in an 80-column terminal.
    table = Table(
        title="Rules (failed first)", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True
    )
    table.add_column("", no_wrap=True, min_width=4)
    table.add_column("rule", no_wrap=True, overflow="ellipsis", max_width=36)
    table.add_column("family", no_wrap=True)
    table.add_column("sev", no_wrap=True)
    table.add_column("ok", justify="right", no_wrap=True)
    table.add_column("fail", justify="right", no_wrap=True)
    table.add_column("warn", justify="right", no_wrap=True)
    table.add_column("skip", justify="right", no_wrap=True)
    for rule in sorted(rules, key=lambda r: _STATUS_ORDER.get(r["status"], len(_STATUS_ORDER))):
        status = rule["status"]
        table.add_row(
            Text(_STATUS_SHORT.get(status, status), style=STATUS_STYLE.get(status, "")),
            Text(rule["id"]),
            Text(rule["family"]),
            Text({"error": "err", "warning": "warn"}.get(rule["severity"], "?")),
            str(rule["passed"]),
            str(rule["failed"]),
            str(rule["warned"]),
            str(rule["skipped"]),
        )
    return table


def shown_findings(findings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Up to MAX_FINDINGS_SHOWN findings, at most PER_RULE_SHOWN per rule, so every broken rule shows."""
    shown: list[dict[str, Any]] = []
    per_rule: dict[str, int] = {}
    for finding in findings:
        if per_rule.get(finding["rule"], 0) < PER_RULE_SHOWN and len(shown) < MAX_FINDINGS_SHOWN:
            per_rule[finding["rule"]] = per_rule.get(finding["rule"], 0) + 1
            shown.append(finding)
    return shown


def _findings_table(findings: list[dict[str, Any]]) -> Table:
    table = Table(title="Findings (first of each rule)", title_justify="left")
    table.add_column("rule", overflow="fold")
    table.add_column("severity")
    table.add_column("message", overflow="fold")
    for finding in shown_findings(findings):
        style = "red" if finding["severity"] == "error" else "yellow"
        table.add_row(
            Text(finding["rule"]), Text(finding["severity"], style=style), Text(_one_line(finding["message"]))
        )
    return table


def verdict_line(document: dict[str, Any]) -> Text:
    """The one-line verdict of a report document: PASSED / FAILED / ERROR with its numbers."""
    summary = document["summary"]
    rules, findings = summary["rules"], summary["findings"]
    if summary["verdict"] == "passed":
        held = rules["passed"] + rules["warned"]
        line = Text(f"PASSED: {held} rules held", style="bold green")
        extras = []
        if rules["warned"]:
            extras.append(f"{rules['warned']} with warnings")
        if rules["skipped"]:
            extras.append(f"{rules['skipped']} not exercised")
        if extras:
            line.append(f" ({', '.join(extras)})", style="green")
        return line
    if summary["verdict"] == "failed":
        broken = rules["failed"]
        return Text(
            f"FAILED: {broken} rule(s) broken ({findings['error']} error findings, {findings['warning']} warnings)",
            style="bold red",
        )
    message = summary["error"] or f"the run ended with exit code {summary['exit_code']}"
    return Text(f"ERROR: {_one_line(message, 400)}", style="bold red")


def render_summary(run: ConformanceRun, console: Console, redactor: Redactor, paths: list[Path] | None = None) -> None:
    """Print the rules table, the first findings and the verdict line (with the report paths)."""
    document = conformance_document(run, redactor)
    summary = document["summary"]
    if document["rules"]:
        console.print(_rules_table(document["rules"]))
    findings = document["findings"]
    if findings:
        console.print(_findings_table(findings))
        hidden = len(findings) - len(shown_findings(findings)) + summary["findings"]["omitted"]
        if hidden > 0:
            console.print(Text(f"... and {hidden} more finding(s); see conformance.json", style="dim"))
    for note in document["notes"]:
        console.print(Text(f"note: {_one_line(note, 400)}", style="dim"))
    if summary["partial"]:
        console.print(Text("the run was cut short; results are partial", style="yellow"))
    console.print(
        Text(
            f"{summary['sent_requests']}/{summary['planned_requests']} requests to {summary['target']}"
            f" in {summary['duration_s']:.1f}s",
            style="dim",
        )
    )
    console.print(verdict_line(document))
    if paths:
        shown = ", ".join(redactor.text(str(path)) for path in paths)
        console.print(Text(f"Reports: {shown}"))


class CheckProgress:
    """Progress of a check run, phase by phase, counted in requests.

    On a terminal this is a rich progress bar (spinner, phase, bar, M/N requests, elapsed). Elsewhere
    (a file, a CI log) it prints one plain line per phase when the phase ends, e.g.
    ``schema probes: 12/12 requests in 3.4s``. A phase with an unknown total (``None``) shows ``M/?``.

    Use it as a context manager, or call :meth:`close` when done; every method is safe to call in any
    order, and after :meth:`close` further calls do nothing.
    """

    def __init__(
        self, console: Console | None = None, *, redactor: Redactor | None = None, unit: str = "requests"
    ) -> None:
        self.console = console if console is not None else Console(stderr=True)
        self._redactor = redactor
        self._unit = unit
        self._lock = threading.Lock()
        self._closed = False
        self._live = self.console.is_terminal and not self.console.is_dumb_terminal
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        self._phase: str | None = None
        self._total: int | None = None
        self._completed = 0
        self._phase_started = 0.0

    @property
    def interactive(self) -> bool:
        """True when a live progress bar is drawn (the console is a terminal)."""
        return self._live

    def __enter__(self) -> CheckProgress:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _clean(self, name: str) -> str:
        name = self._redactor.text(name) if self._redactor is not None else name
        return _one_line(name, 80)

    def _ensure_progress(self) -> Progress:
        if self._progress is None:
            self._progress = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}", markup=False),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn(self._unit, markup=False),
                TimeElapsedColumn(),
                console=self.console,
                transient=False,
            )
            self._progress.start()
        return self._progress

    def _finish_phase(self) -> None:
        if self._phase is None:
            return
        if self._progress is not None and self._task is not None:
            total = self._total if self._total is not None else self._completed
            self._progress.update(self._task, total=total, completed=self._completed)
            self._progress.stop_task(self._task)
        elif not self._live:
            of = "?" if self._total is None else str(self._total)
            elapsed = time.monotonic() - self._phase_started
            self.console.print(
                Text(f"{self._phase}: {self._completed}/{of} {self._unit} in {elapsed:.1f}s"),
                highlight=False,
                soft_wrap=True,
            )
        self._phase, self._task, self._total, self._completed = None, None, None, 0

    def start_phase(self, name: str, total: int | None) -> None:
        """End the current phase (if any) and start ``name`` with ``total`` requests (None: unknown)."""
        with self._lock:
            if not self._closed:
                self._start_locked(name, total)

    def _start_locked(self, name: str, total: int | None) -> None:
        self._finish_phase()
        self._phase = self._clean(name)
        self._total = total if total is None or total >= 0 else None
        self._completed = 0
        self._phase_started = time.monotonic()
        if self._live:
            self._task = self._ensure_progress().add_task(self._phase, total=self._total)

    def advance(self, n: int = 1) -> None:
        """Count ``n`` more requests in the current phase (starting an unnamed phase if none is open)."""
        with self._lock:
            if self._closed:
                return
            if self._phase is None:
                self._start_locked(self._unit, None)
            self._completed += n
            if self._progress is not None and self._task is not None:
                self._progress.advance(self._task, n)

    def close(self) -> None:
        """End the current phase and stop drawing; idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            try:
                self._finish_phase()
            finally:
                if self._progress is not None:
                    self._progress.stop()
                    self._progress = None
