"""Usage arithmetic of Gemini answers (rule table F, G1 and G2): presence, the total, cached within prompt.

They judge the usageMetadata of a unary answer and the last one a stream carries (Google's earlier frames
carry running counts).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from llmconform.checks.registry import Severity, Violation, exchange_rule
from llmconform.exchange import Exchange
from llmconform.families.gemini import (
    FAMILY,
    TOTAL_PARTS,
    gemini_view,
    is_generation_answer,
    is_unary_answer,
    usage_count,
)


def _answer_parsed(exchange: Exchange) -> bool:
    if not is_generation_answer(exchange):
        return False
    view = gemini_view(exchange)
    return isinstance(view.payload, dict) if view.kind == "unary" else bool(view.json_frames)


def _final_usage(exchange: Exchange) -> dict[str, Any] | None:
    usage = gemini_view(exchange).usage
    return usage if isinstance(usage, dict) else None


def _has_usage(exchange: Exchange) -> bool:
    return _answer_parsed(exchange) and _final_usage(exchange) is not None


@exchange_rule(
    "gemini_usage_present",
    family=FAMILY,
    severity=Severity.ERROR,
    applies=lambda ex: is_unary_answer(ex) and isinstance(gemini_view(ex).payload, dict),
)
def gemini_usage_present(exchange: Exchange) -> Iterator[Violation]:
    """A generateContent answer carries usageMetadata with promptTokenCount and totalTokenCount (and
    candidatesTokenCount when a candidate has output).

    Source: openapi/gemini.yaml GenerateContentResponse (usageMetadata required: AboAI bills from it,
    shared/reference/aboai-api.md section 3 example); python-genai types.py GenerateContentResponseUsageMetadata.
    """
    view = gemini_view(exchange)
    usage = view.usage
    if not isinstance(usage, dict):
        yield f"Expected: a 'usageMetadata' object. Received: {usage!r:.80}"
        return
    wanted = ["promptTokenCount", "totalTokenCount"]
    if any(c.has_output for c in view.candidates):
        wanted.append("candidatesTokenCount")
    missing = [key for key in wanted if key not in usage]
    if missing:
        yield f"Expected: usageMetadata.{', usageMetadata.'.join(missing)}. Received: keys {sorted(usage)}"


@exchange_rule("gemini_usage_total_is_sum", family=FAMILY, severity=Severity.ERROR, applies=_has_usage)
def gemini_usage_total_is_sum(exchange: Exchange) -> Iterator[Violation]:
    """totalTokenCount == promptTokenCount + candidatesTokenCount + thoughtsTokenCount + toolUsePromptTokenCount
    (a missing count is 0).

    Source: contract-rules.md F G1; python-genai types.py GenerateContentResponseUsageMetadata.total_token_count
    ("the sum of prompt_token_count, candidates_token_count, tool_use_prompt_token_count, and
    thoughts_token_count"); any-llm #1290, llm-gemini #75 (thoughts left out of totals). Judged on the unary
    usage and on the last usage a stream carries.
    """
    usage = _final_usage(exchange)
    assert usage is not None
    parts = {key: usage_count(usage, key) for key in TOTAL_PARTS}
    total = usage_count(usage, "totalTokenCount")
    if total is None or "totalTokenCount" not in usage or any(v is None for v in parts.values()):
        return  # missing or mistyped counts are gemini_usage_present / gemini_response_matches_schema
    expected = sum(v for v in parts.values() if v is not None)
    if total != expected:
        shown = " + ".join(f"{key} {value}" for key, value in parts.items() if value)
        yield f"Expected: totalTokenCount == {shown or '0'} == {expected}. Received: totalTokenCount == {total}"


@exchange_rule(
    "gemini_usage_cached_within_prompt",
    family=FAMILY,
    severity=Severity.ERROR,
    applies=lambda ex: _has_usage(ex) and "cachedContentTokenCount" in (_final_usage(ex) or {}),
)
def gemini_usage_cached_within_prompt(exchange: Exchange) -> Iterator[Violation]:
    """cachedContentTokenCount <= promptTokenCount (the prompt count includes the cached tokens).

    Source: contract-rules.md F G2; python-genai types.py GenerateContentResponseUsageMetadata.prompt_token_count
    ("When cached_content is set, this also includes the number of tokens in the cached content").
    """
    usage = _final_usage(exchange) or {}
    cached, prompt = usage_count(usage, "cachedContentTokenCount"), usage_count(usage, "promptTokenCount")
    if cached is not None and prompt is not None and cached > prompt:
        yield f"Expected: cachedContentTokenCount <= promptTokenCount ({prompt}). Received: {cached}"
