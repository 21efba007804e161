"""The load plan: one typed description of a load run, built once by the CLI and passed down.

It travels as JSON from ``llmconform load`` (the parent process, which owns the embedded mock and
the reports) to the locust processes (master and workers; locust forwards the master's custom
arguments to its workers). It never carries the API key: every process reads that from
``LLMCONFORM_API_KEY`` in its environment, so it appears in no command line and no file.
"""

from __future__ import annotations

import math
import re
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from llmconform.config import LimitsConfig, TaskPollingConfig

__all__ = [
    "Arrival",
    "LoadPlan",
    "RunBudget",
    "TokenDistribution",
    "WorkloadSpec",
    "parse_distribution",
    "parse_slo",
]


class Arrival(StrEnum):
    """How open-loop requests are spaced: evenly, or as a Poisson process (exponential gaps)."""

    CONSTANT = "constant"
    POISSON = "poisson"


class TokenDistribution(BaseModel):
    """A token length: fixed, normal (mean, stdev; clipped to >= 1) or uniform (min..max), seeded."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["fixed", "normal", "uniform"] = "fixed"
    mean: Annotated[int, Field(ge=1)] = 64
    stdev: Annotated[float, Field(ge=0)] = 0.0
    low: Annotated[int, Field(ge=1)] = 1
    high: Annotated[int, Field(ge=1)] = 1

    def describe(self) -> str:
        if self.kind == "fixed":
            return str(self.mean)
        if self.kind == "normal":
            return f"normal(mean={self.mean}, stdev={self.stdev:g})"
        return f"uniform({self.low}..{self.high})"


_NORMAL = re.compile(r"^(\d+):(\d+(?:\.\d+)?)$")
_UNIFORM = re.compile(r"^(\d+)\.\.(\d+)$")


def parse_distribution(text: str) -> TokenDistribution:
    """``64`` fixed, ``64:16`` normal with mean 64 and stdev 16, ``32..128`` uniform; else ValueError."""
    text = text.strip()
    if text.isdecimal() and int(text) >= 1:
        return TokenDistribution(kind="fixed", mean=int(text))
    if match := _NORMAL.match(text):
        mean, stdev = int(match[1]), float(match[2])
        if mean >= 1:
            return TokenDistribution(kind="normal", mean=mean, stdev=stdev)
    if match := _UNIFORM.match(text):
        low, high = int(match[1]), int(match[2])
        if 1 <= low <= high:
            return TokenDistribution(kind="uniform", mean=(low + high) // 2, low=low, high=high)
    raise ValueError(
        f"{text!r} is not a token length; write N (fixed, N >= 1), MEAN:STDEV (normal) or MIN..MAX (uniform), "
        "e.g. 128, 128:32 or 64..256"
    )


# Per-request SLOs decide goodput; percentile SLOs (metric_pNN_ms) are judged on the whole run.
SLO_METRICS = ("ttft", "itl", "tpot", "e2e")
_SLO = re.compile(r"^(ttft|itl|tpot|e2e)(?:_p(50|90|95|99|999))?_ms$")


def parse_slo(text: str) -> tuple[str, float]:
    """``ttft_ms=500`` (every good request) or ``ttft_p95_ms=500`` (the run's p95); else ValueError."""
    name, sep, value = text.partition("=")
    name = name.strip()
    if not sep or not _SLO.match(name):
        raise ValueError(
            f"{text!r} is not an SLO; write METRIC_ms=LIMIT or METRIC_pNN_ms=LIMIT with METRIC one of "
            f"{', '.join(SLO_METRICS)} and NN one of 50, 90, 95, 99, 999, e.g. ttft_ms=500 or itl_p95_ms=50"
        )
    try:
        limit = float(value)
    except ValueError:
        raise ValueError(f"SLO {name}: {value!r} is not a number of milliseconds") from None
    if not math.isfinite(limit) or limit <= 0:
        raise ValueError(f"SLO {name}: the limit must be a finite number > 0 ms (got {value.strip()})")
    return name, limit


class WorkloadSpec(BaseModel):
    """What each request asks: synthetic prompts of target lengths, or prompts from a JSONL file."""

    model_config = ConfigDict(frozen=True)

    input_tokens: TokenDistribution = TokenDistribution(kind="fixed", mean=128)
    output_tokens: TokenDistribution = TokenDistribution(kind="fixed", mean=64)
    prompts_file: str | None = Field(default=None, description="JSONL of prompts (see llmconform.load.workload)")
    seed: int = 0
    ignore_eos: bool = Field(
        default=False,
        description="Send vLLM's ignore_eos extension so the server generates exactly the output length",
    )
    limit_key: Literal["max_tokens", "max_completion_tokens"] = "max_tokens"


class RunBudget(BaseModel):
    """What a run may spend at most; None where the plan sets no bound of that kind."""

    model_config = ConfigDict(frozen=True)

    requests: int | None
    output_tokens: int | None
    input_tokens_per_request: int | None
    output_tokens_per_request: int
    seconds: float | None

    def describe(self) -> str:
        """One sentence for the console, before the run starts."""
        if self.requests is None:
            seconds = f"{self.seconds:g} s" if self.seconds is not None else "its duration"
            return (
                f"no request cap: as many requests as the target answers in {seconds} (add --requests N or "
                "--max-rate R to cap requests and tokens)"
            )
        if self.input_tokens_per_request is None:
            return (
                f"at most {self.requests} requests and {self.output_tokens} output tokens "
                f"({self.output_tokens_per_request} per request where a prompt sets no output_tokens; prompt "
                "lengths come from the prompts file)"
            )
        return (
            f"at most {self.requests} requests, {self.requests * self.input_tokens_per_request} input and "
            f"{self.output_tokens} output tokens (up to {self.input_tokens_per_request} in and "
            f"{self.output_tokens_per_request} out per request)"
        )


def _ceiling(distribution: TokenDistribution) -> int:
    """A per-request token figure to budget with: the fixed length, the uniform maximum, mean + 3 stdev."""
    if distribution.kind == "uniform":
        return distribution.high
    if distribution.kind == "normal":
        return math.ceil(distribution.mean + 3 * distribution.stdev)
    return distribution.mean


class LoadPlan(BaseModel):
    """Everything a locust process needs to run its part of the load."""

    model_config = ConfigDict(frozen=True)

    scenario: str
    locustfile: str
    base_url: str
    model: str
    # The model embeddings requests name ("" = the model under load).
    embedding_model: str = ""
    embedded: bool = False
    users: Annotated[int, Field(ge=1)] = 8
    rate: Annotated[float, Field(gt=0)] | None = None
    # A ceiling on the request rate of the whole run (every process together), closed loop included.
    max_rate: Annotated[float, Field(gt=0)] | None = None
    arrival: Arrival = Arrival.CONSTANT
    duration_s: Annotated[float, Field(gt=0)] | None = 10.0
    requests: Annotated[int, Field(ge=1)] | None = None
    warmup_s: Annotated[float, Field(ge=0)] = 0.0
    workload: WorkloadSpec = WorkloadSpec()
    slos: dict[str, float] = Field(default_factory=dict)
    limits: LimitsConfig = LimitsConfig()
    # How a video task is polled until it ends (one request = one task: its create and its polls).
    task_polling: TaskPollingConfig = TaskPollingConfig()
    tokenizer: Literal["words", "chunks"] = "words"
    # --respect-retry-after: a 429/503 with Retry-After is waited out and sent again, at most max_retries
    # times, never waiting longer than max_retry_wait_s at once (llmconform.load.retry).
    respect_retry_after: bool = False
    max_retries: Annotated[int, Field(ge=0, le=10)] = 3
    max_retry_wait_s: Annotated[float, Field(gt=0)] = 30.0
    workers: Annotated[int, Field(ge=0)] = 0
    report_dir: str

    @field_validator("slos")
    @classmethod
    def _known_slos(cls, value: dict[str, float]) -> dict[str, float]:
        for name, limit in value.items():
            parse_slo(f"{name}={limit}")
        return value

    @model_validator(mode="after")
    def _bounded(self) -> LoadPlan:
        if self.duration_s is None and self.requests is None:
            raise ValueError("a load run needs --duration or --requests (or both) so that it ends")
        if self.rate is not None and self.max_rate is not None and self.rate > self.max_rate:
            raise ValueError(
                f"--rate {self.rate:g} is above --max-rate {self.max_rate:g}; lower --rate or raise --max-rate"
            )
        return self

    def budget(self) -> RunBudget:
        """The most this run can send: requests and tokens, where the plan bounds them (stated up front)."""
        total_s = (self.duration_s or 0.0) + self.warmup_s
        by_rate: int | None = None
        rate = self.rate if self.rate is not None else self.max_rate
        if rate is not None and self.duration_s is not None:
            # Slots are handed out strictly before the end, so rate * seconds is the ceiling.
            by_rate = math.ceil(rate * total_s)
        by_count: int | None = None
        if self.requests is not None:
            # --requests counts measured requests; a warm-up adds what it sends in its seconds.
            warmup = math.ceil(rate * self.warmup_s) if rate is not None else (0 if not self.warmup_s else None)
            by_count = self.requests + warmup if warmup is not None else None
        bounds = [bound for bound in (by_rate, by_count) if bound is not None]
        requests = min(bounds) if bounds else None
        per_request_out = _ceiling(self.workload.output_tokens)
        return RunBudget(
            requests=requests,
            output_tokens=requests * per_request_out if requests is not None else None,
            # A prompts file sets its own prompt lengths (and may set max_tokens per prompt).
            input_tokens_per_request=None if self.workload.prompts_file else _ceiling(self.workload.input_tokens),
            output_tokens_per_request=per_request_out,
            seconds=total_s if self.duration_s is not None else None,
        )

    @property
    def open_loop(self) -> bool:
        return self.rate is not None

    @property
    def load_model(self) -> str:
        """``closed(users=N)`` or ``open(rate=R/s, arrival=poisson)``: how the report names the load."""
        if self.rate is None:
            return f"closed(users={self.users})"
        return f"open(rate={self.rate:g}/s, arrival={self.arrival.value}, max_concurrency={self.users})"

    @property
    def process_count(self) -> int:
        """How many locust processes generate load (the master of a distributed run generates none)."""
        return max(self.workers, 1)
