"""The outcome of one ``llmconform check`` run: what the reports render and what decides the exit code."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from llmconform.checks.findings import Results


class ExitCode(IntEnum):
    """Exit codes of every command (architecture.md, CLI contract)."""

    OK = 0
    BROKEN = 1
    USAGE = 2
    HARNESS = 3


@dataclass(slots=True)
class ConformanceRun:
    """Everything a conformance report shows. ``target`` is already redacted."""

    target: str
    embedded_mock: bool
    model: str
    families: list[str]
    started_at: str
    finished_at: str = ""
    duration_s: float = 0.0
    budget: int | None = None
    planned_requests: int = 0
    sent_requests: int = 0
    results: Results = field(default_factory=Results)
    exit_code: ExitCode = ExitCode.OK
    error: str | None = None
    command: list[str] = field(default_factory=list)
    environment: dict[str, Any] = field(default_factory=dict)
    # The run's configuration (secrets excluded), so two runs can be compared later.
    config: dict[str, Any] = field(default_factory=dict)
    partial: bool = False

    @property
    def verdict(self) -> str:
        """passed, failed (the target broke an error-severity rule) or error (the run could not finish)."""
        if self.exit_code == ExitCode.OK:
            return "passed"
        if self.exit_code == ExitCode.BROKEN:
            return "failed"
        return "error"
