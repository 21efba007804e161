"""The mock's Claude-format endpoint over real HTTP: the official ``anthropic`` SDK parses every answer, auth
and error shapes follow Anthropic's, the cross-format token identity holds, and every messages rule fires
on its fault through the real check pipeline while the clean mock stays silent."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import pytest
from anthropic.types import MessageParam, ToolParam

from llmconform.checks import REGISTRY
from llmconform.config import CheckConfig, LimitsConfig
from llmconform.conformance.outcome import ConformanceRun, ExitCode
from llmconform.conformance.runner import run_check
from llmconform.families import chat as chat_family
from llmconform.families import messages as messages_family
from llmconform.mock import DEFAULT_API_KEY, DEFAULT_MODELS, FAULT_HEADER, MockConfig, MockServer
from llmconform.mock.faults.messages import FAULTS
from llmconform.mock.messages import FAIL_MID_STREAM

MODEL = DEFAULT_MODELS[0]
PROMPT: list[MessageParam] = [{"role": "user", "content": "Write three short sentences about the sea."}]
TOOLS: list[ToolParam] = [
    {
        "name": "get_weather",
        "description": "Current weather for a city.",
        "input_schema": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"enum": ["celsius", "fahrenheit"]}},
            "required": ["city", "unit"],
        },
    },
    {"name": "get_time", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}},
]
VERSION = {"anthropic-version": "2023-06-01"}


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with MockServer(MockConfig(max_body_bytes=64 * 1024)) as server:
        yield server.base_url


@pytest.fixture(scope="module")
def client(base_url: str) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(api_key=DEFAULT_API_KEY, base_url=base_url, max_retries=0, timeout=10) as sdk:
        yield sdk


@pytest.fixture(scope="module")
def http(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=10) as raw:
        yield raw


def post(http: httpx.Client, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    sent = {"x-api-key": DEFAULT_API_KEY, **VERSION} if headers is None else headers
    return http.post("/v1/messages", json=body, headers=sent)


# ---------------------------------------------------------------------------- the official SDK


def test_unary_text(client: anthropic.Anthropic) -> None:
    message = client.messages.create(model=MODEL, max_tokens=256, system="Be brief.", messages=PROMPT)
    assert message.type == "message" and message.role == "assistant" and message.model == MODEL
    assert message.stop_reason == "end_turn" and message.stop_sequence is None
    assert [b.type for b in message.content] == ["text"]
    usage = message.usage
    assert usage.input_tokens > 0 and usage.output_tokens > 0
    assert (usage.cache_read_input_tokens, usage.cache_creation_input_tokens) == (0, 0)


def test_stream_helper_and_raw_events_match_unary(client: anthropic.Anthropic) -> None:
    unary = client.messages.create(model=MODEL, max_tokens=256, system="Be brief.", messages=PROMPT)
    with client.messages.stream(model=MODEL, max_tokens=256, system="Be brief.", messages=PROMPT) as stream:
        streamed_text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert streamed_text == final.content[0].text == unary.content[0].text  # type: ignore[union-attr]
    assert final.usage == unary.usage and final.stop_reason == unary.stop_reason == "end_turn"
    events = list(client.messages.create(model=MODEL, max_tokens=256, messages=PROMPT, stream=True))
    kinds = [e.type for e in events]
    assert kinds[0] == "message_start" and kinds[-2:] == ["message_delta", "message_stop"]
    assert kinds[1] == "content_block_start" and kinds[-3] == "content_block_stop"
    assert set(kinds[2:-3]) == {"content_block_delta"}


@pytest.mark.parametrize("stream", [False, True])
def test_max_tokens_cut(client: anthropic.Anthropic, stream: bool) -> None:
    message: anthropic.types.Message
    if stream:
        with client.messages.stream(model=MODEL, max_tokens=5, messages=PROMPT) as events:
            message = events.get_final_message()
    else:
        message = client.messages.create(model=MODEL, max_tokens=5, messages=PROMPT)
    assert message.stop_reason == "max_tokens" and message.usage.output_tokens == 5


@pytest.mark.parametrize("stream", [False, True])
def test_stop_sequences(client: anthropic.Anthropic, stream: bool) -> None:
    full = client.messages.create(model=MODEL, max_tokens=256, messages=PROMPT).content[0].text  # type: ignore[union-attr]
    stop = next(
        m.group() for m in re.finditer(r"[a-z]{3,}", full) if m.start() > 5 and full.index(m.group()) == m.start()
    )
    message: anthropic.types.Message
    if stream:
        with client.messages.stream(model=MODEL, max_tokens=256, messages=PROMPT, stop_sequences=[stop]) as events:
            message = events.get_final_message()
    else:
        message = client.messages.create(model=MODEL, max_tokens=256, messages=PROMPT, stop_sequences=["zzz", stop])
    assert message.stop_reason == "stop_sequence" and message.stop_sequence == stop
    assert message.content[0].text == full[: full.index(stop)]  # type: ignore[union-attr]


def test_tool_use_unary_and_streamed(client: anthropic.Anthropic) -> None:
    choice: Any = {"type": "tool", "name": "get_weather"}
    unary = client.messages.create(model=MODEL, max_tokens=256, messages=PROMPT, tools=TOOLS, tool_choice=choice)
    assert unary.stop_reason == "tool_use"
    call = unary.content[0]
    assert call.type == "tool_use" and call.name == "get_weather" and call.id.startswith("toolu_")
    assert set(call.input) == {"city", "unit"}
    fragments: list[str] = []
    with client.messages.stream(
        model=MODEL, max_tokens=256, messages=PROMPT, tools=TOOLS, tool_choice=choice
    ) as stream:
        for event in stream:
            if event.type == "content_block_delta" and event.delta.type == "input_json_delta":
                fragments.append(event.delta.partial_json)
        final = stream.get_final_message()
    assert len(fragments) > 1 and json.loads("".join(fragments)) == call.input
    assert final.content == unary.content and final.usage == unary.usage


@pytest.mark.parametrize(("choice", "called"), [({"type": "any"}, True), ({"type": "none"}, False), (None, True)])
def test_tool_choice_any_none_auto(client: anthropic.Anthropic, choice: Any, called: bool) -> None:
    extra: dict[str, Any] = {"tool_choice": choice} if choice is not None else {}
    message = client.messages.create(model=MODEL, max_tokens=256, messages=PROMPT, tools=TOOLS, **extra)
    assert (message.stop_reason == "tool_use") is called
    assert any(b.type == "tool_use" for b in message.content) is called


def test_tool_result_turn_gets_text(client: anthropic.Anthropic) -> None:
    turns: list[MessageParam] = [
        *PROMPT,
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "18 C"}]},
    ]
    message = client.messages.create(model=MODEL, max_tokens=256, messages=turns, tools=TOOLS)
    assert message.stop_reason == "end_turn" and message.content[0].type == "text"


def test_cache_marker_splits_the_prompt_tokens(client: anthropic.Anthropic) -> None:
    system_text = "You answer questions about lighthouses. " * 20
    plain = client.messages.create(
        model=MODEL, max_tokens=8, messages=PROMPT, system=[{"type": "text", "text": system_text}]
    )
    marked = client.messages.create(
        model=MODEL,
        max_tokens=8,
        messages=PROMPT,
        system=[{"type": "text", "text": system_text, "cache_control": {"type": "ephemeral"}}],
    )
    assert plain.usage.cache_read_input_tokens == 0
    assert marked.usage.cache_read_input_tokens and marked.usage.input_tokens < plain.usage.input_tokens
    assert marked.usage.input_tokens + marked.usage.cache_read_input_tokens == plain.usage.input_tokens
    assert marked.content == plain.content


def test_errors_raise_the_sdk_typed_errors(base_url: str, client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.NotFoundError) as not_found:
        client.messages.create(model="no-such-model", max_tokens=8, messages=PROMPT)
    assert not_found.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]
    with pytest.raises(anthropic.BadRequestError) as bad:
        client.messages.create(model=MODEL, max_tokens=0, messages=PROMPT)
    assert "max_tokens" in bad.value.body["error"]["message"]  # type: ignore[index]
    wrong = anthropic.Anthropic(api_key="sk-wrong", base_url=base_url, max_retries=0)
    with wrong, pytest.raises(anthropic.AuthenticationError) as refused:
        wrong.messages.create(model=MODEL, max_tokens=8, messages=PROMPT)
    assert refused.value.body["error"]["type"] == "authentication_error"  # type: ignore[index]
    failing: Any = {"user_id": FAIL_MID_STREAM}
    with pytest.raises(anthropic.OverloadedError):
        client.messages.create(model=MODEL, max_tokens=8, messages=PROMPT, metadata=failing)


def test_mid_stream_failure_is_an_error_event_the_sdk_raises(client: anthropic.Anthropic) -> None:
    failing: Any = {"user_id": FAIL_MID_STREAM}
    seen: list[str] = []
    with pytest.raises(anthropic.APIStatusError) as failure:
        for event in client.messages.create(model=MODEL, max_tokens=64, messages=PROMPT, stream=True, metadata=failing):
            seen.append(event.type)
    assert seen[:2] == ["message_start", "content_block_start"] and "message_stop" not in seen
    assert failure.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]


# ---------------------------------------------------------------------------- auth, errors and wire details


def body(**extra: Any) -> dict[str, Any]:
    return {"model": MODEL, "max_tokens": 8, "messages": [{"role": "user", "content": "Hi"}], **extra}


def assert_error(response: httpx.Response, status: int, kind: str) -> None:
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/json") and response.headers["request-id"]
    payload = response.json()
    assert payload["type"] == "error" and payload["error"]["type"] == kind
    assert isinstance(payload["error"]["message"], str) and payload["request_id"] == response.headers["request-id"]


def test_both_auth_styles_are_accepted_and_missing_or_wrong_keys_refused(http: httpx.Client) -> None:
    assert post(http, body(), {"x-api-key": DEFAULT_API_KEY, **VERSION}).status_code == 200
    assert post(http, body(), {"authorization": f"Bearer {DEFAULT_API_KEY}"}).status_code == 200
    assert_error(post(http, body(), VERSION), 401, "authentication_error")
    assert_error(post(http, body(), {"x-api-key": "sk-wrong", **VERSION}), 401, "authentication_error")
    assert_error(post(http, body(), {"authorization": "Basic abc"}), 401, "authentication_error")
    bearer_refused = {"authorization": f"Bearer {DEFAULT_API_KEY}", FAULT_HEADER: "messages_auth_styles_accepted"}
    assert_error(post(http, body(), bearer_refused), 401, "authentication_error")


def test_error_statuses_and_shapes(http: httpx.Client) -> None:
    assert_error(post(http, {"model": MODEL, "messages": body()["messages"]}), 400, "invalid_request_error")
    assert_error(post(http, body(messages="hello")), 400, "invalid_request_error")
    assert_error(post(http, body(tool_choice={"type": "any"})), 400, "invalid_request_error")
    headers = {"x-api-key": DEFAULT_API_KEY, "content-type": "application/json"}
    assert_error(http.post("/v1/messages", content=b'{"model": ', headers=headers), 400, "invalid_request_error")
    assert_error(post(http, body(model="nope")), 404, "not_found_error")
    assert_error(post(http, body(system="x" * 70_000)), 413, "request_too_large")
    assert_error(http.get("/v1/messages", headers=headers), 405, "invalid_request_error")
    assert_error(http.post("/v1/messages/nope", json=body(), headers=headers), 404, "not_found_error")


def test_ignore_eos_runs_to_the_limit(http: httpx.Client) -> None:
    answer = post(http, body(max_tokens=100, ignore_eos=True)).json()
    assert answer["stop_reason"] == "max_tokens" and answer["usage"]["output_tokens"] == 100


def test_stream_frames_are_named_after_their_type(http: httpx.Client) -> None:
    response = post(http, body(stream=True, max_tokens=3))
    assert response.headers["content-type"].startswith("text/event-stream")
    frames = [f for f in response.text.split("\n\n") if f]
    for frame in frames:
        name, data = frame.split("\n")
        assert name.removeprefix("event: ") == json.loads(data.removeprefix("data: "))["type"]
    assert frames[1].startswith("event: ping")


def test_one_prompt_costs_the_same_tokens_through_chat_and_messages(http: httpx.Client) -> None:
    """A chat-format conversation sent through each family's build_request reaches the same generator (X1)."""
    conversation = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Tell me about tides."}]
    answers = []
    for family in (chat_family, messages_family):
        _, path, _, request = family.build_request(MODEL, conversation, max_tokens=40, stream=False, temperature=0)
        headers = {**family.request_headers(DEFAULT_API_KEY), **chat_family.request_headers(DEFAULT_API_KEY)}
        response = http.post(path, json=request, headers=headers)
        assert response.status_code == 200, response.text
        exchange = _exchange(family.FAMILY, f"POST {path}", request, response)
        answers.append(family.read_answer(exchange))
    chat, claude = answers
    assert chat is not None and claude is not None
    assert (claude.text, claude.input_tokens, claude.output_tokens) == (
        chat.text,
        chat.input_tokens,
        chat.output_tokens,
    )
    assert claude.finish == chat.finish


