"""The mock's /v1/embeddings over real HTTP: the official openai SDK parses every answer, auth and error
shapes, exact usage, vectors, and every embeddings rule fires on its fault through the real probes."""

from __future__ import annotations

import base64
import math
import struct
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from openai.lib._parsing import _embeddings as sdk_embeddings
from schemathesis import GenerationMode
from schemathesis.checks import CHECKS, load_all_checks

from llmconform import spec
from llmconform.checks import REGISTRY, Results, exchange_rules
from llmconform.client import TargetClient
from llmconform.conformance.embeddings_probes import PLANNED_REQUESTS, pin_generated_body, run_embeddings_probes
from llmconform.conformance.session import Budget, Session
from llmconform.families import build_request, read_answer
from llmconform.families.embeddings import FAMILY
from llmconform.mock import DEFAULT_API_KEY, DEFAULT_MODELS, FAULT_HEADER, MockConfig, MockServer
from llmconform.mock.embeddings import DEFAULT_DIMENSIONS, MAX_DIMENSIONS, vector_for
from llmconform.mock.faults.embeddings import FAULTS
from llmconform.mock.tokenizer import count_tokens

MODEL = DEFAULT_MODELS[0]
TEXTS = ["The lighthouse keeper lit the lamp.", "Waves, rocks and a tower!"]


@pytest.fixture(scope="module")
def server() -> Iterator[MockServer]:
    with MockServer(MockConfig()) as mock:
        yield mock


@pytest.fixture(scope="module")
def client(server: MockServer) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(api_key=DEFAULT_API_KEY, base_url=server.base_url + "/v1", max_retries=0, timeout=10) as sdk:
        yield sdk


def post(
    server: MockServer, body: Any = None, *, headers: dict[str, str] | None = None, **kwargs: Any
) -> httpx.Response:
    sent = {"authorization": f"Bearer {DEFAULT_API_KEY}", **(headers or {})}
    return httpx.post(f"{server.base_url}/v1/embeddings", json=body, headers=sent, timeout=10, **kwargs)


def norm(values: list[float]) -> float:
    return math.hypot(*values)


# ------------------------------------------------------------------------------ the official SDK


def test_sdk_default_asks_base64_and_decodes_it_with_numpy(client: openai.OpenAI) -> None:
    assert sdk_embeddings.has_numpy()
    response = client.embeddings.create(model=MODEL, input=TEXTS[0])
    assert response.object == "list" and response.model == MODEL
    [item] = response.data
    assert item.object == "embedding" and item.index == 0
    assert isinstance(item.embedding, list) and len(item.embedding) == DEFAULT_DIMENSIONS
    assert item.embedding == vector_for(MODEL, TEXTS[0], DEFAULT_DIMENSIONS)
    assert response.usage.prompt_tokens == response.usage.total_tokens == count_tokens(TEXTS[0])


def test_sdk_default_decodes_base64_without_numpy(client: openai.OpenAI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sdk_embeddings, "has_numpy", lambda: False)
    response = client.embeddings.create(model=MODEL, input=TEXTS)
    assert [d.embedding for d in response.data] == [vector_for(MODEL, t, DEFAULT_DIMENSIONS) for t in TEXTS]


def test_sdk_float_list_and_dimensions(client: openai.OpenAI) -> None:
    response = client.embeddings.create(model=MODEL, input=TEXTS, encoding_format="float", dimensions=16)
    assert [d.index for d in response.data] == [0, 1]
    for text, item in zip(TEXTS, response.data, strict=True):
        assert len(item.embedding) == 16
        assert abs(norm(item.embedding) - 1) < 1e-6
        assert item.embedding == vector_for(MODEL, text, 16)
    assert response.usage.prompt_tokens == sum(count_tokens(t) for t in TEXTS) == response.usage.total_tokens


def test_sdk_explicit_base64_is_handed_over_as_sent(client: openai.OpenAI) -> None:
    encoded = client.embeddings.create(model=MODEL, input=TEXTS, encoding_format="base64", dimensions=8)
    floats = client.embeddings.create(model=MODEL, input=TEXTS, encoding_format="float", dimensions=8)
    for as_text, as_floats in zip(encoded.data, floats.data, strict=True):
        text: Any = as_text.embedding
        assert isinstance(text, str)
        raw = base64.b64decode(text)
        assert len(raw) == 8 * 4
        assert list(struct.unpack("<8f", raw)) == as_floats.embedding


def test_sdk_token_id_inputs(client: openai.OpenAI) -> None:
    one = client.embeddings.create(model=MODEL, input=[5, 6, 7], encoding_format="float")
    assert len(one.data) == 1 and one.usage.prompt_tokens == 3
    two = client.embeddings.create(model=MODEL, input=[[5, 6, 7], [8]], encoding_format="float")
    assert [d.index for d in two.data] == [0, 1] and two.usage.prompt_tokens == 4
    assert two.data[0].embedding == one.data[0].embedding


