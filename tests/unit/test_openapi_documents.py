"""The OpenAPI documents in openapi/ are valid OpenAPI 3.1, self-consistent, and say what we mean.

Positive samples are shapes real OpenAI-compatible servers send; negative samples are the
contract breaks the schemas alone must catch (everything else is a check in llmconform.checks).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from openapi_spec_validator import OpenAPIV31SpecValidator

from llmconform import spec

DOCUMENTS = sorted(spec.SPEC_DIR.glob("*.yaml"))

# Component names other modules import by name: renaming one is an interface change.
CHAT_COMPONENTS = [
    "CreateChatCompletionRequest",
    "SystemMessage",
    "DeveloperMessage",
    "UserMessage",
    "AssistantMessage",
    "ToolMessage",
    "CreateChatCompletionResponse",
    "ChatCompletionChoice",
    "ChatCompletionResponseMessage",
    "ChoiceLogprobs",
    "ChatCompletionTokenLogprob",
    "ToolCall",
    "CompletionUsage",
    "CreateChatCompletionStreamResponse",
    "ChatCompletionStreamChoice",
    "ChatCompletionStreamResponseDelta",
    "ToolCallChunk",
    "ChatCompletionStreamEvent",
    "ErrorResponse",
    "Error",
    "ListModelsResponse",
    "Model",
    "FunctionDefinition",
]


def _walk(node: Any, path: str = "#") -> Iterator[tuple[str, Any]]:
    yield path, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _walk(value, f"{path}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, f"{path}/{index}")


def _resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), f"only local references are used in openapi/: {ref}"
    node: Any = document
    for raw in ref[2:].split("/"):
        part = raw.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict) and part in node, f"unresolvable $ref {ref} (missing {part!r})"
        node = node[part]
    return node


def _reachable(document: dict[str, Any], start: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every schema object reachable from ``start``, following $refs once each."""
    seen: set[str] = set()
    stack: list[tuple[str, Any]] = [("#", start)]
    while stack:
        where, node = stack.pop()
        for path, child in _walk(node, where):
            if isinstance(child, dict):
                yield path, child
                ref = child.get("$ref")
                if isinstance(ref, str) and ref not in seen:
                    seen.add(ref)
                    stack.append((ref, _resolve(document, ref)))


def _errors(name: str, instance: Any) -> list[str]:
    return [e.message for e in spec.validator_for(name).iter_errors(instance)]


# ---------------------------------------------------------------------------- documents


def test_documents_exist() -> None:
    assert [p.name for p in DOCUMENTS], f"no OpenAPI documents in {spec.SPEC_DIR}"
    assert spec.SPEC_DIR / "chat.yaml" in DOCUMENTS


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda p: p.name)
def test_document_is_valid_openapi_3_1(path: Path) -> None:
    document = spec.load_document(path.stem)
    assert document["openapi"] == "3.1.0"
    OpenAPIV31SpecValidator(copy.deepcopy(document)).validate()


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda p: p.name)
def test_every_ref_resolves(path: Path) -> None:
    document = spec.load_document(path.stem)
    refs = [(where, node["$ref"]) for where, node in _walk(document) if isinstance(node, dict) and "$ref" in node]
    assert refs
    for _where, ref in refs:
        _resolve(document, ref)


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda p: p.name)
def test_nullability_is_written_the_3_1_way(path: Path) -> None:
    document = spec.load_document(path.stem)
    offenders = [where for where, node in _walk(document) if isinstance(node, dict) and "nullable" in node]
    assert offenders == [], "use type: [X, 'null'] instead of the 3.0 'nullable' keyword"


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda p: p.name)
def test_responses_and_request_top_level_stay_open(path: Path) -> None:
    """Servers may add vendor fields to responses; requests may carry vendor extensions."""
    document = spec.load_document(path.stem)
    for item in document["paths"].values():
        for operation in item.values():
            for where, node in _reachable(document, operation.get("responses", {})):
                assert node.get("additionalProperties") is not False, f"closed response schema at {where}"
            body = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
            if "schema" in body:
                top = body["schema"]
                if "$ref" in top:
                    top = _resolve(document, top["$ref"])
                assert top.get("additionalProperties") is not False


def test_chat_paths_operations_and_security() -> None:
    document = spec.load_document("chat")
    assert document["info"]["title"] == "llmconform: OpenAI chat completions and model list"
    assert document["paths"]["/v1/models"]["get"]["operationId"] == "listModels"
    chat = document["paths"]["/v1/chat/completions"]["post"]
    assert chat["operationId"] == "createChatCompletion"
    assert document["security"] == [{"BearerAuth": []}]
    assert document["components"]["securitySchemes"]["BearerAuth"] == {
        **document["components"]["securitySchemes"]["BearerAuth"],
        "type": "http",
        "scheme": "bearer",
    }
    assert set(chat["responses"]) == {"200", "400", "401", "403", "404", "413", "422", "429", "500", "503"}
    assert set(chat["responses"]["200"]["content"]) == {"application/json", "text/event-stream"}
    assert set(document["paths"]["/v1/models"]["get"]["responses"]) == {"200", "401", "429", "500"}


