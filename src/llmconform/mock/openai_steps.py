"""The request steps the OpenAI-shaped mocks (chat completions, responses, embeddings) share, with
their errors as OpenAI error values (``errors.ApiError``): Bearer auth, the 413 for a body too large,
reading the body as a JSON object the contract's schema accepts, the 404 for an unknown model and
the 500 a 400 becomes under a family's "invalid request rejected" fault.

Each family keeps its own fault names and renders the errors in its own way; these steps only
build the error values.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import orjson
from starlette.requests import Request

from llmconform.mock.common import SERVER_FAILURE_MESSAGE, MockContext, body_too_large_message, mask_key
from llmconform.mock.errors import SERVER_ERROR, ApiError
from llmconform.mock.validation import BodyValidator, Violation

__all__ = [
    "SERVER_FAILURE",
    "ViolationFilter",
    "bad_request",
    "bearer_auth_error",
    "body_too_large",
    "json_object_body",
    "lenient_json",
    "model_not_found",
]

# The 500 a family answers when one of its handlers raised.
SERVER_FAILURE = ApiError(500, SERVER_FAILURE_MESSAGE, type=SERVER_ERROR)

# Whether the faults in force let a schema violation through (the request is then answered as valid).
ViolationFilter = Callable[[Violation, frozenset[str]], bool]


def bearer_auth_error(context: MockContext, request: Request) -> ApiError | None:
    """The 401 for a request without ``Authorization: Bearer <the mock's key>``, or None when the key is right."""
    header = request.headers.get("authorization")
    if not header:
        return ApiError(
            401,
            "You didn't provide an API key. You need to provide your API key in an Authorization "
            "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
            code="invalid_api_key",
        )
    key = context.bearer_key(request)
    if not context.key_accepted(key):
        return ApiError(
            401,
            f"Incorrect API key provided: {mask_key(key or header)}. Send the key the mock was started "
            "with (MockConfig.api_key) as 'Authorization: Bearer <key>'.",
            code="invalid_api_key",
        )
    return None


def body_too_large(limit: int) -> ApiError:
    """The 413 for a body over ``limit`` bytes."""
    return ApiError(413, body_too_large_message(limit), code="request_too_large")


def lenient_json(raw: bytes) -> Any:
    """The JSON body; stdlib json reads what orjson refuses (integers beyond 64 bits, lone surrogates)."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return json.loads(raw)


def _lets_nothing_through(violation: Violation, faults: frozenset[str]) -> bool:
    return False


def json_object_body(
    raw: bytes,
    validator: BodyValidator,
    faults: frozenset[str],
    *,
    example: str,
    lets_through: ViolationFilter = _lets_nothing_through,
    parse: Callable[[bytes], Any] = orjson.loads,
) -> Mapping[str, Any] | ApiError:
    """``raw`` as a JSON object the request schema accepts, or the 400 that says why it is not.

    ``example`` is the object the "must be a JSON object" message suggests; ``lets_through`` decides
    whether the faults in force accept a violation; ``parse`` reads the bytes (a ``ValueError`` is
    the invalid-JSON 400).
    """
    try:
        body = parse(raw)
    except ValueError as exc:
        return ApiError(
            400,
            f"We could not parse the JSON body of your request ({exc}). Send a JSON object "
            "with Content-Type: application/json.",
            code="invalid_json",
        )
    if not isinstance(body, dict):
        kind = "an array" if isinstance(body, list) else "a JSON scalar"
        return ApiError(
            400,
            f"The request body must be a JSON object, but it is {kind}. Send an object such as {example}.",
            code="invalid_value",
        )
    violation = validator.violation(body)
    if violation is not None and not lets_through(violation, faults):
        return ApiError(400, violation.message, param=violation.param, code=violation.code)
    return body


def model_not_found(model: str, models: Iterable[str]) -> ApiError:
    """The 404 for a model the mock does not serve, listing those it does."""
    return ApiError(
        404,
        f"The model '{model}' does not exist or you do not have access to it. "
        f"Available models: {', '.join(models)} (see GET /v1/models).",
        param="model",
        code="model_not_found",
    )


def bad_request(error: ApiError, faults: frozenset[str], *, server_error_fault: str) -> ApiError:
    """The 400 ``error`` as answered: the same error as a 500 ``server_error`` under ``server_error_fault``."""
    if server_error_fault in faults:
        return ApiError(500, error.message, SERVER_ERROR, error.param, error.code)
    return error
