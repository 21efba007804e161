"""The load summary on the console: headline table, and one row per operation of a mixed run."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from rich.console import Console

from llmconform.report.load_console import render_load_summary

REPORT = Path(__file__).parent / "data" / "load_report" / "load.json"


def rendered(document: dict[str, Any]) -> str:
    console = Console(record=True, width=160, force_terminal=False)
    render_load_summary(document, console, [Path("load.json")])
    return console.export_text()


def test_a_mixed_run_shows_each_operation_with_its_own_ttft() -> None:
    document = json.loads(REPORT.read_text())
    text = rendered(document)
    assert "by operation" in text
    stream_ttft = document["by_operation"]["chat-stream"]["latency_ms"]["ttft"]["p50"]
    row = next(line for line in text.splitlines() if line.strip().startswith("chat-stream") or "│ chat-stream" in line)
    assert f"{stream_ttft:,.1f}" in row
    unary = next(line for line in text.splitlines() if "chat-unary" in line)
    assert " - " in unary, "a unary operation has no TTFT"


def test_a_single_operation_run_has_no_operation_table() -> None:
    document = json.loads(REPORT.read_text())
    single = copy.deepcopy(document)
    single["by_operation"] = {"chat-stream": document["by_operation"]["chat-stream"]}
    assert "by operation" not in rendered(single)
    assert "verdict" in rendered(single)
