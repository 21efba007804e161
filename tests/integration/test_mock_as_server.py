"""The mock as a server: no generated input makes it fail, no body overruns its limit, many clients at once
get the answers one client gets.

* schemathesis generates positive and negative cases from every openapi/*.yaml document and sends them over
  HTTP to the mock on 127.0.0.1: no answer is a 5xx (schemathesis' ``not_a_server_error``), and every answer
  is complete and well-formed (the connection is never dropped, a JSON answer parses, a stream ends cleanly).
* A body over ``MockConfig.max_body_bytes`` gets 413 in the error shape of its family on every POST operation,
  whether the client declares its length or streams it chunked; with the limit raised the same body is read.
* 64 concurrent streams over four formats complete with exactly the answers the same requests get one by one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.core.failures import FailureGroup
from starlette.responses import Response, StreamingResponse

from llmconform.checks import REGISTRY, Results
from llmconform.client import TargetClient
from llmconform.conformance.families import FAMILY_CHECKS
from llmconform.exchange import Exchange
from llmconform.families import build_request, read_answer, request_headers
from llmconform.mock import DEFAULT_API_KEY, DEFAULT_MODELS, MockConfig, MockServer
from llmconform.mock.embeddings import EmbeddingsEndpoints
from llmconform.spec import SPEC_DIR, load_document, load_schemathesis_schema
from llmconform.sse import decode_all

MODEL = DEFAULT_MODELS[0]
DOCUMENTS = sorted(path.stem for path in SPEC_DIR.glob("*.yaml"))
# Generated cases per operation and generation mode: enough to reach every handler's validation, few enough
# that the file stays within its minute.
EXAMPLES = 10
REQUEST_TIMEOUT_S = 30.0
LIMIT = 4096


def _families_by_operation() -> dict[tuple[str, str], str]:
    """(document, operationId) -> the family whose rules and auth apply, from the check run's own table."""
    found: dict[tuple[str, str], str] = {}
    for check in FAMILY_CHECKS.values():
        if check.document is None:
            continue
        for path_item in load_document(check.document).get("paths", {}).values():
            for operation in path_item.values():
                if not isinstance(operation, dict) or "operationId" not in operation:
                    continue
                if check.operations is None or operation["operationId"] in check.operations:
                    found[(check.document, operation["operationId"])] = check.name
    return found


FAMILY_OF = _families_by_operation()


def _operations() -> list[tuple[str, str, str, str]]:
    """(document, operationId, method, path template) of every operation of every document."""
    found = []
    for document in DOCUMENTS:
        for path, path_item in load_document(document).get("paths", {}).items():
            for method, operation in path_item.items():
                if isinstance(operation, dict) and "operationId" in operation:
                    found.append((document, operation["operationId"], method.upper(), path))
    return found


OPERATIONS = _operations()
POSTS = [op for op in OPERATIONS if op[2] == "POST"]
POST_PATHS = {doc: [(method, path) for d, _, method, path in POSTS if d == doc] for doc in DOCUMENTS}


@pytest.fixture(scope="module")
def server() -> Iterator[MockServer]:
    """A clean mock that takes no fault header, so nothing a case sends can ask it for a 5xx."""
    with MockServer(MockConfig(allow_fault_header=False)) as running:
        yield running


# ------------------------------------------------------------------------------- schemathesis, every input


def _well_formed(response: Any) -> str | None:
    """Why a complete HTTP answer is malformed for its declared media type, or None."""
    media = response.headers.get("content-type", [""])
    media = (media[0] if isinstance(media, list) else media).split(";", 1)[0].strip().lower()
    body: bytes = response.content
    if media == "application/json" or media.endswith("+json"):
        try:
            response.json()
        except ValueError as exc:
            return f"a {response.status_code} application/json body that does not parse: {exc}: {body[:200]!r}"
    elif media == "text/event-stream":
        if not body.endswith((b"\n\n", b"\r\n\r\n", b"\r\r")):
            return f"a stream that does not end with a complete event: ...{body[-200:]!r}"
        if not decode_all(body):
            return "a stream without a single event"
    return None


