"""The mock's ``POST /v1/embeddings``: deterministic unit vectors, exact usage, OpenAI error bodies.

A request goes through, in order: faults in force (config plus the ``x-llmconform-fault`` header),
auth (401), body size (413), JSON parse (400), the contract's ``CreateEmbeddingRequest`` schema (400
naming the offending field: an empty string, an empty array and more than 2048 inputs are refused
there, as OpenAI does), the model (404), ``dimensions`` above :data:`MAX_DIMENSIONS` (400), then the
answer after ``MockConfig.ttft_ms`` (one "round", like a one-chunk stream).

Vectors: for each input, SHAKE-256 of the model and the input (a string's UTF-8, or a token-id
array's decimal ids) gives a stream of little-endian int32s; the vector is the first ``dimensions``
of them (:data:`DEFAULT_DIMENSIONS` when not asked), scaled to length 1 and rounded to float32. So a
shortened vector is the re-normalised prefix of the full one, identical inputs get identical vectors,
and the ``float`` and ``base64`` encodings carry exactly the same float32 values.

Usage: ``prompt_tokens`` is the sum over the inputs of ``tokenizer.count_tokens`` (a token-id array
counts its length); ``total_tokens == prompt_tokens``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import math
import os
import struct
from collections.abc import Mapping
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from llmconform.families.embeddings import EMBEDDINGS_PATH
from llmconform.json_numbers import as_int
from llmconform.mock import openai_steps
from llmconform.mock.common import MockContext, RequestGuard
from llmconform.mock.delivery import deliver, openai_error
from llmconform.mock.errors import ApiError
from llmconform.mock.tokenizer import count_tokens
from llmconform.mock.validation import BodyValidator, Violation

__all__ = [
    "DEFAULT_DIMENSIONS",
    "MAX_DIMENSIONS",
    "PATH_PREFIXES",
    "EmbeddingsEndpoints",
    "routes",
    "routing_error",
    "vector_for",
]

logger = logging.getLogger(__name__)

# Paths this family serves: routing errors (404, 405) under them get this family's error shape.
PATH_PREFIXES: tuple[str, ...] = (EMBEDDINGS_PATH,)
# Vector length of every mock model when the request does not ask for `dimensions`.
DEFAULT_DIMENSIONS = 256
# The most components the mock produces (text-embedding-3-large's native size); more is a 400.
MAX_DIMENSIONS = 3072
REQUEST_SCHEMA = "CreateEmbeddingRequest"
DOCUMENT = "embeddings"
_SEED_DOMAIN = b"llmconform-embedding\0"
_JSON = "application/json"

Item = str | list[int]


def routes(context: MockContext) -> list[BaseRoute]:
    """The family's routes, bound to the mock's context."""
    endpoints = EmbeddingsEndpoints(context)
    return [Route(EMBEDDINGS_PATH, endpoints.create, methods=["POST"])]


def routing_error(
    status: int, where: str, headers: Mapping[str, str], faults: frozenset[str], request_id: str
) -> Response:
    """A routing error (unknown path 404, wrong method 405) under this family's paths, in its error shape."""
    allow = headers.get("Allow") or headers.get("allow")
    if status == 405 and allow:
        message = f"Method not allowed: {where}. {EMBEDDINGS_PATH} takes {allow}."
        error = ApiError(405, message, code="method_not_allowed", headers={"Allow": allow})
    else:
        error = ApiError(status, f"Cannot route {where}; the embeddings route is POST {EMBEDDINGS_PATH}.")
    return error_response(error, faults, request_id)


def error_response(error: ApiError, faults: frozenset[str], request_id: str) -> Response:
    """``error`` as an OpenAI error body (a bare string under the ``embeddings_error_body_shape`` fault)."""
    if "embeddings_error_body_shape" in faults:
        body = orjson.dumps({"error": error.message})
    else:
        body = error.body(frozenset())  # the chat family's error_body_shape fault is not ours
    headers = {**error.headers, "x-request-id": request_id}
    return Response(body, status_code=error.status, headers=headers, media_type=_JSON)


def vector_for(model: str, item: Item, dimensions: int, *, salt: bytes = b"", scale: float = 1.0) -> list[float]:
    """The mock's vector of ``item`` for ``model``: ``dimensions`` float32 values of norm ``scale``."""
    if isinstance(item, str):
        key = b"s" + item.encode("utf-8", "surrogatepass")
    else:
        key = b"t" + ",".join(map(str, item)).encode()
    seed = _SEED_DOMAIN + model.encode("utf-8", "surrogatepass") + b"\0" + key + salt
    raw = struct.unpack(f"<{dimensions}i", hashlib.shake_256(seed).digest(4 * dimensions))
    norm = math.hypot(*raw) or 1.0
    factor = scale / norm
    return _float32([v * factor for v in raw])


def _float32(values: list[float]) -> list[float]:
    return list(struct.unpack(f"<{len(values)}f", struct.pack(f"<{len(values)}f", *values)))


def _encode_base64(values: list[float], faults: frozenset[str]) -> str:
    order = ">" if "embeddings_base64_matches_float" in faults else "<"
    raw = struct.pack(f"{order}{len(values)}f", *values)
    if "embeddings_base64_well_formed" in faults:
        raw = raw[:-1]
    return base64.b64encode(raw).decode("ascii")


def _items(value: Any) -> list[Item]:
    """The inputs of a schema-valid ``input`` (or one a fault let through) as strings and token-id lists."""
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list):
        return []
    if value and all(as_int(v) is not None for v in value):
        return [[int(v) for v in value]]
    items: list[Item] = []
    for entry in value:
        if isinstance(entry, str):
            items.append(entry)
        elif isinstance(entry, list):
            items.append([int(v) for v in entry if as_int(v) is not None])
    return items


