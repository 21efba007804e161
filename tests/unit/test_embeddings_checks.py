"""Embeddings rules on hand-made exchanges: each holds on a correct answer and fires on a broken one; the
embeddings contract document, the family helpers and the schemathesis pinning."""

from __future__ import annotations

import base64
import json
import math
import struct
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from llmconform import spec
from llmconform.checks import REGISTRY, Results, check_exchange
from llmconform.checks import embeddings as rules
from llmconform.conformance.embeddings_probes import GENERATION_BOUNDS, PLANNED_REQUESTS, pin_generated_body
from llmconform.exchange import Exchange
from llmconform.families import build_request as family_build_request
from llmconform.families import embeddings as family
from llmconform.families import read_answer
from llmconform.mock.faults.embeddings import FAULTS

MODEL = "emb-1"

# ----------------------------------------------------------------------------------- builders


def exchange(
    request: dict[str, Any] | None = None,
    body: Any = None,
    *,
    status: int = 200,
    content_type: str = "application/json",
    raw: bytes | None = None,
) -> Exchange:
    return Exchange(
        family="embeddings",
        operation=family.EMBEDDINGS_OPERATION,
        method="POST",
        url="http://127.0.0.1/v1/embeddings",
        request_headers={},
        request_json={"model": MODEL, "input": ["a b", "c"], **(request or {})},
        status=status,
        response_headers={"content-type": content_type},
        body=raw if raw is not None else json.dumps(body).encode(),
    )


def unit(values: list[float]) -> list[float]:
    norm = math.hypot(*values)
    return [v / norm for v in values]


def vector(seed: int, dimensions: int = 4) -> list[float]:
    """A float32-exact unit vector (so base64 and float forms carry the same values)."""
    values = unit([math.sin(seed * 7.1 + i) + 0.01 for i in range(dimensions)])
    return list(struct.unpack(f"<{dimensions}f", struct.pack(f"<{dimensions}f", *values)))


def b64(values: list[float], order: str = "<") -> str:
    return base64.b64encode(struct.pack(f"{order}{len(values)}f", *values)).decode()


def answer(*vectors: list[float] | str, usage: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "object": "list",
        "data": [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)],
        "model": MODEL,
        "usage": usage if usage is not None else {"prompt_tokens": 3, "total_tokens": 3},
        **extra,
    }


def findings(ex: Exchange) -> dict[str, list[str]]:
    results = Results()
    check_exchange(ex, results)
    found: dict[str, list[str]] = {}
    for f in results.findings:
        found.setdefault(f.rule, []).append(f.message)
    return found


def fired(ex: Exchange) -> set[str]:
    return set(findings(ex))


def good() -> Exchange:
    return exchange({}, answer(vector(1), vector(2)))


# ---------------------------------------------------------------------------- correct answers


@pytest.mark.parametrize(
    ("request_fields", "body"),
    [
        ({}, answer(vector(1), vector(2))),
        ({"encoding_format": "float"}, answer(vector(1), vector(2))),
        ({"encoding_format": "base64"}, answer(b64(vector(1)), b64(vector(2)))),
        ({"dimensions": 4}, answer(vector(1), vector(2))),
        ({"input": "one"}, answer(vector(3), usage={"prompt_tokens": 1, "total_tokens": 1})),
        ({"input": [1, 2, 3]}, answer(vector(3))),
        ({"input": [[1, 2], [3]]}, answer(vector(3), vector(4))),
        ({"input": ["a"] * 3}, answer(vector(5), vector(5), vector(5), vendor_field={"x": 1})),
    ],
    ids=["default", "float", "base64", "dimensions", "string", "token-ids", "token-arrays", "vendor-field"],
)
def test_a_correct_answer_is_silent(request_fields: dict[str, Any], body: dict[str, Any]) -> None:
    assert findings(exchange(request_fields, body)) == {}


def test_errors_of_the_right_shape_are_silent() -> None:
    error = {"error": {"message": "no", "type": "invalid_request_error", "param": "input", "code": None}}
    assert findings(exchange({}, error, status=400)) == {}


