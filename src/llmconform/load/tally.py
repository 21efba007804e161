"""Full-precision aggregation of request records: HdrHistograms per metric and operation, counts.

A Tally lives in every locust process. Workers ship theirs to the master as deltas (``drain``) and
the master merges them (``merge``): HdrHistogram addition is exact, so a distributed run reports the
same percentiles a single process would have. Values are recorded in microseconds with 3
significant digits over 1 us .. 1 h; mean, max and sums are kept exactly beside the histograms.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from hdrh.histogram import HdrHistogram

from llmconform.load.measure import TIMED_CLASSES, RequestRecord

__all__ = ["LATENCY_METRICS", "PERCENTILES", "MetricHistogram", "Tally"]

LATENCY_METRICS = ("ttft", "itl", "itl_per_token", "tpot", "e2e", "lag")
PERCENTILES: dict[str, float] = {"p50": 50.0, "p90": 90.0, "p95": 95.0, "p99": 99.0, "p999": 99.9}
_LOWEST_US = 1
_HIGHEST_US = 3_600_000_000
_DIGITS = 3
ALL = "all"


class MetricHistogram:
    """One metric's distribution: an HdrHistogram plus exact count, sum and max.

    Values are buffered as whole microseconds (value -> count) and recorded into the HdrHistogram, one
    ``record_value`` per distinct value, whenever the histogram is read (``histogram``, ``summary``,
    ``buckets``, ``merge``, ``to_wire``): HdrHistogram's record path is pure Python, and a stream
    records a dozen inter-token gaps per metric, most of them equal to the microsecond.
    """

    __slots__ = ("_histogram", "_pending", "count", "maximum", "overflow", "total")

    def __init__(self) -> None:
        self._histogram = HdrHistogram(_LOWEST_US, _HIGHEST_US, _DIGITS)
        self._pending: dict[int, int] = {}
        self.count = 0
        self.total = 0.0
        self.maximum = 0.0
        self.overflow = 0

    @property
    def histogram(self) -> HdrHistogram:
        """The HdrHistogram with every recorded value in it."""
        if self._pending:
            self._flush()
        return self._histogram

    def record(self, value_ms: float, count: int = 1) -> None:
        micros = max(round(value_ms * 1000), _LOWEST_US)
        pending = self._pending
        pending[micros] = pending.get(micros, 0) + count
        if micros > _HIGHEST_US:
            self.overflow += count
        self.count += count
        self.total += value_ms * count
        if value_ms > self.maximum:
            self.maximum = value_ms

    def record_many(self, values_ms: Iterable[tuple[float, int]] | Iterable[float]) -> None:
        """Record many values (or (value, count) pairs) in one call: a stream's inter-token gaps."""
        pending = self._pending
        count = self.count
        total = self.total
        maximum = self.maximum
        for item in values_ms:
            value_ms, weight = item if isinstance(item, tuple) else (item, 1)
            micros = round(value_ms * 1000)
            if micros < _LOWEST_US:
                micros = _LOWEST_US
            elif micros > _HIGHEST_US:
                self.overflow += weight
            pending[micros] = pending.get(micros, 0) + weight
            count += weight
            total += value_ms * weight
            if value_ms > maximum:
                maximum = value_ms
        self.count, self.total, self.maximum = count, total, maximum

    def _flush(self) -> None:
        for micros, count in self._pending.items():
            if not self._histogram.record_value(min(micros, _HIGHEST_US), count):
                self.overflow += count
        self._pending.clear()

    def merge(self, other: MetricHistogram) -> None:
        self.histogram.add(other.histogram)
        self.count += other.count
        self.total += other.total
        self.maximum = max(self.maximum, other.maximum)
        self.overflow += other.overflow

    def summary(self) -> dict[str, float | int]:
        """Percentiles, mean and max in milliseconds (empty when nothing was recorded)."""
        if self.count == 0:
            return {}
        # one pass over the counts for all the percentiles (the same values as get_value_at_percentile)
        values = self.histogram.get_percentile_to_value_dict(list(PERCENTILES.values()))
        result: dict[str, float | int] = {name: values[p] / 1000 for name, p in PERCENTILES.items()}
        result["mean"] = self.total / self.count
        result["max"] = self.maximum
        result["count"] = self.count
        return result

    def buckets(self, count: int = 40) -> list[list[float]]:
        """The distribution in ``count`` log-spaced bins: ``[[lower_ms, upper_ms, requests], ...]`` (for plots)."""
        if self.count == 0:
            return []
        values = [
            (item.value_iterated_to / 1000, int(item.count_added_in_this_iter_step))
            for item in self.histogram.get_recorded_iterator()
        ]
        low, high = max(values[0][0], 0.001), max(values[-1][0], 0.001)
        if high <= low:
            return [[low, high, sum(c for _, c in values)]]
        ratio = (high / low) ** (1 / count)
        edges = [low * ratio**i for i in range(count + 1)]
        edges[-1] = high
        bins = [0] * count
        for value, hits in values:
            index = 0 if value <= low else min(int(math.log(value / low) / math.log(ratio)), count - 1)
            bins[index] += hits
        return [[edges[i], edges[i + 1], bins[i]] for i in range(count)]

    def to_wire(self) -> dict[str, Any]:
        return {
            "h": self.histogram.encode().decode("ascii"),
            "n": self.count,
            "sum": self.total,
            "max": self.maximum,
            "over": self.overflow,
        }

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> MetricHistogram:
        metric = cls()
        metric._histogram.decode_and_add(data["h"].encode("ascii"))
        metric.count = int(data["n"])
        metric.total = float(data["sum"])
        metric.maximum = float(data["max"])
        metric.overflow = int(data.get("over", 0))
        return metric


