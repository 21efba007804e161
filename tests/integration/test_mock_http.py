"""The mock over real HTTP: auth, errors, usage, stream protocol, determinism, timing, faults."""

from __future__ import annotations

import asyncio
import itertools
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import orjson
import pytest

from llmconform.mock import (
    DEFAULT_API_KEY,
    DEFAULT_MODELS,
    FAULT_HEADER,
    MockConfig,
    MockError,
    MockServer,
    create_app,
)
from llmconform.mock.app import REQUEST_SCHEMA
from llmconform.mock.faults import FAULTS_BY_FAMILY, STALL_S
from llmconform.mock.tokenizer import count_prompt_tokens, count_tokens
from llmconform.mock.validation import BodyValidator, find_violation
from llmconform.spec import component_schema, validator_for

MODEL = DEFAULT_MODELS[0]
AUTH = {"Authorization": f"Bearer {DEFAULT_API_KEY}"}
MESSAGES = [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "Say something, please."}]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 1}},
                "required": ["city", "days"],
            },
        },
    }
]
JSON_SCHEMA_FORMAT = {
    "type": "json_schema",
    "json_schema": {
        "name": "person",
        "schema": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]},
    },
}


def _body(**extra: Any) -> dict[str, Any]:
    return {"model": MODEL, "messages": MESSAGES, **extra}


@pytest.fixture(scope="module")
def server() -> Iterator[MockServer]:
    with MockServer(MockConfig()) as running:
        yield running


@pytest.fixture(scope="module")
def client(server: MockServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, headers=AUTH, timeout=10) as http:
        yield http


def _datas(response: httpx.Response) -> list[str]:
    """The data of each SSE event, checking the framing on the way."""
    text = response.text
    assert text.endswith("\n\n")
    frames = text[:-2].split("\n\n")
    assert all(f.startswith("data: ") and "\n" not in f for f in frames)
    return [f[len("data: ") :] for f in frames]


def _chunks(response: httpx.Response) -> list[dict[str, Any]]:
    out = []
    for data in _datas(response):
        if data == "[DONE]":
            continue
        try:
            out.append(orjson.loads(data))
        except orjson.JSONDecodeError:
            continue
    return out


def _stream_text(chunks: list[dict[str, Any]]) -> dict[int, str]:
    texts: dict[int, str] = {}
    for chunk in chunks:
        for choice in chunk["choices"]:
            texts[choice["index"]] = texts.get(choice["index"], "") + (choice["delta"].get("content") or "")
    return texts


def _error(response: httpx.Response) -> dict[str, Any]:
    assert response.headers["content-type"] == "application/json"
    error: dict[str, Any] = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["message"]
    return error


# ---------------------------------------------------------------- auth and errors


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer sk-wrong-key-123456"}, {"Authorization": "Basic x"}])
@pytest.mark.parametrize(("method", "path"), [("POST", "/v1/chat/completions"), ("GET", "/v1/models")])
def test_missing_or_wrong_key_is_401(server: MockServer, headers: dict[str, str], method: str, path: str) -> None:
    response = httpx.request(method, server.base_url + path, headers=headers, json=_body())
    assert response.status_code == 401
    assert _error(response)["code"] == "invalid_api_key"
    assert DEFAULT_API_KEY not in response.text


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        (_body(temperature=5), "temperature", "invalid_value"),
        ({"model": MODEL}, "messages", "missing_required_parameter"),
        ({"messages": MESSAGES}, "model", "missing_required_parameter"),
        (_body(messages=[{"role": "robot", "content": "x"}]), "messages.0.role", "invalid_value"),
        (_body(messages=[{"role": "user"}]), "messages.0.content", "missing_required_parameter"),
        (_body(n="2"), "n", "invalid_value"),
        (_body(top_logprobs=25), "top_logprobs", "invalid_value"),
        (_body(stop=["a", "b", "c", "d", "e"]), "stop", "invalid_value"),
        ([1, 2], None, "invalid_value"),
    ],
)
def test_invalid_body_is_400_naming_the_param(client: httpx.Client, body: object, param: str | None, code: str) -> None:
    response = client.post("/v1/chat/completions", json=body)
    assert response.status_code == 400
    error = _error(response)
    assert (error["type"], error["param"], error["code"]) == ("invalid_request_error", param, code)


