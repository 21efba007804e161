"""HTTP handlers: ``POST /v1/chat/completions`` (unary and SSE) and ``GET /v1/models``.

A chat request goes through, in order: faults in force (config plus the
``x-llmconform-fault`` header), auth (401), body size (413), JSON parse (400), the contract's
request schema (400 naming the offending field), the model (404), then generation. Every
failure is an OpenAI error body (``errors.ApiError``); an unexpected exception is logged and
answered 500 in the same shape, never with a traceback.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from llmconform.mock import openai_steps
from llmconform.mock.common import MockContext, RequestGuard, new_request_id
from llmconform.mock.content import generate
from llmconform.mock.delivery import deliver, openai_error
from llmconform.mock.errors import SERVER_ERROR, ApiError, error_response
from llmconform.mock.faults import STALL_S
from llmconform.mock.load_faults import CHAT_SSE
from llmconform.mock.request import ChatRequest
from llmconform.mock.validation import BodyValidator, Violation
from llmconform.mock.wire import Envelope, content_rounds, stream_rounds, unary_body

__all__ = ["MODEL_CREATED", "MODEL_OWNER", "ChatEndpoints", "new_request_id"]

logger = logging.getLogger(__name__)

MODEL_CREATED = 1700000000
MODEL_OWNER = "llmconform"
_FAULTY_MODEL = "other-model-1"
_JSON = "application/json"
_SSE_HEADERS = {"cache-control": "no-cache"}


class ChatEndpoints:
    """The mock's API handlers, bound to one config and one request validator."""

    def __init__(self, context: MockContext, validator: BodyValidator) -> None:
        self._context = context
        self._config = context.config
        self._validator = validator
        self._models = context.models
        self._guard = RequestGuard(context, self._auth_error, error_response, openai_steps.SERVER_FAILURE, logger)
        self._model_lists = {
            (listed, owned): self._encode_models(listed, owned) for listed in (True, False) for owned in (True, False)
        }

    # ------------------------------------------------------------------ shared steps

    def faults_for(self, request: Request) -> frozenset[str]:
        """Faults in force for ``request``."""
        return self._context.faults_for(request)

    def _auth_error(self, request: Request, faults: frozenset[str]) -> ApiError | None:
        return None if "auth_required" in faults else openai_steps.bearer_auth_error(self._context, request)

    # ------------------------------------------------------------------ GET /v1/models

    def _encode_models(self, listed: bool, owned: bool) -> bytes:
        ids = self._config.models if listed else (_FAULTY_MODEL,)
        data: list[dict[str, Any]] = []
        for model in ids:
            entry: dict[str, Any] = {"id": model, "object": "model", "created": MODEL_CREATED}
            if owned:
                entry["owned_by"] = MODEL_OWNER
            data.append(entry)
        return orjson.dumps({"object": "list", "data": data})

    async def list_models(self, request: Request) -> Response:
        """``GET /v1/models``: the configured models (auth required)."""
        return await self._guard(request, self._list_models)

    async def _list_models(self, request: Request, faults: frozenset[str], request_id: str) -> Response:
        body = self._model_lists[("model_listed" not in faults, "response_matches_schema" not in faults)]
        media = "text/plain" if "content_type_declared" in faults else _JSON
        return Response(body, media_type=media, headers={"x-request-id": request_id})

    # ------------------------------------------------------------------ POST /v1/chat/completions

    async def chat_completions(self, request: Request) -> Response:
        """``POST /v1/chat/completions``: a unary ``chat.completion`` or an SSE stream of chunks."""
        return await self._guard(request, self._chat)

    def _bad_request(self, error: ApiError, faults: frozenset[str]) -> ApiError:
        if "undocumented_status" in faults and "invalid_request_rejected" not in faults:
            return ApiError(418, error.message, error.type, error.param, error.code)
        return openai_steps.bad_request(error, faults, server_error_fault="invalid_request_rejected")

    def _check_body(self, raw: bytes, faults: frozenset[str]) -> Mapping[str, Any] | ApiError:
        example = '{"model": ..., "messages": [...]}'
        checked = openai_steps.json_object_body(
            raw, self._validator, faults, example=example, lets_through=_lets_through
        )
        return self._bad_request(checked, faults) if isinstance(checked, ApiError) else checked

    async def _chat(self, request: Request, faults: frozenset[str], request_id: str) -> Response:
        raw = await self._context.read_body(request)
        if raw is None:
            return error_response(openai_steps.body_too_large(self._config.max_body_bytes), faults, request_id)
        checked = self._check_body(raw, faults)
        if isinstance(checked, ApiError):
            return error_response(checked, faults, request_id)
        chat = ChatRequest.from_body(checked)
        if chat.model not in self._models and "unknown_model_rejected" not in faults:
            return error_response(openai_steps.model_not_found(chat.model, self._config.models), faults, request_id)
        if "server_error" in faults and chat.request_key[0] % 3 == 0:
            error = ApiError(
                500,
                "The server had an error while processing your request (llmconform mock fault "
                "'server_error'). Retry the request.",
                type=SERVER_ERROR,
            )
            return error_response(error, faults, request_id)
        if "reject_valid" in faults and chat.request_key[0] % 3 == 1:
            error = ApiError(400, "The request was refused (llmconform mock fault 'reject_valid').")
            return error_response(error, faults, request_id)
        if "bad_retry_after" in faults and chat.request_key[0] % 3 == 2:
            error = ApiError(
                429,
                "Rate limit reached (llmconform mock fault 'bad_retry_after').",
                type="rate_limit_exceeded",
                headers={"retry-after": "soon"},
            )
            return error_response(error, faults, request_id)
        if "request_completes" in faults:
            await asyncio.sleep(STALL_S)
        return await self._answer(request, chat, faults, request_id)

    async def _answer(self, request: Request, chat: ChatRequest, faults: frozenset[str], request_id: str) -> Response:
        cfg = self._config
        if "cross_format_finish_consistent" in faults:
            faults = faults | {"truncation_finish_reason_length"}
        completion = generate(chat, faults, streaming=chat.stream)
        delivery = deliver(
            self._context,
            request,
            chat,
            stream=chat.stream,
            output_tokens=completion.completion_tokens,
            steps=content_rounds(completion, 1),
        )
        if delivery.refusal is not None:
            return error_response(openai_error(delivery.refusal), faults, request_id)
        cached = delivery.cached_tokens
        created: int | str = "now" if "response_matches_schema" in faults else int(time.time())
        envelope = Envelope(id="chatcmpl-" + chat.request_key[:12].hex(), created=created, model=chat.model)
        if chat.stream:
            rounds = stream_rounds(
                envelope,
                completion,
                include_usage=chat.include_usage,
                tokens_per_chunk=cfg.tokens_per_chunk,
                faults=faults,
                cached=cached,
            )
            return delivery.streaming_response(
                rounds, CHAT_SSE, media_type="text/event-stream", headers={**_SSE_HEADERS, "x-request-id": request_id}
            )
        await delivery.wait_unary(content_rounds(completion, cfg.tokens_per_chunk))
        media = "text/plain" if "content_type_declared" in faults else _JSON
        body = unary_body(envelope, completion, faults, cached=cached)
        return delivery.unary(Response(body, media_type=media, headers={"x-request-id": request_id}))


def _lets_through(violation: Violation, faults: frozenset[str]) -> bool:
    """Whether a fault accepts this violation: a range violation only (all of them under
    ``accept_invalid``, only the stop / top_logprobs limits under ``parameter_limits_enforced``)."""
    if not violation.range_only:
        return False
    if "accept_invalid" in faults:
        return True
    return "parameter_limits_enforced" in faults and violation.param in ("stop", "top_logprobs")
