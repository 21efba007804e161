"""Probes of the video family: tasks created on purpose and polled until they end, each relation judged by a rule
in :mod:`llmconform.checks.video`; every answer (create, poll, download) is also judged by every exchange rule.

Two tasks are created: the cheapest video upstream makes (4 s at 480p, ratio 9:16 so that an ignored ratio
shows), and one whose reference image lives at an address that cannot resolve (``.invalid``), which must be
refused or fail. Both are polled together until each ends, the waits growing from 1 s to
``Session.task_poll_interval_s`` and spanning ``Session.task_deadline_s`` (``families.video.poll_gaps``: at most
``MAX_POLLS`` polls a task, every poll a request of the budget). A finished task is asked again
:data:`STABILITY_POLLS` times (a final state is final); a succeeded one's video is downloaded without the key (a
pre-signed URL) and compared with the request. Then an id nobody was given, and requests that must be refused
(the auth probe reads a task, so it creates nothing).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from llmconform.checks.video import (
    video_auth_required,
    video_invalid_request_rejected,
    video_result_matches_request,
    video_task_final_state_stable,
    video_task_reaches_final_state,
    video_task_status_monotonic,
    video_unfetchable_reference_fails,
    video_unknown_model_rejected,
    video_unknown_task_not_found,
)
from llmconform.conformance.probe_steps import InvalidRequest, KeyRefused, judge_invalid_requests, probe_bearer_auth
from llmconform.conformance.session import Session
from llmconform.exchange import Exchange
from llmconform.families.video import (
    CREATE_OPERATION,
    FAMILY,
    MAX_POLLS,
    QUERY_OPERATION,
    RESULT_OPERATION,
    TASKS_PATH,
    created_task_id,
    is_query_answer,
    poll_gaps,
    task_path,
    task_view,
    video_request,
)

PROMPT = "A paper boat drifts down a rain-soaked street at dusk, slow camera pan."
DURATION = 4
RATIO = "9:16"
RESOLUTION = "480p"
# An address that can never resolve (RFC 6761 reserves .invalid): no server can download it.
UNREACHABLE_IMAGE = "https://llmconform.invalid/reference-frame.png"
UNKNOWN_TASK_ID = "cgt-llmconform-no-such-task-7f3a"
# Polls of a finished task that must answer the same final state.
STABILITY_POLLS = 2
_RESULT_RULES = ("video_result_fetchable", "video_result_content_type", "video_result_decodes")

PLANNED: dict[str, int] = {
    "create": 2,
    "polls": 2 * MAX_POLLS + STABILITY_POLLS,
    "result": 1,
    "unknown_task": 1,
    "auth": 2,
    "unknown_model": 1,
    "invalid": 5,
}
# Upper bound of the requests run_video_probes sends, so a run can state its plan up front.
PLANNED_REQUESTS = sum(PLANNED.values())
# schemathesis: top-level request properties bounded for cheap generation (value = maximum).
GENERATION_BOUNDS: dict[str, int] = {}
# schemathesis: at most (positive, negative) examples per operation (see FamilyCheck.examples_cap).
EXAMPLES_CAP = (10, 20)


@dataclass(slots=True)
class Polled:
    """One task being polled: its id, when it was created, and every poll so far."""

    task_id: str
    created: float
    polls: list[Exchange] = field(default_factory=list)

    @property
    def final(self) -> Exchange | None:
        """The first poll that answered a final state, if any."""
        return next((p for p in self.polls if is_query_answer(p) and task_view(p).final), None)


def _create(session: Session, body: Any, label: str, **kwargs: Any) -> Exchange:
    return session.send(
        "POST", TASKS_PATH, operation=CREATE_OPERATION, family=FAMILY, label=f"video {label}", json_body=body, **kwargs
    )


def _query(session: Session, task_id: str, label: str, **kwargs: Any) -> Exchange:
    return session.send(
        "GET", task_path(task_id), operation=QUERY_OPERATION, family=FAMILY, label=f"video {label}", **kwargs
    )


def _model(session: Session) -> str:
    return session.model_for(FAMILY)


def run_video_probes(session: Session) -> None:
    """Send the family's probes through session and judge the relations."""
    created = probe_tasks(session)
    probe_unknown_task(session)
    probe_auth(session, created)
    probe_unknown_model(session)
    probe_invalid_requests(session)


def probe_tasks(session: Session) -> str | None:
    """The two tasks, created, polled to their ends, judged; the video downloaded. The main task's id, if any."""
    model = _model(session)
    main = _create(session, video_request(model, PROMPT, duration=DURATION, ratio=RATIO, resolution=RESOLUTION),
                   f"task: {DURATION} s {RATIO} {RESOLUTION}")  # fmt: skip
    if main.status == 401:
        raise KeyRefused("the video task endpoint answered 401 to the configured key")
    reference = video_request(model, PROMPT, images=[(UNREACHABLE_IMAGE, "first_frame")], duration=DURATION,
                              resolution=RESOLUTION)  # fmt: skip
    unfetchable = _create(session, reference, "task: unreachable reference image")
    created = (("main", main), ("unfetchable", unfetchable))
    tasks = {name: Polled(task_id, time.monotonic())
             for name, exchange in created if (task_id := created_task_id(exchange)) is not None}  # fmt: skip
    _poll(session, list(tasks.values()))
    if "main" in tasks:
        _judge_lifecycle(session, tasks["main"])
    else:
        why = f"the create call gave no task id ({main.status or main.error})"
        for rule in ("video_task_status_monotonic", "video_task_reaches_final_state", "video_task_final_state_stable",
                     "video_result_matches_request", *_RESULT_RULES):  # fmt: skip
            session.skip(rule, why)
    main_id = tasks["main"].task_id if "main" in tasks else None
    if unfetchable.ok and "unfetchable" not in tasks:
        session.skip("video_unfetchable_reference_fails", "the create call answered 2xx without a task id")
        return main_id
    polled = tasks.get("unfetchable")
    final = polled.final if polled is not None else None
    refused = video_unfetchable_reference_fails(unfetchable, final, UNREACHABLE_IMAGE)
    session.judge("video_unfetchable_reference_fails", refused, unfetchable, *(polled.polls if polled else []))
    return main_id