def _drive(base_url: str, document: str, mode: GenerationMode, examples: int) -> tuple[list[str], Counter[str]]:
    """Send ``examples`` schemathesis cases of ``mode`` per operation of ``document``; (what went wrong, how many
    answers each operation got)."""
    load_all_checks()
    not_a_server_error = CHECKS.get_one("not_a_server_error")
    schema = load_schemathesis_schema(document, base_url=base_url)
    family = next(family for (doc, _), family in FAMILY_OF.items() if doc == document)
    # The key is a configured header, so negative cases can also drop or mangle it.
    schema.config.update(headers=request_headers(family, DEFAULT_API_KEY))
    schema.config.generation.update(allow_x00=False)
    failures: list[str] = []
    answered: Counter[str] = Counter()
    for result in schema.get_all_operations():
        operation = result.ok()

        @settings(
            max_examples=examples,
            database=None,
            deadline=None,
            derandomize=True,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(generation_mode=mode))
        def send(case: Any) -> None:
            if mode is GenerationMode.POSITIVE:
                if isinstance(case.path_parameters, dict) and "model" in case.path_parameters:
                    case.path_parameters["model"] = MODEL
                if isinstance(case.body, dict) and "model" in case.body:
                    case.body["model"] = MODEL
            where = f"{case.method} {case.formatted_path} ({mode.value})"
            try:
                response = case.call(timeout=REQUEST_TIMEOUT_S)
            except Exception as exc:  # the mock dropped the connection, hung, or sent something unparseable
                failures.append(f"{where}: no answer: {type(exc).__name__}: {exc}")
                return
            answered[f"{case.method} {case.path}"] += 1
            try:
                case.validate_response(response, checks=[not_a_server_error])
            except FailureGroup as group:  # a BaseExceptionGroup of schemathesis Failures
                failures.extend(f"{where}: {failure.title} ({response.status_code})" for failure in group.exceptions)
            malformed = _well_formed(response)
            if malformed is not None:
                failures.append(f"{where}: {malformed}")

        try:
            send()
        except Unsatisfiable:
            pass  # no case of this mode exists (a negative path parameter that is any string, no parameters at all)
    return failures, answered


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=lambda m: m.value)
@pytest.mark.parametrize("document", DOCUMENTS)
def test_no_generated_input_makes_the_mock_fail(server: MockServer, document: str, mode: GenerationMode) -> None:
    """Every operation of the document, fed schemathesis' cases: never a 5xx, a dropped connection or a
    malformed answer. Positive cases name a served model, so they reach generation; negative ones reach
    every refusal (auth, schema, model)."""
    failures, answered = _drive(server.base_url, document, mode, EXAMPLES)
    assert not failures, "\n".join(failures[:10])
    # Every operation with a request body got cases of both modes, so each handler's checks were reached.
    for method, path in POST_PATHS[document]:
        assert answered[f"{method} {path}"] > 0, f"no {mode.value} case reached {method} {path}"


def test_the_driver_sees_a_5xx_and_a_dropped_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    """The test above can fail: a handler that raises (the mock's guard answers 500) and one whose answer breaks
    off mid-body (the connection closes without a complete answer) are both reported."""

    def raises(*_: Any) -> bytes:
        raise RuntimeError("a bug in the mock")

    monkeypatch.setattr(EmbeddingsEndpoints, "_answer", raises)
    with MockServer(MockConfig()) as broken:
        failures, _ = _drive(broken.base_url, "embeddings", GenerationMode.POSITIVE, 3)
    assert failures and all(f.endswith("Server error (500)") for f in failures), failures

    async def breaks_off(*_: Any) -> Response:
        async def body() -> AsyncIterator[bytes]:
            yield b'{"object": "list", "data": ['
            raise RuntimeError("the answer broke off")

        return StreamingResponse(body(), media_type="application/json")

    monkeypatch.setattr(EmbeddingsEndpoints, "_create", breaks_off)
    with MockServer(MockConfig()) as dropping:
        failures, _ = _drive(dropping.base_url, "embeddings", GenerationMode.POSITIVE, 3)
    assert failures and all("no answer" in f for f in failures), failures


# ------------------------------------------------------------------------------------- body size limits

GENERATION = ("chat", "messages", "gemini", "responses")


@pytest.fixture(scope="module")
def small() -> Iterator[MockServer]:
    """A mock that takes bodies of up to LIMIT bytes."""
    with MockServer(MockConfig(max_body_bytes=LIMIT)) as running:
        yield running


@pytest.fixture(scope="module")
def roomy() -> Iterator[MockServer]:
    """The same mock with the limit raised far above the test bodies."""
    with MockServer(MockConfig(max_body_bytes=64 * LIMIT)) as running:
        yield running


