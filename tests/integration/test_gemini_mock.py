"""The mock's Gemini API over real HTTP on 127.0.0.1: the official google-genai client parses every answer,
auth styles and error shapes, the Gemini probes are silent on the clean mock and every fault makes its
rule fire, and one chat-format prompt tells the same answer through the chat and the gemini formats."""

from __future__ import annotations

import copy
import socket
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from google import genai
from google.genai import errors, types
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode

from llmconform.checks import REGISTRY, Results, check_exchange, exchange_rules
from llmconform.client import TargetClient
from llmconform.conformance.gemini_probes import PLANNED_REQUESTS, pin_generated_body, run_gemini_probes
from llmconform.conformance.session import Budget, Session
from llmconform.exchange import Exchange
from llmconform.families import build_request, read_answer
from llmconform.mock import DEFAULT_API_KEY, DEFAULT_MODELS, MockConfig, MockServer
from llmconform.mock.faults.gemini import FAULTS
from llmconform.spec import load_schemathesis_schema

MODEL = DEFAULT_MODELS[0]
GENERATE = f"/v1beta/models/{MODEL}:generateContent"
STREAM = f"/v1beta/models/{MODEL}:streamGenerateContent"
BODY: dict[str, Any] = {"contents": [{"role": "user", "parts": [{"text": "Tell me about lighthouses."}]}]}
WEATHER = types.Tool(
    function_declarations=[
        types.FunctionDeclaration(
            name="get_weather",
            description="Current weather for a city.",
            parameters=types.Schema(
                type=types.Type.OBJECT,
                properties={"city": types.Schema(type=types.Type.STRING)},
                required=["city"],
            ),
        )
    ]
)
GEMINI_RULES = sorted(rule.id for rule in REGISTRY if rule.family == "gemini")


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with MockServer(MockConfig()) as server:
        yield server.base_url


