"""The mock's ASGI application: every family's routes, and routing errors in the shape of the family
whose path was asked for (OpenAI's by default)."""

from __future__ import annotations

import logging

from jsonschema.protocols import Validator
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from llmconform.mock import audio, embeddings, gemini, images, messages, responses, video
from llmconform.mock.chat import ChatEndpoints
from llmconform.mock.common import MockContext, new_request_id
from llmconform.mock.config import MockConfig
from llmconform.mock.errors import ApiError, error_response
from llmconform.mock.openai_steps import SERVER_FAILURE
from llmconform.mock.validation import BodyValidator

__all__ = ["REQUEST_SCHEMA", "create_app"]

logger = logging.getLogger(__name__)

REQUEST_SCHEMA = "CreateChatCompletionRequest"


def create_app(config: MockConfig, validator: Validator | None = None) -> Starlette:
    """Build the mock's ASGI app for ``config``.

    ``validator`` checks chat request bodies; by default it is the contract's
    ``CreateChatCompletionRequest`` validator from ``llmconform.spec``.
    """
    if validator is None:
        from llmconform.spec import component_schema, validator_for

        body_validator = BodyValidator(validator_for(REQUEST_SCHEMA), component_schema(REQUEST_SCHEMA))
    else:
        body_validator = BodyValidator(validator)
    context = MockContext(config)
    endpoints = ChatEndpoints(context, body_validator)
    # Families with their own error shape, by the path prefixes they serve (longest prefix first).
    family_mocks = (messages, gemini, responses, embeddings, images, audio, video)

    async def http_error(request: Request, exc: Exception) -> Response:
        """Routing errors (unknown path 404, wrong method 405) as OpenAI error bodies."""
        faults = endpoints.faults_for(request)
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        headers = dict(exc.headers or {}) if isinstance(exc, HTTPException) else {}
        where = f"{request.method} {request.url.path}"
        for family in family_mocks:
            if request.url.path.startswith(family.PATH_PREFIXES):
                routed: Response = family.routing_error(status, where, headers, faults, new_request_id())
                return routed
        if status == 404:
            error = ApiError(
                404,
                f"Unknown request URL: {where}. The mock serves POST /v1/chat/completions, "
                "GET /v1/models, POST /v1/messages, POST /v1/responses, POST /v1/embeddings, /v1/images, /v1/audio, "
                "/api/v3/contents/generations/tasks (video) and /v1beta/models (Gemini); check the base URL and "
                "path for typos.",
                code="unknown_url",
            )
        elif status == 405:
            allow = headers.get("Allow") or headers.get("allow", "")
            error = ApiError(
                405,
                f"Method {request.method} is not allowed on {request.url.path}; use {allow}.",
                code="method_not_allowed",
                headers={"Allow": allow},
            )
        else:
            detail = exc.detail if isinstance(exc, HTTPException) else "error"
            error = ApiError(status, f"{detail} ({where}).", headers=headers)
        return error_response(error, faults, new_request_id())

    async def crash(request: Request, exc: Exception) -> Response:
        """Last resort for an exception that escaped a handler: log it, answer 500 JSON."""
        logger.error("llmconform mock: unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return error_response(SERVER_FAILURE, frozenset(), new_request_id())

    routes = [
        Route("/v1/chat/completions", endpoints.chat_completions, methods=["POST"]),
        Route("/v1/models", endpoints.list_models, methods=["GET"]),
    ]
    for family in family_mocks:
        routes.extend(family.routes(context))
    return Starlette(routes=routes, exception_handlers={HTTPException: http_error, Exception: crash})
