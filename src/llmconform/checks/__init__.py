"""Named rules, one function each, with the rule id and its source in the docstring.

Importing this package registers every rule in :data:`REGISTRY`. No rule raises on what a server sends: a
broken answer is a violation (tests/unit/test_fuzz_parsers.py runs every rule on fuzzed answers).
"""

from llmconform.checks import (
    audio,
    chat_answer,
    chat_relations,
    chat_stream,
    chat_usage,
    consistency,
    embeddings,
    errors,
    gemini,
    images,
    messages,
    responses,
    schema,
    schemathesis_rules,
    transport,
    video,
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
    "audio",
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
    "images",
    "messages",
    "responses",
    "schema",
    "schemathesis_rules",
    "transport",
    "video",
]
