"""A hostile server cannot hang, crash or exhaust the harness: every protection is seen to fire.

``tests/servers/hostile_server.py`` breaks HTTP on purpose, one :class:`Mode` at a time. Against each
mode, at three levels:

* **clients**: check's httpx client and load's geventhttpclient client end the hostile request within
  their limits with the expected transport error class (or a completed answer for the legal modes),
  hold no more than the size limit of it, and the next, correct answer on the same client completes;
* **check** (``run_check`` in-process, chat and the model list, 8 requests): the run finishes in bounded
  time with exit 1 and the rule that names the problem (``request_completes`` with the error class,
  or the rule the broken body breaks), keeps the model-list result, and its reports can be written;
* **load** (the CLI in a subprocess, one run per scenario in which one user gets every mode's hostile
  answer, each followed by a correct one): the run ends in bounded time with exit 1 and every report;
  each hostile request has its failure class and which limit fired in requests.csv, and the correct
  answer after it is measured like any other.

HTTP/1.0 with a close-delimited body is legal, so it must pass exactly like the conformant mode. Each
protection also has a control: raising the limit lets the same oversized answer through.

All runs start at once (client and check runs in threads, load runs three subprocesses at a time);
each test waits for its own run.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from tests.servers.hostile_server import CHAT_PATH, KEY, MIB, MODEL, HostileServer, Mode

from llmconform.checks.findings import Finding
from llmconform.client import ClientLimits, ContentDecoder, ReadAborted, TargetClient
from llmconform.config import CheckConfig, LimitsConfig, TargetConfig
from llmconform.conformance.outcome import ConformanceRun, ExitCode
from llmconform.conformance.runner import run_check
from llmconform.exchange import Exchange, TransportError
from llmconform.report import write_conformance_json, write_junit

KIB = 1024
LIMITS = LimitsConfig(
    connect_timeout_s=2.0, read_timeout_s=1.5, deadline_s=3.0, max_body_bytes=256 * KIB, max_line_bytes=64 * KIB
)
# Limits raised above what the hostile server sends: the same answers then complete (the controls).
RAISED = LIMITS.model_copy(update={"max_body_bytes": 8 * MIB, "max_line_bytes": 4 * MIB})
# A size limit far above the gzip bomb (16 MiB of blank SSE lines: ~10 s of decoding) and a 1 s deadline.
CPU_BOUND = LIMITS.model_copy(update={"max_body_bytes": 64 * MIB, "deadline_s": 1.0})
# What the server sends, each well past LIMITS (a drip interval under the read timeout: only the deadline ends it).
SIZES: dict[str, Any] = {
    "gigantic_bytes": 2 * MIB,
    "line_bytes": 2 * MIB,
    "bomb_bytes": 16 * MIB,
    "drip_interval_s": 0.5,
}
# A request ends by its deadline plus at most one read timeout (the deadline is checked as bytes arrive).
REQUEST_BOUND_S = LIMITS.deadline_s + LIMITS.read_timeout_s + 1.0
CHECK_BOUND_S = 30.0  # 8 requests, at most 3 of them timing out before the run stops
LOAD_BOUND_S = 50.0  # locust start-up plus 24 requests, 3 of them ending at a deadline, on a loaded machine
CLI = [sys.executable, "-m", "llmconform.cli"]

TIMEOUT, TOO_LARGE, DECODE = TransportError.TIMEOUT, TransportError.TOO_LARGE, TransportError.DECODE
TRUNCATED, PROTOCOL = TransportError.STREAM_TRUNCATED, TransportError.PROTOCOL

# Per mode: the error classes a hostile (unary, streamed) request may end with; None is a completed answer.
EXPECTED_KINDS: dict[Mode, tuple[set[TransportError | None], set[TransportError | None]]] = {
    Mode.CONFORMANT: ({None}, {None}),
    Mode.INVALID_UTF8: ({None}, {None}),  # completes; the bytes are flagged (asserted below)
    Mode.GIGANTIC_BODY: ({TOO_LARGE}, {TOO_LARGE}),
    Mode.GIGANTIC_LINE: ({None}, {DECODE}),  # a unary body has no lines
    Mode.GZIP_BOMB: ({TOO_LARGE}, {TOO_LARGE}),
    Mode.ENDLESS_STREAM: ({TIMEOUT}, {TIMEOUT}),
    Mode.SLOW_DRIP: ({TIMEOUT}, {TIMEOUT}),
    Mode.HEADERS_THEN_SILENCE: ({TIMEOUT}, {TIMEOUT}),
    Mode.RESET_MID_BODY: ({TRUNCATED}, {TRUNCATED}),
    Mode.CONTENT_LENGTH_OVER: ({TRUNCATED}, {TRUNCATED}),
    # httpx stops at the declared length (the answer is cut: asserted below); geventhttpclient's parser
    # rejects the bytes past it.
    Mode.CONTENT_LENGTH_UNDER: ({None, PROTOCOL, TRUNCATED}, {None, PROTOCOL, TRUNCATED}),
    Mode.HTTP10_CLOSE_DELIMITED: ({None}, {None}),
}
# Per mode: what a check run must find, as (rule, text its message contains) pairs.
CHECK_FINDS: dict[Mode, tuple[tuple[str, str], ...]] = {
    Mode.CONFORMANT: (),
    Mode.INVALID_UTF8: (("response_matches_schema", "utf-8"), ("stream_chunk_is_json", "not valid UTF-8")),
    Mode.GIGANTIC_BODY: (("request_completes", "too_large: response body exceeded 262144 bytes"),),
    Mode.GIGANTIC_LINE: (("request_completes", "decode: an SSE line exceeded 65536"),),
    Mode.GZIP_BOMB: (("request_completes", "too_large: the gzip-encoded body inflated past 262144"),),
    Mode.ENDLESS_STREAM: (("request_completes", "timeout: response not complete after 3.0 s"),),
    Mode.SLOW_DRIP: (("request_completes", "timeout: response not complete after 3.0 s"),),
    Mode.HEADERS_THEN_SILENCE: (("request_completes", "timeout: ReadTimeout"),),
    Mode.RESET_MID_BODY: (("request_completes", "stream_truncated: ReadError"),),
    Mode.CONTENT_LENGTH_OVER: (("request_completes", "stream_truncated: RemoteProtocolError"),),
    Mode.CONTENT_LENGTH_UNDER: (("response_matches_schema", "not valid JSON"), ("stream_done_last", "")),
    Mode.HTTP10_CLOSE_DELIMITED: (),
}
# Load runs: per scenario, every mode's hostile answer followed by a correct one, on one locust user.
# Per (scenario, mode): the failure classes the hostile request may get in requests.csv (None: it succeeds).
LOAD_CLASSES: dict[str, dict[Mode, set[str | None]]] = {
    "chat-stream": {
        Mode.CONFORMANT: {None},
        Mode.INVALID_UTF8: {"decode"},
        Mode.GIGANTIC_BODY: {"too_large"},
        # 8 MiB must arrive before the line limit fires; on a starved CI core the 3 s deadline may come first
        # (either ends the request in its bound; the line limit itself is held by the client-level tests).
        Mode.GIGANTIC_LINE: {"decode", "timeout"},
        Mode.GZIP_BOMB: {"too_large"},
        Mode.ENDLESS_STREAM: {"timeout"},
        Mode.SLOW_DRIP: {"timeout"},
        Mode.HEADERS_THEN_SILENCE: {"timeout"},
        Mode.RESET_MID_BODY: {"stream_truncated"},
        Mode.CONTENT_LENGTH_OVER: {"stream_truncated"},
        Mode.CONTENT_LENGTH_UNDER: {"stream_truncated", "protocol"},
        Mode.HTTP10_CLOSE_DELIMITED: {None},
    },
    "chat-unary": {
        Mode.CONFORMANT: {None},
        Mode.INVALID_UTF8: {"decode"},
        Mode.GIGANTIC_BODY: {"too_large"},
        Mode.GIGANTIC_LINE: {None},
        Mode.GZIP_BOMB: {"too_large"},
        Mode.ENDLESS_STREAM: {"timeout"},
        Mode.SLOW_DRIP: {"timeout"},
        Mode.HEADERS_THEN_SILENCE: {"timeout"},
        Mode.RESET_MID_BODY: {"stream_truncated"},
        Mode.CONTENT_LENGTH_OVER: {"stream_truncated"},
        # geventhttpclient rejects the bytes past the declared length, or stops there and the JSON is cut
        Mode.CONTENT_LENGTH_UNDER: {"stream_truncated", "protocol", "contract"},
        Mode.HTTP10_CLOSE_DELIMITED: {None},
    },
}
LOAD_SCHEDULE = [m for mode in Mode for m in (mode, Mode.CONFORMANT)]
# The load runs' limits come from the CLI flags: --timeout 3 --read-timeout 1.5 --max-body-mb 12; the SSE
# line limit keeps its default (8 MiB), so the server's sizes sit between and above them.
LOAD_SIZES: dict[str, Any] = {**SIZES, "gigantic_bytes": 16 * MIB, "line_bytes": 9 * MIB, "bomb_bytes": 64 * MIB}
# The streamed bomb inflates to 1 KiB comment lines (cheap to decode: it must hit the size limit, not the
# deadline; the deadline's part is test_decoding_work_ends_at_the_deadline).
LOAD_SIZES["stream_filler"] = b":" + b" " * 1022 + b"\n"
# Per mode: a text a failed hostile request's requests.csv error carries (which limit fired, set by which flag).
LOAD_MESSAGES: dict[Mode, str] = {
    Mode.HEADERS_THEN_SILENCE: "no data for 1.5 s",  # --read-timeout (the default would be 3 s here)
    Mode.SLOW_DRIP: "(the request deadline)",  # --timeout
    Mode.GIGANTIC_BODY: "exceeded 12582912 bytes",  # --max-body-mb 12
    Mode.GZIP_BOMB: "inflated past 12582912 bytes",
    Mode.GIGANTIC_LINE: "SSE line exceeded 8388608",  # the default line limit
}


# --- the runs ---------------------------------------------------------------------------------------


def _body(stream: bool) -> dict[str, Any]:
    return {"model": MODEL, "messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 16, "stream": stream}


Send = Callable[[bool], Exchange]


def _httpx_sender(base_url: str, limits: LimitsConfig) -> tuple[Send, Callable[[], None]]:
    client = TargetClient(base_url, KEY, ClientLimits(**limits.model_dump()))

    def send(stream: bool) -> Exchange:
        return client.send("POST", CHAT_PATH, family="chat", operation="createChatCompletion", json_body=_body(stream))

    return send, client.close


def _gevent_sender(base_url: str, limits: LimitsConfig) -> tuple[Send, Callable[[], None]]:
    from llmconform.load.http import LoadHttp  # gevent: imported only where a test needs it

    client = LoadHttp(base_url, KEY, limits)

    def send(stream: bool) -> Exchange:
        operation = "createChatCompletion"
        exchange, _sent = client.send("POST", CHAT_PATH, family="chat", operation=operation, json_body=_body(stream))
        return exchange

    return send, client.close


SENDERS = {"httpx": _httpx_sender, "gevent": _gevent_sender}


@dataclass(frozen=True)
class ClientRun:
    """A hostile then a correct request, unary and then streamed, on one client."""

    unary: Exchange
    unary_after: Exchange
    stream: Exchange
    stream_after: Exchange


def client_run(client: str, mode: Mode, limits: LimitsConfig) -> ClientRun:
    """On a fresh client: the hostile answer and then a correct one, unary, then the same streamed."""
    with HostileServer(schedule=(mode, Mode.CONFORMANT), **SIZES) as server:
        send, close = SENDERS[client](server.base_url, limits)
        try:
            return ClientRun(send(False), send(False), send(True), send(True))
        finally:
            close()


@dataclass(frozen=True)
class CheckRun:
    run: ConformanceRun
    elapsed_s: float
    report: dict[str, Any]

    def errors(self) -> list[Finding]:
        return [f for f in self.run.results.findings if f.severity == "error"]

    def describe(self) -> str:
        found = "\n".join(f"  {f.rule}: {f.message.splitlines()[0][:160]}" for f in self.errors())
        return f"exit {self.run.exit_code} in {self.elapsed_s:.1f} s; error findings:\n{found or '  (none)'}"


def check_run(mode: Mode, report_dir: Path) -> CheckRun:
    with HostileServer(mode, **SIZES) as server:
        config = CheckConfig(
            target=TargetConfig(base_url=server.base_url, api_key=SecretStr(KEY), model=MODEL),
            families=("models", "chat"),
            max_requests=8,
            report_dir=report_dir,
            limits=LIMITS,
        )
        start = time.perf_counter()
        run, redactor = run_check(config, command=["llmconform", "check"], say=lambda _text: None)
        elapsed = time.perf_counter() - start
    write_conformance_json(run, report_dir, redactor)
    write_junit(run, report_dir, redactor)
    return CheckRun(run, elapsed, json.loads((report_dir / "conformance.json").read_text()))


@dataclass(frozen=True)
class LoadRun:
    returncode: int
    elapsed_s: float
    output: str
    report: dict[str, Any] | None
    rows: list[dict[str, str]]  # in the order they were sent
    answered: list[Mode]  # the mode the server answered each request in, in order

    def describe(self) -> str:
        summary = json.dumps({k: self.report[k] for k in ("requests", "errors")}) if self.report else "no load.json"
        return f"exit {self.returncode} in {self.elapsed_s:.1f} s; {summary}\n{self.output[-2000:]}"


def load_run(scenario: str, report_dir: Path) -> LoadRun:
    with HostileServer(schedule=LOAD_SCHEDULE, **LOAD_SIZES) as server:
        start = time.perf_counter()
        result = subprocess.run(
            [
                *(*CLI, "load", "--base-url", server.base_url, "--api-key", KEY, "--model", MODEL),
                *("--scenario", scenario, "--users", "1", "--requests", str(len(LOAD_SCHEDULE)), "--warmup", "0"),
                *("--output-tokens", "8", "--timeout", "3", "--read-timeout", "1.5", "--max-body-mb", "12"),
                *("--report-dir", str(report_dir)),
            ],
            capture_output=True,
            text=True,
            timeout=2 * LOAD_BOUND_S,
            env={**os.environ, "COLUMNS": "160"},
            check=False,
        )
        elapsed = time.perf_counter() - start
        answered = list(server.answered)
    report_file, rows_file = report_dir / "load.json", report_dir / "requests.csv"
    report = json.loads(report_file.read_text()) if report_file.exists() else None
    rows = list(csv.DictReader(rows_file.open(newline=""))) if rows_file.exists() else []
    rows.sort(key=lambda row: float(row["intended_at"]))
    return LoadRun(result.returncode, elapsed, result.stdout + result.stderr, report, rows, answered)


def check_cli_run(report_dir: Path) -> tuple[subprocess.CompletedProcess[str], dict[str, Any] | None]:
    with HostileServer(Mode.GIGANTIC_BODY, **SIZES) as server:
        result = subprocess.run(
            [
                *(*CLI, "check", "--base-url", server.base_url, "--api-key", KEY, "--model", MODEL),
                *("--family", "models,chat", "--max-requests", "4", "--report-dir", str(report_dir)),
                *("--timeout", "3", "--read-timeout", "1.5", "--max-body-mb", "0.25"),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "COLUMNS": "160"},
            check=False,
        )
    report_file = report_dir / "conformance.json"
    return result, json.loads(report_file.read_text()) if report_file.exists() else None


CHECK_MODES = list(Mode)
CLIENT_CASES = [(client, mode) for mode in Mode for client in SENDERS]
RAISED_CASES = [(client, mode) for mode in (Mode.GIGANTIC_BODY, Mode.GIGANTIC_LINE) for client in SENDERS]
LOAD_CASES = [(scenario, mode) for scenario, modes in LOAD_CLASSES.items() for mode in modes]


def _run_key(case: tuple[Any, ...]) -> tuple[Any, ...]:
    """The run a test case reads: a load run serves every mode of its scenario."""
    return case[:2] if case[0] == "load" else case


@pytest.fixture(scope="module")
def runs(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[Any, Future[Any]]]:
    """Starts every run the selected tests of this module need, all at once; each test waits for its own."""
    wanted: dict[tuple[Any, ...], None] = {}
    for item in request.session.items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if item.module is request.module and "case" in params:
            wanted[_run_key(params["case"])] = None
    futures: dict[Any, Future[Any]] = {}
    with (
        ThreadPoolExecutor(3, thread_name_prefix="hostile-cli") as cli_pool,
        ThreadPoolExecutor(24, thread_name_prefix="hostile-run") as pool,
    ):
        for key in wanted:  # the subprocess runs first: they take longest
            if key[0] == "load":
                futures[key] = cli_pool.submit(load_run, key[1], tmp_path_factory.mktemp(f"load-{key[1]}"))
            elif key[0] == "check_cli":
                futures[key] = cli_pool.submit(check_cli_run, tmp_path_factory.mktemp("check-cli"))
        for key in wanted:
            kind, *rest = key
            if kind == "check":
                futures[key] = pool.submit(check_run, rest[0], tmp_path_factory.mktemp(f"check-{rest[0]}"))
            elif kind in ("client", "raised", "cpu"):
                client, mode = rest
                limits = {"client": LIMITS, "raised": RAISED, "cpu": CPU_BOUND}[kind]
                futures[key] = pool.submit(client_run, client, mode, limits)
        yield futures
        for future in futures.values():
            future.cancel()


def _ids(case: tuple[Any, ...]) -> str:
    return "-".join(str(part) for part in case)


# --- clients ----------------------------------------------------------------------------------------


def _describe(exchange: Exchange) -> str:
    return (
        f"status {exchange.status}, {exchange.error_kind}: {exchange.error}; {exchange.received_bytes} bytes "
        f"in {exchange.elapsed_s:.2f} s"
    )


def _complete_answer(exchange: Exchange) -> bool:
    if exchange.events is not None:
        return bool(exchange.events) and exchange.events[-1].data == "[DONE]"
    try:
        return bool(exchange.json()["choices"])
    except (ValueError, KeyError, TypeError):
        return False


@pytest.mark.parametrize("case", [("client", *c) for c in CLIENT_CASES], ids=_ids)
def test_client_ends_a_hostile_answer_within_its_limits(
    case: tuple[str, str, Mode], runs: dict[Any, Future[Any]]
) -> None:
    _, client, mode = case
    run: ClientRun = runs[case].result(timeout=120)
    for exchange, after, kinds in (
        (run.unary, run.unary_after, EXPECTED_KINDS[mode][0]),
        (run.stream, run.stream_after, EXPECTED_KINDS[mode][1]),
    ):
        where = f"{client} {mode} {'stream' if exchange.request_body['stream'] else 'unary'}: {_describe(exchange)}"
        assert exchange.error_kind in kinds, where
        assert exchange.elapsed_s < REQUEST_BOUND_S, where
        # Never more than the size limit (plus one network read) held in memory, gzip bomb included.
        assert exchange.received_bytes <= LIMITS.max_body_bytes + 64 * KIB, where
        # The correct answer right after it, on the same client, is untouched.
        assert after.ok and _complete_answer(after), f"{where}; the answer after it: {_describe(after)}"
        if exchange.error_kind is TIMEOUT:
            silent = mode is Mode.HEADERS_THEN_SILENCE
            # Silence ends at the read timeout; a drip or an endless stream only at the deadline.
            error = exchange.error or ""
            assert ("ReadTimeout" in error or "no data for" in error) == silent, where
            assert (exchange.elapsed_s < LIMITS.deadline_s) == silent, where
        if mode in (Mode.CONFORMANT, Mode.HTTP10_CLOSE_DELIMITED):
            assert exchange.ok and _complete_answer(exchange), where
        if mode is Mode.CONTENT_LENGTH_UNDER:
            assert not _complete_answer(exchange), f"{where}: the answer cut at the declared length was accepted"
        if mode is Mode.INVALID_UTF8:
            assert exchange.invalid_utf8, where
        if mode is Mode.RESET_MID_BODY:
            assert exchange.received_bytes > 0, f"{where}: what arrived before the reset is kept"


@pytest.mark.parametrize("case", [("raised", *c) for c in RAISED_CASES], ids=_ids)
def test_a_raised_limit_lets_the_same_answer_through(case: tuple[str, str, Mode], runs: dict[Any, Future[Any]]) -> None:
    _, client, mode = case
    run: ClientRun = runs[case].result(timeout=120)
    for exchange in (run.unary, run.stream):
        assert exchange.ok and _complete_answer(exchange), f"{client} {mode}: {_describe(exchange)}"
    assert run.stream.received_bytes > LIMITS.max_body_bytes  # the answer really was over the default limit


@pytest.mark.parametrize("case", [("cpu", client, Mode.GZIP_BOMB) for client in SENDERS], ids=_ids)
def test_decoding_work_ends_at_the_deadline(case: tuple[str, str, Mode], runs: dict[Any, Future[Any]]) -> None:
    """A few KiB of gzip can hold seconds of SSE decoding: the deadline is checked between decoded pieces
    (gevent's timeout cannot interrupt a greenlet that never waits)."""
    run: ClientRun = runs[case].result(timeout=120)
    where = f"{case[1]}: {_describe(run.stream)}"
    assert run.stream.error_kind is TIMEOUT, where
    assert run.stream.elapsed_s < CPU_BOUND.deadline_s + 1.0, where
    assert run.stream_after.ok and _complete_answer(run.stream_after), _describe(run.stream_after)


# --- check ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", [("check", mode) for mode in CHECK_MODES], ids=_ids)
def test_check_classifies_a_hostile_server_and_keeps_the_rest(
    case: tuple[str, Mode], runs: dict[Any, Future[Any]]
) -> None:
    mode = case[1]
    outcome: CheckRun = runs[case].result(timeout=120)
    run = outcome.run
    assert outcome.elapsed_s < CHECK_BOUND_S, outcome.describe()
    assert run.error is None, f"{mode}: {run.error}"
    expected = CHECK_FINDS[mode]
    assert run.exit_code == (ExitCode.BROKEN if expected else ExitCode.OK), outcome.describe()
    for rule, text in expected:
        messages = [f.message for f in outcome.errors() if f.rule == rule]
        assert any(text in m for m in messages), f"{mode}: no {rule} finding saying {text!r}; {outcome.describe()}"
    # Every other result is kept: the model list was judged, and the report holds the findings.
    assert run.results.count("model_listed").passed == 1, outcome.describe()
    assert {f["rule"] for f in outcome.report["findings"]} == {f.rule for f in run.results.findings}
    if expected and expected[0][0] == "request_completes" and "timeout" in expected[0][1]:
        assert run.partial, "three timeouts in a row stop the run"
    elif expected:
        assert run.sent_requests == 8, f"{mode}: the run went on through its budget; {outcome.describe()}"


# --- load -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", [("load", scenario) for scenario in LOAD_CLASSES], ids=_ids)
def test_load_survives_every_hostile_answer(case: tuple[str, str], runs: dict[Any, Future[Any]]) -> None:
    """The run ends in bounded time with exit 1 and every report; every request has its row."""
    outcome: LoadRun = runs[case].result(timeout=4 * LOAD_BOUND_S)
    assert "Traceback" not in outcome.output, outcome.describe()
    assert outcome.returncode == 1, outcome.describe()
    assert outcome.elapsed_s < LOAD_BOUND_S, outcome.describe()
    assert outcome.report is not None, outcome.describe()
    assert outcome.answered == LOAD_SCHEDULE, "the server saw exactly the scheduled requests, in order"
    assert len(outcome.rows) == outcome.report["requests"]["total"] == len(LOAD_SCHEDULE), outcome.describe()
    classes = [row["error_class"] for row in outcome.rows if row["error_class"]]
    assert outcome.report["errors"] == {name: classes.count(name) for name in set(classes)}, outcome.describe()
    assert outcome.report["requests"]["ok"] == len(outcome.rows) - len(classes), outcome.describe()


@pytest.mark.parametrize("case", [("load", *c) for c in LOAD_CASES], ids=_ids)
def test_load_classifies_a_hostile_answer_and_keeps_the_next(
    case: tuple[str, str, Mode], runs: dict[Any, Future[Any]]
) -> None:
    _, scenario, mode = case
    outcome: LoadRun = runs[_run_key(case)].result(timeout=4 * LOAD_BOUND_S)
    index = LOAD_SCHEDULE.index(mode)  # its first request; the next one is answered correctly
    assert len(outcome.rows) > index + 1, outcome.describe()
    hostile, after = outcome.rows[index], outcome.rows[index + 1]
    where = f"{scenario} {mode}: {json.dumps(hostile)}"
    assert (hostile["error_class"] or None) in LOAD_CLASSES[scenario][mode], where
    assert float(hostile["e2e_ms"]) < REQUEST_BOUND_S * 1000, where
    if hostile["error_class"] and not (mode is Mode.GIGANTIC_LINE and hostile["error_class"] == "timeout"):
        assert LOAD_MESSAGES.get(mode, "") in hostile["error"], where
    # The correct answer the same user got right after it is measured like any other.
    assert not after["error_class"] and after["status"] == "200" and after["good"] == "1", json.dumps(after)


# --- the bounded decoder, byte-exact ---------------------------------------------------------------


def _gzip(data: bytes, wbits: int = 16 + zlib.MAX_WBITS) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, wbits)
    return compressor.compress(data) + compressor.flush()


