"""The official ``openai`` client parses every kind of answer the mock gives."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam, ChatCompletionToolParam

from llmconform.mock import DEFAULT_API_KEY, DEFAULT_MODELS, MockConfig, MockServer

MODEL = DEFAULT_MODELS[0]
MESSAGES: list[ChatCompletionMessageParam] = [{"role": "user", "content": "What is the weather like?"}]
TOOLS: list[ChatCompletionToolParam] = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}, "unit": {"enum": ["c", "f"]}},
                "required": ["city", "unit"],
            },
        },
    }
]


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with MockServer(MockConfig()) as server:
        yield f"{server.base_url}/v1"


@pytest.fixture(scope="module")
def client(base_url: str) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=base_url, api_key=DEFAULT_API_KEY, max_retries=0, timeout=10) as sdk:
        yield sdk


def test_unary(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(model=MODEL, messages=MESSAGES, tool_choice="none", tools=TOOLS)
    assert completion.object == "chat.completion" and completion.model == MODEL
    choice = completion.choices[0]
    assert choice.finish_reason == "stop" and choice.message.content
    assert completion.usage is not None
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + completion.usage.completion_tokens


@pytest.mark.parametrize("include_usage", [False, True])
def test_stream(client: openai.OpenAI, include_usage: bool) -> None:
    unary = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "x"}])
    stream = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "x"}],
        stream=True,
        stream_options={"include_usage": include_usage},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == unary.choices[0].message.content
    if include_usage:
        assert chunks[-1].choices == [] and chunks[-1].usage == unary.usage
        assert all(c.usage is None for c in chunks[:-1])
    else:
        assert all(c.usage is None for c in chunks)


def test_n_choices_and_logprobs(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model=MODEL, messages=MESSAGES, n=2, logprobs=True, top_logprobs=3, max_tokens=6
    )
    assert [c.index for c in completion.choices] == [0, 1]
    for choice in completion.choices:
        assert choice.finish_reason == "length"
        assert choice.logprobs is not None and choice.logprobs.content is not None
        assert len(choice.logprobs.content) == 6
        assert all(len(t.top_logprobs) == 3 and t.logprob <= 0 for t in choice.logprobs.content)
    assert completion.usage is not None and completion.usage.completion_tokens == 12


def test_tool_call_unary(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(model=MODEL, messages=MESSAGES, tools=TOOLS)
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.tool_calls
    call = choice.message.tool_calls[0]
    assert call.type == "function" and call.function.name == "get_weather"
    assert set(json.loads(call.function.arguments)) >= {"city", "unit"}


def test_tool_call_streamed(client: openai.OpenAI) -> None:
    unary = client.chat.completions.create(model=MODEL, messages=MESSAGES, tools=TOOLS)
    calls: dict[int, dict[str, Any]] = {}
    finish = None
    for chunk in client.chat.completions.create(model=MODEL, messages=MESSAGES, tools=TOOLS, stream=True):
        choice = chunk.choices[0]
        finish = choice.finish_reason or finish
        for delta in choice.delta.tool_calls or []:
            call = calls.setdefault(delta.index, {"id": None, "name": "", "arguments": ""})
            call["id"] = delta.id or call["id"]
            if delta.function is not None:
                call["name"] += delta.function.name or ""
                call["arguments"] += delta.function.arguments or ""
    expected = unary.choices[0].message.tool_calls
    assert expected is not None and expected[0].type == "function"
    assert finish == "tool_calls"
    assert calls == {0: {"id": expected[0].id, "name": "get_weather", "arguments": expected[0].function.arguments}}


def test_json_object(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(model=MODEL, messages=MESSAGES, response_format={"type": "json_object"})
    content = completion.choices[0].message.content
    assert content is not None and isinstance(json.loads(content)["answer"], str)


def test_models_list(client: openai.OpenAI) -> None:
    models = client.models.list()
    assert [m.id for m in models.data] == list(DEFAULT_MODELS)
    assert all(m.owned_by == "llmconform" for m in models.data)


def test_errors_raise_the_right_exceptions(client: openai.OpenAI, base_url: str) -> None:
    with (
        openai.OpenAI(base_url=base_url, api_key="sk-wrong", max_retries=0) as wrong,
        pytest.raises(openai.AuthenticationError) as auth,
    ):
        wrong.chat.completions.create(model=MODEL, messages=MESSAGES)
    assert auth.value.code == "invalid_api_key"
    with pytest.raises(openai.NotFoundError) as missing:
        client.chat.completions.create(model="no-such-model", messages=MESSAGES)
    assert missing.value.code == "model_not_found" and missing.value.param == "model"
    with pytest.raises(openai.BadRequestError) as bad:
        client.chat.completions.create(model=MODEL, messages=MESSAGES, temperature=5)
    assert bad.value.param == "temperature" and bad.value.code == "invalid_value"
