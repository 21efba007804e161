"""The thresholds file (``gates.toml``): a typed model of every gate, and its loader.

Read with the standard library's ``tomllib`` and validated by pydantic. Every mistake, from a TOML syntax
error to an unknown key or an unknown rule id, becomes one :class:`GateConfigError` whose message names
the file, the key and the fix; an unknown key is an error so that a typo cannot silently disable a gate.
"""

from __future__ import annotations

import datetime
import difflib
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from llmconform.checks import REGISTRY

__all__ = [
    "LATENCY_METRICS",
    "PERCENTILES",
    "REGRESSION_LATENCY_METRICS",
    "REGRESSION_THROUGHPUT_METRICS",
    "ConformanceGate",
    "ErrorsGate",
    "GateConfig",
    "GateConfigError",
    "LatencyGate",
    "RegressionGate",
    "RegressionMetric",
    "ThroughputGate",
    "Waiver",
    "load_config",
    "parse_config",
]

Level = Literal["error", "warning"]
Override = Literal["error", "warning", "ignore"]
LatencyMetric = Literal["ttft", "itl", "itl_per_token", "tpot", "e2e"]
Percentile = Literal["p50", "p90", "p95", "p99", "p999", "mean", "max"]

LATENCY_METRICS: tuple[str, ...] = ("ttft", "itl", "itl_per_token", "tpot", "e2e")
PERCENTILES: tuple[str, ...] = ("p50", "p90", "p95", "p99", "p999", "mean", "max")
# What requests.csv holds per request: itl is each request's mean chunk gap (itl_mean_ms); the pooled
# per-token ITL (itl_per_token) is not in the CSV, so it cannot be compared request by request.
REGRESSION_LATENCY_METRICS: tuple[str, ...] = ("ttft", "itl", "tpot", "e2e")
REGRESSION_THROUGHPUT_METRICS: tuple[str, ...] = (
    "requests_per_s",
    "ok_requests_per_s",
    "output_tokens_per_s",
    "goodput_requests_per_s",
)


class GateConfigError(Exception):
    """The thresholds file, a report directory or the gate's arguments are unusable (exit code 2)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _close(word: str, choices: Iterable[str]) -> str:
    """' Did you mean 'x' or 'y'?' for the nearest choices, or '' when nothing is close."""
    matches = difflib.get_close_matches(word, list(choices), n=3, cutoff=0.6)
    if not matches:
        return ""
    return " Did you mean " + " or ".join(repr(m) for m in matches) + "?"


def _known_rule(rule: str, where: str) -> str:
    if rule not in REGISTRY.rules:
        raise ValueError(
            f"unknown rule id {rule!r} in {where}.{_close(rule, REGISTRY.rules)} "
            "`llmconform check` lists every rule in conformance.json's 'rules' (docs/rules.md documents them)"
        )
    return rule


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Waiver(_Section):
    """One rule whose findings do not fail the gate until the waiver expires."""

    rule: str
    reason: str = Field(min_length=1)
    expires: datetime.date

    @field_validator("rule")
    @classmethod
    def _rule_known(cls, rule: str) -> str:
        return _known_rule(rule, "the waiver")

    @field_validator("expires", mode="before")
    @classmethod
    def _toml_date(cls, value: object) -> object:
        if isinstance(value, datetime.datetime) or not isinstance(value, datetime.date):
            raise ValueError(f"expires must be a TOML date without quotes, like expires = 2026-12-31 (got {value!r})")
        return value

    def expired(self, today: datetime.date) -> bool:
        """A waiver holds up to and including its ``expires`` day."""
        return today > self.expires


class ConformanceGate(_Section):
    """``[conformance]``: which findings of conformance.json fail the gate."""

    fail_on: Level = "error"
    severity: dict[str, Override] = Field(default_factory=dict)
    waivers: list[Waiver] = Field(default_factory=list)

    @field_validator("severity")
    @classmethod
    def _rules_known(cls, severity: dict[str, Override]) -> dict[str, Override]:
        for rule in severity:
            _known_rule(rule, "[conformance.severity]")
        return severity

    @field_validator("waivers")
    @classmethod
    def _one_waiver_per_rule(cls, waivers: list[Waiver]) -> list[Waiver]:
        seen: set[str] = set()
        for waiver in waivers:
            if waiver.rule in seen:
                raise ValueError(f"rule {waiver.rule!r} is waived twice; keep one [[conformance.waivers]] entry")
            seen.add(waiver.rule)
        return waivers

    def waiver(self, rule: str) -> Waiver | None:
        return next((w for w in self.waivers if w.rule == rule), None)


class LatencyGate(_Section):
    """One ``[[latency]]`` entry: a latency statistic of load.json must not exceed ``max_ms``."""

    metric: LatencyMetric
    percentile: Percentile
    max_ms: float = Field(gt=0)
    operation: str | None = None
    scenario: str | None = None

    @property
    def name(self) -> str:
        where = f"[{self.operation}]" if self.operation else ""
        return f"latency.{self.metric}.{self.percentile}{where}"


class ThroughputGate(_Section):
    """``[throughput]``: lower bounds on load.json's throughput."""

    min_requests_per_s: float | None = Field(default=None, ge=0)
    min_output_tokens_per_s: float | None = Field(default=None, ge=0)
    min_goodput_requests_per_s: float | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _something_set(self) -> ThroughputGate:
        if not self.model_fields_set:
            raise ValueError(
                "[throughput] sets no limit; add min_requests_per_s, min_output_tokens_per_s or "
                "min_goodput_requests_per_s, or remove the section"
            )
        return self

    def limits(self) -> dict[str, float]:
        """load.json throughput key -> minimum, for the limits that are set."""
        pairs = {
            "requests_per_s": self.min_requests_per_s,
            "output_tokens_per_s": self.min_output_tokens_per_s,
            "goodput_requests_per_s": self.min_goodput_requests_per_s,
        }
        return {key: value for key, value in pairs.items() if value is not None}


