"""The capacity model, faults under load and the server-side record, over HTTP on 127.0.0.1.

Timings are compared as ratios (or against model times far above the noise of a busy 2-core machine),
never as absolute milliseconds.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from llmconform.checks import Results, check_exchange, exchange_rules
from llmconform.checks.messages_relations import messages_cache_tokens_partition_input
from llmconform.client import TargetClient
from llmconform.exchange import Exchange, TransportError
from llmconform.families import build_request, read_answer
from llmconform.mock import DEFAULT_API_KEY, DEFAULT_MODELS, MockConfig, MockServer
from llmconform.mock.capacity import CapacityConfig
from llmconform.mock.load_faults import LOAD_FAULT_HEADER, LOAD_FAULTS
from llmconform.mock.record import RECORD_FIELDS

MODEL = DEFAULT_MODELS[0]
STREAMING = ("chat", "messages", "gemini", "responses")
STALL_S = 0.25
# Small steps keep the tests short; the prompt cost is high so that prefill dwarfs the noise.
FAST = CapacityConfig(
    max_running=32,
    queue_size=64,
    step_base_ms=2.0,
    step_per_running_ms=1.0,
    prefill_ms_per_token=0.05,
    prefix_cache=True,
)


def _words(seed: str, count: int) -> str:
    """``count`` one-token words, different for each seed (no accidental prefix sharing)."""
    stem = re.sub(r"\W", "_", seed)
    return " ".join(f"{stem}{n}" for n in range(count))


def _conversation(seed: str, system_words: int = 5) -> list[dict[str, Any]]:
    return [
        {"role": "system", "content": _words(seed, system_words)},
        {"role": "user", "content": f"Question {seed}?"},
    ]


def _send(
    base_url: str,
    family: str,
    messages: list[dict[str, Any]],
    *,
    stream: bool = True,
    max_tokens: int | None = 12,
    headers: dict[str, str] | None = None,
    **params: Any,
) -> Exchange:
    method, path, operation, body = build_request(
        family, MODEL, messages, max_tokens=max_tokens, stream=stream, **params
    )
    return _target(base_url).send(method, path, family=family, operation=operation, json_body=body, headers=headers)


_TARGETS: dict[str, TargetClient] = {}


def _target(base_url: str) -> TargetClient:
    """One client per server (thread-safe; making one per request costs more than the request)."""
    if base_url not in _TARGETS:
        _TARGETS[base_url] = TargetClient(base_url, DEFAULT_API_KEY)
    return _TARGETS[base_url]


@pytest.fixture(scope="module", autouse=True)
def _close_targets() -> Iterator[None]:
    yield
    for target in _TARGETS.values():
        target.close()
    _TARGETS.clear()


def _violations(exchange: Exchange) -> list[str]:
    results = Results()
    check_exchange(exchange, results, exchange_rules([exchange.family]))
    return [f"{f.rule}: {f.message}" for f in results.findings]


def _ttft(exchange: Exchange) -> float:
    answer = read_answer(exchange)
    assert answer is not None and answer.text_events, exchange.body[:300]
    return answer.text_events[0][0]


def _itls(exchange: Exchange) -> list[float]:
    answer = read_answer(exchange)
    assert answer is not None
    times = [t for t, _ in answer.text_events]
    return [b - a for a, b in itertools.pairwise(times)]


def _records(path: Path) -> list[dict[str, Any]]:
    """The record's lines in the order the requests arrived (a line is written when its request ends)."""
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return sorted(lines, key=lambda line: line["received_at"])