@given(
    dimensions=st.integers(1, 64),
    count=st.integers(1, 5),
    prompt=st.integers(1, 10**6),
    encoded=st.booleans(),
)
@settings(max_examples=40, deadline=None)
def test_valid_answers_hold_and_a_wrong_total_fires(dimensions: int, count: int, prompt: int, encoded: bool) -> None:
    vectors = [vector(i, dimensions) for i in range(count)]
    body = answer(*[b64(v) if encoded else v for v in vectors], usage={"prompt_tokens": prompt, "total_tokens": prompt})
    request = {"input": [f"t{i}" for i in range(count)], "dimensions": dimensions}
    if encoded:
        request["encoding_format"] = "base64"
    assert findings(exchange(request, body)) == {}
    body["usage"]["total_tokens"] = prompt + 1
    assert fired(exchange(request, body)) == {"embeddings_usage_total_equals_prompt"}


# ----------------------------------------------------------------------------- broken answers

Mutation = Callable[[dict[str, Any]], None]
BROKEN: list[tuple[str, dict[str, Any], Mutation]] = [
    ("embeddings_response_matches_schema", {}, lambda b: b["data"][0].pop("object")),
    ("embeddings_response_matches_schema", {}, lambda b: b.update(object="embeddings")),
    ("embeddings_usage_present", {}, lambda b: b.pop("usage")),
    ("embeddings_usage_present", {}, lambda b: b["usage"].pop("total_tokens")),
    ("embeddings_usage_present", {}, lambda b: b["usage"].update(prompt_tokens=-1, total_tokens=-1)),
    ("embeddings_usage_total_equals_prompt", {}, lambda b: b["usage"].update(total_tokens=4)),
    ("embeddings_usage_nonzero", {}, lambda b: b["usage"].update(prompt_tokens=0, total_tokens=0)),
    ("embeddings_data_count", {}, lambda b: b["data"].pop()),
    ("embeddings_data_count", {"input": "one"}, lambda b: None),
    ("embeddings_data_order", {}, lambda b: [d.update(index=d["index"] + 1) for d in b["data"]]),
    ("embeddings_data_order", {}, lambda b: [d.update(index=0) for d in b["data"]]),
    ("embeddings_dimensions_consistent", {}, lambda b: b["data"][1].update(embedding=vector(2, 5))),
    ("embeddings_dimensions_honoured", {"dimensions": 8}, lambda b: None),
    ("embeddings_values_finite", {}, lambda b: b["data"][0]["embedding"].__setitem__(0, None)),
    ("embeddings_values_finite", {}, lambda b: b["data"][1]["embedding"].__setitem__(2, "0.1")),
    ("embeddings_base64_well_formed", {}, lambda b: b["data"][0].update(embedding="not base64!")),
    ("embeddings_base64_well_formed", {}, lambda b: b["data"][0].update(embedding=base64.b64encode(b"abcde").decode())),
    ("embeddings_base64_well_formed", {}, lambda b: b["data"][0].update(embedding=b64([math.inf, 0.0]))),
    ("embeddings_encoding_format_honoured", {}, lambda b: b["data"][0].update(embedding=b64(vector(1)))),
    ("embeddings_encoding_format_honoured", {"encoding_format": "base64"}, lambda b: None),
    ("embeddings_vectors_normalized", {}, lambda b: b["data"][0].update(embedding=[2 * v for v in vector(1)])),
    ("embeddings_vectors_normalized", {}, lambda b: b["data"][0].update(embedding=[0.0, 0.0, 0.0, 0.0])),
]


@pytest.mark.parametrize(
    ("rule", "request_fields", "mutate"), BROKEN, ids=[f"{r}-{i}" for i, (r, _, _) in enumerate(BROKEN)]
)
def test_each_rule_fires_on_its_break(rule: str, request_fields: dict[str, Any], mutate: Mutation) -> None:
    body = answer(vector(1), vector(2))
    mutate(body)
    assert rule in fired(exchange(request_fields, body))


def test_nan_from_pythons_json_is_not_a_finite_value() -> None:
    raw = json.dumps(answer([math.nan, *vector(1)[1:]], vector(2))).encode()
    assert b"NaN" in raw
    messages = findings(exchange({}, raw=raw))
    assert "embeddings_values_finite" in messages
    assert "nan at component 0" in messages["embeddings_values_finite"][0]


def test_a_reordered_but_complete_data_is_only_a_warning() -> None:
    body = answer(vector(1), vector(2))
    body["data"].reverse()
    results = Results()
    check_exchange(exchange({}, body), results)
    order = [f for f in results.findings if f.rule == "embeddings_data_order"]
    assert [f.severity for f in order] == ["warning"]


