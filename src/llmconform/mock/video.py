"""The mock's Seedance-format video task API: tasks that progress with time, and their MP4 at a URL on the mock.

``POST /api/v3/contents/generations/tasks`` goes through faults in force, auth (401), body size (413), JSON
(400), the contract's ``CreateVideoTaskRequest`` schema (400, Ark's ``MissingParameter`` / ``InvalidParameter``
naming the field) and the model (404); it answers ``{"id": "cgt-..."}`` at once. The task is then ``queued``
for ``MockConfig.video_stage_ms``, ``running`` for as long again, and then ``succeeded`` - or ``failed`` when
a reference image is given by an http(s) URL: the mock downloads nothing, so such a reference "cannot be
downloaded" (send ``data:`` URLs to the mock). ``GET .../tasks/{id}`` answers the task as it is at that moment
(404 ``ResourceNotFound`` for an id the mock never gave; it keeps the last 10,000 tasks).

A succeeded task names its video at ``/llmconform/media/video/{id}.mp4`` on the mock (no key needed, like
upstream's pre-signed URLs): an H.264 MP4, 8 frames a second, of the duration asked (5 s by default, 5 s for
-1) and the aspect ratio asked (16:9 by default and for adaptive), 64 pixels on its long side - tiny whatever
``resolution`` says. Its ``usage`` is upstream's token estimate for the declared resolution: width x height x
24 frames a second x seconds / 1024.

Errors are Ark's shape, ``{"error": {"code", "message", "param", "type"}}``.
"""

from __future__ import annotations

import logging
import os
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from llmconform.families.video import RATIOS, TASKS_PATH
from llmconform.json_numbers import as_int
from llmconform.mock import media, openai_steps
from llmconform.mock.common import SERVER_FAILURE_MESSAGE, MockContext, RequestGuard
from llmconform.mock.errors import ApiError
from llmconform.mock.validation import BodyValidator

__all__ = ["MAX_TASKS", "PATH_PREFIXES", "RESULT_PREFIX", "VIDEO_FPS", "VideoEndpoints", "routes", "routing_error"]

logger = logging.getLogger(__name__)

RESULT_PREFIX = "/llmconform/media/video/"
# Paths this family serves: routing errors (404, 405) under them get this family's error shape.
PATH_PREFIXES: tuple[str, ...] = (TASKS_PATH, RESULT_PREFIX)
MAX_TASKS = 10_000
VIDEO_FPS = 8
# The frame size of each ratio: 64 pixels on the long side, even sides (H.264 4:2:0).
_FRAME_SIZES: dict[str, tuple[int, int]] = {
    "16:9": (64, 36),
    "4:3": (64, 48),
    "1:1": (48, 48),
    "3:4": (48, 64),
    "9:16": (36, 64),
    "21:9": (84, 36),
}
# Height of each resolution tier (for the usage estimate).
_HEIGHTS = {"480p": 480, "720p": 720, "1080p": 1080}
_DEFAULT_DURATION = 5
REQUEST_SCHEMA = "CreateVideoTaskRequest"
DOCUMENT = "video"
_JSON = "application/json"
# Ark's error "type" per HTTP status.
_ERROR_TYPES = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 405: "MethodNotAllowed",
                413: "BadRequest", 500: "InternalServiceError"}  # fmt: skip
_SERVER_FAILURE = ApiError(500, SERVER_FAILURE_MESSAGE, type="InternalServiceError", code="InternalServiceError")


def routes(context: MockContext) -> list[BaseRoute]:
    """The family's routes, bound to the mock's context."""
    endpoints = VideoEndpoints(context)
    return [
        Route(TASKS_PATH, endpoints.create, methods=["POST"]),
        Route(TASKS_PATH + "/{task_id}", endpoints.query, methods=["GET"]),
        Route(RESULT_PREFIX + "{name}", endpoints.result, methods=["GET"]),
    ]


def routing_error(
    status: int, where: str, headers: Mapping[str, str], faults: frozenset[str], request_id: str
) -> Response:
    """A routing error (unknown path 404, wrong method 405) under this family's paths, in its error shape."""
    allow = headers.get("Allow") or headers.get("allow")
    if status == 405 and allow:
        error = ApiError(405, f"Method not allowed: {where}. This route takes {allow}.", code="MethodNotAllowed",
                         headers={"Allow": allow})  # fmt: skip
    else:
        error = ApiError(
            status,
            f"Cannot route {where}; the video routes are POST {TASKS_PATH} and GET {TASKS_PATH}/{{id}}.",
            code="NotFound",
        )
    return error_response(error, faults, request_id)


def error_response(error: ApiError, faults: frozenset[str], request_id: str) -> Response:
    """``error`` as an Ark error body (a bare string under the ``video_error_body_shape`` fault)."""
    if "video_error_body_shape" in faults:
        body = orjson.dumps({"error": error.message})
    else:
        kind = error.type if error.type[:1].isupper() else _ERROR_TYPES.get(error.status, "BadRequest")
        code = error.code or kind
        body = orjson.dumps({"error": {"code": code, "message": error.message, "param": error.param, "type": kind}})
    headers = {**error.headers, "x-request-id": request_id}
    return Response(body, status_code=error.status, headers=headers, media_type=_JSON)