def test_a_gzip_bomb_never_inflates_past_the_limit() -> None:
    bomb = _gzip(b"\0" * (64 * MIB))
    assert len(bomb) < 128 * KIB
    decoder = ContentDecoder("gzip", MIB)
    pieces: list[int] = []
    with pytest.raises(ReadAborted) as aborted:
        for start in range(0, len(bomb), 16 * KIB):  # each read inflates to ~16 MiB at once if let
            pieces.extend(len(piece) for piece in decoder.decode(bomb[start : start + 16 * KIB]))
    assert aborted.value.kind is TransportError.TOO_LARGE
    assert sum(pieces) <= MIB and decoder.produced == MIB + 1
    assert max(pieces) <= ContentDecoder.PIECE_BYTES  # the caller gets to check its deadline between pieces


@pytest.mark.parametrize("coding", ["gzip", "x-gzip", "deflate", "deflate-raw", "identity", ""])
def test_the_decoder_undoes_every_coding_it_asks_for(coding: str) -> None:
    body = json.dumps({"text": "é ✓ " * 5000}).encode()
    encoded = {
        "gzip": _gzip(body),
        "x-gzip": _gzip(body),
        "deflate": _gzip(body, zlib.MAX_WBITS),
        "deflate-raw": _gzip(body, -zlib.MAX_WBITS),  # "deflate" sent without its zlib wrapper
    }.get(coding, body)
    decoder = ContentDecoder(coding.removesuffix("-raw"), len(body))
    pieces = [piece for i in range(0, len(encoded), 7) for piece in decoder.decode(encoded[i : i + 7])]
    assert b"".join(pieces) + decoder.flush() == body  # split at every 7th byte, so inside every header


