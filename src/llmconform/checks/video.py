"""Rules of the video family (Seedance task API): task answers of the documented shape, a lifecycle that only
moves forward and ends in time, outcomes that carry their result or error, and a result that downloads and
decodes as the MP4 asked for (rule table F, E1/E4 for errors and refusals).

Exchange rules judge every create, query and result download (in ``check`` and under load). Relation rules
judge what the video probes (``llmconform.conformance.video_probes``) saw on purpose: the statuses of one task
polled until it ended and a little after, the result against the request, an id that was never given,
requests that must be refused.
"""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from itertools import pairwise
from typing import Any

from llmconform.checks.chat_relations import auth_required, invalid_request_rejected, unknown_model_rejected
from llmconform.checks.common import refused_with, status_text
from llmconform.checks.registry import Severity, Violation, Warn, exchange_rule, relation_rule
from llmconform.checks.schema import schema_violations
from llmconform.exchange import Exchange
from llmconform.families.video import (
    FAMILY,
    RATIOS,
    STATUS_RANK,
    decode_video,
    is_api,
    is_create_answer,
    is_query_answer,
    is_result,
    queried_task_id,
    task_view,
)
from llmconform.json_numbers import as_int

DOCUMENT = "video"
# A result's duration may differ from the one asked by half a second or 10 % (frame rounding, encoder padding).
DURATION_TOLERANCE_S = 0.5
DURATION_TOLERANCE = 0.10
# Its aspect ratio may differ from the one asked by 5 % (even frame sizes, 480p rounding).
RATIO_TOLERANCE = 0.05


def _decoded(exchange: Exchange) -> Any:
    cached = exchange.cache.get("video_decoded")
    if cached is None:
        cached = exchange.cache["video_decoded"] = decode_video(exchange.body)
    return cached


# ------------------------------------------------------------------------------------- shape


@exchange_rule("video_create_response_matches_schema", family=FAMILY, severity=Severity.ERROR, applies=is_create_answer)
def video_create_response_matches_schema(exchange: Exchange) -> Iterator[Violation]:
    """A 2xx create answer validates against CreateVideoTaskResponse in openapi/video.yaml: {"id": "<task id>"}.

    Source: openapi/video.yaml CreateVideoTaskResponse; Ark "Create a video generation task" (the answer is the
    task id, e.g. {"id": "cgt-2025..."}), which every later call needs.
    """
    view = task_view(exchange)
    if view.payload is None:
        yield f"Expected: a JSON body. Received: {'; '.join(view.problems)}"
        return
    yield from schema_violations("CreateVideoTaskResponse", DOCUMENT, view.payload, "body")


@exchange_rule("video_task_matches_schema", family=FAMILY, severity=Severity.ERROR, applies=is_query_answer)
def video_task_matches_schema(exchange: Exchange) -> Iterator[Violation]:
    """A 2xx task answer validates against VideoTask in openapi/video.yaml (id, model, status of six, Unix times).

    Source: openapi/video.yaml VideoTask, VideoTaskStatus, VideoTaskContent, VideoTaskUsage, TaskError, built from
    Ark "Query the video generation task" (status queued, running, cancelled, succeeded, failed, expired;
    created_at and updated_at Unix seconds).
    """
    view = task_view(exchange)
    if view.payload is None:
        yield f"Expected: a JSON body. Received: {'; '.join(view.problems)}"
        return
    yield from schema_violations("VideoTask", DOCUMENT, view.payload, "body")


def _api_with_status(exchange: Exchange) -> bool:
    return is_api(exchange) and exchange.status is not None


@exchange_rule("video_content_type_declared", family=FAMILY, severity=Severity.ERROR, applies=_api_with_status)
def video_content_type_declared(exchange: Exchange) -> Iterator[Violation]:
    """Every answer of the task API, success or error, is application/json.

    Source: openapi/video.yaml responses (application/json for every status); Ark's API answers JSON.
    """
    media = exchange.content_type
    if media != "application/json" and not media.endswith("+json"):
        yield f"Expected: Content-Type application/json (status {exchange.status}). Received: {media or 'none'!r}"


def _api_error(exchange: Exchange) -> bool:
    return is_api(exchange) and exchange.error is None and exchange.status is not None and exchange.status >= 400


