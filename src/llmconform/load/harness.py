"""What one locust process shares among its users: the plan, the pacer, the workload, the tally.

Every answer goes through ``complete``: the same exchange rules as ``llmconform check`` judge it,
``measure`` turns it into a record, and the record is counted and queued for the CSV. Locust's own
request event is fired too, so locust's statistics and web UI keep working for users who want them.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from typing import Any

from llmconform.checks.engine import check_exchange, exchange_rules
from llmconform.checks.findings import Results
from llmconform.checks.registry import Severity
from llmconform.config import API_KEY_ENV
from llmconform.exchange import Exchange
from llmconform.load.measure import RequestRecord, Timing, csv_row, judge_slos, measure, tokenizer_named
from llmconform.load.pacing import Pacer, Slot
from llmconform.load.plan import LoadPlan
from llmconform.load.tally import Tally
from llmconform.load.workload import Workload
from llmconform.mock.config import DEFAULT_API_KEY
from llmconform.redact import Redactor

__all__ = ["ProcessHarness"]


class ProcessHarness:
    """The load state of one locust process (the local runner, or one worker)."""

    def __init__(
        self,
        plan: LoadPlan,
        process_index: int = 0,
        process_count: int = 1,
        *,
        on_row: Callable[[list[Any]], None] | None = None,
        ship_rows: bool = True,
    ) -> None:
        """``on_row`` gets each CSV row the moment its request completes; ``ship_rows`` keeps the rows for
        ``drain`` too (a worker ships them to the master; the local process has written them already)."""
        self.plan = plan
        self._on_row = on_row
        self._ship_rows = ship_rows
        self.process_index = process_index
        # A worker started by hand has the key in its own environment; the embedded mock's key is public.
        self.api_key = os.environ.get(API_KEY_ENV) or (DEFAULT_API_KEY if plan.embedded else None)
        self.redactor = Redactor([self.api_key] if self.api_key else [])
        self.pacer = Pacer(plan, process_index, process_count)
        self.workload = Workload(plan.workload, plan.model, process_index, plan.embedding_model)
        self.tally = Tally(open_loop=plan.open_loop)
        self.rows: list[list[Any]] = []
        self._rules = exchange_rules()
        self._tokenizer = tokenizer_named(plan.tokenizer)
        # perf_counter -> epoch seconds, fixed once so records of one process share one clock
        self._wall_offset = time.time() - time.perf_counter()

    def start(self) -> None:
        self.pacer.start()

    def complete(
        self,
        exchange: Exchange,
        operation: str,
        slot: Slot,
        sent: float,
        *,
        parts: Sequence[Exchange] = (),
        failed: str | None = None,
    ) -> RequestRecord:
        """Check, measure and count one finished exchange.

        A request made of several exchanges (a video task: its create call and polls, measured as one
        ``exchange`` from ``families.video.task_exchange``) names them as ``parts``: each is judged by the rules
        like any answer, and a rule it breaks fails the request. ``failed`` says why such a request ended
        without its result although every answer kept the contract (a task that failed): class ``task_failed``.
        """
        results = Results(max_findings_per_rule=1)
        for part in (*parts, exchange):
            check_exchange(part, results, self._rules)
        errors = sorted({f.rule for f in results.findings if f.severity is Severity.ERROR})
        warnings = sorted({f.rule for f in results.findings if f.severity is Severity.WARNING} - set(errors))
        record = measure(
            exchange,
            operation=operation,
            timing=Timing(intended=slot.intended, sent=sent),
            wall_offset=self._wall_offset,
            error_rules=errors,
            warning_rules=warnings,
            tokenizer=self._tokenizer,
            warmup=slot.warmup,
            process=self.process_index,
        )
        if failed is not None and record.error_class is None:
            record.error_class, record.error = "task_failed", failed
        record.good = judge_slos(record, self.plan.slos)
        if record.error is not None:
            record.error = self.redactor.text(record.error)
        if not record.warmup:
            self.tally.judged(list(results.counts))
            for finding in results.findings:
                if not self.tally.wants_finding(finding.rule):
                    continue  # rendering an exchange costs; a broken target would pay it on every answer
                self.tally.add_finding(
                    {
                        "rule": finding.rule,
                        "family": finding.family,
                        "severity": finding.severity.value,
                        "message": self.redactor.text(finding.message),
                        "operation": operation,
                        "exchange": finding.exchange.to_report(self.redactor) if finding.exchange else None,
                    }
                )
        self.tally.add(record)
        row = csv_row(record)
        if self._on_row is not None:
            self._on_row(row)
        if self._ship_rows:
            self.rows.append(row)
        return record

    def drain(self) -> dict[str, Any]:
        """What this process measured since the last drain, as wire data for the collector."""
        rows, self.rows = self.rows, []
        return {"rows": rows, "tally": self.tally.drain(), "process": self.process_index}