def _tokens(item: Item) -> int:
    return count_tokens(item) if isinstance(item, str) else len(item)


class EmbeddingsEndpoints:
    """The embeddings handler, bound to one context and one request validator."""

    def __init__(self, context: MockContext, validator: BodyValidator | None = None) -> None:
        if validator is None:
            from llmconform.spec import component_schema, validator_for

            validator = BodyValidator(
                validator_for(REQUEST_SCHEMA, DOCUMENT), component_schema(REQUEST_SCHEMA, DOCUMENT)
            )
        self._context = context
        self._config = context.config
        self._validator = validator
        self._guard = RequestGuard(context, self._auth_error, error_response, openai_steps.SERVER_FAILURE, logger)

    async def create(self, request: Request) -> Response:
        """``POST /v1/embeddings``."""
        return await self._guard(request, self._create)

    # ------------------------------------------------------------------ shared steps

    def _auth_error(self, request: Request, faults: frozenset[str]) -> ApiError | None:
        return None if "embeddings_auth_required" in faults else openai_steps.bearer_auth_error(self._context, request)

    def _bad_request(self, error: ApiError, faults: frozenset[str]) -> ApiError:
        return openai_steps.bad_request(error, faults, server_error_fault="embeddings_invalid_request_rejected")

    def _check_body(self, raw: bytes, faults: frozenset[str]) -> Mapping[str, Any] | ApiError:
        example = '{"model": ..., "input": "text to embed"}'
        body = openai_steps.json_object_body(
            raw, self._validator, faults, example=example, lets_through=_lets_through, parse=openai_steps.lenient_json
        )
        if isinstance(body, ApiError):
            return self._bad_request(body, faults)
        dimensions = as_int(body.get("dimensions"))
        if dimensions is not None and dimensions > MAX_DIMENSIONS:
            return self._bad_request(
                ApiError(
                    400,
                    f"Invalid value for 'dimensions': {dimensions} is more than this model produces. "
                    f"Use a value between 1 and {MAX_DIMENSIONS}.",
                    param="dimensions",
                    code="invalid_value",
                ),
                faults,
            )
        return body

    # ------------------------------------------------------------------ POST /v1/embeddings

    async def _create(self, request: Request, faults: frozenset[str], request_id: str) -> Response:
        raw = await self._context.read_body(request)
        if raw is None:
            return error_response(openai_steps.body_too_large(self._config.max_body_bytes), faults, request_id)
        checked = self._check_body(raw, faults)
        if isinstance(checked, ApiError):
            return error_response(checked, faults, request_id)
        model = str(checked.get("model", ""))
        if model not in self._context.models and "embeddings_unknown_model_rejected" not in faults:
            return error_response(openai_steps.model_not_found(model, self._config.models), faults, request_id)
        prompt = sum(_tokens(item) for item in _items(checked.get("input")))
        delivery = deliver(self._context, request, prompt, stream=False, output_tokens=0, steps=1)
        if delivery.refusal is not None:
            return error_response(openai_error(delivery.refusal), faults, request_id)
        body = self._answer(checked, model, faults)
        await delivery.wait_unary(1)
        media = "text/plain" if "embeddings_content_type_declared" in faults else _JSON
        return delivery.unary(Response(body, media_type=media, headers={"x-request-id": request_id}))

    def _answer(self, request: Mapping[str, Any], model: str, faults: frozenset[str]) -> bytes:
        items = _items(request.get("input"))
        asked = as_int(request.get("dimensions"))
        dimensions = DEFAULT_DIMENSIONS if asked is None or "embeddings_dimensions_honoured" in faults else asked
        base64_format = (
            request.get("encoding_format") == "base64" and "embeddings_encoding_format_honoured" not in faults
        )
        salt = os.urandom(8) if "embeddings_deterministic" in faults else b""
        scale = 2.0 if "embeddings_vectors_normalized" in faults else 1.0
        data: list[dict[str, Any]] = []
        for position, item in enumerate(items):
            length = dimensions - 1 if position == 1 and "embeddings_dimensions_consistent" in faults else dimensions
            values = vector_for(model, item, max(length, 1), salt=salt, scale=scale)
            entry: dict[str, Any] = {"object": "embedding", "index": position, "embedding": values}
            if base64_format:
                entry["embedding"] = _encode_base64(values, faults)
            elif "embeddings_values_finite" in faults and position == 0:
                entry["embedding"] = [math.nan, *values[1:]]
            if "embeddings_data_order" in faults:
                entry["index"] = position + 1
            if "embeddings_response_matches_schema" in faults:
                del entry["object"]
            data.append(entry)
        if "embeddings_data_count" in faults and data:
            data.pop()
        prompt = sum(_tokens(item) for item in items)
        if "embeddings_usage_additive" in faults:
            prompt += 1
        total = prompt + 1 if "embeddings_usage_total_equals_prompt" in faults else prompt
        if "embeddings_usage_nonzero" in faults:
            prompt = total = 0
        answer: dict[str, Any] = {"object": "list", "data": data, "model": model}
        if "embeddings_usage_present" not in faults:
            answer["usage"] = {"prompt_tokens": prompt, "total_tokens": total}
        if "embeddings_values_finite" in faults and not base64_format:
            return json.dumps(answer).encode()  # Python's json writes NaN, as some servers do
        return orjson.dumps(answer)


def _lets_through(violation: Violation, faults: frozenset[str]) -> bool:
    """Whether the input-limits fault accepts this violation (an empty or over-long input, nothing else)."""
    if "embeddings_input_limits_enforced" not in faults or not violation.range_only:
        return False
    return violation.param is not None and (violation.param == "input" or violation.param.startswith("input."))