def test_a_body_that_is_not_json_fires_the_schema_rule_only() -> None:
    assert fired(exchange({}, raw=b"<html>oops</html>")) == {"embeddings_response_matches_schema"}
    assert {"embeddings_response_matches_schema", "embeddings_data_count"} <= fired(exchange({}, {"data": "x"}))


def test_content_type_and_error_shape() -> None:
    assert fired(exchange({}, answer(vector(1), vector(2)), content_type="text/plain")) == {
        "embeddings_content_type_declared"
    }
    assert fired(exchange({}, {"error": "bad"}, status=400)) == {"embeddings_error_body_shape"}
    assert "embeddings_content_type_declared" in fired(
        exchange({}, {"error": {"message": "x", "type": "y", "param": None, "code": None}}, status=500, content_type="")
    )
    results = Results()
    check_exchange(exchange({}, {"error": {"message": "x", "type": "y"}}, status=400), results)
    assert {(f.rule, f.severity) for f in results.findings} == {("embeddings_error_body_shape", "warning")}


def test_rules_never_raise_on_hostile_answers() -> None:
    hostile: list[Any] = [
        None,
        [],
        "text",
        {"data": "x", "usage": "y"},
        {"data": [None, 1, {"embedding": {"a": 1}, "index": "0"}], "usage": {"prompt_tokens": "3"}},
        {"data": [{"embedding": [True, [], {}], "index": None}]},
        {"data": [{"embedding": "", "index": 0}], "usage": {"prompt_tokens": 1.5, "total_tokens": 2**70}},
    ]
    for body in hostile:
        for request in ({}, {"input": None}, {"input": {"a": 1}}, {"dimensions": "8", "encoding_format": 3}):
            results = Results()
            check_exchange(exchange(request, body), results)
            assert not [f for f in results.findings if "harness" in f.message], (body, request)


def test_rules_judge_only_embeddings_exchanges() -> None:
    other = exchange({}, {"error": "bad"}, status=400)
    other.operation = "POST /v1/chat/completions"
    assert not {r for r in fired(other) if r.startswith("embeddings_")}


# ---------------------------------------------------------------------------------- relations


def test_deterministic_relation() -> None:
    same = answer(vector(1), vector(2), vector(1))
    first, second = exchange({}, same), exchange({}, same)
    assert list(rules.embeddings_deterministic(first, second, [(0, 2)])) == []
    noisy = answer(*[[v + 1e-7 for v in vector(i)] for i in (1, 2, 1)])
    assert list(rules.embeddings_deterministic(first, exchange({}, noisy), [(0, 2)])) == []
    other = exchange({}, answer(vector(1), vector(3), vector(1)))
    assert len(list(rules.embeddings_deterministic(first, other, [(0, 2)]))) == 1
    inside = exchange({}, answer(vector(1), vector(2), vector(4)))
    messages = list(rules.embeddings_deterministic(inside, inside, [(0, 2)]))
    assert len(messages) == 1 and "inputs 0 and 2" in str(messages[0])
    shorter = exchange({}, answer(vector(1, 3), vector(2), vector(1)))
    assert list(rules.embeddings_deterministic(first, shorter, []))


def test_base64_matches_float_relation() -> None:
    floats = exchange({}, answer(vector(1), vector(2)))
    encoded = exchange({"encoding_format": "base64"}, answer(b64(vector(1)), b64(vector(2))))
    assert list(rules.embeddings_base64_matches_float(floats, encoded)) == []
    big_endian = exchange({"encoding_format": "base64"}, answer(b64(vector(1), ">"), b64(vector(2), ">")))
    assert len(list(rules.embeddings_base64_matches_float(floats, big_endian))) == 2
    missing = exchange({"encoding_format": "base64"}, answer(b64(vector(1))))
    assert list(rules.embeddings_base64_matches_float(floats, missing))


def test_usage_additive_relation() -> None:
    def usage(n: int) -> Exchange:
        return exchange({}, answer(vector(1), usage={"prompt_tokens": n, "total_tokens": n}))

    assert list(rules.embeddings_usage_additive(usage(7), [usage(2), usage(3), usage(2)])) == []
    assert list(rules.embeddings_usage_additive(usage(8), [usage(2), usage(3), usage(2)]))
    no_usage = exchange({}, answer(vector(1), usage={}))
    assert list(rules.embeddings_usage_additive(usage(7), [no_usage]))