def _large_body(family: str, path: str, size: int) -> tuple[str, bytes]:
    """(URL path, a JSON request body of more than ``size`` bytes that the family accepts) for a POST operation."""
    text = "lighthouse " * (size // 11 + 1)
    if family in GENERATION:
        _, built_path, _, body = build_request(
            family, MODEL, [{"role": "user", "content": text}], max_tokens=4, stream=False
        )
        return built_path, orjson.dumps(body)
    body = {"model": MODEL, "input": text} if family == "embeddings" else {"model": MODEL, "prompt": text}
    return path.replace("{model}", MODEL), orjson.dumps(body)


def _pieces(body: bytes, chunked: bool) -> Any:
    """The body as httpx sends it: whole (Content-Length) or as a generator (Transfer-Encoding: chunked)."""
    return iter([body[i : i + 512] for i in range(0, len(body), 512)]) if chunked else body


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize(("document", "operation_id", "method", "path"), POSTS, ids=[op[1] for op in POSTS])
def test_a_body_over_the_limit_is_413_in_the_family_shape(
    small: MockServer, roomy: MockServer, document: str, operation_id: str, method: str, path: str, chunked: bool
) -> None:
    """Over ``max_body_bytes`` the mock answers 413 before reading further, in the family's error shape (its
    own rules judge the answer and find nothing); under a raised limit the same body gets past the size check
    (a JSON operation of a generation family or embeddings answers it 2xx)."""
    family = FAMILY_OF.get((document, operation_id), document)
    url_path, body = _large_body(family, path, 2 * LIMIT)
    headers = {**request_headers(family, DEFAULT_API_KEY), "content-type": "application/json"}
    refused = httpx.post(small.base_url + url_path, content=_pieces(body, chunked), headers=headers, timeout=30)
    assert refused.status_code == 413, refused.text[:300]
    exchange = Exchange(family, f"{method} {path}", method, small.base_url + url_path, headers, None)
    exchange.status, exchange.body = refused.status_code, refused.content
    exchange.response_headers = {k.lower(): v for k, v in refused.headers.items()}
    results = Results()
    for rule in REGISTRY.of_kind("exchange"):
        if rule.family == family and rule.applies is not None and rule.function is not None and rule.applies(exchange):
            results.judge(rule, list(rule.function(exchange)), exchange)
    assert any(rule.endswith("error_body_shape") for rule in results.counts), f"no {family} error-shape rule judged it"
    assert not results.findings, [f"{f.rule}: {f.message}" for f in results.findings]
    accepted = httpx.post(roomy.base_url + url_path, content=_pieces(body, chunked), headers=headers, timeout=30)
    assert accepted.status_code != 413 and accepted.status_code < 500, accepted.text[:300]
    if family in (*GENERATION, "embeddings"):
        assert accepted.status_code == 200, accepted.text[:300]


# ------------------------------------------------------------------------------------- concurrent clients

PROMPTS = 16


def _stream_requests() -> list[tuple[str, str, str, dict[str, Any]]]:
    """(family, path, operation, body) of 64 streamed requests: 16 prompts through four formats."""
    found = []
    for number in range(PROMPTS):
        messages = [{"role": "user", "content": f"Tell me about lighthouse number {number}."}]
        for family in GENERATION:
            _, path, operation, body = build_request(family, MODEL, messages, max_tokens=None, stream=True)
            found.append((family, path, operation, body))
    return found


def _answer(exchange: Exchange) -> tuple[Any, ...]:
    """What must not depend on other clients: the text, how it was split into events, usage and finish."""
    assert exchange.error is None and exchange.status == 200, (exchange.status, exchange.error)
    answer = read_answer(exchange)
    assert answer is not None and answer.stream
    pieces = [text for _, text in answer.text_events]
    return answer.text, pieces, answer.input_tokens, answer.output_tokens, answer.finish


def test_64_concurrent_streams_get_the_answers_one_client_gets() -> None:
    """64 streams at once (16 prompts x chat, messages, gemini, responses; 2 ms between chunks so they overlap)
    end complete, each with exactly the answer its request gets alone; the prompts' answers all differ, so a
    stream crossed with another's would show."""
    requests = _stream_requests()
    with MockServer(MockConfig(itl_ms=2.0, allow_fault_header=False)) as server:
        with TargetClient(server.base_url, DEFAULT_API_KEY) as client:
            alone = [_answer(client.send("POST", p, family=f, operation=o, json_body=b)) for f, p, o, b in requests]
        with TargetClient(server.base_url, DEFAULT_API_KEY) as client, ThreadPoolExecutor(len(requests)) as pool:
            exchanges = list(
                pool.map(lambda r: client.send("POST", r[1], family=r[0], operation=r[2], json_body=r[3]), requests)
            )
    assert [_answer(e) for e in exchanges] == alone
    assert len({a[0] for a in alone}) == PROMPTS, "two prompts got the same text: the comparison proves nothing"
    # They did run at once: most streams were open while the slowest to start began.
    last_start = max(e.started_at for e in exchanges)
    open_then = sum(1 for e in exchanges if e.started_at <= last_start <= e.started_at + e.elapsed_s)
    assert open_then >= len(exchanges) // 2, f"only {open_then} streams overlapped"