def _poll(session: Session, tasks: list[Polled]) -> None:
    """Poll every task until it ends or the polls of ``poll_gaps`` (at most MAX_POLLS, spanning the deadline) are
    spent: bounded in time and in count."""
    pending = list(tasks)
    for gap in poll_gaps(session.task_poll_interval_s, session.task_deadline_s):
        if not pending:
            return
        time.sleep(gap)
        for task in list(pending):
            task.polls.append(_query(session, task.task_id, f"poll #{len(task.polls) + 1}"))
            if task.final is not None:
                pending.remove(task)


def _judge_lifecycle(session: Session, task: Polled) -> None:
    """Monotonic statuses, an end in time, a stable end, and the result of a succeeded task."""
    last = task.polls[-1] if task.polls else None
    session.judge("video_task_status_monotonic", video_task_status_monotonic(task.polls), last, *task.polls[:-1])
    waited = time.monotonic() - task.created
    rule = video_task_reaches_final_state(task.polls, waited, session.task_deadline_s)
    session.judge("video_task_reaches_final_state", rule, last)
    final = task.final
    if final is None:
        for rule_id in ("video_task_final_state_stable", "video_result_matches_request", *_RESULT_RULES):
            session.skip(rule_id, f"the task did not end within {session.task_deadline_s:g} s")
        return
    later = [_query(session, task.task_id, f"poll after the end #{n + 1}") for n in range(STABILITY_POLLS)]
    session.judge("video_task_final_state_stable", video_task_final_state_stable(final, later), final, *later)
    url = task_view(final).video_url
    if url is None or not url.lower().startswith(("http://", "https://")):
        why = f"the task ended {task_view(final).status!r} without an http(s) video_url"
        for rule_id in ("video_result_matches_request", *_RESULT_RULES):
            session.skip(rule_id, why)
        return
    result = session.send("GET", url, operation=RESULT_OPERATION, family=FAMILY, label="video result download",
                          auth=False)  # fmt: skip
    if result.ok:
        rule = video_result_matches_request(result, DURATION, RATIO)
        session.judge("video_result_matches_request", rule, result, final)
    else:
        session.skip("video_result_matches_request", f"the download got {result.status or result.error}")


def probe_unknown_task(session: Session) -> None:
    exchange = _query(session, UNKNOWN_TASK_ID, "unknown task id")
    session.judge("video_unknown_task_not_found", video_unknown_task_not_found(exchange, UNKNOWN_TASK_ID), exchange)


def probe_auth(session: Session, task_id: str | None) -> None:
    """Read the task created earlier (else an unknown one) without a key and with a wrong key: a read, so a
    server that lets it through creates nothing, and one that exists, so such a server answers 200."""

    def read(_body: Any, label: str, **kwargs: Any) -> Exchange:
        return _query(session, task_id or UNKNOWN_TASK_ID, label, **kwargs)

    probe_bearer_auth(session, read, None, "video_auth_required", video_auth_required)


def probe_unknown_model(session: Session) -> None:
    model = "llmconform-no-such-video-model-7f3a"
    exchange = _create(session, video_request(model, PROMPT, duration=DURATION, resolution=RESOLUTION), "unknown model")
    session.judge("video_unknown_model_rejected", video_unknown_model_rejected(exchange, model), exchange)


def probe_invalid_requests(session: Session) -> None:
    model = _model(session)
    cases: list[InvalidRequest] = [
        ("a body without 'content'", {"model": model, "duration": DURATION}, None),
        ("an empty 'content'", {"model": model, "content": []}, None),
        ("duration 3 (4 to 15, or -1)", video_request(model, PROMPT, duration=3), None),
        ("ratio '5:4'", video_request(model, PROMPT, ratio="5:4"), None),
        ("a body that is not JSON", None, b'{"model": "x", "content": ['),
    ]
    rule = video_invalid_request_rejected
    judge_invalid_requests(session, partial(_create, session), cases, "video_invalid_request_rejected", rule)


# ---------------------------------------------------------------------- schemathesis pinning


def pin_generated_body(body: dict[str, Any], model: str, positive: bool) -> None:
    """Point a schemathesis-generated create body at model (in place); a positive one also asks for the cheapest
    video (4 s at 480p), since each is a task the target renders."""
    value = body.get("model")
    if positive or (isinstance(value, str) and value):
        body["model"] = model
    if positive:
        body["duration"], body["resolution"] = DURATION, RESOLUTION
