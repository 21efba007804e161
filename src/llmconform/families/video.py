"""The video family (Seedance 2.0 task format): paths, request builders, and parsed views of its answers.

Video is asynchronous. ``POST /api/v3/contents/generations/tasks`` answers ``{"id"}``; ``GET .../tasks/{id}``
answers the task, whose ``status`` goes ``queued -> running -> succeeded | failed`` (or ``expired``,
``cancelled``); a succeeded task names its MP4 in ``content.video_url``. :func:`task_view` reads one task
answer; :func:`decode_video` reads the downloaded MP4 (FFmpeg through PyAV: container, codec, frame size,
frames decoded, duration). Neither raises on a malformed answer: the problem is recorded for the checks.

The download of a result is an Exchange of this family too, with the operation :data:`RESULT_OPERATION` (it
is not an API route: the URL is wherever the task said).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from llmconform.exchange import Exchange, TransportError
from llmconform.families.answer import Answer
from llmconform.families.reading import AnswerPredicates, cached_view, read_json_object, received_2xx
from llmconform.json_numbers import as_int

__all__ = [
    "ACTIVE_STATUSES",
    "CREATE_OPERATION",
    "FAMILY",
    "FINAL_STATUSES",
    "MAX_POLLS",
    "QUERY_OPERATION",
    "RATIOS",
    "RESULT_OPERATION",
    "STATUS_RANK",
    "TASKS_PATH",
    "TASK_OPERATION",
    "DecodedVideo",
    "TaskView",
    "build_request",
    "created_task_id",
    "decode_video",
    "is_create",
    "is_query",
    "is_result",
    "poll_gaps",
    "read_answer",
    "request_headers",
    "task_exchange",
    "task_path",
    "task_view",
    "video_request",
]

FAMILY = "video"
TASKS_PATH = "/api/v3/contents/generations/tasks"
CREATE_OPERATION = f"POST {TASKS_PATH}"
# The operation as schemathesis names it (the path template), so generated and probe queries are judged alike.
QUERY_OPERATION = f"GET {TASKS_PATH}/{{id}}"
RESULT_OPERATION = "GET video result"
# A whole task as one record under load: the create request, then polls until a final state.
TASK_OPERATION = "video task"
ACTIVE_STATUSES = ("queued", "running")
FINAL_STATUSES = ("succeeded", "failed", "expired", "cancelled")
# How far along each status is: a task may only move to a status of higher rank (final ones share the top).
STATUS_RANK: dict[str, int] = {"queued": 0, "running": 1, **dict.fromkeys(FINAL_STATUSES, 2)}
# Upstream (Seedance 2.0) aspect ratios as width:height; "adaptive" follows the first frame and is not here.
RATIOS: dict[str, Fraction] = {
    "16:9": Fraction(16, 9),
    "4:3": Fraction(4, 3),
    "1:1": Fraction(1, 1),
    "3:4": Fraction(3, 4),
    "9:16": Fraction(9, 16),
    "21:9": Fraction(21, 9),
}
# At most this many polls of one task, however long its deadline (see poll_gaps).
MAX_POLLS = 30
# The first wait before a poll (when the configured interval is longer), doubled until it reaches the interval.
FIRST_POLL_S = 1.0
# The cheapest request upstream takes: the shortest duration (4 s) at the lowest resolution.
_CHEAP = {"duration": 4, "resolution": "480p"}
_VIDEO_PARAMS = ("ratio", "resolution", "duration", "seed", "watermark", "generate_audio")


def video_request(
    model: str,
    prompt: str,
    *,
    images: list[tuple[str, str]] | None = None,
    duration: int | None = None,
    ratio: str | None = None,
    resolution: str | None = None,
) -> dict[str, Any]:
    """A create-task body: the prompt, then each (url, role) image; the rest is sent only when given."""
    content: list[dict[str, Any]] = [{"type": "text", "text": prompt}]
    for url, role in images or []:
        content.append({"type": "image_url", "image_url": {"url": url}, "role": role})
    body: dict[str, Any] = {"model": model, "content": content}
    for key, value in (("duration", duration), ("ratio", ratio), ("resolution", resolution)):
        if value is not None:
            body[key] = value
    return body


def poll_gaps(interval_s: float, deadline_s: float) -> Iterator[float]:
    """The waits before each poll of a task, at most :data:`MAX_POLLS` of them, spanning ``deadline_s``.

    The first is 1 s (or ``interval_s`` when shorter) and each next one doubles, so a task that ends quickly
    is seen quickly, up to a steady gap: ``interval_s``, or longer where that is what it takes for the polls
    left to reach the deadline. Bounded in count and in time.
    """
    gap = min(FIRST_POLL_S, interval_s)
    waited = 0.0
    for number in range(MAX_POLLS):
        left = MAX_POLLS - number
        steady = max(interval_s, (deadline_s - waited) / left)
        gap = min(gap, steady) if number == 0 else min(gap * 2, steady)
        gap = min(gap, max(deadline_s - waited, 0.0))
        waited += gap
        yield gap
        if waited >= deadline_s:
            return


def task_path(task_id: str) -> str:
    """The query path of a task (the id percent-encoded as one path segment)."""
    return f"{TASKS_PATH}/{quote(task_id, safe='')}"


_CREATE = AnswerPredicates(CREATE_OPERATION)
_QUERY = AnswerPredicates(QUERY_OPERATION)
_RESULT = AnswerPredicates(RESULT_OPERATION)
is_create = _CREATE.is_operation
is_create_answer = _CREATE.is_answer
is_query = _QUERY.is_operation
is_query_answer = _QUERY.is_answer
is_result = _RESULT.is_operation
is_result_answer = _RESULT.is_answer


def is_api(exchange: Exchange) -> bool:
    """An exchange of the task API (create or query), answered or not; result downloads are not."""
    return exchange.operation in (CREATE_OPERATION, QUERY_OPERATION)


def created_task_id(exchange: Exchange) -> str | None:
    """The task id a 2xx create answer names, when it is a non-empty string."""
    if not is_create_answer(exchange):
        return None
    try:
        payload = exchange.json()
    except ValueError:
        return None
    task_id = payload.get("id") if isinstance(payload, dict) else None
    return task_id if isinstance(task_id, str) and task_id else None


def queried_task_id(exchange: Exchange) -> str | None:
    """The task id in a query's URL (its last path segment, decoded)."""
    segment = urlsplit(exchange.url).path.rsplit("/", 1)[-1]
    return unquote(segment) or None


