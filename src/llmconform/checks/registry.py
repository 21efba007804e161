"""The rule registry: every rule the harness checks, with its id, family, severity and source.

A rule is one function. Its docstring's first line states the rule; a line starting with
``Source:`` cites where the rule comes from (upstream spec, docs, the rule table in
shared/reference/contract-rules.md section F). Registration fails at import time when either is
missing, so no rule can enter the registry without a source.

Three kinds of rule exist:

* ``exchange`` rules judge one Exchange. They run on every response, in ``check`` and under load.
* ``relation`` rules judge several Exchanges that a conformance probe made on purpose
  (the same request at two limits, stream against unary, a request without a key).
* ``schemathesis`` rules are schemathesis' own built-in checks, registered here so the report and
  severity overrides treat them like ours.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal, TypeVar

from llmconform.exchange import Exchange


class Severity(StrEnum):
    """How much a broken rule matters: errors fail the run (exit 1); warnings are reported only."""

    ERROR = "error"
    WARNING = "warning"


RuleKind = Literal["exchange", "relation", "schemathesis"]


@dataclass(frozen=True, slots=True)
class Warn:
    """A violation message reported at warning level even when its rule's severity is error."""

    message: str


Violation = str | Warn
ExchangeCheck = Callable[[Exchange], Iterable[Violation]]
F = TypeVar("F", bound=Callable[..., Iterable[Violation]])


@dataclass(frozen=True, slots=True)
class Rule:
    """A registered rule."""

    id: str
    family: str
    severity: Severity
    kind: RuleKind
    title: str
    source: str
    function: Callable[..., Iterable[Violation]] | None = None
    applies: Callable[[Exchange], bool] | None = None


@dataclass(slots=True)
class Registry:
    """Rules by id, in registration order."""

    rules: dict[str, Rule] = field(default_factory=dict)

    def add(self, rule: Rule) -> None:
        if rule.id in self.rules:
            raise ValueError(f"rule id {rule.id!r} is registered twice")
        self.rules[rule.id] = rule

    def get(self, rule_id: str) -> Rule:
        try:
            return self.rules[rule_id]
        except KeyError:
            raise KeyError(f"unknown rule id {rule_id!r}; known ids: {', '.join(sorted(self.rules))}") from None

    def of_kind(self, kind: RuleKind) -> list[Rule]:
        return [r for r in self.rules.values() if r.kind == kind]

    def __iter__(self) -> Iterator[Rule]:
        return iter(self.rules.values())


REGISTRY = Registry()


def _doc_parts(function: Callable[..., Any]) -> tuple[str, str]:
    """The rule (the docstring's first paragraph) and its source (the paragraph starting 'Source:')."""
    doc = inspect.getdoc(function) or ""
    paragraphs = [" ".join(p.split()) for p in doc.split("\n\n") if p.strip()]
    title = paragraphs[0] if paragraphs else ""
    sources = [p.removeprefix("Source:").strip() for p in paragraphs if p.startswith("Source:")]
    if not title or not sources or not sources[0]:
        raise TypeError(
            f"rule function {function.__qualname__} needs a docstring whose first line states the rule "
            "and a 'Source:' line citing where it comes from"
        )
    return title, sources[0]


def exchange_rule(
    rule_id: str, *, family: str, severity: Severity, applies: Callable[[Exchange], bool]
) -> Callable[[F], F]:
    """Register a rule that judges one Exchange; ``applies`` says which Exchanges it speaks about."""

    def register(function: F) -> F:
        title, source = _doc_parts(function)
        REGISTRY.add(Rule(rule_id, family, severity, "exchange", title, source, function, applies))
        return function

    return register


def relation_rule(rule_id: str, *, family: str, severity: Severity) -> Callable[[F], F]:
    """Register a rule that judges several Exchanges made on purpose by a conformance probe."""

    def register(function: F) -> F:
        title, source = _doc_parts(function)
        REGISTRY.add(Rule(rule_id, family, severity, "relation", title, source, function))
        return function

    return register


def schemathesis_rule(rule_id: str, *, family: str, severity: Severity, title: str, source: str) -> None:
    """Register one of schemathesis' built-in checks under a harness rule id."""
    REGISTRY.add(Rule(rule_id, family, severity, "schemathesis", title, source))
