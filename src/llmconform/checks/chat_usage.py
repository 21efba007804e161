"""Usage arithmetic rules for chat answers (rule table F, O1 and O2).

They judge the ``usage`` object of a unary answer and every non-null ``usage`` of a stream.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, cast

from llmconform.checks.registry import Severity, Violation, exchange_rule
from llmconform.exchange import Exchange
from llmconform.families.chat import chat_view, is_chat_answer, is_unary_answer
from llmconform.json_numbers import as_int

_DETAIL_PARENTS = {"prompt_tokens_details": "prompt_tokens", "completion_tokens_details": "completion_tokens"}


def _usages(exchange: Exchange) -> list[tuple[str, dict[str, Any]]]:
    """Every usage object of the answer (cached on the exchange: five rules and their guards ask)."""
    cached = exchange.cache.get("usages")
    if cached is not None:
        return cast(list[tuple[str, dict[str, Any]]], cached)
    view = chat_view(exchange)
    found: list[tuple[str, dict[str, Any]]] = []
    if not view.stream:
        if isinstance(view.usage, dict):
            found.append(("usage", view.usage))
    else:
        for chunk in view.json_chunks:
            usage = chunk.payload.get("usage")
            if isinstance(usage, dict):
                found.append((f"usage of stream event #{chunk.position}", usage))
    exchange.cache["usages"] = found
    return found


def _has_usage(exchange: Exchange) -> bool:
    return is_chat_answer(exchange) and bool(_usages(exchange))


def _is_count(value: Any) -> bool:
    return as_int(value) is not None


@exchange_rule("usage_present", family="chat", severity=Severity.ERROR, applies=is_unary_answer)
def usage_present(exchange: Exchange) -> Iterator[Violation]:
    """A unary chat answer carries a usage object with prompt, completion and total token counts.

    Source: openapi/chat.yaml CreateChatCompletionResponse (usage required: AboAI bills from it,
    shared/reference/aboai-api.md section 2); OpenAI openapi.yaml CompletionUsage required fields.
    """
    view = chat_view(exchange)
    if not isinstance(view.payload, dict):
        return
    if not isinstance(view.usage, dict):
        yield f"Expected: a 'usage' object. Received: {'no usage key' if not view.has_usage_key else view.usage!r}"
        return
    missing = [k for k in ("prompt_tokens", "completion_tokens", "total_tokens") if k not in view.usage]
    if missing:
        yield f"Expected: usage.{', usage.'.join(missing)}. Received: usage keys {sorted(view.usage)}"


@exchange_rule("usage_total_is_sum", family="chat", severity=Severity.ERROR, applies=_has_usage)
def usage_total_is_sum(exchange: Exchange) -> Iterator[Violation]:
    """usage.total_tokens equals prompt_tokens + completion_tokens.

    Source: contract-rules.md F O1; OpenAI openapi.yaml CompletionUsage.total_tokens
    ("Total number of tokens used in the request (prompt + completion)").
    """
    for where, usage in _usages(exchange):
        prompt, completion, total = (usage.get(k) for k in ("prompt_tokens", "completion_tokens", "total_tokens"))
        if not (_is_count(prompt) and _is_count(completion) and _is_count(total)):
            continue  # missing or mistyped counts are usage_present / usage_counts_non_negative
        assert isinstance(prompt, int | float) and isinstance(completion, int | float)
        if total != prompt + completion:
            yield (
                f"{where}: Expected: total_tokens == prompt_tokens + completion_tokens == {prompt} + {completion}"
                f" == {prompt + completion}. Received: total_tokens == {total}"
            )


@exchange_rule("usage_counts_non_negative", family="chat", severity=Severity.ERROR, applies=_has_usage)
def usage_counts_non_negative(exchange: Exchange) -> Iterator[Violation]:
    """Every token count in usage, details included, is an integer >= 0.

    Source: contract-rules.md F O2; OpenAI openapi.yaml CompletionUsage (integer counts).
    """
    for where, usage in _usages(exchange):
        for key in ("prompt_tokens", "completion_tokens", "total_tokens"):
            if key in usage and not (_is_count(usage[key]) and usage[key] >= 0):
                yield f"{where}: Expected: {key} an integer >= 0. Received: {usage[key]!r}"
        for details_key in _DETAIL_PARENTS:
            details = usage.get(details_key)
            if not isinstance(details, dict):
                continue
            for key, value in details.items():
                if value is not None and not (_is_count(value) and value >= 0):
                    yield f"{where}: Expected: {details_key}.{key} an integer >= 0. Received: {value!r}"


@exchange_rule("usage_details_within_parent", family="chat", severity=Severity.ERROR, applies=_has_usage)
def usage_details_within_parent(exchange: Exchange) -> Iterator[Violation]:
    """Each usage detail count is at most its parent (cached_tokens <= prompt_tokens, reasoning_tokens <= ...).

    Source: contract-rules.md F O2; OpenAI openapi.yaml CompletionUsage.prompt_tokens_details and
    completion_tokens_details (breakdowns "of the tokens used in the prompt / in a completion").
    """
    for where, usage in _usages(exchange):
        for details_key, parent_key in _DETAIL_PARENTS.items():
            details, parent = usage.get(details_key), usage.get(parent_key)
            if not isinstance(details, dict) or not _is_count(parent):
                continue
            for key, value in details.items():
                if _is_count(value) and value > parent:
                    yield (f"{where}: Expected: {details_key}.{key} <= {parent_key} ({parent}). Received: {value}")


@exchange_rule("usage_counts_nonzero", family="chat", severity=Severity.ERROR, applies=_has_usage)
def usage_counts_nonzero(exchange: Exchange) -> Iterator[Violation]:
    """A non-empty prompt has prompt_tokens > 0, and an answer with output has completion_tokens > 0.

    Source: contract-rules.md D.2 (gateways that lose usage report zeros) and X3 (metered usage equals
    returned usage); OpenAI openapi.yaml CompletionUsage descriptions.
    """
    view = chat_view(exchange)
    produced = any((c.text or "") or c.tool_calls for c in view.choices)
    usages = _usages(exchange)
    final_where, final = usages[-1]
    if final.get("prompt_tokens") == 0 and exchange.request_body.get("messages"):
        yield f"{final_where}: Expected: prompt_tokens > 0 for a non-empty prompt. Received: 0"
    if produced and final.get("completion_tokens") == 0:
        yield f"{final_where}: Expected: completion_tokens > 0 for an answer with output. Received: 0"
