"""Findings and tallies: what checking produced, before any report renders it."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from llmconform.checks.registry import REGISTRY, Rule, Severity, Violation, Warn
from llmconform.exchange import Exchange


@dataclass(slots=True)
class Finding:
    """One broken rule, with the exchange(s) that show it."""

    rule: str
    family: str
    severity: Severity
    message: str
    exchange: Exchange | None = None
    related: tuple[Exchange, ...] = ()


@dataclass(slots=True)
class RuleCount:
    """How often a rule was judged and how it came out."""

    passed: int = 0
    failed: int = 0
    warned: int = 0
    skipped: int = 0

    @property
    def judged(self) -> int:
        return self.passed + self.failed + self.warned


@dataclass(slots=True)
class Results:
    """All findings and per-rule counts of one run; thread-safe enough for the single-threaded runner."""

    findings: list[Finding] = field(default_factory=list)
    counts: dict[str, RuleCount] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    max_findings_per_rule: int = 20
    _per_rule_findings: dict[str, int] = field(default_factory=dict)
    # Called with every violation as it is recorded (also those beyond max_findings_per_rule).
    on_finding: Callable[[Finding], None] | None = None

    def count(self, rule_id: str) -> RuleCount:
        if rule_id not in self.counts:
            self.counts[rule_id] = RuleCount()
        return self.counts[rule_id]

    def judge(
        self,
        rule: Rule,
        violations: Iterable[Violation],
        exchange: Exchange | None,
        related: tuple[Exchange, ...] = (),
    ) -> bool:
        """Record the outcome of one rule on one subject; returns True when it held."""
        errors = warnings = 0
        for violation in violations:
            if isinstance(violation, Warn):
                severity, message = Severity.WARNING, violation.message
            else:
                severity, message = rule.severity, violation
            if severity is Severity.ERROR:
                errors += 1
            else:
                warnings += 1
            family = exchange.family if exchange is not None else rule.family
            self._add(Finding(rule.id, family, severity, message, exchange, related))
        tally = self.count(rule.id)
        if errors:
            tally.failed += 1
        elif warnings:
            tally.warned += 1
        else:
            tally.passed += 1
        return errors == 0 and warnings == 0

    def skip(self, rule_id: str, note: str | None = None) -> None:
        """Record that a rule could not be judged (and why)."""
        self.count(rule_id).skipped += 1
        if note and note not in self.notes:
            self.notes.append(note)

    def fail(self, rule_id: str, message: str, exchange: Exchange | None, severity: Severity | None = None) -> None:
        """Record a single violation of a rule (used by the schemathesis adapter)."""
        rule = REGISTRY.get(rule_id)
        self.judge(rule, [Warn(message)] if severity is Severity.WARNING else [message], exchange)

    def _add(self, finding: Finding) -> None:
        if self.on_finding is not None:
            self.on_finding(finding)
        seen = self._per_rule_findings.get(finding.rule, 0)
        self._per_rule_findings[finding.rule] = seen + 1
        if seen < self.max_findings_per_rule:
            self.findings.append(finding)

    def findings_total(self, rule_id: str) -> int:
        """Every violation of a rule, including those not kept as findings."""
        return self._per_rule_findings.get(rule_id, 0)

    @property
    def has_errors(self) -> bool:
        return any(c.failed for c in self.counts.values())