@exchange_rule("video_error_body_shape", family=FAMILY, severity=Severity.ERROR, applies=_api_error)
def video_error_body_shape(exchange: Exchange) -> Iterator[Violation]:
    """A non-2xx task API answer is JSON {"error": {"code": str, "message": str, ...}} (Ark's error object).

    Source: openapi/video.yaml ErrorResponse / Error; BytePlus ModelArk error codes (every error has a code such
    as InvalidParameter and a message); contract-rules.md F E1.
    """
    try:
        body = exchange.json()
    except ValueError as exc:
        yield f"Expected: a JSON error body (status {exchange.status}). Received: {exc}"
        return
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        yield f"Expected: an 'error' object. Received: {type(error).__name__} {error!r:.100}"
        return
    if not isinstance(error.get("message"), str):
        yield f"Expected: error.message a string. Received: {error.get('message')!r:.80}"
    code = error.get("code")
    if isinstance(code, bool) or not isinstance(code, str | int):
        yield f"Expected: error.code (e.g. 'InvalidParameter'). Received: {code!r:.80}"


# --------------------------------------------------------------------------------- the task


def _task_object(exchange: Exchange) -> bool:
    return is_query_answer(exchange) and isinstance(task_view(exchange).payload, dict)


@exchange_rule("video_task_id_matches", family=FAMILY, severity=Severity.ERROR, applies=_task_object)
def video_task_id_matches(exchange: Exchange) -> Iterator[Violation]:
    """The task answered is the task asked for: its id equals the id in the URL.

    Source: Ark "Query the video generation task" (path parameter id; the answer's id is "the ID of the video
    generation task"); a client that files results by id must not receive another task's result.
    """
    asked, answered = queried_task_id(exchange), task_view(exchange).task_id
    if answered != asked:
        yield f"Expected: id {asked!r}. Received: {answered!r:.80}"


def _succeeded(exchange: Exchange) -> bool:
    return _task_object(exchange) and task_view(exchange).status == "succeeded"


@exchange_rule("video_task_succeeded_has_video", family=FAMILY, severity=Severity.ERROR, applies=_succeeded)
def video_task_succeeded_has_video(exchange: Exchange) -> Iterator[Violation]:
    """A succeeded task names its video: content.video_url is a non-empty URL.

    Source: Ark "Query the video generation task" (content.video_url: "URL of the generated video, in mp4
    format"); a succeeded task is what a client polls for.
    """
    view = task_view(exchange)
    if view.video_url is None:
        content = view.payload.get("content")
        yield f"Expected: content.video_url on a succeeded task. Received: content {content!r:.100}"
    elif not view.video_url.lower().startswith(("http://", "https://")):
        yield f"Expected: an http(s) URL in content.video_url. Received: {view.video_url!r:.80}"


def _failed(exchange: Exchange) -> bool:
    return _task_object(exchange) and task_view(exchange).status == "failed"


@exchange_rule("video_task_failed_has_error", family=FAMILY, severity=Severity.ERROR, applies=_failed)
def video_task_failed_has_error(exchange: Exchange) -> Iterator[Violation]:
    """A failed task says why: error is an object with a code and a message.

    Source: Ark "Query the video generation task" (error: "returns null if task succeeds, returns error data if
    task fails"; error.code, error.message).
    """
    error = task_view(exchange).error
    if not isinstance(error, dict) or not error.get("code") or not isinstance(error.get("message"), str):
        yield f"Expected: error {{code, message}} on a failed task. Received: {error!r:.100}"


@exchange_rule("video_usage_present", family=FAMILY, severity=Severity.ERROR, applies=_succeeded)
def video_usage_present(exchange: Exchange) -> Iterator[Violation]:
    """A succeeded task reports usage: integer completion_tokens and total_tokens >= 0, total >= completion.

    Source: Ark "Query the video generation task" (usage.completion_tokens, usage.total_tokens: what the task is
    billed); contract-rules.md F M1 (usage present) and X3 (billed usage is returned usage).
    """
    view = task_view(exchange)
    usage = view.usage
    if not isinstance(usage, dict):
        yield f"Expected: a 'usage' object. Received: {'no usage key' if not view.has_usage_key else usage!r}"
        return
    counts = {key: as_int(usage.get(key)) for key in ("completion_tokens", "total_tokens")}
    for key, value in counts.items():
        if value is None or value < 0:
            yield f"Expected: usage.{key} an integer >= 0. Received: {usage.get(key)!r}"
    completion, total = counts["completion_tokens"], counts["total_tokens"]
    if completion is not None and total is not None and total < completion:
        yield f"Expected: total_tokens >= completion_tokens ({completion}). Received: {total}"


def _statuses(polls: list[Exchange]) -> list[tuple[int, str]]:
    """(poll number, status) of every poll that answered a task with a known status."""
    seen: list[tuple[int, str]] = []
    for number, poll in enumerate(polls, start=1):
        view = task_view(poll) if is_query_answer(poll) else None
        if view is not None and view.rank is not None:
            seen.append((number, str(view.status)))
    return seen


