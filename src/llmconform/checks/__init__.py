"""Named rules, one function each, with the rule id and its source in the docstring.

Importing this package registers every rule in :data:`REGISTRY`.
"""

from llmconform.checks import (
    chat_answer,
    chat_relations,
    chat_stream,
    chat_usage,
    consistency,
    embeddings,
    errors,
    gemini,
    messages,
    responses,
    schema,
    schemathesis_rules,
    transport,
)
from llmconform.checks.engine import check_exchange, exchange_rules
from llmconform.checks.findings import Finding, Results, RuleCount
from llmconform.checks.registry import REGISTRY, Rule, Severity, Warn

__all__ = [
    "REGISTRY",
    "Finding",
    "Results",
    "Rule",
    "RuleCount",
    "Severity",
    "Warn",
    "chat_answer",
    "chat_relations",
    "chat_stream",
    "chat_usage",
    "check_exchange",
    "consistency",
    "embeddings",
    "errors",
    "exchange_rules",
    "gemini",
    "messages",
    "responses",
    "schema",
    "schemathesis_rules",
    "transport",
]