@dataclass(slots=True)
class Task:
    """One video task: what was asked, when, and whether it will fail."""

    id: str
    model: str
    started: float  # time.monotonic() at creation
    created_at: int  # Unix seconds
    duration: int
    ratio: str
    resolution: str
    seed: int
    failure: tuple[str, str] | None = None
    final_answers: int = 0


def _ark_code(code: str | None) -> str:
    return "MissingParameter" if code == "missing_required_parameter" else "InvalidParameter"


def _unfetchable(content: Any) -> str | None:
    """The first reference URL the mock would have to download (http or https), if any."""
    for item in content if isinstance(content, list) else []:
        if not isinstance(item, dict):
            continue
        for key in ("image_url", "video_url", "audio_url"):
            media_url = item.get(key)
            url = media_url.get("url") if isinstance(media_url, dict) else None
            if isinstance(url, str) and url.lower().startswith(("http://", "https://")):
                return url
    return None


class VideoEndpoints:
    """The video handlers, bound to one context, one request validator and the task store."""

    def __init__(self, context: MockContext, validator: BodyValidator | None = None) -> None:
        if validator is None:
            from llmconform.spec import component_schema, validator_for

            validator = BodyValidator(
                validator_for(REQUEST_SCHEMA, DOCUMENT), component_schema(REQUEST_SCHEMA, DOCUMENT)
            )
        self._context = context
        self._config = context.config
        self._validator = validator
        self._tasks: OrderedDict[str, Task] = OrderedDict()
        self._guard = RequestGuard(context, self._auth_error, error_response, _SERVER_FAILURE, logger)
        self._open = RequestGuard(context, lambda _request, _faults: None, error_response, _SERVER_FAILURE, logger)

    async def create(self, request: Request) -> Response:
        """``POST /api/v3/contents/generations/tasks``."""
        return await self._guard(request, self._create)

    async def query(self, request: Request) -> Response:
        """``GET /api/v3/contents/generations/tasks/{id}``."""
        return await self._guard(request, self._query)

    async def result(self, request: Request) -> Response:
        """``GET /llmconform/media/video/{id}.mp4`` (no key needed)."""
        return await self._open(request, self._result)

    # ------------------------------------------------------------------ steps

    def _auth_error(self, request: Request, faults: frozenset[str]) -> ApiError | None:
        if "video_auth_required" in faults:
            return None
        error = openai_steps.bearer_auth_error(self._context, request)
        return None if error is None else ApiError(401, error.message, code="AuthenticationError")

    def _bad_request(self, error: ApiError, faults: frozenset[str]) -> ApiError:
        if "video_invalid_request_rejected" in faults:
            return ApiError(500, error.message, "InternalServiceError", error.param, "InternalServiceError")
        return error

    def _stage_s(self) -> float:
        return self._config.video_stage_ms / 1000.0

    def _status(self, task: Task, faults: frozenset[str]) -> tuple[str, float]:
        """The task's status now, and the monotonic time it took that status."""
        stage_s = self._stage_s()
        elapsed = time.monotonic() - task.started
        stage = int(elapsed / stage_s) if stage_s > 0 else 10
        final = "failed" if task.failure is not None else "succeeded"
        if "video_task_reaches_final_state" in faults:
            sequence = ["queued", "running"]
        elif "video_task_status_monotonic" in faults:
            sequence = ["queued", "running", "queued", "running", final]
        else:
            sequence = ["queued", "running", final]
        at = min(stage, len(sequence) - 1)
        status = sequence[at]
        if status == final and "video_task_final_state_stable" in faults:
            task.final_answers += 1
            if task.final_answers == 2:
                status = "running"
        return status, task.started + at * stage_s

    # ------------------------------------------------------------------ POST (create)

    def _check(self, raw: bytes, faults: frozenset[str]) -> Mapping[str, Any] | ApiError:
        example = '{"model": ..., "content": [{"type": "text", "text": "A cat on a boat"}]}'
        body = openai_steps.json_object_body(
            raw, self._validator, faults, example=example, parse=openai_steps.lenient_json
        )
        if isinstance(body, ApiError):
            code = "InvalidParameter" if body.code in ("invalid_json", None) else _ark_code(body.code)
            return self._bad_request(ApiError(400, body.message, "BadRequest", body.param, code), faults)
        return body

    async def _create(self, request: Request, faults: frozenset[str], request_id: str) -> Response:
        raw = await self._context.read_body(request)
        if raw is None:
            limit = openai_steps.body_too_large(self._config.max_body_bytes)
            return error_response(ApiError(413, limit.message, code="RequestTooLarge"), faults, request_id)
        checked = self._check(raw, faults)
        if isinstance(checked, ApiError):
            return error_response(checked, faults, request_id)
        model = str(checked.get("model", ""))
        if model not in self._context.models and "video_unknown_model_rejected" not in faults:
            missing = openai_steps.model_not_found(model, self._config.models)
            error = ApiError(404, missing.message, "NotFound", "model", "InvalidEndpointOrModel.NotFound")
            return error_response(error, faults, request_id)
        task = self._new_task(checked, model, faults)
        await self._context.unary_delay(1)
        key = "task_id" if "video_create_response_matches_schema" in faults else "id"
        return self._json({key: task.id}, faults, request_id)

    def _new_task(self, request: Mapping[str, Any], model: str, faults: frozenset[str]) -> Task:
        duration = as_int(request.get("duration"))
        ratio = request.get("ratio")
        unfetchable = _unfetchable(request.get("content"))
        failure = None
        if unfetchable is not None and "video_unfetchable_reference_fails" not in faults:
            failure = (
                "InvalidParameter.DownloadFailed",
                f"The reference {unfetchable[:80]!r} could not be downloaded (the mock downloads nothing; send "
                "media as data: URLs).",
            )
        task = Task(
            id="cgt-" + time.strftime("%Y%m%d%H%M%S") + "-" + os.urandom(4).hex(),
            model=model,
            started=time.monotonic(),
            created_at=int(time.time()),
            duration=_DEFAULT_DURATION if duration is None or duration < 0 else duration,
            ratio=ratio if isinstance(ratio, str) and ratio in RATIOS else "16:9",
            resolution=str(request.get("resolution") or "720p"),
            seed=as_int(request.get("seed")) or int.from_bytes(os.urandom(2), "big"),
            failure=failure,
        )
        self._tasks[task.id] = task
        while len(self._tasks) > MAX_TASKS:
            self._tasks.popitem(last=False)
        return task

    # ------------------------------------------------------------------ GET (query)

    async def _query(self, request: Request, faults: frozenset[str], request_id: str) -> Response:
        task_id = request.path_params["task_id"]
        task = self._tasks.get(task_id)
        if task is None:
            if "video_unknown_task_not_found" in faults:
                now = int(time.time())
                return self._json(
                    {"id": task_id, "model": "", "status": "queued", "created_at": now, "updated_at": now},
                    faults, request_id,
                )  # fmt: skip
            error = ApiError(
                404,
                f"No video generation task has id {task_id[:80]!r}: use the id a create call answered "
                "(the mock keeps the last 10000 tasks).",
                "NotFound",
                "id",
                "ResourceNotFound",
            )
            return error_response(error, faults, request_id)
        await self._context.unary_delay(1)
        return self._json(self._answer(task, request, faults), faults, request_id)

    def _answer(self, task: Task, request: Request, faults: frozenset[str]) -> dict[str, Any]:
        status, since = self._status(task, faults)
        updated = task.created_at + round(since - task.started)
        answer: dict[str, Any] = {
            "id": task.id + "-other" if "video_task_id_matches" in faults else task.id,
            "model": task.model,
            "status": status,
            "error": None,
            "created_at": task.created_at,
            "updated_at": updated,
            "seed": task.seed,
            "resolution": task.resolution,
            "ratio": task.ratio,
            "duration": task.duration,
            "framespersecond": VIDEO_FPS,
        }
        if "video_task_matches_schema" in faults:
            answer["created_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(task.created_at))
        if status == "failed" and task.failure is not None and "video_task_failed_has_error" not in faults:
            answer["error"] = {"code": task.failure[0], "message": task.failure[1]}
        if status == "succeeded":
            if "video_task_succeeded_has_video" not in faults:
                base = str(request.base_url).rstrip("/")
                answer["content"] = {"video_url": f"{base}{RESULT_PREFIX}{task.id}.mp4"}
            if "video_usage_present" not in faults:
                height = _HEIGHTS.get(task.resolution, 720)
                width = round(height * float(RATIOS.get(task.ratio, RATIOS["16:9"])))
                tokens = width * height * 24 * task.duration // 1024
                answer["usage"] = {"completion_tokens": tokens, "total_tokens": tokens}
        return answer

    def _json(self, payload: dict[str, Any], faults: frozenset[str], request_id: str) -> Response:
        media_type = "text/plain" if "video_content_type_declared" in faults else _JSON
        return Response(orjson.dumps(payload), media_type=media_type, headers={"x-request-id": request_id})

    # ------------------------------------------------------------------ GET (the result)

    async def _result(self, request: Request, faults: frozenset[str], request_id: str) -> Response:
        name: str = request.path_params["name"]
        task = self._tasks.get(name.removesuffix(".mp4")) if name.endswith(".mp4") else None
        if task is None or task.failure is not None or "video_result_fetchable" in faults:
            error = ApiError(404, f"No video at {RESULT_PREFIX}{name[:80]}.", "NotFound", None, "ResourceNotFound")
            return error_response(error, faults, request_id)
        width, height = _FRAME_SIZES[task.ratio]
        seconds = float(task.duration)
        if "video_result_matches_request" in faults:
            (width, height), seconds = _FRAME_SIZES["16:9"], 2.0
        body = await run_in_threadpool(media.mp4_video, width, height, seconds, VIDEO_FPS)
        if "video_result_decodes" in faults:
            body = body[: len(body) // 2]
        media_type = "text/plain" if "video_result_content_type" in faults else "video/mp4"
        return Response(body, media_type=media_type, headers={"x-request-id": request_id})