@pytest.mark.parametrize("name", CHAT_COMPONENTS)
def test_component_names_are_stable(name: str) -> None:
    assert name in spec.load_document("chat")["components"]["schemas"]
    assert spec.component_schema(name)["$ref"] == f"#/components/schemas/{name}"


# ------------------------------------------------------------------------------ samples


def _usage(**extra: Any) -> dict[str, Any]:
    return {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12, **extra}


def _response() -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": "gpt-4o-mini",
        "system_fingerprint": None,
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": None,
                    "refusal": None,
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                        }
                    ],
                },
                "logprobs": {
                    "content": [
                        {
                            "token": "Hi",
                            "logprob": -0.1,
                            "bytes": [72, 105],
                            "top_logprobs": [{"token": "Hi", "logprob": -0.1, "bytes": None}],
                        }
                    ],
                    "refusal": None,
                },
                "finish_reason": "tool_calls",
            }
        ],
        "usage": _usage(
            prompt_tokens_details={"cached_tokens": 0, "audio_tokens": 0},
            completion_tokens_details=None,
        ),
        # vendor fields are legal
        "prompt_logprobs": None,
        "timings": {"predicted_ms": 12.5},
    }


def _chunk() -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": "gpt-4o-mini",
        "choices": [
            {
                "index": 0,
                "delta": {
                    "role": "assistant",
                    "content": "",
                    "tool_calls": [{"index": 0, "id": "call_1", "type": "function", "function": {"name": "f"}}],
                },
                "logprobs": None,
                "finish_reason": None,
            }
        ],
        "usage": None,
    }


def _usage_chunk() -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": "gpt-4o-mini",
        "choices": [],
        "usage": _usage(),
    }


def test_valid_chat_response() -> None:
    assert _errors("CreateChatCompletionResponse", _response()) == []
    minimal = _response()
    minimal["choices"][0] = {
        "index": 0,
        "message": {"role": "assistant", "content": "hi"},
        "finish_reason": "stop",
    }
    minimal["usage"] = _usage()
    assert _errors("CreateChatCompletionResponse", minimal) == []


def test_valid_stream_chunks() -> None:
    assert _errors("CreateChatCompletionStreamResponse", _chunk()) == []
    later = _chunk()
    later["choices"][0] = {
        "index": 0,
        "delta": {"tool_calls": [{"index": 0, "function": {"arguments": "{"}}]},
    }
    assert _errors("CreateChatCompletionStreamResponse", later) == []
    last = _chunk()
    last["choices"][0] = {"index": 0, "delta": {}, "finish_reason": "stop"}
    del last["usage"]
    assert _errors("CreateChatCompletionStreamResponse", last) == []


def test_empty_choices_usage_chunk_is_valid() -> None:
    assert _errors("CreateChatCompletionStreamResponse", _usage_chunk()) == []


def test_valid_error_bodies() -> None:
    full = {
        "error": {
            "message": "bad key",
            "type": "invalid_request_error",
            "param": None,
            "code": "invalid_api_key",
        }
    }
    assert _errors("ErrorResponse", full) == []
    # llama.cpp omits param; that is a warning-level check, not a schema failure
    assert _errors("ErrorResponse", {"error": {"message": "x", "type": "server_error"}}) == []


def test_valid_models_list() -> None:
    body = {
        "object": "list",
        "data": [{"id": "gpt-4o-mini", "object": "model", "created": 1_700_000_000, "owned_by": "openai"}],
    }
    assert _errors("ListModelsResponse", body) == []
    assert _errors("ListModelsResponse", {"object": "list", "data": []}) == []


def test_valid_request() -> None:
    request = {
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "developer", "content": "Be brief."},
            {"role": "system", "content": [{"type": "text", "text": "Be kind."}]},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {
                        "type": "image_url",
                        "image_url": {"url": "data:image/png;base64,AAAA", "detail": "low"},
                    },
                ],
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "look", "arguments": "{}"}}],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "a cat"},
        ],
        "max_tokens": None,
        "max_completion_tokens": 16,
        "n": 1,
        "stop": ["\n\n"],
        "temperature": 0,
        "top_p": 1,
        "seed": 7,
        "logprobs": True,
        "top_logprobs": 2,
        "tools": [{"type": "function", "function": {"name": "look", "parameters": {"type": "object"}}}],
        "tool_choice": {"type": "function", "function": {"name": "look"}},
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "out", "schema": {}, "strict": None},
        },
        "stream": True,
        "stream_options": {"include_usage": True},
        "user": "u-1",
        "vendor_extension": {"top_k": 5},
    }
    assert _errors("CreateChatCompletionRequest", request) == []