def test_refusal_relations() -> None:
    refused = exchange({}, {"error": {"message": "x", "type": "y"}}, status=401)
    accepted = exchange({}, answer(vector(1), vector(2)))
    forbidden = exchange({}, {"error": {"message": "x", "type": "y"}}, status=403)
    assert list(rules.embeddings_auth_required(refused, refused)) == []
    assert len(list(rules.embeddings_auth_required(accepted, refused))) == 1
    assert [type(v).__name__ for v in rules.embeddings_auth_required(forbidden, refused)] == ["Warn"]
    not_found = exchange({}, {"error": {"message": "x", "type": "y"}}, status=404)
    assert list(rules.embeddings_unknown_model_rejected(not_found, "m")) == []
    assert list(rules.embeddings_unknown_model_rejected(accepted, "m"))
    bad = exchange({}, {"error": {"message": "x", "type": "y"}}, status=400)
    crashed = exchange({}, {"error": {"message": "x", "type": "y"}}, status=500)
    for rule in (rules.embeddings_invalid_request_rejected, rules.embeddings_input_limits_enforced):
        assert list(rule(bad, "x")) == []
        assert list(rule(crashed, "x")) and list(rule(accepted, "x"))


# ------------------------------------------------------------------------------ registry, faults


def embeddings_rules() -> set[str]:
    return {rule.id for rule in REGISTRY if rule.family == "embeddings"}


def test_every_rule_is_prefixed_and_has_a_fault_of_its_name() -> None:
    ids = embeddings_rules()
    assert len(ids) >= 20
    assert all(rule_id.startswith("embeddings_") for rule_id in ids)
    assert ids == set(FAULTS), ids ^ set(FAULTS)


def test_every_rule_cites_a_source_and_exchange_rules_are_tested_here() -> None:
    tested = {rule for rule, _, _ in BROKEN} | {"embeddings_content_type_declared", "embeddings_error_body_shape"}
    for rule in REGISTRY:
        if rule.family != "embeddings":
            continue
        assert rule.source and rule.title
        if rule.kind == "exchange":
            assert rule.id in tested, rule.id


# ------------------------------------------------------------------------------------- family


def test_input_count() -> None:
    assert family.input_count("x") == 1
    assert family.input_count(["a", "b"]) == 2
    assert family.input_count([1, 2, 3]) == 1
    assert family.input_count([1.0, 2]) == 1
    assert family.input_count([[1], [2], [3]]) == 3
    assert family.input_count([]) == 0
    assert family.input_count(None) is None
    assert family.input_count(["a", 1]) is None
    assert family.input_count([True]) is None


def test_decode_base64_vector() -> None:
    values, size, problem = family.decode_base64_vector(b64([0.5, -0.25]))
    assert (values, size, problem) == ([0.5, -0.25], 8, None)
    assert family.decode_base64_vector("###")[2] is not None
    assert family.decode_base64_vector(base64.b64encode(b"12345").decode())[1:] == (
        5,
        "decodes to 5 bytes, not a whole number of 4-byte float32 values",
    )


def test_build_request_embeds_each_message_text() -> None:
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "Hello"}, {"type": "text", "text": " there"}]},
    ]
    method, path, operation, body = family_build_request(
        "embeddings", MODEL, messages, max_tokens=16, stream=True, temperature=0, stop=["x"], dimensions=8
    )
    assert (method, path, operation) == ("POST", "/v1/embeddings", "POST /v1/embeddings")
    assert body == {"model": MODEL, "input": ["Be brief.", "Hello there"], "dimensions": 8}
    assert family.request_headers("k") == {"authorization": "Bearer k"}
    assert family.request_headers(None) == {}


def test_read_answer_counts_input_tokens_only() -> None:
    got = read_answer(exchange({}, answer(vector(1), vector(2), usage={"prompt_tokens": 9, "total_tokens": 9})))
    assert got is not None
    assert (got.input_tokens, got.output_tokens, got.text_events, got.finish, got.stream) == (9, 0, [], None, False)
    assert read_answer(exchange({}, {"error": {"message": "x", "type": "y"}}, status=400)) is None
    no_usage = read_answer(exchange({}, answer(vector(1), vector(2), usage={"x": 1})))
    assert no_usage is not None and no_usage.input_tokens is None