# The additive fields of an OperationTally (merged by summing, shipped as they are).
_COUNTERS = (
    "total",
    "ok",
    "failed",
    "good",
    "output_tokens",
    "output_tokens_client",
    "prompt_tokens",
    "token_compared",
    "token_disagree",
    "token_abs_diff",
)


@dataclass(slots=True)
class OperationTally:
    """Counts and distributions of one operation (chat-stream, chat-unary, models) or of all of them."""

    total: int = 0
    ok: int = 0
    failed: int = 0
    good: int = 0
    output_tokens: int = 0
    output_tokens_client: int = 0
    prompt_tokens: int = 0
    token_compared: int = 0
    token_disagree: int = 0
    token_abs_diff: int = 0
    first_intended: float | None = None
    last_done: float | None = None
    metrics: dict[str, MetricHistogram] = field(default_factory=dict)

    def metric(self, name: str) -> MetricHistogram:
        if name not in self.metrics:
            self.metrics[name] = MetricHistogram()
        return self.metrics[name]

    def add(self, record: RequestRecord, *, with_lag: bool) -> None:
        self.total += 1
        done = record.intended_at + record.e2e_ms / 1000
        self.first_intended = (
            record.intended_at if self.first_intended is None else min(self.first_intended, record.intended_at)
        )
        self.last_done = done if self.last_done is None else max(self.last_done, done)
        if with_lag:
            self.metric("lag").record(record.lag_ms)
        if record.ok:
            self.ok += 1
            self.good += int(record.good)
        else:
            self.failed += 1
        if record.error_class not in TIMED_CLASSES:
            return  # no complete answer: nothing to time
        self.metric("e2e").record(record.e2e_ms)
        if record.ttft_ms is not None:
            self.metric("ttft").record(record.ttft_ms)
        if record.tpot_ms is not None:
            self.metric("tpot").record(record.tpot_ms)
        if record.itl_ms:
            self.metric("itl").record_many(record.itl_ms)
        if record.itl_token_ms:
            self.metric("itl_per_token").record_many(record.itl_token_ms)
        per_s = record.output_tokens_per_s
        if per_s is not None:
            self.metric("output_tokens_per_s").record(per_s)  # tokens/s stored on the ms scale
        self.output_tokens += record.output_tokens or 0
        self.output_tokens_client += record.output_tokens_client
        self.prompt_tokens += record.prompt_tokens or 0
        if record.output_tokens is not None:
            self.token_compared += 1
            self.token_disagree += int(record.tokens_disagree)
            self.token_abs_diff += abs(record.token_discrepancy or 0)

    def merge(self, other: OperationTally) -> None:
        for name in _COUNTERS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        if other.first_intended is not None:
            mine = self.first_intended
            self.first_intended = other.first_intended if mine is None else min(mine, other.first_intended)
        if other.last_done is not None:
            mine = self.last_done
            self.last_done = other.last_done if mine is None else max(mine, other.last_done)
        for name, metric in other.metrics.items():
            self.metric(name).merge(metric)

    def to_wire(self) -> dict[str, Any]:
        data: dict[str, Any] = {name: getattr(self, name) for name in (*_COUNTERS, "first_intended", "last_done")}
        data["metrics"] = {name: metric.to_wire() for name, metric in self.metrics.items()}
        return data

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> OperationTally:
        tally = cls(**{k: v for k, v in data.items() if k != "metrics"})
        tally.metrics = {name: MetricHistogram.from_wire(m) for name, m in data.get("metrics", {}).items()}
        return tally


