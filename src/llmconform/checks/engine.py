"""Runs the exchange rules on one Exchange and records the outcome: the same code in check and load."""

from __future__ import annotations

from collections.abc import Iterable

from llmconform.checks.findings import Results
from llmconform.checks.registry import REGISTRY, Rule, Warn
from llmconform.exchange import Exchange


def exchange_rules(families: Iterable[str] | None = None) -> list[Rule]:
    """The exchange rules, optionally only those of some families."""
    wanted = set(families) if families is not None else None
    return [r for r in REGISTRY.of_kind("exchange") if wanted is None or r.family in wanted]


def check_exchange(exchange: Exchange, results: Results, rules: Iterable[Rule] | None = None) -> None:
    """Judge ``exchange`` with every exchange rule that applies to it."""
    for rule in rules if rules is not None else exchange_rules():
        assert rule.applies is not None and rule.function is not None
        try:
            applies = rule.applies(exchange)
        except Exception as exc:  # a check must never take the harness down; say what broke
            results.judge(rule, [Warn(f"harness could not decide whether the rule applies: {exc!r}")], exchange)
            continue
        if not applies:
            continue
        try:
            violations = list(rule.function(exchange))
        except Exception as exc:
            violations = [Warn(f"harness error while checking: {type(exc).__name__}: {exc}")]
        results.judge(rule, violations, exchange)