@pytest.mark.parametrize(
    ("coding", "body", "kind"),
    [
        ("br", b"\x0b\x02\x80hi\x03", TransportError.DECODE),  # never asked for
        ("gzip", _gzip(b"x" * 1000)[:-12], TransportError.DECODE),  # cut before its end
        ("gzip", b"not gzip at all", TransportError.DECODE),
        ("gzip, gzip", _gzip(_gzip(b"x")), TransportError.DECODE),  # two codings: not asked for
    ],
)
def test_the_decoder_refuses_what_it_cannot_decode(coding: str, body: bytes, kind: TransportError) -> None:
    with pytest.raises(ReadAborted) as aborted:
        decoder = ContentDecoder(coding, MIB)
        list(decoder.decode(body))
        decoder.flush()
    assert aborted.value.kind is kind


@pytest.mark.parametrize("case", [("check_cli",)], ids=_ids)
def test_check_cli_flags_set_the_limits(case: tuple[str], runs: dict[Any, Future[Any]]) -> None:
    """--timeout, --read-timeout and --max-body-mb reach check's client (the load runs above use them too)."""
    result, report = runs[case].result(timeout=120)
    assert result.returncode == 1 and report is not None, result.stdout + result.stderr
    messages = [f["message"] for f in report["findings"] if f["rule"] == "request_completes"]
    assert messages and all("exceeded 262144 bytes" in m for m in messages), messages
    flagged = LIMITS.model_dump(include={"deadline_s", "read_timeout_s", "max_body_bytes"})
    assert report["config"]["limits"] == {**LimitsConfig().model_dump(), **flagged}