def test_sdk_async_client(server: MockServer) -> None:
    import asyncio

    async def run() -> list[float]:
        async with openai.AsyncOpenAI(
            api_key=DEFAULT_API_KEY, base_url=server.base_url + "/v1", max_retries=0, timeout=10
        ) as sdk:
            response = await sdk.embeddings.create(model=MODEL, input=TEXTS[1])
            return response.data[0].embedding

    assert asyncio.run(run()) == vector_for(MODEL, TEXTS[1], DEFAULT_DIMENSIONS)


@pytest.mark.parametrize(
    ("kwargs", "error", "param"),
    [
        ({"input": ""}, openai.BadRequestError, "input"),
        ({"input": []}, openai.BadRequestError, "input"),
        ({"input": ["a", ""]}, openai.BadRequestError, "input.1"),
        ({"input": ["a"] * 2049}, openai.BadRequestError, "input"),
        ({"input": "a", "dimensions": 0}, openai.BadRequestError, "dimensions"),
        ({"input": "a", "dimensions": MAX_DIMENSIONS + 1}, openai.BadRequestError, "dimensions"),
        ({"input": "a", "model": "no-such-model"}, openai.NotFoundError, "model"),
        ({"input": "a", "extra_body": {"encoding_format": "hex"}}, openai.BadRequestError, "encoding_format"),
    ],
    ids=["empty", "empty-array", "empty-item", "2049", "dimensions-0", "dimensions-high", "model", "format"],
)
def test_sdk_raises_typed_errors(client: openai.OpenAI, kwargs: dict[str, Any], error: type, param: str) -> None:
    arguments = {"model": MODEL, **kwargs}
    with pytest.raises(error) as info:
        client.embeddings.create(**arguments)
    assert isinstance(info.value, openai.APIStatusError)
    body = info.value.body
    assert isinstance(body, dict) and body["param"] == param and body["type"] == "invalid_request_error"
    assert info.value.response.headers["content-type"] == "application/json"


def test_sdk_auth_errors(server: MockServer) -> None:
    sdk = openai.OpenAI(api_key="sk-wrong-key-123456", base_url=server.base_url + "/v1", max_retries=0)
    with sdk, pytest.raises(openai.AuthenticationError) as info:
        sdk.embeddings.create(model=MODEL, input="x")
    assert "sk-wrong-key-123456" not in str(info.value)


# ----------------------------------------------------------------------------- auth and errors


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"authorization": ""}, 401),
        ({"authorization": "Bearer nope"}, 401),
        ({"authorization": f"Basic {DEFAULT_API_KEY}"}, 401),
        ({"authorization": f"bearer {DEFAULT_API_KEY}"}, 200),
        ({"authorization": f"Bearer {DEFAULT_API_KEY}"}, 200),
    ],
    ids=["none", "wrong", "basic", "lowercase-bearer", "bearer"],
)
def test_auth_variants(server: MockServer, headers: dict[str, str], status: int) -> None:
    response = post(server, {"model": MODEL, "input": "x"}, headers=headers)
    assert response.status_code == status
    if status == 401:
        error = response.json()["error"]
        assert error["type"] == "invalid_request_error" and error["code"] == "invalid_api_key"


def test_error_shapes_for_bodies_and_routes(server: MockServer) -> None:
    not_json = post(server, content=b'{"model": ', headers={"content-type": "application/json"})
    assert not_json.status_code == 400 and not_json.json()["error"]["code"] == "invalid_json"
    array = post(server, ["x"])
    assert array.status_code == 400 and set(array.json()["error"]) == {"message", "type", "param", "code"}
    wrong_method = httpx.get(f"{server.base_url}/v1/embeddings", timeout=10)
    assert wrong_method.status_code == 405 and wrong_method.headers["allow"] == "POST"
    assert wrong_method.json()["error"]["code"] == "method_not_allowed"
    below = httpx.post(f"{server.base_url}/v1/embeddings/x", timeout=10)
    assert below.status_code == 404 and isinstance(below.json()["error"]["message"], str)


def test_oversized_body_is_413() -> None:
    with MockServer(MockConfig(max_body_bytes=200)) as small:
        response = post(small, {"model": MODEL, "input": ["word"] * 100})
    assert response.status_code == 413 and response.json()["error"]["code"] == "request_too_large"


def test_big_integers_and_lone_surrogates_are_read(server: MockServer) -> None:
    huge = post(server, content=b'{"model": "%s", "input": [[1, 123456789012345678901234567890]]}' % MODEL.encode())
    assert huge.status_code == 200 and huge.json()["usage"]["prompt_tokens"] == 2
    surrogate = post(server, content=b'{"model": "%s", "input": "a\\ud800b"}' % MODEL.encode())
    assert surrogate.status_code == 200


def test_chat_faults_do_not_leak_into_embeddings(server: MockServer) -> None:
    response = post(server, {"model": "no-such-model", "input": "x"}, headers={FAULT_HEADER: "error_body_shape"})
    assert response.status_code == 404 and isinstance(response.json()["error"], dict)


# ---------------------------------------------------------------------------------- the vectors