@dataclass(slots=True)
class Tally:
    """Everything measured in one process (or merged from all): per operation and overall."""

    operations: dict[str, OperationTally] = field(default_factory=dict)
    warmup: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    violations: dict[str, int] = field(default_factory=dict)
    findings: list[dict[str, Any]] = field(default_factory=list)
    rules_judged: dict[str, int] = field(default_factory=dict)
    open_loop: bool = False
    max_findings_per_rule: int = 3
    # --respect-retry-after: measured requests sent again, by the status that asked for it, and the wait.
    retries: dict[str, int] = field(default_factory=dict)
    retry_wait_s: float = 0.0

    def operation(self, name: str) -> OperationTally:
        if name not in self.operations:
            self.operations[name] = OperationTally()
        return self.operations[name]

    def add(self, record: RequestRecord) -> None:
        """Count one record (warm-up records only as such)."""
        if record.warmup:
            self.warmup += 1
            return
        self.operation(ALL).add(record, with_lag=self.open_loop)
        self.operation(record.operation).add(record, with_lag=self.open_loop)
        if record.error_class is not None:
            self.errors[record.error_class] = self.errors.get(record.error_class, 0) + 1
        for rule in record.violations:
            self.violations[rule] = self.violations.get(rule, 0) + 1

    def retry(self, status: int | None, wait_s: float, *, warmup: bool) -> None:
        """Count one retry of a measured request (a warm-up request's retries are not measured)."""
        if warmup:
            return
        key = str(status)
        self.retries[key] = self.retries.get(key, 0) + 1
        self.retry_wait_s += wait_s

    def wants_finding(self, rule: str) -> bool:
        """True while fewer than ``max_findings_per_rule`` examples of ``rule`` are kept."""
        return sum(1 for f in self.findings if f["rule"] == rule) < self.max_findings_per_rule

    def add_finding(self, finding: dict[str, Any]) -> None:
        """Keep a few rendered findings per rule (the report shows examples; counts are in violations)."""
        if self.wants_finding(finding["rule"]):
            self.findings.append(finding)

    def judged(self, rule_ids: list[str]) -> None:
        for rule in rule_ids:
            self.rules_judged[rule] = self.rules_judged.get(rule, 0) + 1

    def merge(self, other: Tally) -> None:
        for name, tally in other.operations.items():
            self.operation(name).merge(tally)
        self.warmup += other.warmup
        self.retry_wait_s += other.retry_wait_s
        for source, target in (
            (other.errors, self.errors),
            (other.violations, self.violations),
            (other.retries, self.retries),
        ):
            for key, count in source.items():
                target[key] = target.get(key, 0) + count
        for rule, count in other.rules_judged.items():
            self.rules_judged[rule] = self.rules_judged.get(rule, 0) + count
        for finding in other.findings:
            self.add_finding(finding)

    def to_wire(self) -> dict[str, Any]:
        return {
            "operations": {name: t.to_wire() for name, t in self.operations.items()},
            "warmup": self.warmup,
            "errors": dict(self.errors),
            "violations": dict(self.violations),
            "findings": list(self.findings),
            "rules_judged": dict(self.rules_judged),
            "open_loop": self.open_loop,
            "retries": dict(self.retries),
            "retry_wait_s": self.retry_wait_s,
        }

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Tally:
        return cls(
            operations={name: OperationTally.from_wire(t) for name, t in data.get("operations", {}).items()},
            warmup=int(data.get("warmup", 0)),
            errors=dict(data.get("errors", {})),
            violations=dict(data.get("violations", {})),
            findings=list(data.get("findings", [])),
            rules_judged=dict(data.get("rules_judged", {})),
            open_loop=bool(data.get("open_loop", False)),
            retries=dict(data.get("retries", {})),
            retry_wait_s=float(data.get("retry_wait_s", 0.0)),
        )

    def drain(self) -> dict[str, Any]:
        """Return this tally as wire data and start afresh (workers ship deltas to the master)."""
        data = self.to_wire()
        self.operations = {}
        self.warmup = 0
        self.errors = {}
        self.violations = {}
        self.findings = []
        self.rules_judged = {}
        self.retries = {}
        self.retry_wait_s = 0.0
        return data

    @property
    def overall(self) -> OperationTally:
        return self.operation(ALL)
