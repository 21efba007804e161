"""The check run's journal: one JSON line per exchange and per finding, appended the moment it exists.

conformance.json and junit.xml are written when the run ends; a run that is killed outright (SIGKILL,
out of memory, a power cut) never gets there. ``journal.jsonl`` is appended and flushed line by line as
the run goes, so such a crash loses at most the one request in flight. Every line is redacted like the
reports: keys in headers, ``?key=`` parameters and any echo of them in text are masked.

Lines: ``{"kind": "exchange", "n", "family", "operation", "label", "method", "url", "status",
"elapsed_s", "error"}`` and ``{"kind": "finding", "rule", "family", "severity", "message", "exchange"}``
(``exchange``: the ``n`` of the exchange it was found on, when known).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TextIO

from llmconform.checks.findings import Finding
from llmconform.exchange import Exchange
from llmconform.redact import Redactor

__all__ = ["JOURNAL_FILE", "CheckJournal"]

JOURNAL_FILE = "journal.jsonl"


class CheckJournal:
    """Appends the run's exchanges and findings to ``REPORT_DIR/journal.jsonl`` as they happen."""

    def __init__(self, directory: Path, redactor: Redactor) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / JOURNAL_FILE
        self._redactor = redactor
        self._file: TextIO = self.path.open("w", encoding="utf-8")
        # id -> (n, the exchange itself, held so that its id is never reused by another while listed)
        self._numbers: dict[int, tuple[int, Exchange]] = {}

    def exchange(self, exchange: Exchange) -> None:
        number = len(self._numbers) + 1
        self._numbers[id(exchange)] = (number, exchange)
        redact = self._redactor
        self._write(
            {
                "kind": "exchange",
                "n": number,
                "family": exchange.family,
                "operation": exchange.operation,
                "label": redact.text(exchange.label),
                "method": exchange.method,
                "url": redact.url(exchange.url),
                "status": exchange.status,
                "elapsed_s": round(exchange.elapsed_s, 6),
                "error": redact.text(exchange.error) if exchange.error else None,
            }
        )

    def finding(self, finding: Finding) -> None:
        self._write(
            {
                "kind": "finding",
                "rule": finding.rule,
                "family": finding.family,
                "severity": finding.severity.value,
                "message": self._redactor.text(finding.message),
                "exchange": self._number_of(finding.exchange),
            }
        )

    def _number_of(self, exchange: Exchange | None) -> int | None:
        listed = self._numbers.get(id(exchange)) if exchange is not None else None
        return listed[0] if listed is not None and listed[1] is exchange else None

    def close(self) -> None:
        self._file.close()

    def _write(self, line: dict[str, Any]) -> None:
        if self._file.closed:
            return
        self._file.write(json.dumps(line) + "\n")
        self._file.flush()
