"""The mock's video task API over real HTTP: tasks move forward with time and never back, a finished task stays
finished and its MP4 downloads without a key and decodes as asked, unknown ids are 404 in Ark's error shape, a
reference the mock cannot download fails the task; the video probes run clean within their plan, and a video
load user's whole task is measured create-to-end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from llmconform.checks import Results, exchange_rules
from llmconform.client import TargetClient
from llmconform.conformance.session import Budget, Session
from llmconform.conformance.video_probes import MAX_POLLS, PLANNED, PLANNED_REQUESTS, run_video_probes
from llmconform.families import video as family
from llmconform.mock import DEFAULT_API_KEY, DEFAULT_MODELS, FAULT_HEADER, MockConfig, MockServer

MODEL = DEFAULT_MODELS[0]
AUTH = {"authorization": f"Bearer {DEFAULT_API_KEY}"}
STAGE_S = 0.1


@pytest.fixture(scope="module")
def server() -> Iterator[MockServer]:
    with MockServer(MockConfig(video_stage_ms=STAGE_S * 1000)) as mock:
        yield mock


def create(server: MockServer, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(f"{server.base_url}{family.TASKS_PATH}", json=body, headers={**AUTH, **(headers or {})})


def get(server: MockServer, task_id: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.get(f"{server.base_url}{family.task_path(task_id)}", headers={**AUTH, **(headers or {})})


def poll_to_the_end(server: MockServer, task_id: str, *, limit_s: float = 3.0) -> list[dict[str, Any]]:
    """Every answer of a task polled every 20 ms until it is final (bounded in time)."""
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        seen.append(get(server, task_id).json())
        if seen[-1]["status"] in family.FINAL_STATUSES:
            break
        time.sleep(0.02)
    return seen


def test_a_task_moves_forward_and_its_video_is_what_was_asked(server: MockServer) -> None:
    started = time.monotonic()
    created = create(server, family.video_request(MODEL, "A red kite", duration=6, ratio="4:3"))
    assert created.status_code == 200 and created.headers["content-type"] == "application/json"
    task_id = created.json()["id"]
    answers = poll_to_the_end(server, task_id)
    statuses = [answer["status"] for answer in answers]
    assert statuses[0] == "queued" and "running" in statuses and statuses[-1] == "succeeded"
    assert statuses == sorted(statuses, key=family.STATUS_RANK.__getitem__)
    assert time.monotonic() - started >= 2 * STAGE_S
    final = answers[-1]
    assert final["id"] == task_id and final["error"] is None and final["ratio"] == "4:3" and final["duration"] == 6
    assert final["usage"]["completion_tokens"] == final["usage"]["total_tokens"] > 0
    assert get(server, task_id).json() == final  # a final state stays final, the same in every field
    video = httpx.get(final["content"]["video_url"])  # no key: a pre-signed URL
    assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
    decoded = family.decode_video(video.content)
    assert decoded.is_mp4 and decoded.codec == "h264" and (decoded.width, decoded.height) == (64, 48)
    assert decoded.duration_s == pytest.approx(6.0, abs=0.2)


def test_an_unreachable_reference_fails_the_task(server: MockServer) -> None:
    body = family.video_request(MODEL, "x", images=[("https://llmconform.invalid/a.png", "first_frame")])
    final = poll_to_the_end(server, create(server, body).json()["id"])[-1]
    assert final["status"] == "failed" and final["error"]["code"] == "InvalidParameter.DownloadFailed"
    assert "content" not in final and "usage" not in final
    with_data = family.video_request(MODEL, "x", images=[("data:image/png;base64,iVBORw0KGgo=", "first_frame")])
    assert poll_to_the_end(server, create(server, with_data).json()["id"])[-1]["status"] == "succeeded"


def test_errors_are_in_arks_shape(server: MockServer) -> None:
    unknown = get(server, "cgt-nobody-gave-this")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "ResourceNotFound"
    missing = create(server, {"model": MODEL})
    error = missing.json()["error"]
    assert missing.status_code == 400 and (error["code"], error["param"], error["type"]) == (
        "MissingParameter",
        "content",
        "BadRequest",
    )
    bad_duration = create(server, family.video_request(MODEL, "x", duration=3)).json()["error"]
    assert bad_duration["code"] == "InvalidParameter" and bad_duration["param"] == "duration"
    model = create(server, family.video_request("no-such-model", "x"))
    assert model.status_code == 404 and model.json()["error"]["code"] == "InvalidEndpointOrModel.NotFound"
    assert httpx.post(f"{server.base_url}{family.TASKS_PATH}", json={}).status_code == 401
    assert httpx.get(f"{server.base_url}/llmconform/media/video/nothing.mp4").status_code == 404
    routed = httpx.delete(f"{server.base_url}{family.TASKS_PATH}", headers=AUTH)
    assert routed.status_code == 405 and routed.json()["error"]["code"] == "MethodNotAllowed"


def test_faults_switch_on_by_header(server: MockServer) -> None:
    task_id = create(server, family.video_request(MODEL, "x")).json()["id"]
    stuck = get(server, task_id, {FAULT_HEADER: "video_task_reaches_final_state"})
    time.sleep(3 * STAGE_S)
    assert get(server, task_id, {FAULT_HEADER: "video_task_reaches_final_state"}).json()["status"] == "running"
    assert stuck.json()["status"] == "queued"
    assert get(server, "nope", {FAULT_HEADER: "video_unknown_task_not_found"}).status_code == 200


def test_the_probes_run_clean_within_their_plan(server: MockServer) -> None:
    results = Results()
    with TargetClient(server.base_url, DEFAULT_API_KEY) as target:
        session = Session(target, results, Budget(None), MODEL, exchange_rules())
        session.task_poll_interval_s, session.task_deadline_s = 0.02, 2.0
        run_video_probes(session)
    assert [(f.rule, f.message) for f in results.findings] == []
    polls = session.exchanges_sent - (PLANNED_REQUESTS - PLANNED["polls"])
    assert 0 < polls <= 2 * MAX_POLLS


def test_polling_stops_at_the_deadline() -> None:
    with MockServer(
        MockConfig(video_stage_ms=STAGE_S * 1000, faults=frozenset({"video_task_reaches_final_state"}))
    ) as stuck:
        results = Results()
        with TargetClient(stuck.base_url, DEFAULT_API_KEY) as target:
            session = Session(target, results, Budget(None), MODEL, exchange_rules())
            session.task_poll_interval_s, session.task_deadline_s = 0.05, 0.6
            started = time.monotonic()
            run_video_probes(session)
    assert time.monotonic() - started < 3.0
    fired = {f.rule for f in results.findings}
    assert "video_task_reaches_final_state" in fired
    assert session.exchanges_sent <= PLANNED_REQUESTS


def test_the_video_load_scenario_measures_whole_tasks(tmp_path: Path) -> None:
    """`llmconform load --scenario video`: one record per task, E2E from its create to the poll that saw it end
    (at least the mock's two 250 ms stages), TTFT the create answer's first byte, every answer checked."""
    args = ["load", "--scenario", "video", "--users", "3", "--duration", "1.5", "--warmup", "0"]
    result = subprocess.run(
        [sys.executable, "-m", "llmconform.cli", *args, "--mock-ttft-ms", "5", "--report-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "160"},
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    video = json.loads((tmp_path / "load.json").read_text())["by_operation"]["video"]
    assert video["requests"]["total"] >= 3 and video["requests"]["failed"] == 0, video["requests"]
    e2e, ttft = video["latency_ms"]["e2e"], video["latency_ms"]["ttft"]
    assert e2e["p50"] >= 500 and e2e["max"] < 2000, e2e
    assert ttft["count"] == e2e["count"] and ttft["p50"] < e2e["p50"] / 4, ttft