def test_vectors_are_deterministic_per_model_and_shortened_by_prefix(server: MockServer) -> None:
    body = {"model": MODEL, "input": [TEXTS[0], TEXTS[1], TEXTS[0]]}
    first, second = post(server, body).json(), post(server, body).json()
    assert first["data"] == second["data"]
    assert first["data"][0]["embedding"] == first["data"][2]["embedding"]
    other = post(server, {**body, "model": DEFAULT_MODELS[1]}).json()
    assert other["data"][0]["embedding"] != first["data"][0]["embedding"]
    full = first["data"][0]["embedding"]
    short = post(server, {**body, "dimensions": 10}).json()["data"][0]["embedding"]
    prefix = [v / norm(full[:10]) for v in full[:10]]
    assert all(abs(a - b) < 1e-6 for a, b in zip(short, prefix, strict=True))
    longer = post(server, {**body, "dimensions": 1024}).json()["data"][0]["embedding"]
    assert len(longer) == 1024 and abs(norm(longer) - 1) < 1e-6


def test_latency_is_one_round_of_ttft() -> None:
    with MockServer(MockConfig(ttft_ms=150, itl_ms=50)) as slow:
        started = time.perf_counter()
        response = post(slow, {"model": MODEL, "input": TEXTS})
        elapsed = time.perf_counter() - started
    assert response.status_code == 200 and 0.15 <= elapsed < 1.0


def test_family_interface_round_trip(server: MockServer) -> None:
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": TEXTS[0]}]
    method, path, operation, body = build_request(FAMILY, MODEL, messages, max_tokens=8, stream=True, ignore_eos=True)
    with TargetClient(server.base_url, DEFAULT_API_KEY) as target:
        exchange = target.send(method, path, family=FAMILY, operation=operation, json_body=body, label="interface")
    answer = read_answer(exchange)
    assert answer is not None
    assert answer.input_tokens == count_tokens("Be brief.") + count_tokens(TEXTS[0])
    assert (answer.output_tokens, answer.text, answer.text_events, answer.finish) == (0, "", [], None)


# ------------------------------------------------------------------------- rules through probes


def probe(faults: frozenset[str] = frozenset()) -> tuple[Results, int]:
    with MockServer(MockConfig(faults=faults)) as mock, TargetClient(mock.base_url, DEFAULT_API_KEY) as target:
        results = Results()
        session = Session(target, results, Budget(PLANNED_REQUESTS), MODEL, exchange_rules())
        run_embeddings_probes(session)
        return results, session.exchanges_sent


@pytest.fixture(scope="module")
def clean() -> tuple[Results, int]:
    return probe()


def test_clean_mock_is_silent_and_every_rule_is_judged(clean: tuple[Results, int]) -> None:
    results, sent = clean
    assert [(f.rule, f.message) for f in results.findings] == []
    assert sent == PLANNED_REQUESTS
    ids = [rule.id for rule in REGISTRY if rule.family == FAMILY]
    assert [rule_id for rule_id in ids if results.count(rule_id).judged == 0] == []
    assert not [rule_id for rule_id in ids if results.count(rule_id).skipped]


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_rule_fires_on_its_fault(fault: str) -> None:
    results, _ = probe(frozenset({fault}))
    fired = {f.rule for f in results.findings}
    assert fault in fired, f"{fault}: fired {sorted(fired)}"
    assert all(rule.startswith("embeddings_") for rule in fired)


def test_faults_switch_on_by_header(server: MockServer) -> None:
    response = post(server, {"model": MODEL, "input": "x"}, headers={FAULT_HEADER: "embeddings_usage_present"})
    assert response.status_code == 200 and "usage" not in response.json()


# ------------------------------------------------------------------------- schemathesis, directly

SCHEMATHESIS_CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
    "positive_data_acceptance",
)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=lambda m: m.value)
def test_schemathesis_checks_pass_on_the_clean_mock(server: MockServer, mode: GenerationMode) -> None:
    """openapi/embeddings.yaml and the mock agree: generated cases (valid and invalid) pass every built-in check."""
    load_all_checks()
    checks = [CHECKS.get_one(name) for name in SCHEMATHESIS_CHECKS]
    schema = spec.load_schemathesis_schema("embeddings", base_url=server.base_url)
    schema.config.update(headers={"authorization": f"Bearer {DEFAULT_API_KEY}"})
    schema.config.generation.update(allow_x00=False)
    [operation] = [result.ok() for result in schema.get_all_operations()]
    sent: list[int] = []

    @settings(
        max_examples=50,
        database=None,
        derandomize=True,  # the same cases every run: CI must not depend on a lucky draw
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        if isinstance(case.body, dict):
            pin_generated_body(case.body, MODEL, mode is GenerationMode.POSITIVE)
        response = case.call()
        case.validate_response(response, checks=checks)
        sent.append(response.status_code)

    run()
    assert sent and (all(s == 200 for s in sent) if mode is GenerationMode.POSITIVE else all(s == 400 for s in sent))
