"""Video rules on hand-made exchanges (tasks, polls, real MP4 downloads): each holds on a correct answer and fires
on a broken one; the task view, the MP4 decoder, the whole-task exchange load measures, and the request builders."""

from __future__ import annotations

import json
from typing import Any

import pytest
from tests.builders import load_plan

from llmconform.checks import REGISTRY, Results, check_exchange
from llmconform.checks import video as rules
from llmconform.conformance.video_probes import MAX_POLLS, PLANNED_REQUESTS, pin_generated_body
from llmconform.exchange import Exchange, TransportError
from llmconform.families import build_request, read_answer
from llmconform.families import video as family
from llmconform.load.harness import ProcessHarness
from llmconform.load.pacing import Slot
from llmconform.mock.faults.video import FAULTS
from llmconform.mock.media import mp4_video

TASK_ID = "cgt-20260101-abc"
URL = "http://127.0.0.1:9/llmconform/media/video/cgt-20260101-abc.mp4"


def create(body: Any, *, status: int = 200, content_type: str = "application/json") -> Exchange:
    return Exchange(
        family="video",
        operation=family.CREATE_OPERATION,
        method="POST",
        url="http://127.0.0.1:9" + family.TASKS_PATH,
        request_headers={},
        request_json=family.video_request("seedance", "a boat", duration=4, ratio="9:16"),
        status=status,
        response_headers={"content-type": content_type},
        body=json.dumps(body).encode(),
    )


def task(status: str = "succeeded", *, task_id: str = TASK_ID, http: int = 200, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": task_id, "model": "seedance", "status": status, "error": None, "created_at": 1_700_000_000,
        "updated_at": 1_700_000_009, "resolution": "480p", "ratio": "9:16", "duration": 4, "framespersecond": 8,
    }  # fmt: skip
    if status == "succeeded":
        body["content"] = {"video_url": URL}
        body["usage"] = {"completion_tokens": 100, "total_tokens": 100}
    if status == "failed":
        body["error"] = {"code": "InvalidParameter.DownloadFailed", "message": "cannot download"}
    body.update(fields)
    return body


def query(body: Any, *, asked: str = TASK_ID, status: int = 200, content_type: str = "application/json") -> Exchange:
    return Exchange(
        family="video",
        operation=family.QUERY_OPERATION,
        method="GET",
        url="http://127.0.0.1:9" + family.task_path(asked),
        request_headers={},
        status=status,
        response_headers={"content-type": content_type},
        body=json.dumps(body).encode() if not isinstance(body, bytes) else body,
    )


def result(body: bytes, *, status: int = 200, content_type: str = "video/mp4") -> Exchange:
    return Exchange(
        family="video",
        operation=family.RESULT_OPERATION,
        method="GET",
        url=URL,
        request_headers={},
        status=status,
        response_headers={"content-type": content_type},
        body=body,
    )


def fired(ex: Exchange) -> set[str]:
    results = Results()
    check_exchange(ex, results)
    return {f.rule for f in results.findings}


PORTRAIT = mp4_video(36, 64, 4.0)


# ---------------------------------------------------------------------------- correct answers


@pytest.mark.parametrize(
    "ex",
    [
        lambda: create({"id": TASK_ID}),
        lambda: query(task("queued")),
        lambda: query(task("running")),
        lambda: query(task("succeeded", vendor={"x": 1})),
        lambda: query(task("failed")),
        lambda: query(task("expired")),
        lambda: result(PORTRAIT),
        lambda: create({"error": {"code": "InvalidParameter", "message": "no", "param": "duration"}}, status=400),
        lambda: query({"error": {"code": "ResourceNotFound", "message": "no such task"}}, status=404),
    ],
)
def test_correct_answers_are_silent(ex: Any) -> None:
    assert fired(ex()) == set()


# ----------------------------------------------------------------------------- broken answers


