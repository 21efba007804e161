"""``llmconform load`` in the parent process: target, locust processes, live view, reports.

The parent never imports locust (it patches the standard library for gevent). It starts the embedded
mock when there is no --base-url, resolves the model, writes the plan, starts locust headless with
the scenario's locustfile (one process, or a master and N workers on 127.0.0.1), shows a live view
from the progress file the master keeps, and when locust is done turns measurements.json into
load.json, the HTML report and the console summary. The API key reaches the locust processes only
through their environment.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import llmconform
from llmconform.client import TargetClient
from llmconform.config import API_KEY_ENV
from llmconform.families.chat import (
    MODELS_OPERATION,
    MODELS_PATH,
    listed_model_ids,
    pick_chat_model,
    pick_embedding_model,
)
from llmconform.load.collector import MEASUREMENTS_FILE, PROGRESS_FILE, RECORDS_FILE, WORKER_JOURNALS
from llmconform.load.plan import LoadPlan
from llmconform.mock import MockConfig, MockServer
from llmconform.mock.capacity import CapacityConfig

__all__ = [
    "EMBEDDING_SCENARIOS",
    "SCENARIOS",
    "LoadRunFailed",
    "LocustRun",
    "MockSettings",
    "resolve_model",
    "run_locust",
    "scenario_file",
]

SCENARIOS: dict[str, str] = {
    "chat-stream": "chat_stream.py",
    "chat-unary": "chat_unary.py",
    "messages-stream": "messages_stream.py",
    "gemini-stream": "gemini_stream.py",
    "responses-stream": "responses_stream.py",
    "embeddings": "embeddings.py",
    "images": "images.py",
    "audio": "audio.py",
    "video": "video.py",
    "mixed": "mixed.py",
}
# Scenarios that send embeddings requests: they need an embeddings model (--embedding-model).
EMBEDDING_SCENARIOS = frozenset({"embeddings", "mixed"})
LOCUST_LOG = "locust.log"


class LoadRunFailed(RuntimeError):
    """The load run could not start or produced no measurements; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class MockSettings:
    """The embedded mock for load runs: realistic latency by default (a 7-8B model on one H100, see
    mock-realism.md: TTFT 60-120 ms, ITL 10-15 ms), and optional faults."""

    ttft_ms: float = 60.0
    itl_ms: float = 12.0
    tokens_per_chunk: int = 1
    faults: frozenset[str] = frozenset()
    # The capacity model (its step loop replaces the fixed TTFT/ITL), faults under load, and their seed.
    capacity: CapacityConfig | None = None
    load_faults: Mapping[str, float] = field(default_factory=dict)
    seed: int = 0
    # Where the mock appends its server-side record (REPORT_DIR/mock-record.jsonl in a load run).
    record_path: str | None = None

    def describe(self) -> dict[str, Any]:
        """The settings as load.json names them (``mock``)."""
        return {
            "ttft_ms": None if self.capacity else self.ttft_ms,
            "itl_ms": None if self.capacity else self.itl_ms,
            "tokens_per_chunk": self.tokens_per_chunk,
            "faults": sorted(self.faults),
            "capacity": self.capacity.model_dump() if self.capacity else None,
            "load_faults": dict(self.load_faults),
            "seed": self.seed,
            "record": Path(self.record_path).name if self.record_path else None,
        }

    def summary(self) -> str:
        """One line for the console."""
        timing = (
            f"capacity model: {self.capacity.describe()}"
            if self.capacity
            else f"TTFT {self.ttft_ms:g} ms, ITL {self.itl_ms:g} ms"
        )
        faults = f"; faults: {', '.join(sorted(self.faults))}" if self.faults else ""
        rates = ", ".join(f"{kind}={rate:g}" for kind, rate in self.load_faults.items())
        load_faults = f"; load faults: {rates}" if rates else ""
        return f"{timing}, {self.tokens_per_chunk} token(s) per chunk{faults}{load_faults}"


def scenario_file(scenario: str) -> Path:
    """The locustfile of a named scenario, or a path to the user's own locustfile."""
    if scenario in SCENARIOS:
        return Path(llmconform.__file__).resolve().parent / "_scenarios" / SCENARIOS[scenario]
    path = Path(scenario)
    if path.suffix == ".py" and path.is_file():
        return path.resolve()
    raise LoadRunFailed(
        f"unknown scenario {scenario!r}; use one of {', '.join(SCENARIOS)} or the path of a locustfile (.py) "
        "whose users subclass llmconform.load.users.LLMUser"
    )


def resolve_model(base_url: str, api_key: str | None, timeout_s: float, *, embeddings: bool = False) -> str:
    """The first chat model the target lists (GET /v1/models), or LoadRunFailed naming the fix; with
    ``embeddings``, the first listed embeddings model (else the first chat model)."""
    from llmconform.client import ClientLimits

    limits = ClientLimits(read_timeout_s=timeout_s, deadline_s=timeout_s)
    with TargetClient(base_url, api_key, limits) as client:
        exchange = client.send("GET", MODELS_PATH, family="models", operation=MODELS_OPERATION, label="resolve model")
    if exchange.error is not None:
        raise LoadRunFailed(f"target unreachable: {exchange.error}")
    if exchange.status == 401:
        raise LoadRunFailed("GET /v1/models answered 401: pass a valid key with --api-key or $" + API_KEY_ENV)
    listed = listed_model_ids(exchange)
    model = (pick_embedding_model(listed) if embeddings else None) or pick_chat_model(listed)
    if model is None:
        raise LoadRunFailed(
            f"no --model given and GET {MODELS_PATH} listed none (status {exchange.status}); pass --model"
        )
    return model


