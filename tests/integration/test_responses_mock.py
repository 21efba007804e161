"""The mock's POST /v1/responses over real HTTP: the official ``openai`` SDK parses every answer (unary,
``stream=True`` and ``client.responses.stream``), auth and error shapes, and every responses rule fires
on its fault through the real probes while the clean mock stays silent."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import openai
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from openai.types.responses import (
    FunctionToolParam,
    ResponseCompletedEvent,
    ResponseCreatedEvent,
    ResponseFunctionCallArgumentsDeltaEvent,
    ResponseIncompleteEvent,
    ResponseTextDeltaEvent,
)
from schemathesis import GenerationMode
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.core.failures import Failure, FailureGroup

from llmconform import families, spec
from llmconform.checks import REGISTRY, Results, check_exchange, exchange_rules
from llmconform.client import ClientLimits, TargetClient
from llmconform.conformance.responses_probes import PLANNED_REQUESTS, pin_generated_body, run_responses_probes
from llmconform.conformance.schemathesis_run import RESPONSE_CHECKS
from llmconform.conformance.session import Budget, Session
from llmconform.mock import DEFAULT_API_KEY, DEFAULT_MODELS, FAULT_HEADER, MockConfig, MockServer
from llmconform.mock.faults.responses import FAULTS

MODEL = DEFAULT_MODELS[0]
AUTH = {"Authorization": f"Bearer {DEFAULT_API_KEY}"}
PROMPT = "Write three short sentences about lighthouses and the sea."
TOOLS: list[FunctionToolParam] = [
    {
        "type": "function",
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"enum": ["c", "f"]}},
            "required": ["city", "unit"],
        },
        "strict": False,
    }
]
FORCED: dict[str, Any] = {"tools": TOOLS, "tool_choice": {"type": "function", "name": "get_weather"}}


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with MockServer(MockConfig()) as server:
        yield server.base_url


@pytest.fixture(scope="module")
def client(base_url: str) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(api_key=DEFAULT_API_KEY, base_url=base_url + "/v1", max_retries=0, timeout=10) as sdk:
        yield sdk


# ---------------------------------------------------------------------------- the official SDK


def test_unary_text(client: openai.OpenAI) -> None:
    response = client.responses.create(model=MODEL, instructions="Be brief.", input=PROMPT, temperature=0)
    assert response.object == "response" and response.status == "completed" and response.model == MODEL
    assert response.incomplete_details is None and response.error is None
    assert response.output_text and response.output[0].type == "message"
    usage = response.usage
    assert usage is not None and usage.total_tokens == usage.input_tokens + usage.output_tokens
    assert usage.input_tokens_details.cached_tokens == 0 and usage.output_tokens_details.reasoning_tokens == 0


def test_unary_cut_by_max_output_tokens(client: openai.OpenAI) -> None:
    response = client.responses.create(model=MODEL, input=PROMPT, max_output_tokens=16)
    assert response.status == "incomplete"
    assert response.incomplete_details is not None and response.incomplete_details.reason == "max_output_tokens"
    assert response.usage is not None and response.usage.output_tokens == 16
    assert response.output[0].type == "message" and response.output[0].status == "incomplete"


def test_stream_true_gives_typed_events_that_add_up_to_the_unary_answer(client: openai.OpenAI) -> None:
    unary = client.responses.create(model=MODEL, input=PROMPT, temperature=0)
    events = list(client.responses.create(model=MODEL, input=PROMPT, temperature=0, stream=True))
    assert isinstance(events[0], ResponseCreatedEvent)
    assert isinstance(events[-1], ResponseCompletedEvent)
    numbers = [e.sequence_number for e in events]
    assert numbers == list(range(len(events)))
    text = "".join(e.delta for e in events if isinstance(e, ResponseTextDeltaEvent))
    assert text == unary.output_text == events[-1].response.output_text
    assert events[-1].response.usage == unary.usage


def test_stream_helper_text(client: openai.OpenAI) -> None:
    unary = client.responses.create(model=MODEL, input=PROMPT, temperature=0)
    with client.responses.stream(model=MODEL, input=PROMPT, temperature=0) as stream:
        snapshots = [e.snapshot for e in stream if isinstance(e, ResponseTextDeltaEvent)]
        final = stream.get_final_response()
    assert snapshots[-1] == unary.output_text == final.output_text
    assert final.usage == unary.usage and final.status == "completed"


def test_forced_function_call_unary_and_streamed(client: openai.OpenAI) -> None:
    unary = client.responses.create(model=MODEL, input="Weather in Lisbon?", **FORCED)
    call = unary.output[0]
    assert call.type == "function_call" and call.name == "get_weather" and call.call_id
    assert set(json.loads(call.arguments)) >= {"city", "unit"}
    with client.responses.stream(model=MODEL, input="Weather in Lisbon?", **FORCED) as stream:
        deltas = [e.delta for e in stream if isinstance(e, ResponseFunctionCallArgumentsDeltaEvent)]
        final = stream.get_final_response()
    streamed = final.output[0]
    assert streamed.type == "function_call"
    assert "".join(deltas) == streamed.arguments == call.arguments
    assert (streamed.call_id, streamed.name) == (call.call_id, call.name)
    raw = list(client.responses.create(model=MODEL, input="Weather in Lisbon?", stream=True, **FORCED))
    assert isinstance(raw[-1], ResponseCompletedEvent) and raw[-1].response.output[0].type == "function_call"


def test_streamed_incomplete_answer(client: openai.OpenAI) -> None:
    unary = client.responses.create(model=MODEL, input=PROMPT, max_output_tokens=16)
    events = list(client.responses.create(model=MODEL, input=PROMPT, max_output_tokens=16, stream=True))
    last = events[-1]
    assert isinstance(last, ResponseIncompleteEvent)
    assert (
        last.response.incomplete_details is not None and last.response.incomplete_details.reason == "max_output_tokens"
    )
    assert last.response.usage == unary.usage and last.response.output_text == unary.output_text
    with client.responses.stream(model=MODEL, input=PROMPT, max_output_tokens=16) as stream:
        helper_events = list(stream)
        # the SDK builds a final response only from response.completed; an incomplete stream ends without one
        with pytest.raises(RuntimeError, match=r"response\.completed"):
            stream.get_final_response()
    assert [e.type for e in helper_events] == [e.type for e in events]


def test_reasoning_and_conversation_items(client: openai.OpenAI) -> None:
    reasoned = client.responses.create(model=MODEL, input=PROMPT, reasoning={"effort": "low"})
    assert [item.type for item in reasoned.output] == ["reasoning", "message"]
    answered = client.responses.create(
        model=MODEL,
        input=[
            {"role": "user", "content": "Weather in Lisbon?"},
            {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": '{"city":"Lisbon"}'},
            {"type": "function_call_output", "call_id": "call_1", "output": '{"temperature_c": 21}'},
        ],
        tools=TOOLS,
    )
    assert answered.status == "completed" and answered.output_text


def test_errors_raise_the_sdk_exceptions(client: openai.OpenAI, base_url: str) -> None:
    with (
        openai.OpenAI(api_key="sk-wrong", base_url=base_url + "/v1", max_retries=0) as wrong,
        pytest.raises(openai.AuthenticationError) as auth,
    ):
        wrong.responses.create(model=MODEL, input="hi")
    assert auth.value.code == "invalid_api_key"
    with pytest.raises(openai.NotFoundError) as missing:
        client.responses.create(model="no-such-model", input="hi")
    assert (missing.value.code, missing.value.param) == ("model_not_found", "model")
    with pytest.raises(openai.BadRequestError) as bad:
        client.responses.create(model=MODEL, input="hi", temperature=5)
    assert (bad.value.param, bad.value.code) == ("temperature", "invalid_value")
    with pytest.raises(openai.BadRequestError) as previous:
        client.responses.create(model=MODEL, input="hi", previous_response_id="resp_unknown")
    assert (previous.value.param, previous.value.code) == ("previous_response_id", "previous_response_not_found")
    with pytest.raises(openai.NotFoundError):
        client.responses.create(model="no-such-model", input="hi", stream=True)


# ---------------------------------------------------------------------------- raw HTTP


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"Authorization": "Bearer sk-wrong"}, 401),
        ({"Authorization": f"Basic {DEFAULT_API_KEY}"}, 401),
        ({"Authorization": DEFAULT_API_KEY}, 401),
        ({"authorization": f"bearer {DEFAULT_API_KEY}"}, 200),
    ],
    ids=["none", "wrong", "basic", "no-scheme", "lowercase-bearer"],
)
def test_auth_variants(base_url: str, headers: dict[str, str], status: int) -> None:
    answer = httpx.post(f"{base_url}/v1/responses", json={"model": MODEL, "input": "hi"}, headers=headers)
    assert answer.status_code == status
    if status == 401:
        assert answer.json()["error"]["type"] == "invalid_request_error"


@pytest.mark.parametrize(
    ("method", "path", "content", "status"),
    [
        ("POST", "/v1/responses", b'{"model": ', 400),
        ("POST", "/v1/responses", b"[1, 2]", 400),
        ("POST", "/v1/responses", b'{"model": "m"}', 400),
        ("POST", "/v1/responses", b"x" * (5 * 1024 * 1024), 413),
        ("GET", "/v1/responses", None, 405),
        ("POST", "/v1/responses/resp_1/cancel", b"{}", 404),
    ],
    ids=["not-json", "array", "no-input", "too-large", "wrong-method", "unknown-path"],
)
def test_errors_are_openai_error_bodies(
    base_url: str, method: str, path: str, content: bytes | None, status: int
) -> None:
    answer = httpx.request(
        method, base_url + path, content=content, headers={**AUTH, "content-type": "application/json"}
    )
    assert answer.status_code == status
    assert answer.headers["content-type"].startswith("application/json")
    error = answer.json()["error"]
    assert isinstance(error["message"], str) and isinstance(error["type"], str)
    assert set(error) == {"message", "type", "param", "code"}


def test_a_missing_field_is_named(base_url: str) -> None:
    answer = httpx.post(f"{base_url}/v1/responses", json={"model": MODEL}, headers=AUTH)
    assert answer.json()["error"]["param"] == "input"


def test_the_fault_header_breaks_one_request_only(base_url: str) -> None:
    body = {"model": MODEL, "input": "hi"}
    broken = httpx.post(
        f"{base_url}/v1/responses", json=body, headers={**AUTH, FAULT_HEADER: "responses_usage_present"}
    )
    assert "usage" not in broken.json()
    assert "usage" in httpx.post(f"{base_url}/v1/responses", json=body, headers=AUTH).json()


def test_stream_pacing_follows_the_latency_model() -> None:
    """First delta after the time to first token, one inter-token latency between deltas; unary waits as long."""
    config = MockConfig(ttft_ms=60, itl_ms=15)
    messages = [{"role": "user", "content": "hi"}]
    with MockServer(config) as server, TargetClient(server.base_url, config.api_key) as target:
        _, path, operation, body = families.build_request("responses", MODEL, messages, max_tokens=16, stream=True)
        streamed = target.send("POST", path, family="responses", operation=operation, json_body=body)
        unary = target.send("POST", path, family="responses", operation=operation, json_body={**body, "stream": False})
    answer = families.read_answer(streamed)
    assert answer is not None and len(answer.text_events) == 16
    first, last = answer.text_events[0][0], answer.text_events[-1][0]
    assert first >= 0.055 and last - first >= 15 * 0.015 * 0.8
    assert unary.ok and unary.elapsed_s >= 0.06 + 15 * 0.015 * 0.8


def test_one_conversation_gives_one_answer_through_chat_and_responses(base_url: str) -> None:
    """What the cross-format rules X1/X2 rest on: same text, token counts and mapped finish."""
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Tell me about the sea."}]
    with TargetClient(base_url, DEFAULT_API_KEY) as target:
        for limit in (None, 16):
            for stream in (False, True):
                answers = []
                for family in ("chat", "responses"):
                    method, path, operation, body = families.build_request(
                        family, MODEL, messages, max_tokens=limit, stream=stream, temperature=0
                    )
                    exchange = target.send(method, path, family=family, operation=operation, json_body=body)
                    answer = families.read_answer(exchange)
                    assert answer is not None
                    answers.append((answer.text, answer.input_tokens, answer.output_tokens, answer.finish))
                assert answers[0] == answers[1]


# ---------------------------------------------------------------------------- rules through the probes


def probe(faults: frozenset[str] = frozenset()) -> tuple[Results, Session]:
    with (
        MockServer(MockConfig(faults=faults)) as server,
        TargetClient(server.base_url, server.config.api_key, ClientLimits(deadline_s=5)) as target,
    ):
        results = Results()
        session = Session(target, results, Budget(PLANNED_REQUESTS), MODEL, exchange_rules())
        run_responses_probes(session)
    return results, session


RULES = sorted(rule.id for rule in REGISTRY if rule.family == "responses")


def test_every_rule_has_a_fault_of_its_name() -> None:
    assert sorted(FAULTS) == RULES
    assert all(rule.startswith("responses_") for rule in RULES)


def test_clean_mock_is_silent_and_judges_every_rule() -> None:
    results, session = probe()
    assert [(f.rule, f.message) for f in results.findings] == []
    assert [rule for rule in RULES if results.count(rule).judged == 0] == []
    assert session.exchanges_sent <= PLANNED_REQUESTS
    assert results.notes == []


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_rule_fires_on_its_fault(fault: str) -> None:
    results, _ = probe(frozenset({fault}))
    fired = {f.rule for f in results.findings}
    assert fault in fired, f"{fault}: fired {sorted(fired)}"
    assert results.has_errors


# ---------------------------------------------------------------------------- schemathesis


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_schemathesis_finds_nothing_on_the_clean_mock(base_url: str, mode: GenerationMode) -> None:
    """The contract and the mock agree: generated cases, pinned like the runner pins them, pass every check."""
    load_all_checks()
    checks = [CHECKS.get_one(name) for name in RESPONSE_CHECKS]
    schema = spec.load_schemathesis_schema("responses", base_url=base_url)
    schema.config.update(headers={"authorization": f"Bearer {DEFAULT_API_KEY}"})
    schema.config.generation.update(allow_x00=False)
    operation = next(iter(schema.get_all_operations())).ok()
    failures: list[str] = []
    results = Results()
    with TargetClient(base_url, DEFAULT_API_KEY) as target:

        @settings(
            max_examples=40,
            database=None,
            derandomize=True,  # the same cases every run: CI must not depend on a lucky draw
            deadline=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(generation_mode=mode))
        def run(case: Any) -> None:
            kwargs = case.as_transport_kwargs(base_url=base_url)
            headers = {k: str(v) for k, v in (kwargs.get("headers") or {}).items() if k.lower() == "authorization"}
            body = kwargs.get("json")
            raw = None if "json" in kwargs else kwargs.get("data")
            if isinstance(body, dict):
                pin_generated_body(body, MODEL, mode is GenerationMode.POSITIVE)
                case.body = body
            exchange = target.send(
                "POST",
                "/v1/responses",
                family="responses",
                operation="POST /v1/responses",
                json_body=body,
                raw_body=raw if isinstance(raw, bytes) else None,
                headers={"content-type": "application/json", **headers},
                auth=False,
            )
            check_exchange(exchange, results)
            assert exchange.status is not None
            response = httpx.Response(
                exchange.status,
                headers=list(exchange.response_headers.items()),
                content=exchange.body,
                request=httpx.Request("POST", exchange.url, headers=exchange.request_headers),
            )
            response.elapsed = timedelta(seconds=exchange.elapsed_s)
            for check in checks:
                try:
                    case.validate_response(response, checks=[check], headers=exchange.request_headers)
                except (FailureGroup, Failure, AssertionError) as exc:
                    failures.append(f"{check.__name__}: {exc}"[:300])

        run()
    assert failures == []
    assert [(f.rule, f.message) for f in results.findings if f.rule.startswith("responses_")] == []