@relation_rule("video_task_status_monotonic", family=FAMILY, severity=Severity.ERROR)
def video_task_status_monotonic(polls: list[Exchange]) -> Iterator[Violation]:
    """Polled until it ends, a task's status only moves forward: queued -> running -> a final state, never back.

    Source: Ark task statuses (queued: in queue; running; then succeeded, failed, expired or cancelled, which
    "only tasks in the queued state can" become by cancellation); a client's progress display and retry logic
    rely on it.
    """
    seen = _statuses(polls)
    for (before_at, before), (after_at, after) in pairwise(seen):
        if STATUS_RANK[after] < STATUS_RANK[before]:
            yield f"Expected: no step back. Received: {before!r} (poll {before_at}) then {after!r} (poll {after_at})"
            return


@relation_rule("video_task_final_state_stable", family=FAMILY, severity=Severity.ERROR)
def video_task_final_state_stable(final: Exchange, later: list[Exchange]) -> Iterator[Violation]:
    """Once a task is in a final state it stays there: later polls answer the same status and the same video URL.

    Source: Ark task statuses (succeeded, failed, expired and cancelled are ends: no transition leaves them);
    a client that saw "succeeded" may poll again and must not be told the task is running.
    """
    first = task_view(final)
    for number, poll in enumerate(later, start=1):
        if not is_query_answer(poll):
            yield f"Expected: the finished task again (poll {number} after the end). Received: {status_text(poll)}"
            continue
        view = task_view(poll)
        if view.status != first.status:
            yield f"Expected: status {first.status!r} again (poll {number} after the end). Received: {view.status!r}"
        elif view.video_url != first.video_url:
            yield f"Expected: the same content.video_url (poll {number} after the end). Received: another URL"


@relation_rule("video_task_reaches_final_state", family=FAMILY, severity=Severity.ERROR)
def video_task_reaches_final_state(polls: list[Exchange], waited_s: float, deadline_s: float) -> Iterator[Violation]:
    """A task reaches a final state (succeeded, failed, expired or cancelled) within the polling deadline.

    Source: Ark task statuses (expired: "Task timed out", so a task never runs forever); the deadline is
    llmconform's (--video-deadline; a live Seedance task takes minutes), counted in the request budget.
    """
    seen = _statuses(polls)
    last = seen[-1][1] if seen else None
    if last is None or last not in ("succeeded", "failed", "expired", "cancelled"):
        answered = status_text(polls[-1]) if polls else "no poll"
        yield (
            f"Expected: a final status within {deadline_s:g} s. Received: {last or answered!r} after "
            f"{waited_s:.1f} s and {len(polls)} polls"
        )


@relation_rule("video_unknown_task_not_found", family=FAMILY, severity=Severity.ERROR)
def video_unknown_task_not_found(exchange: Exchange, task_id: str) -> Iterator[Violation]:
    """Asking for a task id that was never given is refused with 404 (another 4xx is a warning).

    Source: openapi/video.yaml getVideoTask 404; Ark error codes (404 NotFound); a 200 would send a client polling
    forever for a task that does not exist.
    """
    yield from refused_with(exchange, (404,), f"the unknown task id {task_id!r}")


# ------------------------------------------------------------------------------- the result


def _result_with_status(exchange: Exchange) -> bool:
    return is_result(exchange) and exchange.status is not None


def _result_ok(exchange: Exchange) -> bool:
    return is_result(exchange) and exchange.ok


@exchange_rule("video_result_fetchable", family=FAMILY, severity=Severity.ERROR, applies=_result_with_status)
def video_result_fetchable(exchange: Exchange) -> Iterator[Violation]:
    """The video_url of a succeeded task downloads: GET answers 2xx (without the API key, as a pre-signed URL).

    Source: Ark "Query the video generation task" (content.video_url "valid for 24 hours, please download");
    the harness downloads it at once, well inside that time.
    """
    if exchange.status is not None and not 200 <= exchange.status < 300:
        yield f"Expected: 2xx for the task's video_url. Received: {status_text(exchange)}"


@exchange_rule("video_result_content_type", family=FAMILY, severity=Severity.ERROR, applies=_result_ok)
def video_result_content_type(exchange: Exchange) -> Iterator[Violation]:
    """The result is served as video/mp4 (a generic binary type is a warning).

    Source: Ark content.video_url ("in mp4 format"); RFC 4337 (video/mp4); players and browsers pick a decoder
    by the media type.
    """
    media = exchange.content_type
    if media == "video/mp4":
        return
    message = f"Expected: Content-Type video/mp4. Received: {media or 'none'!r}"
    yield Warn(message) if media in ("application/octet-stream", "binary/octet-stream") else message