# -------------------------------------------------------------------------------------- task views


@dataclass(slots=True)
class TaskView:
    """Everything checks need to know about one task answer."""

    payload: Any = None
    task_id: Any = None
    status: Any = None
    video_url: str | None = None
    error: Any = None
    usage: Any = None
    has_usage_key: bool = False
    problems: list[str] = field(default_factory=list)

    @property
    def final(self) -> bool:
        return self.status in FINAL_STATUSES

    @property
    def rank(self) -> int | None:
        return STATUS_RANK.get(self.status) if isinstance(self.status, str) else None


def task_view(exchange: Exchange) -> TaskView:
    """Parse (once, cached on the exchange) a task answer into a TaskView."""
    return cached_view(exchange, "video_task_view", TaskView, _task_view)


def _task_view(exchange: Exchange) -> TaskView:
    view = TaskView()
    view.payload, payload = read_json_object(exchange, view.problems)
    if payload is None:
        return view
    view.task_id = payload.get("id")
    view.status = payload.get("status")
    content = payload.get("content")
    if isinstance(content, dict) and isinstance(content.get("video_url"), str) and content["video_url"]:
        view.video_url = content["video_url"]
    view.error = payload.get("error")
    view.has_usage_key = "usage" in payload
    view.usage = payload.get("usage")
    return view


def usage_counts(exchange: Exchange) -> tuple[int, int] | None:
    """(completion_tokens, total_tokens) of a task answer when its usage carries both as integers."""
    usage = task_view(exchange).usage
    if not isinstance(usage, dict):
        return None
    completion, total = as_int(usage.get("completion_tokens")), as_int(usage.get("total_tokens"))
    return (completion, total) if completion is not None and total is not None else None