def _exchange(family: str, operation: str, request: Any, response: httpx.Response) -> Any:
    from llmconform.exchange import Exchange

    return Exchange(
        family=family,
        operation=operation,
        method="POST",
        url=str(response.url),
        request_headers={},
        request_json=request,
        status=response.status_code,
        response_headers={k.lower(): v for k, v in response.headers.items()},
        body=response.content,
    )


# ---------------------------------------------------------------------------- the rules through the real pipeline


def check(faults: frozenset[str] = frozenset(), examples: int = 0) -> ConformanceRun:
    config = CheckConfig(
        families=("messages",),
        mock=MockConfig(faults=faults),
        positive_examples=examples,
        negative_examples=examples,
        property_examples=0,
        limits=LimitsConfig(read_timeout_s=5.0, deadline_s=5.0),
    )
    outcome, _ = run_check(config, command=["test"], say=lambda _text: None)
    return outcome


def test_clean_mock_is_silent_and_judges_every_rule() -> None:
    outcome = check(examples=40)
    assert outcome.exit_code == ExitCode.OK, outcome.error
    assert [(f.rule, f.message) for f in outcome.results.findings] == []
    family_rules = [rule.id for rule in REGISTRY if rule.family == "messages"]
    assert [rule for rule in family_rules if outcome.results.count(rule).judged == 0] == []
    assert outcome.sent_requests <= outcome.planned_requests


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_rule_fires_on_its_fault(fault: str) -> None:
    outcome = check(frozenset({fault}))
    fired = {f.rule for f in outcome.results.findings}
    assert fault in fired, f"{fault}: got {sorted(fired)} ({outcome.error})"
    assert outcome.exit_code == ExitCode.BROKEN