def embedded_mock(settings: MockSettings) -> MockServer:
    """An embedded mock configured for load (started by the caller)."""
    return MockServer(
        MockConfig(
            ttft_ms=settings.ttft_ms,
            itl_ms=settings.itl_ms,
            tokens_per_chunk=settings.tokens_per_chunk,
            faults=settings.faults,
            capacity=settings.capacity,
            load_faults=dict(settings.load_faults),
            seed=settings.seed,
            record_path=settings.record_path,
        )
    )


@dataclass(slots=True)
class LocustRun:
    """What the locust processes left behind."""

    measurements: dict[str, Any]
    interrupted: bool
    returncode: int | None
    log_path: Path


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _locust_command(locustfile: str) -> list[str]:
    """``python -m locust -f LOCUSTFILE`` with this interpreter (a worker needs no more: the plan comes later)."""
    return [sys.executable, "-m", "locust", "-f", locustfile]


def _locust_argv(plan: LoadPlan, plan_json: str) -> list[str]:
    return [
        *_locust_command(plan.locustfile),
        "--headless",
        "--host",
        plan.base_url,
        "--llmconform-plan",
        plan_json,
        "--loglevel",
        "WARNING",
        "--only-summary",
        "--exit-code-on-error",
        "0",
    ]


def run_locust(
    plan: LoadPlan,
    api_key: str | None,
    *,
    remote_workers: int = 0,
    master_port: int | None = None,
    on_progress: Callable[[dict[str, Any]], None] | None = None,
) -> LocustRun:
    """Run locust for the plan and return the merged measurements; never leaves a process behind."""
    directory = Path(plan.report_dir)
    directory.mkdir(parents=True, exist_ok=True)
    for stale in (MEASUREMENTS_FILE, PROGRESS_FILE, RECORDS_FILE):
        (directory / stale).unlink(missing_ok=True)
    for journal in directory.glob(WORKER_JOURNALS):
        journal.unlink()
    plan_json = plan.model_dump_json()
    env = {k: v for k, v in os.environ.items() if k != API_KEY_ENV}
    if api_key:
        env[API_KEY_ENV] = api_key
    env["PYTHONUNBUFFERED"] = "1"
    argv = _locust_argv(plan, plan_json)
    users = max(plan.users, 1)
    spawn = ["-u", str(users), "-r", str(min(users, 1000))]
    log_path = directory / LOCUST_LOG
    processes: list[subprocess.Popen[bytes]] = []
    interrupted = False
    with log_path.open("wb") as log:
        if plan.workers > 0:
            port = master_port or _free_port()
            bind = "*" if remote_workers else "127.0.0.1"
            master_argv = [
                *argv,
                *spawn,
                "--master",
                "--master-bind-host",
                bind,
                "--master-bind-port",
                str(port),
                "--expect-workers",
                str(plan.workers),
                "--expect-workers-max-wait",
                "60",
            ]
            master = subprocess.Popen(
                master_argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
            processes.append(master)
            for _ in range(plan.workers - remote_workers):
                worker_argv = [
                    *_locust_command(plan.locustfile),
                    "--worker",
                    "--master-host",
                    "127.0.0.1",
                    "--master-port",
                    str(port),
                ]
                processes.append(
                    subprocess.Popen(worker_argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
                )
        else:
            master = subprocess.Popen(
                [*argv, *spawn], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
            processes.append(master)
        planned = (plan.duration_s or 600.0) + plan.warmup_s
        hard_stop = time.monotonic() + planned + plan.limits.deadline_s + 120.0
        try:
            while master.poll() is None:
                if time.monotonic() > hard_stop:
                    master.send_signal(signal.SIGTERM)
                    break
                if on_progress is not None:
                    progress = _read_json(directory / PROGRESS_FILE)
                    if progress is not None:
                        on_progress(progress)
                time.sleep(0.25)
        except KeyboardInterrupt:
            # The locust processes run in their own session (a terminal's Ctrl-C reaches only us): stop the
            # master once, so it writes what was measured, marked partial; the workers follow it.
            interrupted = True
            if master.poll() is None:
                master.send_signal(signal.SIGTERM)
        finally:
            _reap(processes)
    measurements = _read_json(directory / MEASUREMENTS_FILE)
    (directory / PROGRESS_FILE).unlink(missing_ok=True)
    if measurements is None:
        tail = log_path.read_text(encoding="utf-8", errors="replace")[-2000:]
        raise LoadRunFailed(f"locust ended (exit {master.returncode}) without measurements; its log ends:\n{tail}")
    partial = interrupted or bool(measurements.get("partial"))
    if not partial:  # every worker's final drain arrived: requests.csv holds all their journals hold
        for journal in directory.glob(WORKER_JOURNALS):
            journal.unlink()
    return LocustRun(measurements, partial, master.returncode, log_path)


def _reap(processes: list[subprocess.Popen[bytes]]) -> None:
    """Wait for every locust process; escalate to SIGTERM then SIGKILL so none outlives the run."""
    deadline = time.monotonic() + 20.0
    for process in processes:
        try:
            process.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=5.0)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None
