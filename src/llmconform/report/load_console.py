"""The console side of ``llmconform load``: a live view while it runs and a summary when it is done."""

from __future__ import annotations

import time
from pathlib import Path
from types import TracebackType
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

__all__ = ["LoadLive", "render_load_summary"]

_PLAIN_INTERVAL_S = 5.0


def _ms(value: Any) -> str:
    return f"{value:,.1f}" if isinstance(value, int | float) else "-"


class LoadLive:
    """Shows the master's progress file: a live table on a terminal, a line every 5 s in a CI log."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._live: Live | None = None
        self._last_plain = 0.0

    def __enter__(self) -> LoadLive:
        if self.console.is_terminal:
            self._live = Live(self._table({}), console=self.console, refresh_per_second=4, transient=True)
            self._live.__enter__()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._live is not None:
            self._live.__exit__(kind, value, trace)

    def update(self, progress: dict[str, Any]) -> None:
        if self._live is not None:
            self._live.update(self._table(progress))
            return
        now = time.monotonic()
        if now - self._last_plain >= _PLAIN_INTERVAL_S:
            self._last_plain = now
            latency = progress.get("latency_ms", {})
            self.console.print(
                f"{progress.get('elapsed_s', 0):6.1f}s  requests {progress.get('total', 0)} "
                f"(failed {progress.get('failed', 0)})  {progress.get('requests_per_s', 0):.1f}/s  "
                f"TTFT p50 {_ms(latency.get('ttft', {}).get('p50'))} ms  "
                f"E2E p95 {_ms(latency.get('e2e', {}).get('p95'))} ms  "
                f"violations {progress.get('violations', 0)}"
            )

    @staticmethod
    def _table(progress: dict[str, Any]) -> Table:
        planned = progress.get("planned_s") or 0
        elapsed = progress.get("elapsed_s", 0.0)
        title = f"llmconform load  {elapsed:.1f} s" + (f" / {planned:g} s" if planned else "")
        table = Table(title=title, show_header=False, title_justify="left")
        table.add_column("what", style="bold")
        table.add_column("value", justify="right")
        table.add_row("users", str(progress.get("users", "-")))
        table.add_row("requests (ok / failed)", f"{progress.get('ok', 0)} / {progress.get('failed', 0)}")
        table.add_row("warm-up (not measured)", str(progress.get("warmup", 0)))
        table.add_row("requests/s (last seconds)", f"{progress.get('requests_per_s', 0):.1f}")
        table.add_row("output tokens", str(progress.get("output_tokens", 0)))
        latency = progress.get("latency_ms", {})
        for name in ("ttft", "itl", "e2e"):
            values = latency.get(name, {})
            table.add_row(f"{name.upper()} p50 / p95 ms", f"{_ms(values.get('p50'))} / {_ms(values.get('p95'))}")
        table.add_row("contract violations", str(progress.get("violations", 0)))
        return table


def render_load_summary(document: dict[str, Any], console: Console, paths: list[Path]) -> None:
    """Print the run's headline numbers, errors and violations, and where the files are."""
    requests = document["requests"]
    throughput = document["throughput"]
    table = Table(title=f"{document['scenario']} · {document['load_model']} · {document['duration_s']:.1f} s")
    table.add_column("metric")
    for column in ("p50", "p90", "p95", "p99", "p999", "mean", "max", "count"):
        table.add_column(column, justify="right")
    rows = [(name, document["latency_ms"].get(name, {})) for name in ("ttft", "itl", "itl_per_token", "tpot", "e2e")]
    rows.append(("scheduling lag", document.get("scheduling_lag_ms", {})))
    for name, values in rows:
        if not values:
            continue
        cells = [_ms(values.get(c)) for c in ("p50", "p90", "p95", "p99", "p999", "mean", "max")]
        table.add_row(f"{name} ms", *cells, str(values.get("count", "")))
    console.print(table)
    operations = document.get("by_operation", {})
    if len(operations) > 1:
        console.print(_operations_table(operations))
    console.print(
        f"requests {requests['total']} (ok {requests['ok']}, failed {requests['failed']}, good {requests['good']}, "
        f"warm-up excluded {requests['warmup_excluded']})  ·  {throughput['requests_per_s']:.2f} req/s  ·  "
        f"{throughput['output_tokens_per_s']:.1f} output tokens/s  ·  goodput "
        f"{throughput['goodput_requests_per_s']:.2f} req/s"
    )
    tokens = document["tokens"]["discrepancy"]
    if tokens["compared"]:
        console.print(
            f"output tokens: server {document['tokens']['output']}, client ({tokens['tokenizer']}) "
            f"{document['tokens']['output_client']}; {tokens['disagree']} of {tokens['compared']} requests differ "
            "by more than 10%"
        )
    if document["errors"]:
        console.print("errors: " + ", ".join(f"{k} {v}" for k, v in document["errors"].items()), style="red")
    retries = document.get("retries") or {}
    if retries.get("total"):
        by_status = ", ".join(f"after {status} {count}" for status, count in retries["by_status"].items())
        console.print(
            f"retries (Retry-After respected): {retries['total']} ({by_status}), {retries['wait_s']:g} s waited"
        )
    if document["violations"]:
        console.print(
            "contract violations: " + ", ".join(f"{k} {v}" for k, v in document["violations"].items()), style="red"
        )
    for name, slo in document.get("slos", {}).items():
        if "met" in slo:
            console.print(
                f"SLO {name} <= {slo['limit_ms']:g} ms: {'met' if slo['met'] else 'MISSED'} ({_ms(slo['value_ms'])})"
            )
    sweep = document.get("sweep")
    if sweep:
        best = sweep.get("max_rate")
        console.print(
            f"sweep: {len(sweep['points'])} points; highest rate meeting every SLO: "
            + (f"{best:g} requests/s" if best is not None else "none"),
            style=None if best is not None else "red",
        )
    calibration = document.get("calibration")
    if calibration:
        console.print(f"calibration: {calibration['statement']}")
    for note in document.get("notes", []):
        console.print(f"note: {note}", style="yellow")
    style = {"passed": "green", "failed": "red"}.get(document["verdict"], "yellow")
    console.print(f"verdict: {document['verdict']} (exit {document['exit_code']})", style=f"bold {style}")
    for path in paths:
        console.print(f"  {path}")


def _operations_table(operations: dict[str, Any]) -> Table:
    """One row per operation of a mixed run: each format's own TTFT, ITL and E2E."""
    table = Table(title="by operation")
    table.add_column("operation")
    for column in ("requests", "failed", "TTFT p50", "TTFT p95", "ITL p50", "E2E p50", "E2E p95", "tokens/s"):
        table.add_column(column, justify="right")
    for name, section in operations.items():
        latency = section["latency_ms"]
        table.add_row(
            name,
            str(section["requests"]["total"]),
            str(section["requests"]["failed"]),
            _ms(latency.get("ttft", {}).get("p50")),
            _ms(latency.get("ttft", {}).get("p95")),
            _ms(latency.get("itl", {}).get("p50")),
            _ms(latency.get("e2e", {}).get("p50")),
            _ms(latency.get("e2e", {}).get("p95")),
            f"{section['throughput']['output_tokens_per_s']:.1f}",
        )
    return table