@pytest.mark.parametrize(
    ("name", "mutate", "expected"),
    [
        (
            "CreateChatCompletionResponse",
            lambda b: b["choices"][0]["message"]["tool_calls"][0]["function"].update(arguments={"city": "Paris"}),
            "is not of type 'string'",
        ),
        (
            "CreateChatCompletionResponse",
            lambda b: b["usage"].pop("total_tokens"),
            "'total_tokens' is a required",
        ),
        ("CreateChatCompletionResponse", lambda b: b.pop("usage"), "'usage' is a required property"),
        ("CreateChatCompletionResponse", lambda b: b["choices"][0].update(finish_reason="done"), "'done'"),
        ("CreateChatCompletionResponse", lambda b: b["usage"].update(prompt_tokens=-1), "minimum"),
        ("CreateChatCompletionResponse", lambda b: b.update(object="chat.completion.chunk"), "was expected"),
    ],
    ids=[
        "arguments-as-object",
        "usage-without-total",
        "no-usage",
        "finish-done",
        "negative-tokens",
        "wrong-object",
    ],
)
def test_invalid_responses_are_rejected(name: str, mutate: Any, expected: str) -> None:
    body = _response()
    mutate(body)
    errors = _errors(name, body)
    assert errors, "the schema accepted a contract break"
    assert any(expected in e for e in errors), errors


@pytest.mark.parametrize(
    ("body_factory", "mutate"),
    [
        (_chunk, lambda c: c.update(object="chat.completion")),
        (_chunk, lambda c: c["choices"][0].update(finish_reason="done")),
        (_chunk, lambda c: c["choices"][0]["delta"]["tool_calls"][0].pop("index")),
        (_usage_chunk, lambda c: c["usage"].pop("total_tokens")),
    ],
    ids=["object-chat.completion", "finish-done", "tool-call-chunk-without-index", "usage-without-total"],
)
def test_invalid_chunks_are_rejected(body_factory: Any, mutate: Any) -> None:
    chunk = body_factory()
    mutate(chunk)
    assert _errors("CreateChatCompletionStreamResponse", chunk)


def test_invalid_error_and_models_are_rejected() -> None:
    assert _errors("ErrorResponse", {"error": {"message": "x"}})  # no type
    assert _errors("ErrorResponse", {"message": "x", "type": "y"})  # not wrapped in "error"
    assert _errors("ListModelsResponse", {"object": "list", "data": [{"id": "m", "object": "model"}]})


def test_invalid_requests_are_rejected() -> None:
    good = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    assert _errors("CreateChatCompletionRequest", good) == []
    for bad in (
        {**good, "messages": []},
        {**good, "model": ""},
        {**good, "stop": ["a", "b", "c", "d", "e"]},
        {**good, "top_logprobs": 21},
        {**good, "temperature": 3},
        {**good, "messages": [{"role": "tool", "content": "x"}]},  # no tool_call_id
        {**good, "messages": [{"role": "robot", "content": "x"}]},
        {**good, "tools": [{"type": "function", "function": {"name": "has space"}}]},
    ):
        assert _errors("CreateChatCompletionRequest", bad), bad


# ------------------------------------------------------------------------------- loader


def test_component_schema_is_self_contained_and_cached() -> None:
    schema = spec.component_schema("CreateChatCompletionStreamResponse")
    assert schema is spec.component_schema("CreateChatCompletionStreamResponse")
    assert spec.validator_for("CompletionUsage") is spec.validator_for("CompletionUsage")
    assert "schemas" in schema["components"]


def test_unknown_names_raise_spec_error() -> None:
    with pytest.raises(spec.SpecError, match="no component schema 'Nope'"):
        spec.component_schema("Nope")
    with pytest.raises(spec.SpecError, match="not found") as info:
        spec.load_document("does-not-exist")
    assert info.value.path.name == "does-not-exist.yaml"
    with pytest.raises(spec.SpecError, match="invalid document name"):
        spec.load_document("../chat")


def test_env_var_overrides_spec_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(spec.ENV_VAR, str(tmp_path))
    assert spec.find_spec_dir() == tmp_path
    monkeypatch.delenv(spec.ENV_VAR)
    assert spec.find_spec_dir() == Path(spec.__file__).resolve().parents[2] / "openapi"


# --------------------------------------------------------------------------- schemathesis


def _operations() -> dict[str, Any]:
    schema = spec.load_schemathesis_schema(base_url="http://127.0.0.1:9")
    return {result.ok().label: result.ok() for result in schema.get_all_operations()}


def test_schemathesis_loads_every_operation() -> None:
    schema = spec.load_schemathesis_schema(base_url="http://127.0.0.1:9/")
    assert schema.get_base_url() == "http://127.0.0.1:9"
    assert set(_operations()) == {"GET /v1/models", "POST /v1/chat/completions"}
    # the loader deep-copies: schemathesis must not have mutated the cached document
    assert (
        "$ref"
        in spec.load_document("chat")["paths"]["/v1/chat/completions"]["post"]["requestBody"]["content"][
            "application/json"
        ]["schema"]
    )


@pytest.mark.parametrize("label", ["GET /v1/models", "POST /v1/chat/completions"])
def test_schemathesis_generates_positive_cases(label: str) -> None:
    operation = _operations()[label]
    seen: list[Any] = []

    @settings(
        max_examples=5,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy())
    def generate(case: Any) -> None:
        assert case.operation is operation
        if operation.method.upper() == "POST":
            assert _errors("CreateChatCompletionRequest", case.body) == []
        seen.append(case)

    generate()
    assert seen