@pytest.mark.parametrize(
    ("ex", "rule"),
    [
        (lambda: create({"task_id": TASK_ID}), "video_create_response_matches_schema"),
        (lambda: create({"id": ""}), "video_create_response_matches_schema"),
        (lambda: query(task("queued", created_at="2026-01-01T00:00:00Z")), "video_task_matches_schema"),
        (lambda: query(task("pending")), "video_task_matches_schema"),
        (lambda: query(task("running"), content_type="text/plain"), "video_content_type_declared"),
        (lambda: create({"error": "bad"}, status=400), "video_error_body_shape"),
        (lambda: create({"error": {"message": "no code"}}, status=400), "video_error_body_shape"),
        (lambda: query(task("running", task_id="cgt-other")), "video_task_id_matches"),
        (lambda: query(task("succeeded", content={})), "video_task_succeeded_has_video"),
        (lambda: query(task("succeeded", content={"video_url": "s3://b/v.mp4"})), "video_task_succeeded_has_video"),
        (lambda: query(task("failed", error=None)), "video_task_failed_has_error"),
        (lambda: query({k: v for k, v in task("succeeded").items() if k != "usage"}), "video_usage_present"),
        (lambda: query(task("succeeded", usage={"completion_tokens": 9, "total_tokens": 3})), "video_usage_present"),
        (lambda: result(b"", status=404, content_type="application/xml"), "video_result_fetchable"),
        (lambda: result(PORTRAIT, content_type="text/plain"), "video_result_content_type"),
        (lambda: result(PORTRAIT[: len(PORTRAIT) // 2]), "video_result_decodes"),
        (lambda: result(b"<html>expired link</html>"), "video_result_decodes"),
    ],
)  # fmt: skip
def test_each_rule_fires_on_its_break(ex: Any, rule: str) -> None:
    assert rule in fired(ex())


def test_a_generic_binary_type_is_a_warning() -> None:
    results = Results()
    check_exchange(result(PORTRAIT, content_type="application/octet-stream"), results)
    assert [f.severity for f in results.findings] == ["warning"]


def test_rules_never_raise_on_hostile_answers() -> None:
    for body in (b"\x00" * 64, b"ftyp" * 20, b"[]", b'{"status": 7}', b"\xff\xfe"):
        fired(result(body))
        fired(query(body))
        fired(create(json.loads(body) if body in (b"[]", b'{"status": 7}') else None))


# --------------------------------------------------------------------------------- relations


def test_status_monotonic_relation() -> None:
    forward = [query(task("queued")), query(task("running")), query(task("running")), query(task("succeeded"))]
    assert list(rules.video_task_status_monotonic(forward)) == []
    back = [query(task("queued")), query(task("running")), query(task("queued")), query(task("succeeded"))]
    assert "'running' (poll 2) then 'queued' (poll 3)" in next(iter(rules.video_task_status_monotonic(back)))
    from_final = [query(task("succeeded")), query(task("running"))]
    assert list(rules.video_task_status_monotonic(from_final))


def test_final_state_relations() -> None:
    final = query(task("succeeded"))
    assert list(rules.video_task_final_state_stable(final, [query(task("succeeded"))])) == []
    assert list(rules.video_task_final_state_stable(final, [query(task("running"))]))
    moved = query(task("succeeded", content={"video_url": URL + "?v=2"}))
    assert list(rules.video_task_final_state_stable(final, [moved]))
    polls = [query(task("queued")), query(task("running"))]
    assert list(rules.video_task_reaches_final_state([*polls, final], 1.0, 5.0)) == []
    assert "within 5 s" in next(iter(rules.video_task_reaches_final_state(polls, 5.1, 5.0)))


def test_result_relation() -> None:
    assert list(rules.video_result_matches_request(result(PORTRAIT), 4, "9:16")) == []
    landscape = result(mp4_video(64, 36, 2.0))
    found = list(rules.video_result_matches_request(landscape, 4, "9:16"))
    assert len(found) == 2 and "4 s of video" in found[0] and "ratio 9:16" in found[1]


def test_refusal_relations() -> None:
    refused = create({"error": {"code": "InvalidParameter", "message": "x"}}, status=400)
    accepted = create({"id": TASK_ID})
    assert list(rules.video_unfetchable_reference_fails(refused, None, "https://x.invalid/a.png")) == []
    assert list(rules.video_unfetchable_reference_fails(accepted, query(task("failed")), "u")) == []
    assert list(rules.video_unfetchable_reference_fails(accepted, query(task("succeeded")), "u"))
    assert list(rules.video_unfetchable_reference_fails(accepted, None, "u"))
    missing = query({"error": {"code": "ResourceNotFound", "message": "x"}}, status=404)
    assert list(rules.video_unknown_task_not_found(missing, "nope")) == []
    assert list(rules.video_unknown_task_not_found(query(task("queued")), "nope"))


def test_every_rule_is_prefixed_and_has_a_fault_of_its_name() -> None:
    ids = {rule.id for rule in REGISTRY if rule.family == "video"}
    assert all(rule_id.startswith("video_") for rule_id in ids)
    assert ids == set(FAULTS)


# ------------------------------------------------------------------------------ the family


def test_decode_video() -> None:
    decoded = family.decode_video(PORTRAIT)
    assert (decoded.width, decoded.height, decoded.is_mp4, decoded.problem) == (36, 64, True, None)
    assert decoded.duration_s == pytest.approx(4.0, abs=0.13)
    assert family.decode_video(b"not a video").problem is not None


def test_task_exchange_measures_a_whole_task() -> None:
    created = create({"id": TASK_ID})
    created.started_at, created.elapsed_s, created.ttfb_s = 100.0, 0.05, 0.04
    polls = [query(task("running")), query(task("succeeded"))]
    for number, poll in enumerate(polls, start=1):
        poll.started_at, poll.elapsed_s = 100.0 + number, 0.01
    whole, failed = family.task_exchange(created, polls, 60.0)
    assert failed is None and whole.error is None
    assert whole.elapsed_s == pytest.approx(2.01) and whole.ttfb_s == 0.04 and whole.status == 200
    answer = read_answer(whole)
    assert answer is not None and answer.first_byte_s == 0.04
    failed_task = family.task_exchange(created, [query(task("failed"))], 60.0)[1]
    assert failed_task == "the task ended failed: InvalidParameter.DownloadFailed: cannot download"
    late, _ = family.task_exchange(created, [query(task("running"))], 60.0)
    assert late.error_kind is TransportError.TIMEOUT and "60 s" in (late.error or "")
    refused, why = family.task_exchange(create({}, status=429), [], 60.0)
    assert refused.status == 429 and why is None


def test_a_failed_or_unfinished_task_is_a_failed_request() -> None:
    harness = ProcessHarness(load_plan(scenario="video", locustfile="video.py"), ship_rows=False)
    slot = Slot(intended=0.0, warmup=False)
    created = create({"id": TASK_ID})
    created.ttfb_s = 0.01
    for polls, error_class in (
        ([query(task("running")), query(task("succeeded"))], None),
        ([query(task("failed"))], "task_failed"),
        ([query(task("running"))], "timeout"),
        ([query(task("succeeded", task_id="cgt-other"))], "contract"),  # a poll that broke a rule fails it
    ):
        whole, failed = family.task_exchange(created, polls, 60.0)
        record = harness.complete(whole, "video", slot, 0.0, parts=[created, *polls], failed=failed)
        assert record.error_class == error_class, (polls, record)
    assert harness.tally.errors == {"task_failed": 1, "timeout": 1, "contract": 1}
    assert {finding["rule"] for finding in harness.tally.findings} >= {"video_task_id_matches"}


def test_requests_and_pinning() -> None:
    method, path, operation, body = build_request(
        "video", "seedance", [{"role": "user", "content": "a boat"}], max_tokens=8, stream=False
    )
    assert (method, path, operation) == ("POST", family.TASKS_PATH, family.CREATE_OPERATION)
    assert body == {"model": "seedance", "content": [{"type": "text", "text": "a boat"}], "duration": 4,
                    "resolution": "480p"}  # fmt: skip
    assert family.task_path("a/b c") == family.TASKS_PATH + "/a%2Fb%20c"
    generated: dict[str, Any] = {"model": "z", "content": [{"type": "text", "text": "x"}], "duration": 15}
    pin_generated_body(generated, "seedance", positive=True)
    assert generated["model"] == "seedance" and generated["duration"] == 4 and generated["resolution"] == "480p"
    assert PLANNED_REQUESTS > 2 * MAX_POLLS
