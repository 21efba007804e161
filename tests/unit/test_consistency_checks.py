"""The cross-format rules (X1, X2) on hand-made answers: silent when formats agree, firing when one drifts."""

from __future__ import annotations

from llmconform.checks.consistency import cross_format_finish_consistent, cross_format_usage_consistent
from llmconform.families.answer import Answer


def answers(**overrides: Answer) -> dict[str, Answer]:
    agreed = {
        "chat": Answer(input_tokens=20, output_tokens=8, finish="length", raw_finish="length"),
        "messages": Answer(input_tokens=20, output_tokens=8, finish="length", raw_finish="max_tokens"),
        "gemini": Answer(input_tokens=20, output_tokens=8, finish="length", raw_finish="MAX_TOKENS"),
        "responses": Answer(input_tokens=20, output_tokens=8, finish="length", raw_finish="max_output_tokens"),
    }
    agreed.update(overrides)
    return agreed


def test_agreeing_formats_are_silent() -> None:
    assert list(cross_format_usage_consistent(answers(), 8)) == []
    assert list(cross_format_finish_consistent(answers())) == []


def test_input_tokens_that_differ_fire() -> None:
    drifted = answers(messages=Answer(input_tokens=17, output_tokens=8, finish="length"))
    (message,) = cross_format_usage_consistent(drifted, 8)
    assert "same input tokens" in str(message) and "messages 17" in str(message)


def test_a_missing_input_count_fires() -> None:
    missing = answers(gemini=Answer(input_tokens=None, output_tokens=8, finish="length"))
    assert any("none from gemini" in str(m) for m in cross_format_usage_consistent(missing, 8))


def test_output_tokens_over_the_limit_or_unequal_fire() -> None:
    over = answers(responses=Answer(input_tokens=20, output_tokens=9, finish="length"))
    messages = [str(m) for m in cross_format_usage_consistent(over, 8)]
    assert any("<= the limit 8" in m for m in messages)
    assert any("same output tokens" in m for m in messages)


def test_output_tokens_are_not_compared_without_a_cut() -> None:
    natural = answers(responses=Answer(input_tokens=20, output_tokens=30, finish="stop"))
    assert list(cross_format_usage_consistent(natural, None)) == []


def test_a_format_that_finishes_differently_fires_naming_its_raw_reason() -> None:
    drifted = answers(gemini=Answer(input_tokens=20, output_tokens=8, finish="stop", raw_finish="STOP"))
    (message,) = cross_format_finish_consistent(drifted)
    assert "gemini 'STOP' (maps to 'stop')" in str(message)