class ErrorsGate(_Section):
    """``[errors]``: upper bounds on the share of failed requests and of requests that broke a rule."""

    max_error_rate: float | None = Field(default=None, ge=0, le=1)
    max_violation_rate: float | None = Field(default=None, ge=0, le=1)

    @model_validator(mode="after")
    def _something_set(self) -> ErrorsGate:
        if not self.model_fields_set:
            raise ValueError("[errors] sets no limit; add max_error_rate or max_violation_rate, or remove the section")
        return self


@dataclass(frozen=True, slots=True)
class RegressionMetric:
    """One compared statistic: ``ttft.p95`` (kind latency) or ``throughput.output_tokens_per_s``."""

    name: str
    kind: Literal["latency", "throughput"]
    metric: str
    statistic: str

    @classmethod
    def parse(cls, name: str) -> RegressionMetric:
        head, _, tail = name.partition(".")
        if head == "throughput":
            if tail not in REGRESSION_THROUGHPUT_METRICS:
                choices = [f"throughput.{m}" for m in REGRESSION_THROUGHPUT_METRICS]
                raise ValueError(f"unknown metric {name!r}.{_close(name, choices)} Throughput metrics: {choices}")
            return cls(name, "throughput", tail, tail)
        if head == "itl_per_token":
            raise ValueError(
                f"{name!r} cannot be compared: requests.csv holds each request's mean chunk gap, not its per-token "
                "gaps; use 'itl.<stat>' (the per-request mean ITL) or 'tpot.<stat>'"
            )
        if head in REGRESSION_LATENCY_METRICS and tail in PERCENTILES:
            return cls(name, "latency", head, tail)
        choices = [f"{m}.{p}" for m in REGRESSION_LATENCY_METRICS for p in PERCENTILES]
        choices += [f"throughput.{m}" for m in REGRESSION_THROUGHPUT_METRICS]
        raise ValueError(
            f"unknown metric {name!r}.{_close(name, choices)} Write METRIC.STAT with METRIC one of "
            f"{', '.join(REGRESSION_LATENCY_METRICS)} and STAT one of {', '.join(PERCENTILES)}, or "
            f"throughput.{{{','.join(REGRESSION_THROUGHPUT_METRICS)}}}"
        )


