"""Deterministic generation: prefixes under truncation and stop, n choices, tools, JSON answers."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from jsonschema import Draft202012Validator

from llmconform.mock.content import CONTEXT_TOKENS, Completion, generate
from llmconform.mock.request import ChatRequest
from llmconform.mock.tokenizer import count_tokens

NO_FAULTS: frozenset[str] = frozenset()


def _request(text: str = "Tell me something.", **extra: Any) -> ChatRequest:
    body = {"model": "llmconform-mock-small", "messages": [{"role": "user", "content": text}], **extra}
    return ChatRequest.from_body(body)


def _answer(text: str = "Tell me something.", **extra: Any) -> Completion:
    return generate(_request(text, **extra), NO_FAULTS)


PROMPTS = [f"Prompt number {i}, with words." for i in range(12)]


def test_same_request_same_answer_and_different_requests_differ() -> None:
    assert _answer() == _answer()
    contents = {_answer(p).choices[0].content for p in PROMPTS}
    assert len(contents) > len(PROMPTS) // 2


@pytest.mark.parametrize("prompt", PROMPTS)
def test_natural_answer_is_counted_exactly(prompt: str) -> None:
    completion = _answer(prompt)
    (choice,) = completion.choices
    assert choice.finish_reason == "stop"
    assert choice.content == "".join(choice.pieces)
    assert 8 <= choice.completion_tokens <= 48
    assert count_tokens(choice.content) == choice.completion_tokens == completion.completion_tokens
    assert completion.prompt_tokens == _request(prompt).prompt_tokens > 0


@pytest.mark.parametrize("prompt", PROMPTS[:4])
@pytest.mark.parametrize("field", ["max_tokens", "max_completion_tokens"])
def test_truncation_is_a_prefix_with_finish_length(prompt: str, field: str) -> None:
    full = _answer(prompt).choices[0]
    for k in range(1, len(full.pieces) + 2):
        choice = _answer(prompt, **{field: k}).choices[0]
        assert choice.content is not None and full.content is not None
        assert full.content.startswith(choice.content)
        if k < len(full.pieces):
            assert choice.pieces == full.pieces[:k]
            assert (choice.finish_reason, choice.completion_tokens) == ("length", k)
        else:
            assert choice == full


def test_max_completion_tokens_wins_over_max_tokens() -> None:
    choice = _answer(max_tokens=2, max_completion_tokens=5).choices[0]
    assert choice.completion_tokens == 5


@pytest.mark.parametrize("prompt", PROMPTS[:6])
def test_stop_cut_is_a_prefix_without_the_stop(prompt: str) -> None:
    full = _answer(prompt).choices[0]
    assert full.content is not None
    text = full.content
    for start in range(1, len(text) - 3, 7):
        stop = text[start : start + 3]
        choice = _answer(prompt, stop=[stop, "zzzz-never"]).choices[0]
        assert choice.content is not None
        assert stop not in choice.content
        assert text.startswith(choice.content)
        assert choice.content == text[: text.find(stop)]
        assert choice.finish_reason == "stop"
        assert choice.completion_tokens == len(choice.pieces)
        assert choice.completion_tokens <= full.completion_tokens


def test_truncation_before_the_stop_stays_length() -> None:
    full = _answer().choices[0]
    assert full.content is not None
    last_word = full.pieces[-2]
    choice = _answer(stop=last_word, max_tokens=2).choices[0]
    assert choice.finish_reason == "length"
    assert choice.completion_tokens == 2


def test_n_choices_are_independent_and_counted() -> None:
    completion = _answer(n=3)
    assert [c.index for c in completion.choices] == [0, 1, 2]
    assert completion.choices[0] == _answer().choices[0]
    assert len({c.content for c in completion.choices}) > 1
    assert completion.completion_tokens == sum(c.completion_tokens for c in completion.choices)


def test_logprobs_one_entry_per_piece_and_ranked() -> None:
    choice = _answer(logprobs=True, top_logprobs=3).choices[0]
    assert choice.logprobs is not None
    assert [e.token for e in choice.logprobs] == list(choice.pieces)
    for entry in choice.logprobs:
        values = [v for _, v in entry.top]
        assert len(entry.top) == 3 and entry.top[0] == (entry.token, entry.logprob)
        assert all(v <= 0 for v in values) and values == sorted(values, reverse=True)
        assert len({t for t, _ in entry.top}) == 3
    assert _answer().choices[0].logprobs is None
    truncated = _answer(logprobs=True, top_logprobs=3, max_tokens=4).choices[0]
    assert truncated.logprobs == choice.logprobs[:4]


TOOL_SCHEMAS: list[dict[str, Any]] = [
    {
        "type": "object",
        "properties": {
            "city": {"type": "string", "minLength": 2, "maxLength": 12},
            "unit": {"enum": ["c", "f"]},
            "days": {"type": "integer", "minimum": 1, "maximum": 7},
            "ratio": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
            "flags": {"type": "array", "items": {"type": "boolean"}, "minItems": 1, "maxItems": 3},
            "kind": {"const": "weather"},
            "where": {
                "type": "object",
                "properties": {
                    "lat": {"type": "number"},
                    "tags": {"type": "array", "items": {"type": "string"}},
                },
                "required": ["lat"],
                "additionalProperties": False,
            },
        },
        "required": ["city", "unit", "days", "ratio", "flags", "kind", "where"],
        "additionalProperties": False,
    },
    {
        "type": "object",
        "$defs": {"item": {"type": "object", "properties": {"sku": {"type": "string"}}, "required": ["sku"]}},
        "properties": {
            "items": {"type": "array", "items": {"$ref": "#/$defs/item"}, "minItems": 2},
            "note": {"type": ["string", "null"]},
            "choice": {"anyOf": [{"type": "integer", "minimum": 10}, {"type": "string"}]},
            "both": {"allOf": [{"properties": {"a": {"type": "integer"}}, "required": ["a"]}]},
        },
        "required": ["items", "note", "choice", "both"],
    },
    {},
]


@pytest.mark.parametrize("schema", TOOL_SCHEMAS, ids=["flat", "refs", "empty"])
@pytest.mark.parametrize("prompt", PROMPTS[:5])
def test_tool_call_arguments_are_json_strings_that_validate(schema: dict[str, Any], prompt: str) -> None:
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": schema}}]
    completion = _answer(prompt, tools=tools)
    (choice,) = completion.choices
    assert choice.finish_reason == "tool_calls" and choice.content is None
    (call,) = choice.tool_calls
    assert call.name == "lookup" and call.id.startswith("call_") and len(call.id) == 29
    assert isinstance(call.arguments, str)
    Draft202012Validator(schema).validate(orjson.loads(call.arguments))
    assert choice.completion_tokens == count_tokens(call.arguments)


def test_tool_choice_rules() -> None:
    tools = [
        {"type": "function", "function": {"name": "first"}},
        {"type": "function", "function": {"name": "second"}},
    ]
    named = {"type": "function", "function": {"name": "second"}}
    assert _answer(tools=tools).choices[0].tool_calls[0].name == "first"
    assert _answer(tools=tools, tool_choice="required").choices[0].tool_calls[0].name == "first"
    assert _answer(tools=tools, tool_choice=named).choices[0].tool_calls[0].name == "second"
    assert _answer(tools=tools, tool_choice="none").choices[0].tool_calls == ()
    after_tool = ChatRequest.from_body(
        {
            "model": "m",
            "tools": tools,
            "messages": [
                {"role": "user", "content": "hi"},
                {"role": "tool", "tool_call_id": "c", "content": "42"},
            ],
        }
    )
    assert generate(after_tool, NO_FAULTS).choices[0].tool_calls == ()
    truncated = _answer(tools=tools, max_tokens=1).choices[0]  # arguments "{}" are 2 tokens
    assert truncated.finish_reason == "length" and truncated.completion_tokens == 1
    assert truncated.tool_calls[0].arguments == "{"


@pytest.mark.parametrize("prompt", PROMPTS[:5])
def test_json_answers_parse_and_validate(prompt: str) -> None:
    answer = _answer(prompt, response_format={"type": "json_object"}).choices[0]
    assert answer.content is not None
    assert isinstance(orjson.loads(answer.content)["answer"], str)
    schema = TOOL_SCHEMAS[0]
    fmt = {"type": "json_schema", "json_schema": {"name": "w", "schema": schema}}
    structured = _answer(prompt, response_format=fmt).choices[0]
    assert structured.content is not None and structured.finish_reason == "stop"
    Draft202012Validator(schema).validate(orjson.loads(structured.content))
    assert structured.completion_tokens == count_tokens(structured.content)


def test_faults_change_the_answer() -> None:
    request = _request(max_tokens=3)
    faulty = generate(request, frozenset({"completion_within_max_tokens"})).choices[0]
    assert faulty.completion_tokens == 4 and faulty.finish_reason == "length"
    streamed = generate(_request(), frozenset({"stream_matches_unary"}), streaming=True).choices[0]
    assert streamed.completion_tokens == _answer().choices[0].completion_tokens + 1


def test_ignore_eos_never_generates_past_the_model_context() -> None:
    # 2,000,000 tokens asked: the answer stops at the mock model's context, not after gigabytes.
    completion = generate(_request(max_tokens=2_000_000, ignore_eos=True), frozenset())
    assert CONTEXT_TOKENS < completion.completion_tokens <= CONTEXT_TOKENS + 64  # sentences end whole
