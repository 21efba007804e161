"""Cross-format consistency: one model reached through several wire formats answers one prompt with
usage and finish reasons that map onto each other (rule table F, X1 and X2).

A gateway that translates between formats is where usage and finish reasons get lost (contract-rules.md
D.2: new-api #2744, OmniRoute, crewAI #5699). The probe sends the same conversation at temperature 0
through each format the model is reachable by; each answer is read into the shared
:class:`~llmconform.families.answer.Answer` terms (OpenAI's) and the answers are compared here.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from llmconform.checks.registry import Severity, Violation, relation_rule
from llmconform.families.answer import Answer


def _show(values: Mapping[str, object]) -> str:
    return ", ".join(f"{family} {value!r}" for family, value in values.items())


@relation_rule("cross_format_usage_consistent", family="consistency", severity=Severity.ERROR)
def cross_format_usage_consistent(answers: Mapping[str, Answer], limit: int | None) -> Iterator[Violation]:
    """One prompt sent through several formats reports the same input tokens in each, once mapped onto OpenAI's
    terms; cut at the same output limit, the same output tokens, within that limit.

    Source: contract-rules.md F X1 (OpenAI prompt_tokens = Claude input_tokens + cache_read_input_tokens +
    cache_creation_input_tokens; OpenAI completion_tokens = Gemini candidatesTokenCount + thoughtsTokenCount;
    Responses input_tokens/output_tokens); new-api #2744, OmniRoute, crewAI #5699.
    """
    inputs = {family: answer.input_tokens for family, answer in answers.items()}
    missing = sorted(family for family, count in inputs.items() if count is None)
    if missing:
        yield f"Expected: an input token count in every format. Received: none from {', '.join(missing)}"
    counted = {family: count for family, count in inputs.items() if count is not None}
    if len(set(counted.values())) > 1:
        yield f"Expected: the same input tokens through every format. Received: {_show(counted)}"
    if limit is None:
        return
    outputs = {family: answer.output_tokens for family, answer in answers.items() if answer.output_tokens is not None}
    over = {family: count for family, count in outputs.items() if count > limit}
    if over:
        yield f"Expected: output tokens <= the limit {limit} in every format. Received: {_show(over)}"
    if len(set(outputs.values())) > 1:
        yield f"Expected: the same output tokens through every format at limit {limit}. Received: {_show(outputs)}"


@relation_rule("cross_format_finish_consistent", family="consistency", severity=Severity.ERROR)
def cross_format_finish_consistent(answers: Mapping[str, Answer]) -> Iterator[Violation]:
    """One prompt sent through several formats ends for the same reason in each, once mapped onto OpenAI's
    finish_reason: a cut at the output limit is "length" everywhere (Claude max_tokens, Gemini MAX_TOKENS,
    Responses incomplete/max_output_tokens), a natural end "stop" everywhere (end_turn, STOP, completed).

    Source: contract-rules.md F X2; OpenAI openapi.yaml finish_reason, Anthropic StopReason, python-genai
    FinishReason, OpenAI Response.incomplete_details.
    """
    mapped = {family: answer.finish for family, answer in answers.items()}
    if len(set(mapped.values())) > 1:
        shown = ", ".join(
            f"{family} {answers[family].raw_finish!r} (maps to {finish!r})" for family, finish in mapped.items()
        )
        yield f"Expected: every format to finish for the same reason. Received: {shown}"
