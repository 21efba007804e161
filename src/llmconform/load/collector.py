"""The master side of a load run: merges what the processes measured and writes it down as it comes.

Records are appended to ``requests.csv`` as they complete: the local process writes each one at once;
workers append theirs to their own ``requests.worker-N.csv`` journal as they complete and ship them to
the master every second, which appends them to ``requests.csv``. So a crash of any process loses at
most the requests in flight. After a clean run the journals are redundant and removed; after a partial
one they stay, holding what the master may not have received. A small progress file is rewritten
every second for the live console view of ``llmconform load``; at the end the merged tally goes to
``measurements.json``, which the parent turns into load.json and the HTML report.
"""

from __future__ import annotations

import csv
import json
import os
import time
from collections import deque
from pathlib import Path
from typing import Any

from llmconform.load.measure import CSV_COLUMNS
from llmconform.load.plan import LoadPlan
from llmconform.load.tally import Tally

__all__ = ["MEASUREMENTS_FILE", "PROGRESS_FILE", "RECORDS_FILE", "WORKER_JOURNALS", "Collector", "RowJournal"]

RECORDS_FILE = "requests.csv"
# Each worker's own append-only copy of its records (see the module docstring).
WORKER_JOURNALS = "requests.worker-*.csv"
PROGRESS_FILE = ".progress.json"
MEASUREMENTS_FILE = "measurements.json"


class Collector:
    """Merges drains from every load process; owns the run's files in the report directory."""

    def __init__(self, plan: LoadPlan, expected_processes: int) -> None:
        self.plan = plan
        self.directory = Path(plan.report_dir)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.tally = Tally(open_loop=plan.open_loop)
        self.expected = expected_processes
        self.finished: set[int] = set()
        self.started_wall = time.time()
        self.records = 0
        self._recent: deque[tuple[float, int]] = deque(maxlen=16)
        self._csv_file = (self.directory / RECORDS_FILE).open("w", newline="", encoding="utf-8")
        self._csv = csv.writer(self._csv_file)
        self._csv.writerow(CSV_COLUMNS)
        self._csv_file.flush()
        self.written = False

    def write_row(self, row: list[Any]) -> None:
        """Append one record as soon as it completes (the local process's path, no batching)."""
        self._csv.writerow(row)
        self._csv_file.flush()
        self.records += 1

    def receive(self, drained: dict[str, Any], *, final: bool = False) -> None:
        """Take one drain (rows + tally delta) from a process; ``final`` when that process is done."""
        rows = drained.get("rows", [])
        if rows:
            self._csv.writerows(rows)
            self._csv_file.flush()
            self.records += len(rows)
        self.tally.merge(Tally.from_wire(drained.get("tally", {})))
        if final:
            self.finished.add(int(drained.get("process", 0)))

    @property
    def all_finished(self) -> bool:
        return len(self.finished) >= self.expected

    def write_progress(self, users: int = 0) -> None:
        """Rewrite the progress file (atomically) for the live view."""
        now = time.time()
        overall = self.tally.operations.get("all")
        done = overall.total if overall else 0
        self._recent.append((now, done))
        first_t, first_n = self._recent[0]
        rate = (done - first_n) / (now - first_t) if now > first_t else 0.0
        progress: dict[str, Any] = {
            "elapsed_s": now - self.started_wall,
            "planned_s": (self.plan.duration_s or 0) + self.plan.warmup_s,
            "planned_requests": self.plan.requests,
            "users": users,
            "warmup": self.tally.warmup,
            "total": done,
            "ok": overall.ok if overall else 0,
            "failed": overall.failed if overall else 0,
            "requests_per_s": rate,
            "output_tokens": overall.output_tokens if overall else 0,
            "violations": sum(self.tally.violations.values()),
            "latency_ms": {},
        }
        if overall is not None:
            for name in ("ttft", "itl", "e2e"):
                metric = overall.metrics.get(name)
                if metric is not None and metric.count:
                    summary = metric.summary()
                    progress["latency_ms"][name] = {"p50": summary["p50"], "p95": summary["p95"]}
        _write_atomic(self.directory / PROGRESS_FILE, json.dumps(progress))

    def write_measurements(self, *, partial: bool, notes: list[str]) -> Path:
        """Write the merged tally and close the CSV; later calls do nothing (first writer wins)."""
        path = self.directory / MEASUREMENTS_FILE
        if self.written:
            return path
        self.written = True
        self._csv_file.close()
        data = {
            "tally": self.tally.to_wire(),
            "partial": partial,
            "notes": notes,
            "records": self.records,
            "processes": {"expected": self.expected, "finished": sorted(self.finished)},
            "started_at": self.started_wall,
            "ended_at": time.time(),
        }
        _write_atomic(path, json.dumps(data))
        return path


class RowJournal:
    """A worker's append-only CSV of its own records, one flushed line per completed request."""

    def __init__(self, directory: Path, process_index: int) -> None:
        self.path = directory / WORKER_JOURNALS.replace("*", str(process_index))
        self._file = self.path.open("a", newline="", encoding="utf-8")
        self._csv = csv.writer(self._file)
        if self._file.tell() == 0:
            self._csv.writerow(CSV_COLUMNS)
        self._file.flush()

    def write(self, row: list[Any]) -> None:
        self._csv.writerow(row)
        self._file.flush()


def _write_atomic(path: Path, text: str) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)