def task_exchange(create: Exchange, polls: list[Exchange], deadline_s: float) -> tuple[Exchange, str | None]:
    """A whole task as one Exchange (how load measures video), and why the task failed (None when it did not).

    The request is the create call's; the answer is the last one received (the create's when no poll was sent,
    or the poll that ended the polling: a final state, a non-2xx, a transport failure); its time runs from the
    create's send to that answer's end, its first byte is the create's. A task still unfinished after
    ``deadline_s`` is a timeout; one that ended failed, expired or cancelled is returned with the reason.
    """
    last = polls[-1] if polls else create
    task = Exchange(
        family=FAMILY,
        operation=TASK_OPERATION,
        method=create.method,
        url=create.url,
        request_headers=create.request_headers,
        request_json=create.request_json,
        label=create.label,
        status=last.status,
        response_headers=last.response_headers,
        body=last.body,
        received_bytes=sum(e.received_bytes for e in (create, *polls)),
        started_at=create.started_at,
        elapsed_s=max(last.started_at + last.elapsed_s - create.started_at, create.elapsed_s),
        ttfb_s=create.ttfb_s,
        error=last.error,
        error_kind=last.error_kind,
    )
    if not polls or not last.ok:
        return task, None
    view = task_view(last)
    if not view.final:
        task.error = f"the task was still {view.status!r} {deadline_s:g} s after it was created (the polling deadline)"
        task.error_kind = TransportError.TIMEOUT
        return task, None
    if view.status == "succeeded":
        return task, None
    error = view.error if isinstance(view.error, dict) else {}
    return task, f"the task ended {view.status}: {error.get('code', 'no code')}: {error.get('message', 'no message')}"


# ------------------------------------------------------------------------------------------ decoding


@dataclass(slots=True)
class DecodedVideo:
    """What a downloaded result turned out to be."""

    container: str | None = None
    codec: str | None = None
    width: int = 0
    height: int = 0
    frames: int = 0
    duration_s: float = 0.0
    problem: str | None = None

    @property
    def is_mp4(self) -> bool:
        return self.container is not None and "mp4" in self.container.split(",")


def decode_video(data: bytes) -> DecodedVideo:
    """Decode every frame of the first video stream of ``data`` (FFmpeg through PyAV).

    The duration is the span of the decoded frames' timestamps plus one frame, or the stream's declared
    duration when the frames carry none.
    """
    import av  # FFmpeg: imported on first use, so importing the family stays light

    decoded = DecodedVideo()
    if not data:
        decoded.problem = "the body is empty"
        return decoded
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            decoded.container = container.format.name
            if not container.streams.video:
                decoded.problem = f"the {container.format.name} container has no video stream"
                return decoded
            stream = container.streams.video[0]
            decoded.codec = stream.codec_context.name
            first: float | None = None
            last = 0.0
            for frame in container.decode(stream):
                decoded.frames += 1
                decoded.width, decoded.height = frame.width, frame.height
                if frame.time is not None:
                    first = frame.time if first is None else min(first, frame.time)
                    last = max(last, frame.time)
            rate = float(stream.average_rate) if stream.average_rate else 0.0
            if first is not None and rate > 0:
                decoded.duration_s = last - first + 1 / rate
            elif stream.duration is not None and stream.time_base is not None:
                decoded.duration_s = float(stream.duration * stream.time_base)
    except av.FFmpegError as exc:
        decoded.problem = f"FFmpeg cannot decode it: {exc.strerror or exc}"
        return decoded
    if decoded.frames == 0:
        decoded.problem = f"no frame decodes from the {decoded.container} {decoded.codec or ''} stream"
    return decoded


# ---------------------------------------------------------------------- the shared family interface


def request_headers(api_key: str | None) -> dict[str, str]:
    """The headers every request of this family carries: the key as ``Authorization: Bearer``."""
    return {"authorization": f"Bearer {api_key}"} if api_key else {}


def build_request(
    model: str, messages: list[dict[str, Any]], *, max_tokens: int | None, stream: bool, **params: Any
) -> tuple[str, str, str, dict[str, Any]]:
    """(method, path, operation, body) of a create-task request whose prompt is the messages' text.

    The task asks for the cheapest video upstream makes (4 s at 480p) unless ``params`` say otherwise;
    ``max_tokens`` and ``stream`` mean nothing here.
    """
    texts: list[str] = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, str):
            texts.append(content)
        elif isinstance(content, list):
            texts.extend(p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    body = video_request(model, " ".join(texts).strip() or "A lighthouse at dusk.")
    body.update(_CHEAP)
    body.update({k: v for k, v in params.items() if k in _VIDEO_PARAMS})
    return "POST", TASKS_PATH, CREATE_OPERATION, body


def read_answer(exchange: Exchange) -> Answer | None:
    """A 2xx answer of the task API, or a whole task (:func:`task_exchange`), as an :class:`Answer`: no text and no
    output tokens (the tally's token figures are about generated text; a video's tokens are its bill), and the
    first byte of the (create) answer as its first event."""
    if not (exchange.operation in (CREATE_OPERATION, QUERY_OPERATION, TASK_OPERATION) and received_2xx(exchange)):
        return None
    return Answer(stream=False, first_byte_s=exchange.ttfb_s)
