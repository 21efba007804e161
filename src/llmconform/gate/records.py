"""The per-request rows of requests.csv that the gate judges: measured rows only, as numpy columns.

``llmconform.report.load_html.read_records`` reads the same file for the plots but keeps only the send
time, the outcome, TTFT and E2E; the gate also needs the operation, TPOT, the mean chunk gap, output
tokens and the good/violations flags, so it reads the file the same way (warm-up and damaged rows
skipped) into these columns.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from llmconform.load.measure import TIMED_CLASSES

__all__ = ["RECORDS_FILE", "Records", "read_gate_records"]

RECORDS_FILE = "requests.csv"
Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]

# requests.csv column -> Records field, for the latency columns (NaN where the cell is empty).
LATENCY_COLUMNS = {"ttft": "ttft_ms", "e2e": "e2e_ms", "tpot": "tpot_ms", "itl": "itl_mean_ms"}


def _number(cell: str | None) -> float:
    try:
        value = float(cell or "nan")
    except ValueError:
        return math.nan
    return value if math.isfinite(value) else math.nan


@dataclass(frozen=True)
class Records:
    """Measured requests, one array element per request."""

    operation: tuple[str, ...]
    intended_at: Floats
    ok: Bools
    timed: Bools
    good: Bools
    violated: Bools
    output_tokens: Floats
    latency: dict[str, Floats]

    def __len__(self) -> int:
        return len(self.operation)

    @property
    def done_at(self) -> Floats:
        """Epoch seconds each request completed (send time plus E2E; E2E 0 where unknown)."""
        e2e = self.latency["e2e"]
        return self.intended_at + np.where(np.isnan(e2e), 0.0, e2e) / 1000

    def only(self, operation: str | None) -> Records:
        """The rows of one operation (all rows for None)."""
        if operation is None:
            return self
        keep = np.array([op == operation for op in self.operation], dtype=np.bool_)
        return self.select(keep)

    def select(self, keep: Bools) -> Records:
        return Records(
            tuple(op for op, k in zip(self.operation, keep, strict=True) if k),
            self.intended_at[keep],
            self.ok[keep],
            self.timed[keep],
            self.good[keep],
            self.violated[keep],
            self.output_tokens[keep],
            {name: values[keep] for name, values in self.latency.items()},
        )

    def latency_samples(self, metric: str) -> Floats:
        """One metric's values over the timed requests that have it (the population load.json reports)."""
        values = self.latency[metric]
        return values[self.timed & ~np.isnan(values)]


def read_gate_records(path: Path) -> Records | None:
    """The measured rows of requests.csv; None when the file is missing or unreadable."""
    rows: list[dict[str, str | None]] = []
    try:
        with path.open(newline="", encoding="utf-8", errors="replace") as handle:
            for row in csv.DictReader(handle):
                if row.get("warmup") != "0" or None in row.values() or math.isnan(_number(row.get("intended_at"))):
                    continue
                rows.append(row)
    except (OSError, csv.Error):
        return None
    error_classes = [row.get("error_class") or None for row in rows]
    server = np.array([_number(row.get("output_tokens")) for row in rows], dtype=np.float64)
    client = np.array([_number(row.get("output_tokens_client")) for row in rows], dtype=np.float64)
    return Records(
        operation=tuple(row.get("operation") or "" for row in rows),
        intended_at=np.array([_number(row.get("intended_at")) for row in rows], dtype=np.float64),
        ok=np.array([c is None for c in error_classes], dtype=np.bool_),
        timed=np.array([c in TIMED_CLASSES for c in error_classes], dtype=np.bool_),
        good=np.array([row.get("good") == "1" for row in rows], dtype=np.bool_),
        violated=np.array([bool(row.get("violations")) for row in rows], dtype=np.bool_),
        output_tokens=np.where(np.isnan(server), client, server),
        latency={
            name: np.array([_number(row.get(column)) for row in rows], dtype=np.float64)
            for name, column in LATENCY_COLUMNS.items()
        },
    )