class RegressionGate(_Section):
    """``[regression]``: compare this run's requests.csv with a baseline run's, with bootstrap intervals."""

    metrics: list[str] = Field(min_length=1)
    tolerance: float = Field(default=0.10, ge=0, le=10)
    confidence: float = Field(default=0.95, ge=0.5, lt=1)
    resamples: int = Field(default=2000, ge=100, le=100_000)
    seed: int = 0
    operation: str | None = None

    @field_validator("metrics")
    @classmethod
    def _metrics_known(cls, metrics: list[str]) -> list[str]:
        for name in metrics:
            RegressionMetric.parse(name)
        if len(set(metrics)) != len(metrics):
            raise ValueError("a metric is listed twice; list each once")
        return metrics

    def parsed_metrics(self) -> list[RegressionMetric]:
        return [RegressionMetric.parse(name) for name in self.metrics]


class GateConfig(_Section):
    """The whole thresholds file; every section is optional, but at least one must be present."""

    conformance: ConformanceGate | None = None
    latency: list[LatencyGate] = Field(default_factory=list)
    throughput: ThroughputGate | None = None
    errors: ErrorsGate | None = None
    regression: RegressionGate | None = None

    @model_validator(mode="after")
    def _something_set(self) -> GateConfig:
        if not self.model_fields_set:
            raise ValueError(
                "the file sets no gate; add at least one of [conformance], [[latency]], [throughput], [errors], "
                "[regression] (see gates.toml at the repository root for a commented example)"
            )
        return self

    @property
    def needs_load(self) -> bool:
        return bool(self.latency) or self.throughput is not None or self.errors is not None


# -- loading ------------------------------------------------------------------------------------------------


def _key(loc: tuple[int | str, ...]) -> str:
    """pydantic's error location as a TOML key path: ``latency[1].percentile``."""
    key = ""
    for part in loc:
        if isinstance(part, int):
            key += f"[{part}]"
        else:
            key += f".{part}" if key else part
    return key or "(top level)"


_FIELDS: dict[str, type[BaseModel]] = {
    "": GateConfig,
    "conformance": ConformanceGate,
    "waivers": Waiver,
    "latency": LatencyGate,
    "throughput": ThroughputGate,
    "errors": ErrorsGate,
    "regression": RegressionGate,
}


def _model_at(loc: tuple[int | str, ...]) -> type[BaseModel]:
    """The section model whose fields an unknown key at ``loc`` sits among."""
    names = [p for p in loc[:-1] if isinstance(p, str)]
    return _FIELDS.get(names[-1] if names else "", GateConfig)


_SHOW_INPUT = frozenset({"literal_error", "greater_than", "greater_than_equal", "less_than", "less_than_equal"})


def _explain(error: Any) -> str:
    loc: tuple[int | str, ...] = tuple(error["loc"])
    key = _key(loc)
    kind = error["type"]
    if kind == "extra_forbidden":
        name = str(loc[-1]) if loc else ""
        fields = list(_model_at(loc).model_fields)
        hint = _close(name, fields) or f" Known keys here: {', '.join(fields)}."
        return f"{key}: unknown key.{hint}"
    if kind == "missing":
        return f"{key}: required key is missing; add it"
    message = str(error["msg"]).removeprefix("Value error, ")
    got = error.get("input")
    if kind in _SHOW_INPUT or kind.endswith(("_type", "_parsing")):
        message = f"{message} (got {got!r})"
    return f"{key}: {message}"


def parse_config(data: dict[str, Any], source: str = "<thresholds>") -> GateConfig:
    """Validate an already-parsed TOML document; ``source`` names it in error messages."""
    try:
        return GateConfig.model_validate(data)
    except ValidationError as error:
        problems = [_explain(e) for e in error.errors()]
        lines = "\n".join(f"  - {p}" for p in problems)
        raise GateConfigError(f"{source}: invalid thresholds file:\n{lines}") from None


def load_config(path: Path) -> GateConfig:
    """Read and validate a thresholds file."""
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise GateConfigError(
            f"{path}: thresholds file not found; pass --thresholds FILE (gates.toml at the repository root is an "
            "example)"
        ) from None
    except (OSError, UnicodeDecodeError) as error:
        raise GateConfigError(f"{path}: cannot read the thresholds file: {error}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise GateConfigError(
            f"{path}: not valid TOML: {error}. Check quotes, brackets and that each key is set once"
        ) from None
    return parse_config(data, str(path))
