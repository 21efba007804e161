"""Faults of the video family (Seedance task API): each name is the id of the rule that must fire."""

from __future__ import annotations

FAULTS: dict[str, str] = {
    # shape
    "video_create_response_matches_schema": 'The create call answers {"task_id": ...} instead of {"id": ...}.',
    "video_task_matches_schema": "Task answers give `created_at` as an ISO 8601 string.",
    "video_content_type_declared": "Task API answers carry Content-Type text/plain.",
    "video_error_body_shape": 'Video error responses are {"error": "<message string>"}.',
    "video_task_id_matches": "A task is answered with another id than the one asked for.",
    # lifecycle
    "video_task_status_monotonic": "Tasks go queued, running, queued again, running, then succeed.",
    "video_task_final_state_stable": "A finished task says running again when it is asked a second time.",
    "video_task_reaches_final_state": "Tasks stay running forever.",
    "video_task_succeeded_has_video": "Succeeded tasks carry no `content.video_url`.",
    "video_task_failed_has_error": "Failed tasks carry `error: null`.",
    "video_usage_present": "Succeeded tasks carry no `usage`.",
    "video_unknown_task_not_found": "An unknown task id is answered 200 with a queued task.",
    # the result
    "video_result_fetchable": "The result URL answers 404.",
    "video_result_content_type": "The result is served as text/plain.",
    "video_result_decodes": "The result MP4 is cut in half (its index is lost).",
    "video_result_matches_request": "Every result is a 2 s 16:9 video, whatever duration and ratio were asked.",
    # errors, auth, refusals
    "video_auth_required": "Any key, or none, is accepted on the task API.",
    "video_unknown_model_rejected": "Unknown models get a task like a known one.",
    "video_invalid_request_rejected": "Invalid create bodies get 500 (with an error body) instead of 400.",
    "video_unfetchable_reference_fails": "A reference image that cannot be downloaded is ignored: the task succeeds.",
}
