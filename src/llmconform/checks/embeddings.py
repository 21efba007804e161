"""Rules of the embeddings family (rule table F, M1 and E1/E4): one vector per input in input order,
``dimensions`` and ``encoding_format`` honoured, readable values, usage with no completion.

Exchange rules judge every answer of ``POST /v1/embeddings`` (in ``check`` and under load, so they stay
cheap: one pass over each vector at most). Relation rules judge answers that the embeddings probes
(``llmconform.conformance.embeddings_probes``) sent on purpose: the same input twice, the same input in
both encodings, inputs alone and in a batch, requests that must be refused.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from llmconform.checks.chat_relations import auth_required, invalid_request_rejected, unknown_model_rejected
from llmconform.checks.errors import error_body_shape
from llmconform.checks.registry import Severity, Violation, Warn, exchange_rule, relation_rule
from llmconform.checks.schema import schema_violations
from llmconform.exchange import Exchange
from llmconform.families.embeddings import (
    FAMILY,
    VectorView,
    all_finite,
    cosine,
    embeddings_view,
    first_not_finite,
    input_count,
    is_embeddings,
    is_embeddings_answer,
    requested_dimensions,
    requested_encoding,
    usage_counts,
    vectors_of,
)
from llmconform.json_numbers import as_int

DOCUMENT = "embeddings"
_MAX_ERRORS = 3
# A unit vector's length may differ from 1 by float32 rounding and by servers that print fewer digits.
NORM_TOLERANCE = 1e-3
# Two vectors count as the same when their cosine similarity is at least this: OpenAI's embeddings of one
# input differ by 1e-4..1e-8 per component between calls (openai-cookbook #223), never more.
SAME_VECTOR_COSINE = 0.999


def _payload_is_object(exchange: Exchange) -> bool:
    return is_embeddings_answer(exchange) and isinstance(embeddings_view(exchange).payload, dict)


def _has_vectors(exchange: Exchange) -> bool:
    return is_embeddings_answer(exchange) and bool(embeddings_view(exchange).vectors)


def _has_counts(exchange: Exchange) -> bool:
    return is_embeddings_answer(exchange) and usage_counts(exchange) is not None


def _vectors(exchange: Exchange, form: str) -> list[VectorView]:
    return [v for v in embeddings_view(exchange).vectors if v.form == form]


def _has_float_vectors(exchange: Exchange) -> bool:
    return is_embeddings_answer(exchange) and bool(_vectors(exchange, "float"))


def _has_base64_vectors(exchange: Exchange) -> bool:
    return is_embeddings_answer(exchange) and bool(_vectors(exchange, "base64"))


def _asked_dimensions(exchange: Exchange) -> bool:
    return _has_vectors(exchange) and requested_dimensions(exchange) is not None


def _expected_count(exchange: Exchange) -> bool:
    return _payload_is_object(exchange) and input_count(exchange.request_body.get("input")) is not None


# ------------------------------------------------------------------------------------- shape


@exchange_rule(
    "embeddings_response_matches_schema", family=FAMILY, severity=Severity.ERROR, applies=is_embeddings_answer
)
def embeddings_response_matches_schema(exchange: Exchange) -> Iterator[Violation]:
    """A 2xx embeddings body validates against CreateEmbeddingResponse in openapi/embeddings.yaml.

    Source: openapi/embeddings.yaml CreateEmbeddingResponse, Embedding, EmbeddingUsage, built from OpenAI
    openapi.yaml's CreateEmbeddingResponse and Embedding (object "list", data of {object "embedding", index,
    embedding}, model, usage {prompt_tokens, total_tokens} all required).
    """
    view = embeddings_view(exchange)
    if view.payload is None:
        yield f"Expected: a JSON body. Received: {'; '.join(view.problems)}"
        return
    yield from schema_violations("CreateEmbeddingResponse", DOCUMENT, view.payload, "body")


def _has_status(exchange: Exchange) -> bool:
    return is_embeddings(exchange) and exchange.status is not None


@exchange_rule("embeddings_content_type_declared", family=FAMILY, severity=Severity.ERROR, applies=_has_status)
def embeddings_content_type_declared(exchange: Exchange) -> Iterator[Violation]:
    """Every embeddings answer, success or error, is application/json.

    Source: openapi/embeddings.yaml responses (application/json for every status); OpenAI openapi.yaml
    createEmbedding (200 application/json); contract-rules.md F E1 (errors are application/json).
    """
    media = exchange.content_type
    if media != "application/json" and not media.endswith("+json"):
        yield f"Expected: Content-Type application/json (status {exchange.status}). Received: {media or 'none'!r}"


def _is_error(exchange: Exchange) -> bool:
    return is_embeddings(exchange) and exchange.error is None and exchange.status is not None and exchange.status >= 400


@exchange_rule("embeddings_error_body_shape", family=FAMILY, severity=Severity.ERROR, applies=_is_error)
def embeddings_error_body_shape(exchange: Exchange) -> Iterator[Violation]:
    """A non-2xx embeddings answer is JSON {"error": {"message": str, "type": str, "param", "code"}}.

    Source: contract-rules.md F E1; OpenAI openapi.yaml ErrorResponse / Error; openai-python raises its typed
    errors from this body. A missing param or code is a warning, as for chat (error_body_shape).
    """
    yield from error_body_shape(exchange)


# ------------------------------------------------------------------------------------- usage


@exchange_rule("embeddings_usage_present", family=FAMILY, severity=Severity.ERROR, applies=_payload_is_object)
def embeddings_usage_present(exchange: Exchange) -> Iterator[Violation]:
    """An embeddings answer carries usage with integer prompt_tokens and total_tokens >= 0.

    Source: contract-rules.md F M1 (fields MUST); OpenAI openapi.yaml CreateEmbeddingResponse.usage (prompt_tokens
    and total_tokens required); openai-python types/create_embedding_response.py Usage (both required ints).
    """
    view = embeddings_view(exchange)
    if not isinstance(view.usage, dict):
        yield f"Expected: a 'usage' object. Received: {'no usage key' if not view.has_usage_key else view.usage!r}"
        return
    for key in ("prompt_tokens", "total_tokens"):
        if key not in view.usage:
            yield f"Expected: usage.{key}. Received: usage keys {sorted(view.usage)}"
            continue
        value = as_int(view.usage[key])
        if value is None or value < 0:
            yield f"Expected: usage.{key} an integer >= 0. Received: {view.usage[key]!r}"


@exchange_rule("embeddings_usage_total_equals_prompt", family=FAMILY, severity=Severity.WARNING, applies=_has_counts)
def embeddings_usage_total_equals_prompt(exchange: Exchange) -> Iterator[Violation]:
    """usage.total_tokens equals usage.prompt_tokens: an embeddings request generates nothing.

    Source: contract-rules.md F M1 ("present and equal (no completion)", SHOULD); OpenAI openapi.yaml
    CreateEmbeddingResponse.usage has no completion count; shared/reference/aboai-api.md section 12.
    """
    counts = usage_counts(exchange)
    assert counts is not None
    prompt, total = counts
    if total != prompt:
        yield f"Expected: total_tokens == prompt_tokens == {prompt}. Received: total_tokens == {total}"


@exchange_rule("embeddings_usage_nonzero", family=FAMILY, severity=Severity.ERROR, applies=_has_counts)
def embeddings_usage_nonzero(exchange: Exchange) -> Iterator[Violation]:
    """Non-empty inputs give prompt_tokens > 0.

    Source: contract-rules.md D.2 (gateways that lose usage report zeros) and X3 (metered usage equals returned
    usage); OpenAI openapi.yaml CreateEmbeddingResponse.usage.prompt_tokens ("the number of tokens used by the
    prompt").
    """
    counts = usage_counts(exchange)
    assert counts is not None
    if counts[0] == 0 and _has_content(exchange.request_body.get("input")):
        yield "Expected: prompt_tokens > 0 for non-empty inputs. Received: 0"


def _has_content(value: object) -> bool:
    """Whether an ``input`` value holds some text or some token id."""
    if isinstance(value, str):
        return bool(value)
    return isinstance(value, list) and any(not isinstance(v, str | list) or _has_content(v) for v in value)


# -------------------------------------------------------------------------------------- data


@exchange_rule("embeddings_data_count", family=FAMILY, severity=Severity.ERROR, applies=_expected_count)
def embeddings_data_count(exchange: Exchange) -> Iterator[Violation]:
    """data holds exactly one embedding per input.

    Source: contract-rules.md F M1 (len(data) == len(inputs)); OpenAI openapi.yaml CreateEmbeddingRequest.input
    ("To embed multiple inputs in a single request, pass an array of strings or array of token arrays") and
    CreateEmbeddingResponse.data ("The list of embeddings generated by the model").
    """
    expected = input_count(exchange.request_body.get("input"))
    view = embeddings_view(exchange)
    received = len(view.vectors)
    if view.problems:
        yield f"Expected: a 'data' array of {expected} embeddings. Received: {'; '.join(view.problems)}"
    elif received != expected:
        yield f"Expected: {expected} embeddings (one per input). Received: {received}"


@exchange_rule("embeddings_data_order", family=FAMILY, severity=Severity.ERROR, applies=_has_vectors)
def embeddings_data_order(exchange: Exchange) -> Iterator[Violation]:
    """data[i].index == i: each item names its input, in input order (a mere reordering is a warning).

    Source: contract-rules.md F M1 (data[i].index == i, SHOULD for the order); OpenAI openapi.yaml Embedding.index
    ("The index of the embedding in the list of embeddings"); clients pair inputs and vectors by position.
    """
    vectors = embeddings_view(exchange).vectors
    indices = [v.index for v in vectors]
    numbers = [as_int(index) for index in indices]
    if all(number == position for position, number in enumerate(numbers)):
        return
    if sorted(n if n is not None else -1 for n in numbers) == list(range(len(indices))):
        yield Warn(f"Expected: data in input order (index 0..{len(indices) - 1}). Received: indices {indices[:20]}")
    else:
        yield (
            f"Expected: indices 0..{len(indices) - 1}, one per item. Received: {indices[:20]}"
            f"{'...' if len(indices) > 20 else ''}"
        )


@exchange_rule("embeddings_dimensions_consistent", family=FAMILY, severity=Severity.ERROR, applies=_has_vectors)
def embeddings_dimensions_consistent(exchange: Exchange) -> Iterator[Violation]:
    """Every vector of one answer has the same length.

    Source: OpenAI embeddings guide ("a fixed-length vector" per model; text-embedding-3-small: 1536) and
    openapi.yaml Embedding.embedding ("The length of vector depends on the model"); shared/reference/aboai-api.md
    section 12 ("a fixed-length float vector").
    """
    lengths = embeddings_view(exchange).lengths
    if len(set(lengths)) > 1:
        yield f"Expected: vectors of one length. Received: lengths {lengths[:20]}{'...' if len(lengths) > 20 else ''}"


@exchange_rule("embeddings_dimensions_honoured", family=FAMILY, severity=Severity.ERROR, applies=_asked_dimensions)
def embeddings_dimensions_honoured(exchange: Exchange) -> Iterator[Violation]:
    """With dimensions=d in the request, every vector has exactly d components.

    Source: contract-rules.md F M1 ("dimensions honoured"); OpenAI openapi.yaml CreateEmbeddingRequest.dimensions
    ("The number of dimensions the resulting output embeddings should have").
    """
    wanted = requested_dimensions(exchange)
    wrong = sorted({n for n in embeddings_view(exchange).lengths if n != wanted})
    if wrong:
        yield f"Expected: vectors of {wanted} components (dimensions={wanted}). Received: lengths {wrong[:10]}"


@exchange_rule("embeddings_values_finite", family=FAMILY, severity=Severity.ERROR, applies=_has_float_vectors)
def embeddings_values_finite(exchange: Exchange) -> Iterator[Violation]:
    """Every component of a float vector is a finite number (no NaN, Infinity, null or string).

    Source: OpenAI openapi.yaml Embedding.embedding (array of number); RFC 8259 section 6 (NaN and Infinity are
    not JSON numbers; Python's json module writes them anyway); openai-python Embedding.embedding List[float].
    """
    reported = 0
    for vector in _vectors(exchange, "float"):
        assert vector.values is not None
        if all_finite(vector.values):
            continue
        at, value = first_not_finite(vector.values)
        yield f"data[{vector.position}]: Expected: finite numbers. Received: {value!r:.40} at component {at}"
        reported += 1
        if reported >= _MAX_ERRORS:
            return


@exchange_rule("embeddings_base64_well_formed", family=FAMILY, severity=Severity.ERROR, applies=_has_base64_vectors)
def embeddings_base64_well_formed(exchange: Exchange) -> Iterator[Violation]:
    """A base64 vector decodes to a whole number of little-endian float32 values, all finite.

    Source: openai-python lib/_parsing/_embeddings.py (decodes with numpy.frombuffer(dtype="float32") or
    array.array("f"), which need whole 4-byte floats); OpenAI openapi.yaml CreateEmbeddingRequest.encoding_format
    (float or base64).
    """
    reported = 0
    for vector in _vectors(exchange, "base64"):
        if vector.problem is not None:
            yield f"data[{vector.position}]: Expected: base64 of float32 values. Received: {vector.problem}"
        elif vector.values is not None and not all_finite(vector.values):
            at, value = first_not_finite(vector.values)
            yield f"data[{vector.position}]: Expected: finite float32 values. Received: {value!r} at component {at}"
        else:
            continue
        reported += 1
        if reported >= _MAX_ERRORS:
            return


@exchange_rule("embeddings_encoding_format_honoured", family=FAMILY, severity=Severity.ERROR, applies=_has_vectors)
def embeddings_encoding_format_honoured(exchange: Exchange) -> Iterator[Violation]:
    """encoding_format float (the default) gives JSON arrays of numbers; base64 gives base64 strings.

    Source: OpenAI openapi.yaml CreateEmbeddingRequest.encoding_format (float or base64, default float);
    openai-python lib/_parsing/_embeddings.py (an explicit format is handed to the caller as sent, so a string
    where floats were asked breaks List[float] users).
    """
    wanted = requested_encoding(exchange)
    if wanted not in ("float", "base64"):
        return
    other = [v.position for v in embeddings_view(exchange).vectors if v.form != wanted and v.form != "invalid"]
    if other:
        shown = "a JSON array of numbers" if wanted == "float" else "a base64 string"
        yield (
            f"Expected: each embedding as {shown} (encoding_format {wanted!r}). "
            f"Received: another form at data positions {other[:10]}"
        )


@exchange_rule("embeddings_vectors_normalized", family=FAMILY, severity=Severity.WARNING, applies=_has_vectors)
def embeddings_vectors_normalized(exchange: Exchange) -> Iterator[Violation]:
    """Every vector has length 1 (unit norm), also when dimensions shortened it.

    Source: OpenAI embeddings guide FAQ ("OpenAI embeddings are normalized to length 1") and its dimensions
    section (the API shortens and normalizes; a client shortening by hand must re-normalize); contract-rules.md
    F M1. A warning: models behind a gateway (some Gemini sizes) are not normalized.
    """
    reported = 0
    for vector in embeddings_view(exchange).vectors:
        if not vector.values or not all_finite(vector.values):
            continue  # unreadable or not finite: values_finite / base64_well_formed
        norm = math.hypot(*vector.values)
        if abs(norm - 1.0) > NORM_TOLERANCE:
            yield (
                f"data[{vector.position}]: Expected: a unit vector (norm 1 ± {NORM_TOLERANCE}). "
                f"Received: norm {norm:.6g}"
            )
            reported += 1
            if reported >= _MAX_ERRORS:
                return


# --------------------------------------------------------------------------------- relations


def _compare(a: list[float] | None, b: list[float] | None, what: str) -> Iterator[str]:
    if a is None or b is None:
        yield f"{what}: Expected: two readable vectors. Received: {'none' if a is None else 'one'} readable"
    elif len(a) != len(b):
        yield f"{what}: Expected: the same vector. Received: lengths {len(a)} and {len(b)}"
    elif (similarity := cosine(a, b)) < SAME_VECTOR_COSINE:
        yield f"{what}: Expected: the same vector (cosine >= {SAME_VECTOR_COSINE}). Received: cosine {similarity:.6f}"


@relation_rule("embeddings_deterministic", family=FAMILY, severity=Severity.WARNING)
def embeddings_deterministic(
    first: Exchange, second: Exchange, duplicates: list[tuple[int, int]]
) -> Iterator[Violation]:
    """Identical inputs get the same vector: the same input twice in one request, and the same request twice.

    Source: OpenAI embeddings guide (the distance between two vectors measures the relatedness of their texts);
    ROCm/FastFlowLM #647 (an endpoint returning different vectors for one input, cosine down to 0.31). Float noise
    is allowed (cosine >= 0.999): OpenAI's vectors of one text differ by 1e-4..1e-8 between calls
    (openai-cookbook #223, openai-python #868). A warning: no spec promises bit-identical vectors.
    """
    one, two = vectors_of(first), vectors_of(second)
    if len(one) != len(two):
        yield f"Expected: as many vectors as the first answer ({len(one)}). Received: {len(two)}"
    for position, (a, b) in enumerate(zip(one, two, strict=False)):
        yield from _compare(a, b, f"input {position} sent twice")
    for i, j in duplicates:
        if max(i, j) < len(one):
            yield from _compare(one[i], one[j], f"inputs {i} and {j} (identical) in one request")


@relation_rule("embeddings_base64_matches_float", family=FAMILY, severity=Severity.ERROR)
def embeddings_base64_matches_float(floats: Exchange, encoded: Exchange) -> Iterator[Violation]:
    """The base64 answer decodes (little-endian float32) to the vectors of the float answer to the same input.

    Source: OpenAI openapi.yaml CreateEmbeddingRequest.encoding_format (one vector, two encodings); openai-python
    lib/_parsing/_embeddings.py (asks for base64 by default and decodes little-endian float32 with numpy or
    array). Judged only on a target shown deterministic.
    """
    one, two = vectors_of(floats), vectors_of(encoded)
    if len(one) != len(two):
        yield f"Expected: {len(one)} vectors as in the float answer. Received: {len(two)}"
    for position, (a, b) in enumerate(zip(one, two, strict=False)):
        yield from _compare(a, b, f"input {position} as base64 vs float")


@relation_rule("embeddings_usage_additive", family=FAMILY, severity=Severity.WARNING)
def embeddings_usage_additive(batch: Exchange, parts: list[Exchange]) -> Iterator[Violation]:
    """prompt_tokens of a batch equals the sum of prompt_tokens of its inputs sent one by one.

    Source: contract-rules.md F X3 (metered usage equals returned usage: batching must not change what is
    billed); OpenAI bills embeddings by the tokens of their inputs (openai-cookbook How_to_count_tokens_with_tiktoken
    counts them string by string). A warning: a server's tokenizer may add tokens per request.
    """
    whole = usage_counts(batch)
    singles = [usage_counts(p) for p in parts]
    if whole is None or any(c is None for c in singles):
        yield "Expected: usage.prompt_tokens in the batch and every single answer. Received: a missing count"
        return
    total = sum(c[0] for c in singles if c is not None)
    if whole[0] != total:
        yield (
            f"Expected: batch prompt_tokens == sum of the inputs alone == {total}. Received: {whole[0]} "
            f"(singles: {[c[0] for c in singles if c is not None]})"
        )


@relation_rule("embeddings_auth_required", family=FAMILY, severity=Severity.ERROR)
def embeddings_auth_required(without_key: Exchange, wrong_key: Exchange) -> Iterator[Violation]:
    """An embeddings request without a key, or with a wrong key, is refused with 401.

    Source: contract-rules.md F E4; OpenAI error codes guide (401 invalid authentication / incorrect API key);
    AboAI Bearer auth (shared/reference/aboai-api.md section 1). Another 4xx is a warning.
    """
    yield from auth_required(without_key, wrong_key)


@relation_rule("embeddings_unknown_model_rejected", family=FAMILY, severity=Severity.ERROR)
def embeddings_unknown_model_rejected(exchange: Exchange, model: str) -> Iterator[Violation]:
    """An embeddings request naming a model that does not exist is refused with 404 (another 4xx is a warning).

    Source: contract-rules.md F E4; OpenAI error codes guide (404 "The model does not exist").
    """
    yield from unknown_model_rejected(exchange, model)


@relation_rule("embeddings_invalid_request_rejected", family=FAMILY, severity=Severity.ERROR)
def embeddings_invalid_request_rejected(exchange: Exchange, what: str) -> Iterator[Violation]:
    """A malformed embeddings request is refused with 400 (422 tolerated), never accepted and never a 5xx.

    Source: contract-rules.md F E4; OpenAI openapi.yaml CreateEmbeddingRequest (model and input required;
    encoding_format float or base64; dimensions >= 1); OpenAI error codes guide (400 invalid request).
    """
    yield from invalid_request_rejected(exchange, what)


@relation_rule("embeddings_input_limits_enforced", family=FAMILY, severity=Severity.ERROR)
def embeddings_input_limits_enforced(exchange: Exchange, what: str) -> Iterator[Violation]:
    """An empty input string, an empty input array or more than 2048 inputs is refused with 400.

    Source: OpenAI openapi.yaml CreateEmbeddingRequest.input ("cannot be an empty string, and any array must be
    2048 dimensions or less"; minItems 1, maxItems 2048); openai-python types/embedding_create_params.py (same
    text); OpenAI answers an empty string 400 "'$.input' is invalid" (openai-python #576, aryn-ai/sycamore #943);
    gateways fixed accepting them (openclaw #117615, sglang #5621). Another 4xx is a warning.
    """
    yield from invalid_request_rejected(exchange, what)