@exchange_rule("video_result_decodes", family=FAMILY, severity=Severity.ERROR, applies=_result_ok)
def video_result_decodes(exchange: Exchange) -> Iterator[Violation]:
    """The result is an MP4 whose video frames decode (FFmpeg, every frame).

    Source: Ark content.video_url ("URL of the generated video, in mp4 format"); ISO/IEC 14496-14 (MP4); a
    truncated or mislabelled file plays nothing.
    """
    decoded = _decoded(exchange)
    if decoded.problem is not None:
        yield f"Expected: an MP4 video that decodes. Received: {decoded.problem}"
    elif not decoded.is_mp4:
        yield f"Expected: an MP4 container. Received: {decoded.container}"


@relation_rule("video_result_matches_request", family=FAMILY, severity=Severity.ERROR)
def video_result_matches_request(result: Exchange, duration: int | None, ratio: str | None) -> Iterator[Violation]:
    """The video is what was asked for: its duration is the duration asked (within 0.5 s or 10 %) and its frames
    have the aspect ratio asked (within 5 %).

    Source: Ark create-task parameters duration ("Video duration in seconds") and ratio (16:9, 4:3, 1:1, 3:4,
    9:16, 21:9); the harness asks for both explicitly.
    """
    decoded = _decoded(result)
    if decoded.problem is not None:
        yield f"Expected: a decodable video to compare with the request. Received: {decoded.problem}"
        return
    if duration is not None and duration > 0:
        slack = max(DURATION_TOLERANCE_S, DURATION_TOLERANCE * duration)
        if abs(decoded.duration_s - duration) > slack:
            yield f"Expected: {duration} s of video (duration {duration}). Received: {decoded.duration_s:.2f} s"
    if ratio in RATIOS and decoded.height:
        wanted = RATIOS[ratio]
        got = Fraction(decoded.width, decoded.height)
        if abs(float(got / wanted) - 1) > RATIO_TOLERANCE:
            yield f"Expected: frames of ratio {ratio}. Received: {decoded.width}x{decoded.height}"


# --------------------------------------------------------------------------------- refusals


@relation_rule("video_unfetchable_reference_fails", family=FAMILY, severity=Severity.ERROR)
def video_unfetchable_reference_fails(create: Exchange, final: Exchange | None, url: str) -> Iterator[Violation]:
    """A task whose reference image cannot be downloaded is refused (4xx at creation) or ends failed, never succeeds.

    Source: Ark create-task content (image_url.url must be reachable; "Reference media URLs must be publicly
    reachable"); RFC 6761 (.invalid never resolves), so no server can fetch the URL the probe sends.
    """
    if create.status is not None and 400 <= create.status < 500:
        return
    if not create.ok:
        yield f"Expected: 4xx, or a task that fails, for the reference {url!r}. Received: {status_text(create)}"
        return
    status = task_view(final).status if final is not None and is_query_answer(final) else None
    if status == "succeeded":
        yield f"Expected: the task to fail (its reference {url!r} cannot be downloaded). Received: succeeded"
    elif status not in ("failed", "expired", "cancelled"):
        yield f"Expected: the task to fail. Received: {status or 'no final status'!r}"


@relation_rule("video_auth_required", family=FAMILY, severity=Severity.ERROR)
def video_auth_required(without_key: Exchange, wrong_key: Exchange) -> Iterator[Violation]:
    """A task API request without a key, or with a wrong key, is refused with 401.

    Source: contract-rules.md F E4; Ark authentication (Authorization: Bearer <API key>; 401 otherwise); AboAI
    Bearer auth (shared/reference/aboai-api.md section 1). Another 4xx is a warning.
    """
    yield from auth_required(without_key, wrong_key)


@relation_rule("video_unknown_model_rejected", family=FAMILY, severity=Severity.ERROR)
def video_unknown_model_rejected(exchange: Exchange, model: str) -> Iterator[Violation]:
    """A create request naming a model that does not exist is refused with 404 (another 4xx is a warning).

    Source: contract-rules.md F E4; Ark error codes (404 InvalidEndpointOrModel.NotFound).
    """
    yield from unknown_model_rejected(exchange, model)


@relation_rule("video_invalid_request_rejected", family=FAMILY, severity=Severity.ERROR)
def video_invalid_request_rejected(exchange: Exchange, what: str) -> Iterator[Violation]:
    """A malformed create request is refused with 400 (422 tolerated), never accepted and never a 5xx.

    Source: contract-rules.md F E4; Ark error codes (400 MissingParameter, InvalidParameter); Seedance 2.0
    parameters (content required; duration 4 to 15 or -1; ratio one of seven).
    """
    yield from invalid_request_rejected(exchange, what)