@pytest.fixture
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any connection the official client would open to anything but 127.0.0.1."""
    original = socket.socket.connect

    def connect(self: socket.socket, address: Any) -> Any:
        host = address[0] if isinstance(address, tuple) else address
        assert host == "127.0.0.1", f"the client tried to reach {address!r}"
        return original(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)


@pytest.fixture
def client(base_url: str, loopback_only: None) -> Iterator[genai.Client]:
    sdk = genai.Client(
        api_key=DEFAULT_API_KEY, http_options=types.HttpOptions(base_url=base_url, api_version="v1beta", timeout=10_000)
    )
    yield sdk
    sdk.close()


def config(**fields: Any) -> types.GenerateContentConfig:
    return types.GenerateContentConfig(temperature=0, seed=7, **fields)


# --------------------------------------------------------------------------- google-genai


def test_sdk_unary_text(client: genai.Client) -> None:
    response = client.models.generate_content(
        model=MODEL, contents="Hello", config=config(system_instruction="Be brief.")
    )
    assert response.text and response.candidates is not None
    assert response.candidates[0].finish_reason == types.FinishReason.STOP
    assert response.model_version == MODEL and response.response_id
    usage = response.usage_metadata
    assert usage is not None and usage.prompt_token_count and usage.candidates_token_count
    assert usage.total_token_count == usage.prompt_token_count + usage.candidates_token_count + (
        usage.thoughts_token_count or 0
    )


def test_sdk_stream_tells_the_unary_answer(client: genai.Client) -> None:
    unary = client.models.generate_content(model=MODEL, contents="Hello", config=config())
    chunks = list(client.models.generate_content_stream(model=f"models/{MODEL}", contents="Hello", config=config()))
    assert len(chunks) > 1
    assert "".join(c.text or "" for c in chunks) == unary.text
    assert all(c.usage_metadata is None for c in chunks[:-1])
    assert chunks[-1].usage_metadata == unary.usage_metadata
    assert chunks[-1].candidates is not None and chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP


@pytest.mark.parametrize("stream", [False, True])
def test_sdk_max_tokens(client: genai.Client, stream: bool) -> None:
    settings_ = config(max_output_tokens=3)
    if stream:
        last = list(client.models.generate_content_stream(model=MODEL, contents="Hello", config=settings_))[-1]
    else:
        last = client.models.generate_content(model=MODEL, contents="Hello", config=settings_)
    assert last.candidates is not None and last.candidates[0].finish_reason == types.FinishReason.MAX_TOKENS
    assert last.usage_metadata is not None and last.usage_metadata.candidates_token_count == 3


def test_sdk_stop_sequences(client: genai.Client) -> None:
    full = client.models.generate_content(model=MODEL, contents="Hello", config=config())
    assert full.text is not None
    stop = full.text.split()[len(full.text.split()) // 2]
    cut = client.models.generate_content(model=MODEL, contents="Hello", config=config(stop_sequences=[stop]))
    assert cut.text == full.text[: full.text.index(stop)]
    assert cut.candidates is not None and cut.candidates[0].finish_reason == types.FinishReason.STOP


@pytest.mark.parametrize("stream", [False, True])
def test_sdk_candidate_count(client: genai.Client, stream: bool) -> None:
    settings_ = config(candidate_count=3, max_output_tokens=8)
    if stream:
        texts: dict[int, str] = {}
        for chunk in client.models.generate_content_stream(model=MODEL, contents="Hello", config=settings_):
            for c in chunk.candidates or []:
                texts[c.index or 0] = texts.get(c.index or 0, "") + "".join(p.text or "" for p in c.content.parts or [])  # type: ignore[union-attr]
        assert sorted(texts) == [0, 1, 2]
    else:
        response = client.models.generate_content(model=MODEL, contents="Hello", config=settings_)
        assert [c.index for c in response.candidates or []] == [0, 1, 2]


@pytest.mark.parametrize("stream", [False, True])
def test_sdk_function_call(client: genai.Client, stream: bool) -> None:
    forced = config(
        tools=[WEATHER],
        tool_config=types.ToolConfig(
            function_calling_config=types.FunctionCallingConfig(mode=types.FunctionCallingConfigMode.ANY)
        ),
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
    )
    if stream:
        chunks = list(client.models.generate_content_stream(model=MODEL, contents="Weather in Lisbon?", config=forced))
        calls = [call for chunk in chunks for call in chunk.function_calls or []]
        last = chunks[-1]
    else:
        last = client.models.generate_content(model=MODEL, contents="Weather in Lisbon?", config=forced)
        calls = last.function_calls or []
    assert [call.name for call in calls] == ["get_weather"]
    assert isinstance(calls[0].args, dict) and isinstance(calls[0].args.get("city"), str)
    assert last.candidates is not None and last.candidates[0].finish_reason == types.FinishReason.STOP


@pytest.mark.parametrize("include", [False, True])
def test_sdk_thinking(client: genai.Client, include: bool) -> None:
    thinking = config(thinking_config=types.ThinkingConfig(thinking_budget=32, include_thoughts=include))
    response = client.models.generate_content(model=MODEL, contents="Hello", config=thinking)
    plain = client.models.generate_content(model=MODEL, contents="Hello", config=config())
    usage = response.usage_metadata
    assert usage is not None and usage.thoughts_token_count and 0 < usage.thoughts_token_count <= 32
    assert (
        usage.total_token_count
        == (usage.prompt_token_count or 0) + (usage.candidates_token_count or 0) + usage.thoughts_token_count
    )
    assert response.text == plain.text  # thought text never mixes into the answer
    parts = response.candidates[0].content.parts if response.candidates and response.candidates[0].content else []
    assert [bool(p.thought) for p in parts or []] == ([True, False] if include else [False])
    streamed = list(client.models.generate_content_stream(model=MODEL, contents="Hello", config=thinking))
    assert streamed[-1].usage_metadata == usage


def test_sdk_models(client: genai.Client) -> None:
    listed = list(client.models.list())
    assert [m.name for m in listed] == [f"models/{m}" for m in DEFAULT_MODELS]
    assert listed[0].input_token_limit and listed[0].output_token_limit
    model = client.models.get(model=MODEL)
    assert model.name == f"models/{MODEL}" and model.supported_actions == ["generateContent", "streamGenerateContent"]


def test_sdk_errors(client: genai.Client, base_url: str) -> None:
    with pytest.raises(errors.ClientError) as unknown:
        client.models.generate_content(model="no-such-model", contents="Hello")
    assert (unknown.value.code, unknown.value.status) == (404, "NOT_FOUND")
    with pytest.raises(errors.ClientError) as invalid:
        client.models.generate_content(model=MODEL, contents="Hello", config=config(candidate_count=9))
    assert (invalid.value.code, invalid.value.status) == (400, "INVALID_ARGUMENT")
    wrong = genai.Client(api_key="wrong-key", http_options=types.HttpOptions(base_url=base_url, api_version="v1beta"))
    with pytest.raises(errors.ClientError) as refused:
        list(wrong.models.generate_content_stream(model=MODEL, contents="Hello"))
    assert (refused.value.code, refused.value.status) == (401, "UNAUTHENTICATED")


# ------------------------------------------------------------------------------ raw HTTP


def post(base_url: str, path: str, body: Any = BODY, **kwargs: Any) -> httpx.Response:
    return httpx.post(base_url + path, json=body, timeout=10, **kwargs)


def judged(exchange_url: str, response: httpx.Response, operation: str, body: Any = BODY) -> set[str]:
    exchange = Exchange(
        family="gemini",
        operation=operation,
        method="POST",
        url=exchange_url,
        request_headers={},
        request_json=body,
        status=response.status_code,
        response_headers={k.lower(): v for k, v in response.headers.items()},
        body=response.content,
    )
    results = Results()
    check_exchange(exchange, results)
    return {f.rule for f in results.findings}


@pytest.mark.parametrize(
    ("headers", "query"),
    [
        ({"x-goog-api-key": DEFAULT_API_KEY}, ""),
        ({"authorization": f"Bearer {DEFAULT_API_KEY}"}, ""),
        ({}, f"?key={DEFAULT_API_KEY}"),
        # AboAI's own example: a junk ?key=, an empty Authorization and a valid x-goog-api-key
        ({"x-goog-api-key": DEFAULT_API_KEY, "authorization": ""}, "?key=undefined"),
    ],
    ids=["x-goog-api-key", "bearer", "key-query", "aboai-example"],
)
def test_every_auth_style_is_accepted(base_url: str, headers: dict[str, str], query: str) -> None:
    assert post(base_url, GENERATE + query, headers=headers).status_code == 200


@pytest.mark.parametrize(
    ("headers", "status", "grpc"),
    [({}, 403, "PERMISSION_DENIED"), ({"x-goog-api-key": "wrong"}, 401, "UNAUTHENTICATED")],
    ids=["no-credential", "wrong-key"],
)
def test_refusals_are_google_errors(base_url: str, headers: dict[str, str], status: int, grpc: str) -> None:
    response = post(base_url, GENERATE, headers=headers)
    assert response.status_code == status
    assert response.json()["error"]["code"] == status and response.json()["error"]["status"] == grpc
    assert judged(base_url + GENERATE, response, "POST /v1beta/models/{model}:generateContent") == set()


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/v1beta/models/nope:generateContent", BODY, 404),
        (GENERATE, {"contents": "hello"}, 400),
        (GENERATE, {"contents": [], "generationConfig": {"maxOutputTokens": 4}}, 400),
        (STREAM + "?alt=proto", BODY, 400),
        (f"/v1beta/models/{MODEL}:countTokens", BODY, 404),
        ("/v1beta/tunedModels", BODY, 404),
    ],
)
def test_errors_are_google_errors(base_url: str, path: str, body: Any, status: int) -> None:
    response = post(base_url, path, body, headers={"x-goog-api-key": DEFAULT_API_KEY})
    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] == status and isinstance(error["message"], str) and error["status"]


def test_model_list_pages(base_url: str) -> None:
    headers = {"x-goog-api-key": DEFAULT_API_KEY}
    first = httpx.get(f"{base_url}/v1beta/models?pageSize=1", headers=headers).json()
    assert [m["name"] for m in first["models"]] == [f"models/{DEFAULT_MODELS[0]}"]
    second = httpx.get(f"{base_url}/v1beta/models?pageSize=1&pageToken={first['nextPageToken']}", headers=headers)
    assert [m["name"] for m in second.json()["models"]] == [f"models/{DEFAULT_MODELS[1]}"]
    assert "nextPageToken" not in second.json()
    for bad in ("-1", "%C2%B3", "two"):
        refused = httpx.get(f"{base_url}/v1beta/models?pageSize={bad}", headers=headers)
        assert refused.status_code == 400 and refused.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert httpx.get(f"{base_url}/v1beta/models/nope", headers=headers).json()["error"]["code"] == 404


def test_sse_frames_are_crlf_and_end_without_done(base_url: str) -> None:
    response = post(base_url, STREAM + "?alt=sse", headers={"x-goog-api-key": DEFAULT_API_KEY})
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.text.startswith("data: {") and response.text.endswith("}\r\n\r\n")
    assert "[DONE]" not in response.text


def test_without_alt_sse_the_stream_is_one_json_array(base_url: str) -> None:
    headers = {"x-goog-api-key": DEFAULT_API_KEY}
    frames = post(base_url, STREAM, headers=headers).json()
    unary = post(base_url, GENERATE, headers=headers).json()
    assert isinstance(frames, list) and len(frames) > 1
    text = "".join(p["text"] for f in frames for c in f["candidates"] for p in c["content"]["parts"])
    assert text == unary["candidates"][0]["content"]["parts"][0]["text"]
    assert frames[-1]["usageMetadata"] == unary["usageMetadata"]


# ------------------------------------------------------------------------------- probes


def probe(faults: frozenset[str] = frozenset()) -> tuple[Results, Session]:
    with (
        MockServer(MockConfig(faults=faults)) as server,
        TargetClient(server.base_url, server.config.api_key) as target,
    ):
        session = Session(target, Results(), Budget(PLANNED_REQUESTS), MODEL, exchange_rules())
        run_gemini_probes(session)
        return session.results, session


def test_clean_mock_is_silent_and_every_rule_is_judged() -> None:
    results, session = probe()
    assert [(f.rule, f.message) for f in results.findings] == []
    assert [rule for rule in GEMINI_RULES if results.count(rule).judged == 0] == []
    assert session.exchanges_sent <= PLANNED_REQUESTS


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_rule_fires_on_its_fault(fault: str) -> None:
    results, _ = probe(frozenset({fault}))
    fired = {f.rule for f in results.findings}
    assert fault in fired, f"{fault}: got {sorted(fired)}"


# ------------------------------------------------------------------------ across formats


@pytest.mark.parametrize("stream", [False, True])
def test_one_prompt_tells_the_same_answer_as_chat(base_url: str, stream: bool) -> None:
    """The same chat-format conversation through /v1/chat/completions and :generateContent: same text, same
    token counts, same finish (rules X1 and X2)."""
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Tell me a story."}]
    answers = {}
    with TargetClient(base_url, DEFAULT_API_KEY) as target:
        for family in ("chat", "gemini"):
            for limit in (None, 5):
                method, path, operation, body = build_request(
                    family, MODEL, messages, max_tokens=limit, stream=stream, temperature=0
                )
                exchange = target.send(method, path, family=family, operation=operation, json_body=body)
                assert exchange.ok, exchange.body[:200]
                answers[(family, limit)] = read_answer(exchange)
    for limit in (None, 5):
        chat, gemini = answers[("chat", limit)], answers[("gemini", limit)]
        assert chat is not None and gemini is not None
        assert (gemini.text, gemini.input_tokens, gemini.output_tokens, gemini.finish) == (
            chat.text,
            chat.input_tokens,
            chat.output_tokens,
            chat.finish,
        )
        assert len(gemini.text_events) == len(chat.text_events)
    assert answers[("gemini", 5)].finish == "length"  # type: ignore[union-attr]


# ---------------------------------------------------------------------------- schemathesis


SCHEMATHESIS_CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
    "positive_data_acceptance",
)


def _drive(target: TargetClient, operation: Any, mode: GenerationMode, results: Results, failures: list[str]) -> None:
    """Send generated cases the way the harness does: path parameter ``model`` pinned, body bounded."""
    from schemathesis.checks import CHECKS

    checks = [CHECKS.get_one(name) for name in SCHEMATHESIS_CHECKS]

    @settings(
        max_examples=5,
        database=None,
        deadline=None,
        derandomize=True,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def send(case: Any) -> None:
        case.path_parameters["model"] = MODEL
        if isinstance(case.body, dict):
            pin_generated_body(case.body, MODEL, mode is GenerationMode.POSITIVE)
        kwargs = case.as_transport_kwargs(base_url=target.base_url)
        url = httpx.URL(kwargs["url"], params=kwargs.get("params"))
        headers = {k: str(v) for k, v in (kwargs.get("headers") or {}).items() if k.lower() != "user-agent"}
        exchange = target.send(
            case.method,
            url.raw_path.decode(),
            family="gemini",
            operation=operation.label,
            json_body=copy.deepcopy(kwargs.get("json")),
            headers=headers,
            auth=False,
        )
        check_exchange(exchange, results)
        response = httpx.Response(
            exchange.status or 599,
            headers=list(exchange.response_headers.items()),
            content=exchange.body,
            request=httpx.Request(case.method, exchange.url),
        )
        response.elapsed = timedelta(seconds=exchange.elapsed_s)
        for check in checks:
            try:
                case.validate_response(response, checks=[check], headers=exchange.request_headers)
            except Exception as exc:
                failures.append(f"{operation.label} {mode.value} {check.__name__}: {str(exc)[:200]}")

    send()


def test_schemathesis_cases_pass_on_the_clean_mock(base_url: str) -> None:
    """Positive and negative generated cases for the colon paths: schemathesis' own checks and every exchange
    rule hold (the lead's generic driver pins the path parameter ``model`` the same way)."""
    from schemathesis.checks import load_all_checks

    load_all_checks()
    schema = load_schemathesis_schema("gemini", base_url=base_url)
    schema.config.update(headers={"x-goog-api-key": DEFAULT_API_KEY})
    schema.config.generation.update(allow_x00=False)
    operations = {r.ok().label: r.ok() for r in schema.get_all_operations()}
    results = Results()
    failures: list[str] = []
    with TargetClient(base_url, DEFAULT_API_KEY) as target:
        for label in (
            "POST /v1beta/models/{model}:generateContent",
            "POST /v1beta/models/{model}:streamGenerateContent",
        ):
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                _drive(target, operations[label], mode, results, failures)
    assert failures == []
    assert [(f.rule, f.message) for f in results.findings] == []