def test_unparseable_json_is_400(client: httpx.Client) -> None:
    response = client.post("/v1/chat/completions", content=b'{"model": ', headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert _error(response)["code"] == "invalid_json"


def test_unknown_model_is_404(client: httpx.Client) -> None:
    response = client.post("/v1/chat/completions", json=_body(model="no-such-model"))
    assert response.status_code == 404
    error = _error(response)
    assert (error["param"], error["code"]) == ("model", "model_not_found")


def test_unknown_path_is_404_and_wrong_method_405(client: httpx.Client) -> None:
    response = client.get("/v1/nothing-here")
    assert response.status_code == 404 and _error(response)["code"] == "unknown_url"
    response = client.get("/v1/chat/completions")
    assert response.status_code == 405 and response.headers["allow"] == "POST"
    _error(response)
    response = client.delete("/v1/models")
    assert response.status_code == 405 and "GET" in response.headers["allow"]


def test_oversized_body_is_413() -> None:
    with MockServer(MockConfig(max_body_bytes=1000)) as small:
        response = httpx.post(
            small.base_url + "/v1/chat/completions",
            headers=AUTH,
            json=_body(messages=[{"role": "user", "content": "x" * 2000}]),
        )
    assert response.status_code == 413
    _error(response)


INVALID_BODIES: list[object] = [
    _body(temperature=5),
    {"model": MODEL},
    _body(messages=[{"role": "robot", "content": "x"}]),
    _body(messages=[{"role": "user", "content": 5}]),
    _body(tool_choice="sometimes"),
    [1, 2],
]


def test_compiled_fast_path_agrees_with_the_python_validator() -> None:
    python = validator_for(REQUEST_SCHEMA)
    fast = BodyValidator(python, component_schema(REQUEST_SCHEMA))
    assert fast.violation(_body(tools=TOOLS, stream=True, n=3)) is None
    for body in INVALID_BODIES:
        assert fast.violation(body) == find_violation(python, body) is not None


class _ExplodingValidator:
    """Stands in for the schema validator and fails, to prove no traceback reaches the client."""

    def iter_errors(self, instance: object) -> Iterator[Any]:
        raise RuntimeError("boom")


def test_an_internal_error_is_a_json_500() -> None:
    app = create_app(MockConfig(), validator=_ExplodingValidator())  # type: ignore[arg-type]

    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://mock", headers=AUTH) as http:
            return await http.post("/v1/chat/completions", json=_body())

    response = asyncio.run(call())
    assert response.status_code == 500
    assert _error(response)["type"] == "server_error"
    assert "boom" not in response.text


def test_a_busy_port_is_a_mock_error(server: MockServer) -> None:
    port = int(server.base_url.rsplit(":", 1)[1])
    with pytest.raises(MockError, match="could not start"):
        MockServer(MockConfig(port=port)).start()


def test_config_rejects_unknown_fault_names() -> None:
    with pytest.raises(ValueError, match="usage_total_is_sum"):
        MockConfig(faults=frozenset({"no_such_fault"}))


# ---------------------------------------------------------------- unary answers


def test_models_list(client: httpx.Client) -> None:
    response = client.get("/v1/models")
    assert response.status_code == 200
    assert response.json() == {
        "object": "list",
        "data": [{"id": m, "object": "model", "created": 1700000000, "owned_by": "llmconform"} for m in DEFAULT_MODELS],
    }


@pytest.mark.parametrize("n", [1, 3])
def test_usage_arithmetic_is_exact(client: httpx.Client, n: int) -> None:
    response = client.post("/v1/chat/completions", json=_body(n=n, max_tokens=30))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-request-id"]
    body = response.json()
    usage = body["usage"]
    assert usage["prompt_tokens"] == count_prompt_tokens(MESSAGES)
    completion = 0
    for index, choice in enumerate(body["choices"]):
        assert choice["index"] == index
        assert choice["message"]["role"] == "assistant" and choice["logprobs"] is None
        if choice["finish_reason"] == "stop":
            completion += count_tokens(choice["message"]["content"])
        else:
            assert choice["finish_reason"] == "length"
            completion += 30
    assert usage == {
        "prompt_tokens": usage["prompt_tokens"],
        "completion_tokens": completion,
        "total_tokens": usage["prompt_tokens"] + completion,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _without_created(text: str) -> str:
    return re.sub(r'"created":\d+', '"created":0', text)


@pytest.mark.parametrize("stream", [False, True])
def test_same_request_gets_the_same_body(client: httpx.Client, stream: bool) -> None:
    body = _body(n=2, logprobs=True, top_logprobs=2, stream=stream)
    first = client.post("/v1/chat/completions", json=body)
    second = client.post("/v1/chat/completions", json=body)
    assert _without_created(first.text) == _without_created(second.text)
    created = re.findall(r'"created":(\d+)', first.text)
    assert len(set(created)) == 1 and abs(int(created[0]) - time.time()) < 60
    assert first.headers["x-request-id"] != second.headers["x-request-id"]


# ---------------------------------------------------------------- streams


def test_stream_framing_and_order(client: httpx.Client) -> None:
    response = client.post("/v1/chat/completions", json=_body(stream=True, n=2))
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert response.headers["cache-control"] == "no-cache"
    datas = _datas(response)
    assert datas[-1] == "[DONE]" and datas.count("[DONE]") == 1
    chunks = [orjson.loads(d) for d in datas[:-1]]
    assert len({(c["id"], c["created"], c["model"], c["object"], c["system_fingerprint"]) for c in chunks}) == 1
    assert chunks[0]["object"] == "chat.completion.chunk"
    assert all("usage" not in c for c in chunks)
    for index in (0, 1):
        mine = [c["choices"][0] for c in chunks if c["choices"][0]["index"] == index]
        assert mine[0]["delta"] == {"role": "assistant", "content": ""}
        finishes = [c["finish_reason"] for c in mine if c["finish_reason"] is not None]
        assert finishes == ["stop"] and mine[-1]["finish_reason"] == "stop" and mine[-1]["delta"] == {}


def test_stream_include_usage(client: httpx.Client) -> None:
    unary = client.post("/v1/chat/completions", json=_body(n=2)).json()
    response = client.post("/v1/chat/completions", json=_body(n=2, stream=True, stream_options={"include_usage": True}))
    chunks = _chunks(response)
    assert all(c["usage"] is None and c["choices"] for c in chunks[:-1])
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"] == unary["usage"]
    response = client.post("/v1/chat/completions", json=_body(stream=True, stream_options={"include_usage": False}))
    assert all("usage" not in c and c["choices"] for c in _chunks(response))


@pytest.mark.parametrize("extra", [{}, {"n": 2}, {"max_tokens": 5}, {"stop": " "}, {"logprobs": True}])
def test_stream_text_equals_unary_text(client: httpx.Client, extra: dict[str, Any]) -> None:
    unary = client.post("/v1/chat/completions", json=_body(**extra)).json()
    chunks = _chunks(client.post("/v1/chat/completions", json=_body(stream=True, **extra)))
    texts = _stream_text(chunks)
    assert texts == {c["index"]: c["message"]["content"] for c in unary["choices"]}
    if extra.get("logprobs"):
        streamed = [e for c in chunks for ch in c["choices"] if ch["logprobs"] for e in ch["logprobs"]["content"]]
        assert streamed == unary["choices"][0]["logprobs"]["content"]


def test_streamed_tool_call_equals_unary(client: httpx.Client) -> None:
    unary = client.post("/v1/chat/completions", json=_body(tools=TOOLS)).json()
    (call,) = unary["choices"][0]["message"]["tool_calls"]
    chunks = _chunks(client.post("/v1/chat/completions", json=_body(tools=TOOLS, stream=True)))
    first = chunks[0]["choices"][0]["delta"]
    assert first["role"] == "assistant"
    assert first["tool_calls"][0] == {
        "index": 0,
        "id": call["id"],
        "type": "function",
        "function": {"name": "get_weather", "arguments": ""},
    }
    arguments = "".join(
        tc["function"]["arguments"] for c in chunks for tc in c["choices"][0]["delta"].get("tool_calls", [])
    )
    assert arguments == call["function"]["arguments"]
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_tokens_per_chunk_groups_pieces() -> None:
    with MockServer(MockConfig(tokens_per_chunk=4)) as grouped:
        response = httpx.post(grouped.base_url + "/v1/chat/completions", headers=AUTH, json=_body(stream=True))
    contents = [c["choices"][0]["delta"].get("content") for c in _chunks(response)]
    pieces = [count_tokens(t) for t in contents[1:-1]]
    assert all(p == 4 for p in pieces[:-1]) and 1 <= pieces[-1] <= 4


def test_ttft_and_itl_are_honoured() -> None:
    with MockServer(MockConfig(ttft_ms=100, itl_ms=20)) as slow, httpx.Client(headers=AUTH) as http:
        url = slow.base_url + "/v1/chat/completions"
        start = time.perf_counter()
        arrivals: list[float] = []
        with http.stream("POST", url, json=_body(stream=True, max_tokens=6)) as response:
            for line in response.iter_lines():
                if line.startswith("data: ") and '"content":"' in line and '"content":""' not in line:
                    arrivals.append(time.perf_counter() - start)
        assert len(arrivals) == 6
        assert arrivals[0] >= 0.09
        gaps = [b - a for a, b in itertools.pairwise(arrivals)]
        assert sum(gaps) / len(gaps) >= 0.015
        start = time.perf_counter()
        http.post(url, json=_body(max_tokens=6))
        assert time.perf_counter() - start >= 0.09 + 5 * 0.015


# ---------------------------------------------------------------- faults


Case = Callable[[httpx.Client, dict[str, str]], list[httpx.Response]]


def _post(**extra: Any) -> Case:
    def case(client: httpx.Client, headers: dict[str, str]) -> list[httpx.Response]:
        return [client.post("/v1/chat/completions", json=_body(**extra), headers=headers)]

    return case


def _unauthenticated(client: httpx.Client, headers: dict[str, str]) -> list[httpx.Response]:
    url = str(client.base_url.join("/v1/chat/completions"))
    return [httpx.post(url, json=_body(), headers=headers)]


def _models(client: httpx.Client, headers: dict[str, str]) -> list[httpx.Response]:
    return [client.get("/v1/models", headers=headers)]


def _many(client: httpx.Client, headers: dict[str, str]) -> list[httpx.Response]:
    return [client.post("/v1/chat/completions", json=_body(user=f"u{i}"), headers=headers) for i in range(12)]


def _stalled(client: httpx.Client, headers: dict[str, str]) -> list[httpx.Response]:
    try:
        return [client.post("/v1/chat/completions", json=_body(), headers=headers, timeout=STALL_S / 5)]
    except httpx.ReadTimeout:
        return [httpx.Response(599, headers={"content-type": "test/timed-out"})]


STREAM = {"stream": True}
LOGPROBS = {"logprobs": True, "top_logprobs": 2}
FAULT_CASES: dict[str, Case] = {
    "usage_total_is_sum": _post(),
    "usage_counts_non_negative": _post(),
    "usage_details_within_parent": _post(),
    "usage_present": _post(),
    "n_choices_count": _post(n=2),
    "choice_indices_permutation": _post(n=2),
    "completion_within_max_tokens": _post(max_tokens=3),
    "truncation_finish_reason_length": _post(max_tokens=3),
    "stop_sequence_excluded": _post(stop=" "),
    "logprobs_absent_unless_requested": _post(),
    "top_logprobs_count": _post(**LOGPROBS),
    "logprob_values_valid": _post(**LOGPROBS),
    "logprobs_token_count": _post(**LOGPROBS),
    "tool_call_shape": _post(tools=TOOLS),
    "tool_calls_finish_reason": _post(),
    "tool_choice_honoured": _post(tools=TOOLS, tool_choice={"type": "function", "function": {"name": "get_weather"}}),
    "json_mode_content_parses": _post(response_format={"type": "json_object"}),
    "json_schema_content_valid": _post(response_format=JSON_SCHEMA_FORMAT),
    "stream_chunk_is_json": _post(**STREAM),
    "response_matches_schema": _post(),
    "content_type_declared": _post(),
    "stream_constant_identity": _post(**STREAM),
    "stream_single_finish_reason": _post(**STREAM),
    "stream_role_first": _post(**STREAM),
    "stream_done_last": _post(**STREAM),
    "stream_usage_only_if_requested": _post(**STREAM),
    "stream_usage_chunk_final": _post(stream=True, stream_options={"include_usage": True}),
    "stream_tool_call_deltas": _post(tools=TOOLS, stream=True),
    "stream_matches_unary": _post(**STREAM),
    "stream_sdk_compatible": _post(**STREAM),
    "error_body_shape": _unauthenticated,
    "auth_required": _unauthenticated,
    "unknown_model_rejected": _post(model="no-such-model"),
    "invalid_request_rejected": _post(temperature=5),
    "model_listed": _models,
    "server_error": _many,
    "undocumented_status": _post(temperature=5),
    "accept_invalid": _post(temperature=3, top_logprobs=25, n=0),
    "parameter_limits_enforced": _post(logprobs=True, top_logprobs=21),
    "usage_counts_nonzero": _post(),
    "cross_format_usage_consistent": _post(),
    "cross_format_finish_consistent": _post(max_tokens=3),
    "stop_sequence_ends_answer": _post(stop=" "),
    "reject_valid": _many,
    "bad_retry_after": _many,
    "request_completes": _stalled,
}


def _fingerprint(responses: list[httpx.Response]) -> list[tuple[int, str, str]]:
    return [(r.status_code, r.headers["content-type"], _without_created(r.text)) for r in responses]


# The faults the chat endpoints commit: chat's own and the cross-format ones (chat drifts from the others).
CHAT_ENDPOINT_FAULTS = {**FAULTS_BY_FAMILY["chat"], **FAULTS_BY_FAMILY["consistency"]}


def test_every_fault_has_a_case() -> None:
    assert FAULT_CASES.keys() == CHAT_ENDPOINT_FAULTS.keys()


@pytest.mark.parametrize("fault", sorted(CHAT_ENDPOINT_FAULTS))
def test_fault_changes_behaviour(client: httpx.Client, fault: str) -> None:
    case = FAULT_CASES[fault]
    clean = case(client, {})
    faulty = case(client, {FAULT_HEADER: f"not_a_fault, {fault}"})
    assert _fingerprint(clean) != _fingerprint(faulty)


def test_faults_from_config_and_header_switch() -> None:
    config = MockConfig(faults=frozenset({"usage_total_is_sum"}), allow_fault_header=False)
    with MockServer(config) as faulty, httpx.Client(base_url=faulty.base_url, headers=AUTH) as http:
        headers = {FAULT_HEADER: "usage_present"}
        usage = http.post("/v1/chat/completions", json=_body(), headers=headers).json()["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] + 1


def test_specific_fault_symptoms(client: httpx.Client) -> None:
    def post(fault: str, **extra: Any) -> httpx.Response:
        return client.post("/v1/chat/completions", json=_body(**extra), headers={FAULT_HEADER: fault})

    assert post("error_body_shape", model="nope").json()["error"].startswith("The model")
    assert post("invalid_request_rejected", temperature=5).status_code == 500
    assert post("undocumented_status", temperature=5).status_code == 418
    assert post("accept_invalid", temperature=3, top_logprobs=25, n=0).status_code == 200
    assert post("accept_invalid", temperature="hot").status_code == 400
    assert post("content_type_declared").headers["content-type"].startswith("text/plain")
    assert post("response_matches_schema").json()["created"] == "now"
    datas = _datas(post("stream_chunk_is_json", stream=True))
    assert datas[1] == '{"id": '
    assert _datas(post("stream_done_last", stream=True))[-1] != "[DONE]"
    calls = post("tool_call_shape", tools=TOOLS).json()["choices"][0]["message"]["tool_calls"]
    assert isinstance(calls[0]["function"]["arguments"], dict)
    plain = post("").json()["choices"][0]["message"]["content"]
    extra = _stream_text(_chunks(post("stream_matches_unary", stream=True)))[0]
    assert extra.startswith(plain) and count_tokens(extra) == count_tokens(plain) + 1
    statuses = [r.status_code for r in _many(client, {FAULT_HEADER: "server_error"})]
    assert 500 in statuses and 200 in statuses


def test_an_unsatisfiable_tool_choice_is_answered_like_auto(client: httpx.Client) -> None:
    named = {"type": "function", "function": {"name": "not_offered"}}
    response = client.post("/v1/chat/completions", json=_body(tool_choice=named))
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"].get("tool_calls") is None  # no call to a tool never offered
    offered_elsewhere = client.post("/v1/chat/completions", json=_body(tools=TOOLS, tool_choice=named))
    calls = offered_elsewhere.json()["choices"][0]["message"]["tool_calls"]
    assert [c["function"]["name"] for c in calls] == [TOOLS[0]["function"]["name"]]
    required_without_tools = client.post("/v1/chat/completions", json=_body(tool_choice="required"))
    assert required_without_tools.status_code == 200