def test_embeddings_request() -> None:
    assert family.embeddings_request("m", "x") == {"model": "m", "input": "x"}
    assert family.embeddings_request("m", ["x"], dimensions=8, encoding_format="base64") == {
        "model": "m",
        "input": ["x"],
        "dimensions": 8,
        "encoding_format": "base64",
    }


# ----------------------------------------------------------------------------------- document

COMPONENTS = [
    "CreateEmbeddingRequest",
    "EmbeddingInput",
    "CreateEmbeddingResponse",
    "Embedding",
    "EmbeddingUsage",
    "ErrorResponse",
    "Error",
]


def errors_of(name: str, instance: Any) -> list[str]:
    return [e.message for e in spec.validator_for(name, "embeddings").iter_errors(instance)]


def test_document_paths_security_and_components() -> None:
    document = spec.load_document("embeddings")
    operation = document["paths"]["/v1/embeddings"]["post"]
    assert operation["operationId"] == "createEmbedding"
    assert document["security"] == [{"BearerAuth": []}]
    assert set(operation["responses"]) == {"200", "400", "401", "403", "404", "413", "422", "429", "500", "503"}
    assert set(operation["responses"]["200"]["content"]) == {"application/json"}
    for name in COMPONENTS:
        assert spec.component_schema(name, "embeddings")["$ref"] == f"#/components/schemas/{name}"


def test_document_accepts_every_input_form_and_refuses_openais_limits() -> None:
    for value in ("x", ["a", "b"], [1, 2], [[1], [2, 3]], ["a"] * 2048):
        assert errors_of("CreateEmbeddingRequest", {"model": "m", "input": value, "vendor": 1}) == [], value
    for value in ("", [], [""], ["a", ""], [[]], ["a"] * 2049, {"a": 1}, None, [1, "a"]):
        assert errors_of("CreateEmbeddingRequest", {"model": "m", "input": value}), value
    good = {"model": "m", "input": "x"}
    for bad in ({"input": "x"}, {**good, "model": ""}, {**good, "dimensions": 0}, {**good, "encoding_format": "hex"}):
        assert errors_of("CreateEmbeddingRequest", bad), bad


def test_document_response_samples() -> None:
    assert errors_of("CreateEmbeddingResponse", answer(vector(1), b64(vector(2)))) == []
    assert errors_of("CreateEmbeddingResponse", answer()) == []
    for mutate in (
        lambda b: b.pop("usage"),
        lambda b: b["usage"].pop("total_tokens"),
        lambda b: b["usage"].update(prompt_tokens=-1),
        lambda b: b.update(object="embedding"),
        lambda b: b["data"][0].pop("index"),
        lambda b: b["data"][0].update(embedding=["0.1"]),
        lambda b: b["data"][0].update(embedding=None),
    ):
        body = answer(vector(1))
        mutate(body)
        assert errors_of("CreateEmbeddingResponse", body), body


def test_schemathesis_generates_valid_positive_bodies() -> None:
    schema = spec.load_schemathesis_schema("embeddings", base_url="http://127.0.0.1:9")
    operations = {result.ok().label: result.ok() for result in schema.get_all_operations()}
    assert set(operations) == {"POST /v1/embeddings"}
    seen: list[Any] = []

    @settings(
        max_examples=25, database=None, deadline=None, phases=[Phase.generate], suppress_health_check=list(HealthCheck)
    )
    @given(case=operations["POST /v1/embeddings"].as_strategy())
    def generate(case: Any) -> None:
        assert errors_of("CreateEmbeddingRequest", case.body) == []
        pin_generated_body(case.body, "pinned", positive=True)
        assert case.body["model"] == "pinned"
        seen.append(case)

    generate()
    assert seen


# ---------------------------------------------------------------------------------- probes


def test_pin_generated_body() -> None:
    body: dict[str, Any] = {"model": "x", "input": "a", "dimensions": 5000}
    pin_generated_body(body, "m", positive=True)
    assert body == {"model": "m", "input": "a", "dimensions": GENERATION_BOUNDS["dimensions"]}
    negative: dict[str, Any] = {"model": "", "input": "a", "dimensions": 0}
    pin_generated_body(negative, "m", positive=False)
    assert negative == {"model": "", "input": "a", "dimensions": 0}  # the invalid values are the point
    mistyped: dict[str, Any] = {"model": 3, "input": "a"}
    pin_generated_body(mistyped, "m", positive=False)
    assert mistyped["model"] == 3
    assert PLANNED_REQUESTS == 19