@pytest.fixture(scope="module")
def fast(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    record = tmp_path_factory.mktemp("capacity") / "record.jsonl"
    config = MockConfig(capacity=FAST, record_path=str(record), load_fault_stall_s=STALL_S)
    with MockServer(config) as server:
        yield server.base_url, record


@pytest.fixture(scope="module")
def plain() -> Iterator[str]:
    with MockServer(MockConfig()) as server:
        yield server.base_url


# ------------------------------------------------------------------------------ latency shape


def test_itl_rises_with_concurrency(fast: tuple[str, Path]) -> None:
    base_url, _ = fast

    def stream(seed: str) -> Exchange:
        return _send(base_url, "chat", _conversation(seed), max_tokens=16, ignore_eos=True)

    alone = stream("alone")
    with ThreadPoolExecutor(24) as pool:
        crowd = list(pool.map(stream, [f"crowd{n}-" for n in range(24)]))
    assert all(e.ok for e in [alone, *crowd])
    single = statistics.median(_itls(alone))
    together = statistics.median(gap for e in crowd for gap in _itls(e))
    # model: 2 + 1 ms for one stream, 2 + 24 ms for 24
    assert together > 3 * single, (single, together)


def test_ttft_rises_with_prompt_length(fast: tuple[str, Path]) -> None:
    base_url, _ = fast
    short = min(_ttft(_send(base_url, "chat", _conversation(f"short{n}-"))) for n in range(3))
    long = _ttft(_send(base_url, "chat", _conversation("long-", system_words=2000)))
    # model: about 2.5 ms of prefill for the short prompt, more than 100 ms for the long one
    assert long > 5 * short and long > 0.1, (short, long)


def test_repeated_prefix_is_cached_in_every_format_and_lowers_ttft(fast: tuple[str, Path], plain: str) -> None:
    base_url, _ = fast
    for family in STREAMING:
        messages = _conversation(f"cached-{family}-", system_words=1500)
        first = _send(base_url, family, messages)
        again = _send(base_url, family, messages)
        reference = _send(plain, family, messages)
        for exchange in (first, again):
            assert exchange.ok and not _violations(exchange), (family, _violations(exchange))
        cached = [_cached_tokens(family, e) for e in (first, again)]
        prompt = _prompt_tokens(family, reference)
        assert cached[0] == 0 and 0 < cached[1] < prompt and cached[1] % FAST.prefix_block_tokens == 0, (family, cached)
        assert _ttft(again) < _ttft(first) / 2, family
        if family == "messages":  # the cache read only splits the prompt: the partition rule holds
            assert list(messages_cache_tokens_partition_input(reference, again)) == []
        # usage stays exact: the same counts as the mock without a capacity model
        same, other = read_answer(again), read_answer(reference)
        assert same is not None and other is not None
        assert (same.input_tokens, same.output_tokens, same.text) == (
            other.input_tokens,
            other.output_tokens,
            other.text,
        )


def _final_usage(exchange: Exchange) -> dict[str, Any]:
    """The last usage object of a stream (any format)."""
    found: dict[str, Any] = {}
    for event in exchange.events or []:
        try:
            data = json.loads(event.data)
        except ValueError:
            continue
        for holder in (data, data.get("response") or {}, data.get("message") or {}):
            for key in ("usage", "usageMetadata"):
                if isinstance(holder.get(key), dict):
                    found = {**found, **holder[key]}
    return found


def _cached_tokens(family: str, exchange: Exchange) -> int:
    usage = _final_usage(exchange)
    if family == "chat":
        return int(usage["prompt_tokens_details"]["cached_tokens"])
    if family == "responses":
        return int(usage["input_tokens_details"]["cached_tokens"])
    if family == "messages":
        return int(usage["cache_read_input_tokens"])
    return int(usage["cachedContentTokenCount"])


def _prompt_tokens(family: str, exchange: Exchange) -> int:
    answer = read_answer(exchange)
    assert answer is not None and answer.input_tokens is not None
    return answer.input_tokens


def test_unary_answers_are_exact_and_report_the_cache(fast: tuple[str, Path], plain: str) -> None:
    base_url, _ = fast
    for family in STREAMING:
        messages = _conversation(f"unary-{family}-", system_words=200)
        first = _send(base_url, family, messages, stream=False)
        again = _send(base_url, family, messages, stream=False)
        reference = _send(plain, family, messages, stream=False)
        assert not _violations(first) and not _violations(again), (_violations(first), _violations(again))
        assert _unary_cached(family, first) == 0 and _unary_cached(family, again) > 0, family
        same, other = read_answer(again), read_answer(reference)
        assert same is not None and other is not None
        assert (same.input_tokens, same.output_tokens, same.text) == (
            other.input_tokens,
            other.output_tokens,
            other.text,
        )


def _unary_cached(family: str, exchange: Exchange) -> int:
    body = json.loads(exchange.body)
    usage = body.get("usage") or body.get("usageMetadata")
    return int(
        {
            "chat": lambda u: u["prompt_tokens_details"]["cached_tokens"],
            "responses": lambda u: u["input_tokens_details"]["cached_tokens"],
            "messages": lambda u: u["cache_read_input_tokens"],
            "gemini": lambda u: u["cachedContentTokenCount"],
        }[family](usage)
    )


# ------------------------------------------------------------------------------ the queue


def test_queue_wait_raises_ttft_and_a_full_queue_answers_429_in_each_family(tmp_path: Path) -> None:
    record = tmp_path / "record.jsonl"
    tight = CapacityConfig(max_running=2, queue_size=2, step_base_ms=20.0, step_per_running_ms=0.0)
    auth = {"Authorization": f"Bearer {DEFAULT_API_KEY}"}
    with (
        MockServer(MockConfig(capacity=tight, record_path=str(record))) as server,
        httpx.Client(base_url=server.base_url, timeout=10) as client,
        contextlib.ExitStack() as streams,
    ):
        held = []
        for n in range(4):  # a stream's headers come once the engine holds it: 2 running, then 2 waiting
            _, path, _, body = build_request("chat", MODEL, _conversation(f"q{n}-"), max_tokens=30, stream=True)
            held.append(
                streams.enter_context(client.stream("POST", path, json={**body, "ignore_eos": True}, headers=auth))
            )
        refused = {family: _send(server.base_url, family, _conversation("late")) for family in STREAMING}
        refused["embeddings"] = _send_embeddings(server.base_url)
        for response in held:
            response.read()
    for family, exchange in refused.items():
        assert exchange.status == 429, (family, exchange.status, exchange.body[:200])
        retry_after = exchange.response_headers.get("retry-after", "")
        assert retry_after.isdigit() and int(retry_after) >= 1, (family, retry_after)
        assert not _violations(exchange), (family, _violations(exchange))
        error = json.loads(exchange.body)["error"]
        expected = {
            "chat": ("code", "rate_limit_exceeded"),
            "responses": ("code", "rate_limit_exceeded"),
            "embeddings": ("code", "rate_limit_exceeded"),
            "messages": ("type", "rate_limit_error"),
            "gemini": ("status", "RESOURCE_EXHAUSTED"),
        }[family]
        assert error[expected[0]] == expected[1], (family, error)
    lines = _records(record)
    assert [r["status"] for r in lines] == [200] * 4 + [429] * 5
    served = lines[:4]
    assert [r["queue_depth_at_arrival"] for r in served] == [0, 0, 0, 1]
    assert [r["running_at_admission"] for r in served][:2] == [1, 2]
    assert all(r["running_at_admission"] <= 2 for r in served)
    waits = [r["admitted_at"] - r["received_at"] for r in served]
    ttfts = [r["first_token_at"] - r["received_at"] for r in served]
    # the last two waited for the first two to finish (30 steps of 20 ms): TTFT is queue wait + prefill
    assert max(waits[:2]) < 0.1 < 0.4 < min(waits[2:]), waits
    assert min(ttfts[2:]) > 5 * max(ttfts[:2]), ttfts
    assert [r["queue_depth_at_arrival"] for r in lines[4:]] == [2] * 5


def _send_embeddings(base_url: str) -> Exchange:
    body = {"model": MODEL, "input": "x"}
    return _target(base_url).send(
        "POST", "/v1/embeddings", family="embeddings", operation="createEmbedding", json_body=body
    )


# ------------------------------------------------------------------------------ faults under load

# What only a complete stream of each format holds (a Responses stream ends with .completed or .incomplete).
_TERMINATOR = {
    "chat": "[DONE]",
    "messages": "message_stop",
    "responses": '"status":"incomplete"',
    "gemini": "finishReason",
}
_ERROR_FIELD = {
    "chat": ("code", {429: "rate_limit_exceeded"}),
    "responses": ("code", {429: "rate_limit_exceeded"}),
    "messages": ("type", {429: "rate_limit_error", 500: "api_error", 503: "api_error"}),
    "gemini": ("status", {429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}),
}


def _raw_stream(client: httpx.Client, family: str, kind: str | None) -> tuple[int, str, list[float], str | None]:
    """Status, body text, arrival times of the body's chunks, and the transport error (if any)."""
    messages = _conversation(f"fault-{kind}-")
    method, path, _, body = build_request(family, MODEL, messages, max_tokens=12, stream=True, ignore_eos=True)
    headers = {"Authorization": f"Bearer {DEFAULT_API_KEY}", "x-api-key": DEFAULT_API_KEY}
    if kind is not None:
        headers[LOAD_FAULT_HEADER] = kind
    chunks: list[bytes] = []
    times: list[float] = []
    error = None
    try:
        with client.stream(method, path, json=body, headers=headers) as response:
            for chunk in response.iter_raw():
                chunks.append(chunk)
                times.append(time.perf_counter())
            status = response.status_code
    except httpx.RemoteProtocolError as exc:
        status, error = 200, str(exc)
    return status, b"".join(chunks).decode(), times, error


def _datas(family: str, text: str) -> list[str]:
    separator = "\r\n\r\n" if family == "gemini" else "\n\n"
    datas = []
    for block in text.split(separator):
        datas += [line[len("data: ") :] for line in block.splitlines() if line.startswith("data: ")]
    return datas


def _unparsable(datas: list[str]) -> list[str]:
    bad = []
    for data in datas:
        if data == "[DONE]":
            continue
        try:
            json.loads(data)
        except ValueError:
            bad.append(data)
    return bad


@pytest.mark.parametrize("family", STREAMING)
def test_each_load_fault_by_header_in_the_family_format(fast: tuple[str, Path], family: str) -> None:
    base_url, _ = fast
    with httpx.Client(base_url=base_url, timeout=10) as client:
        _each_load_fault(base_url, client, family)


def _each_load_fault(base_url: str, client: httpx.Client, family: str) -> None:
    status, text, times, error = _raw_stream(client, family, None)
    assert status == 200 and error is None and _TERMINATOR[family] in text
    assert not _unparsable(_datas(family, text))
    assert max(b - a for a, b in itertools.pairwise(times)) < STALL_S / 2
    field, types = _ERROR_FIELD[family]
    for kind, code in (("error_429", 429), ("error_500", 500), ("error_503", 503)):
        exchange = _send(base_url, family, _conversation("errors"), headers={LOAD_FAULT_HEADER: kind})
        assert exchange.status == code and not _violations(exchange), (kind, _violations(exchange))
        retry_after = exchange.response_headers.get("retry-after")
        assert (retry_after is not None and int(retry_after) >= 1) == (code != 500), (kind, retry_after)
        if code in types:
            assert json.loads(exchange.body)["error"][field] == types[code], (kind, exchange.body)

    status, text, _, error = _raw_stream(client, family, "disconnect")
    assert error is not None and "incomplete" in error and text, (family, error)
    assert _TERMINATOR[family] not in text

    status, text, _, error = _raw_stream(client, family, "truncate")
    assert status == 200 and error is None and text and _TERMINATOR[family] not in text
    assert not _unparsable(_datas(family, text))

    status, text, _, error = _raw_stream(client, family, "malformed_chunk")
    datas = _datas(family, text)
    assert status == 200 and error is None and _TERMINATOR[family] in text
    assert len(_unparsable(datas)) == 1 and len(datas) > 2, datas

    status, text, times, error = _raw_stream(client, family, "stall")
    assert status == 200 and error is None and _TERMINATOR[family] in text
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert len(gaps) >= 2 and max(gaps) >= STALL_S * 0.9 and gaps.index(max(gaps)) > 0, gaps


def test_load_faults_by_rate_follow_the_seed_and_reach_the_record(tmp_path: Path) -> None:
    record = tmp_path / "record.jsonl"
    rates = dict.fromkeys(LOAD_FAULTS, 0.125)
    config = MockConfig(load_faults=rates, seed=4, record_path=str(record), load_fault_stall_s=0.05)
    seen: list[tuple[int, bool, bool, bool]] = []
    with MockServer(config) as server, httpx.Client(base_url=server.base_url, timeout=10) as client:
        for _ in range(40):
            status, text, _, error = _raw_stream(client, "chat", None)
            seen.append((status, error is not None, "[DONE]" in text, bool(_unparsable(_datas("chat", text)))))
    lines = _records(record)
    assert len(lines) == 40
    kinds = [r["load_fault"] for r in lines]
    assert set(kinds) == {*LOAD_FAULTS, None}, kinds
    for (status, cut, done, malformed), kind in zip(seen, kinds, strict=True):
        expected_status = {"error_429": 429, "error_500": 500, "error_503": 503}.get(kind or "", 200)
        assert status == expected_status, (kind, status)
        assert cut == (kind == "disconnect"), kind
        assert malformed == (kind == "malformed_chunk"), kind
        if status == 200:
            assert done == (kind not in ("disconnect", "truncate")), kind
    # the same seed draws the same faults again
    again = tmp_path / "again.jsonl"
    with (
        MockServer(config.model_copy(update={"record_path": str(again)})) as server,
        httpx.Client(base_url=server.base_url, timeout=10) as client,
    ):
        for _ in range(40):
            _raw_stream(client, "chat", None)
    assert [r["load_fault"] for r in _records(again)] == kinds


# ------------------------------------------------------------------------------ the record


def test_the_record_has_one_line_per_request_with_every_field(tmp_path: Path) -> None:
    record = tmp_path / "record.jsonl"
    config = MockConfig(capacity=FAST, record_path=str(record))
    with MockServer(config) as server:
        base_url = server.base_url
        sent = [
            _send(base_url, "chat", _conversation("rec-stream")),
            _send(base_url, "messages", _conversation("rec-unary"), stream=False),
            _send(base_url, "gemini", _conversation("rec-429"), headers={LOAD_FAULT_HEADER: "error_429"}),
            _send(base_url, "responses", _conversation("rec-cut"), headers={LOAD_FAULT_HEADER: "disconnect"}),
            _send_embeddings(base_url),
        ]
        bad = httpx.post(f"{base_url}/v1/chat/completions", content=b"{", headers={"Authorization": "Bearer x"})
        with httpx.Client(base_url=base_url, timeout=10) as client:
            body = build_request(
                "chat", MODEL, _conversation("rec-gone"), max_tokens=2000, stream=True, ignore_eos=True
            )
            with client.stream(
                "POST", body[1], json=body[3], headers={"Authorization": f"Bearer {DEFAULT_API_KEY}"}
            ) as r:
                next(r.iter_raw())  # read the first chunk, then go away
        deadline = time.monotonic() + 5
        while len(record.read_text(encoding="utf-8").splitlines()) < 7 and time.monotonic() < deadline:
            time.sleep(0.02)
    assert bad.status_code == 401
    assert [e.status for e in sent] == [200, 200, 429, 200, 200]
    assert sent[3].error_kind is TransportError.STREAM_TRUNCATED
    lines = _records(record)
    assert len(lines) == 7 and all(tuple(line) == RECORD_FIELDS for line in lines)
    by_path = {(r["family"], r["load_fault"], r["client_disconnected"], r["status"]): r for r in lines}
    assert set(by_path) == {
        ("chat", None, False, 200),
        ("messages", None, False, 200),
        ("gemini", "error_429", False, 429),
        ("responses", "disconnect", False, 200),
        ("embeddings", None, False, 200),
        ("chat", None, False, 401),
        ("chat", None, True, 200),
    }
    stream = by_path[("chat", None, False, 200)]
    assert stream["stream"] is True and stream["input_tokens"] > 0 and stream["output_tokens"] == 12
    assert stream["received_at"] <= stream["admitted_at"] <= stream["first_token_at"] <= stream["done_at"]
    assert stream["queue_depth_at_arrival"] == 0 and stream["running_at_admission"] >= 1
    unary = by_path[("messages", None, False, 200)]
    assert unary["stream"] is False and unary["first_token_at"] <= unary["done_at"]
    refused = by_path[("gemini", "error_429", False, 429)]
    assert refused["admitted_at"] is None and refused["first_token_at"] is None
    unauthorised = by_path[("chat", None, False, 401)]
    assert unauthorised["input_tokens"] is None and unauthorised["stream"] is False
    gone = by_path[("chat", None, True, 200)]
    # its record is written when the client goes away, not when the 2000 tokens (several seconds) would be done
    assert gone["first_token_at"] is not None and gone["done_at"] - gone["first_token_at"] < 2.0


# ------------------------------------------------------------------------------ llmconform load


def test_a_load_run_configures_its_embedded_mock_and_keeps_the_record(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            *(sys.executable, "-m", "llmconform.cli", "load", "--duration", "1", "--warmup", "0", "--users", "4"),
            *("--max-running", "2", "--queue-size", "8", "--step-ms", "2", "--load-fault", "truncate=0.5"),
            *("--report-dir", str(tmp_path)),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert result.returncode in (0, 1), result.stdout + result.stderr  # 1: the truncated streams break rules
    assert "capacity model: max_running 2, queue_size 8" in result.stderr
    report = json.loads((tmp_path / "load.json").read_text(encoding="utf-8"))
    assert report["mock"]["capacity"]["max_running"] == 2 and report["mock"]["load_faults"] == {"truncate": 0.5}
    assert report["files"]["mock_record"] == "mock-record.jsonl"
    lines = _records(tmp_path / "mock-record.jsonl")
    generated = [r for r in lines if r["family"] == "chat"]
    assert len(generated) >= report["requests"]["total"] > 0
    assert all(tuple(line) == RECORD_FIELDS for line in lines)
    assert max(r["running_at_admission"] or 0 for r in generated) == 2
    assert any(r["load_fault"] == "truncate" for r in generated)
    assert any(r["queue_depth_at_arrival"] for r in generated)  # 4 users on 2 slots: some waited
