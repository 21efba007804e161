"""The tally: HdrHistogram percentiles within 0.1%, exact mean/max/counts, exact merges of worker deltas."""

from __future__ import annotations

import json
import math
import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmconform.load.measure import RequestRecord
from llmconform.load.tally import ALL, LATENCY_METRICS, PERCENTILES, MetricHistogram, OperationTally, Tally

# HdrHistogram with 3 significant digits: a value's bucket is at most 1/1024 of it wide (<= 0.1%); values
# are recorded as whole microseconds, so half a microsecond of rounding comes on top.
RELATIVE_ERROR = 0.001
ROUNDING_MS = 0.0005


def record(
    *,
    operation: str = "chat-stream",
    e2e_ms: float = 100.0,
    ttft_ms: float | None = 20.0,
    tpot_ms: float | None = 5.0,
    itl_ms: list[float] | None = None,
    itl_token_ms: list[tuple[float, int]] | None = None,
    lag_ms: float = 0.0,
    error_class: str | None = None,
    warmup: bool = False,
    good: bool = True,
    output_tokens: int | None = 10,
    output_tokens_client: int = 10,
    prompt_tokens: int | None = 50,
    intended_at: float = 1_700_000_000.0,
    violations: list[str] | None = None,
) -> RequestRecord:
    return RequestRecord(
        operation=operation,
        family="chat",
        stream=True,
        intended_at=intended_at,
        lag_ms=lag_ms,
        status=200 if error_class is None else 500,
        error_class=error_class,
        e2e_ms=e2e_ms,
        ttft_ms=ttft_ms,
        tpot_ms=tpot_ms,
        itl_ms=list(itl_ms or []),
        itl_token_ms=list(itl_token_ms or []),
        output_tokens=output_tokens,
        output_tokens_client=output_tokens_client,
        prompt_tokens=prompt_tokens,
        violations=list(violations or []),
        warmup=warmup,
        good=good,
    )


def reference_percentile(ordered: list[float], percentile: float) -> float:
    """HdrHistogram's rank rule: the value at rank round(p/100 * n) (at least 1) of the sorted values."""
    rank = max(int(percentile * len(ordered) / 100 + 0.5), 1)
    return ordered[rank - 1]


def over_the_wire(tally: Tally) -> Tally:
    """What the master gets from a worker: the tally as wire data, through JSON, rebuilt."""
    return Tally.from_wire(json.loads(json.dumps(tally.to_wire())))


# --- MetricHistogram ------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_percentiles_match_a_sorted_reference_within_hdr_error(seed: int) -> None:
    rng = random.Random(seed)
    values = [rng.lognormvariate(math.log(200), 1.2) + 1.0 for _ in range(5000)]  # ms, 1 ms .. minutes
    metric = MetricHistogram()
    for value in values:
        metric.record(value)
    summary = metric.summary()
    ordered = sorted(values)
    for name, percentile in PERCENTILES.items():
        expected = reference_percentile(ordered, percentile)
        assert abs(summary[name] - expected) <= expected * RELATIVE_ERROR + ROUNDING_MS, name
    assert summary["count"] == len(values)
    assert summary["mean"] == pytest.approx(sum(values) / len(values), rel=1e-12)
    assert summary["max"] == max(values)  # exact, not the histogram's bucket edge


def test_weighted_records_count_once_per_token() -> None:
    metric = MetricHistogram()
    metric.record(10.0, 3)
    metric.record(40.0, 1)
    summary = metric.summary()
    assert summary["count"] == 4
    assert summary["mean"] == pytest.approx((10.0 * 3 + 40.0) / 4, rel=1e-12)
    assert summary["p50"] == pytest.approx(10.0, rel=RELATIVE_ERROR)
    assert summary["p99"] == pytest.approx(40.0, rel=RELATIVE_ERROR)
    assert summary["max"] == 40.0


def test_an_empty_metric_summarises_to_nothing() -> None:
    metric = MetricHistogram()
    assert metric.summary() == {}
    assert metric.buckets() == []


def test_values_beyond_an_hour_are_counted_as_overflow_with_the_exact_max() -> None:
    metric = MetricHistogram()
    metric.record(5.0)
    metric.record(2 * 3_600_000.0)  # two hours
    assert metric.overflow == 1
    assert metric.count == 2
    assert metric.maximum == 2 * 3_600_000.0
    assert metric.summary()["p999"] <= 3_600_000.0 * (1 + RELATIVE_ERROR)
    merged = MetricHistogram()
    merged.merge(MetricHistogram.from_wire(json.loads(json.dumps(metric.to_wire()))))
    assert (merged.overflow, merged.count, merged.maximum) == (1, 2, 2 * 3_600_000.0)


def test_sub_microsecond_values_are_recorded_at_the_lowest_value() -> None:
    metric = MetricHistogram()
    metric.record(0.0)
    metric.record(0.0001)
    assert metric.count == 2
    assert metric.summary()["p50"] == pytest.approx(0.001)
    assert metric.overflow == 0


@pytest.mark.parametrize("seed", [4, 5])
def test_buckets_sum_to_the_count(seed: int) -> None:
    rng = random.Random(seed)
    metric = MetricHistogram()
    for _ in range(2000):
        metric.record(rng.expovariate(1 / 80) + 0.5, rng.randint(1, 3))
    bins = metric.buckets(40)
    assert len(bins) == 40
    assert sum(hits for _, _, hits in bins) == metric.count
    assert all(low < high for low, high, _ in bins)
    assert all(bins[i][1] == pytest.approx(bins[i + 1][0]) for i in range(len(bins) - 1))


def test_buckets_of_a_single_value_are_one_bin_holding_the_count() -> None:
    metric = MetricHistogram()
    metric.record(12.0, 5)
    bins = metric.buckets()
    assert len(bins) == 1
    assert bins[0][2] == 5


def test_a_metric_survives_the_wire_exactly() -> None:
    rng = random.Random(7)
    metric = MetricHistogram()
    for _ in range(500):
        metric.record(rng.uniform(0.5, 5000.0))
    copy = MetricHistogram.from_wire(json.loads(json.dumps(metric.to_wire())))
    assert copy.summary() == metric.summary()
    assert copy.buckets() == metric.buckets()


# --- merging worker deltas ------------------------------------------------------------------------------

latencies = st.floats(min_value=0.001, max_value=200_000.0, allow_nan=False, allow_infinity=False)
records = st.builds(
    record,
    operation=st.sampled_from(["chat-stream", "chat-unary", "models"]),
    e2e_ms=latencies,
    ttft_ms=st.none() | latencies,
    tpot_ms=st.none() | latencies,
    itl_ms=st.lists(latencies, max_size=4),
    itl_token_ms=st.lists(st.tuples(latencies, st.integers(min_value=1, max_value=4)), max_size=4),
    lag_ms=st.floats(min_value=0.0, max_value=10_000.0, allow_nan=False),
    error_class=st.none() | st.sampled_from(["timeout", "http_5xx", "contract"]),
    warmup=st.booleans(),
    good=st.booleans(),
    output_tokens=st.none() | st.integers(min_value=0, max_value=500),
    output_tokens_client=st.integers(min_value=0, max_value=500),
    intended_at=st.floats(min_value=1_000.0, max_value=2_000.0),
    violations=st.lists(st.sampled_from(["rule_a", "rule_b"]), max_size=2, unique=True),
)


def comparable(tally: Tally) -> dict[str, Any]:
    """Everything a report reads from a tally; means separately (float sums depend on the order).

    Each histogram is compared whole (its encoded counts), so every percentile of every metric is equal
    when these are; the percentiles themselves are compared for the overall metrics (they are slow to
    compute on a 1 us .. 1 h histogram in pure Python).
    """
    operations: dict[str, Any] = {}
    for name, op in tally.operations.items():
        counts = op.to_wire()
        del counts["metrics"]
        metrics = {}
        for metric_name, metric in op.metrics.items():
            metrics[metric_name] = {
                "histogram": metric.histogram.encode(),
                "count": metric.count,
                "max": metric.maximum,
                "overflow": metric.overflow,
            }
            if name == ALL:
                summary = metric.summary()
                summary.pop("mean")
                metrics[metric_name]["summary"] = summary
        operations[name] = {**counts, "metrics": metrics}
    return {
        "operations": operations,
        "warmup": tally.warmup,
        "errors": tally.errors,
        "violations": tally.violations,
    }


def means(tally: Tally) -> dict[tuple[str, str], float]:
    return {
        (name, metric_name): metric.total / metric.count
        for name, op in tally.operations.items()
        for metric_name, metric in op.metrics.items()
    }


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(records, max_size=30), st.data(), st.booleans())
def test_merging_worker_tallies_equals_recording_in_one_tally(
    batch: list[RequestRecord], data: st.DataObject, open_loop: bool
) -> None:
    split = data.draw(st.integers(min_value=0, max_value=len(batch)))
    single = Tally(open_loop=open_loop)
    worker_a, worker_b = Tally(open_loop=open_loop), Tally(open_loop=open_loop)
    for position, item in enumerate(batch):
        single.add(item)
        (worker_a if position < split else worker_b).add(item)
    master = Tally(open_loop=open_loop)
    master.merge(over_the_wire(worker_a))
    master.merge(over_the_wire(worker_b))
    assert comparable(master) == comparable(single)
    single_means = means(single)
    assert means(master) == pytest.approx(single_means, rel=1e-12)


def test_merged_percentiles_equal_the_single_tally_on_a_large_random_run() -> None:
    rng = random.Random(11)
    single, master = Tally(open_loop=True), Tally(open_loop=True)
    workers = [Tally(open_loop=True) for _ in range(4)]
    for _ in range(2000):
        item = record(
            e2e_ms=rng.lognormvariate(5, 1),
            ttft_ms=rng.lognormvariate(3, 1),
            itl_ms=[rng.expovariate(0.1) for _ in range(3)],
            lag_ms=rng.expovariate(1.0),
        )
        single.add(item)
        rng.choice(workers).add(item)
    for worker in workers:
        master.merge(over_the_wire(worker))
    for metric in ("e2e", "ttft", "itl", "lag"):
        merged, alone = master.overall.metrics[metric].summary(), single.overall.metrics[metric].summary()
        for name in (*PERCENTILES, "count", "max"):
            assert merged[name] == alone[name], (metric, name)
        assert merged["mean"] == pytest.approx(alone["mean"], rel=1e-12)


# --- Tally.add ------------------------------------------------------------------------------------------


def test_records_count_per_operation_and_overall() -> None:
    tally = Tally()
    tally.add(record(operation="chat-stream", e2e_ms=100.0, itl_ms=[5.0, 7.0], itl_token_ms=[(2.5, 2), (7.0, 1)]))
    tally.add(record(operation="chat-unary", e2e_ms=300.0, ttft_ms=None, tpot_ms=None, good=False))
    tally.add(record(operation="chat-stream", e2e_ms=50.0, error_class="timeout", violations=["rule_a"]))
    overall = tally.overall
    assert (overall.total, overall.ok, overall.failed, overall.good) == (3, 2, 1, 1)
    assert tally.operations["chat-stream"].total == 2
    assert tally.operations["chat-unary"].total == 1
    assert overall.metrics["e2e"].count == 2  # failed requests make no latency samples
    assert overall.metrics["ttft"].count == 1
    assert overall.metrics["itl"].count == 2
    assert overall.metrics["itl_per_token"].count == 3  # weighted by tokens
    assert overall.metrics["e2e"].maximum == 300.0
    assert tally.errors == {"timeout": 1}
    assert tally.violations == {"rule_a": 1}
    assert overall.output_tokens == 20
    assert set(overall.metrics) <= {*LATENCY_METRICS, "output_tokens_per_s"}


def test_an_answer_that_broke_the_contract_is_timed_but_counted_as_failed() -> None:
    tally = Tally()
    tally.add(record(e2e_ms=120.0, ttft_ms=30.0, error_class="contract", good=False, violations=["usage_total_is_sum"]))
    overall = tally.overall
    assert (overall.total, overall.ok, overall.failed) == (1, 0, 1)
    assert overall.metrics["e2e"].count == overall.metrics["ttft"].count == 1
    assert overall.metrics["output_tokens_per_s"].count == 1
    assert overall.output_tokens == 10
    assert tally.errors == {"contract": 1}


def test_token_comparison_counts() -> None:
    tally = Tally()
    tally.add(record(output_tokens=10, output_tokens_client=10))
    tally.add(record(output_tokens=10, output_tokens_client=13))  # disagree by 3
    tally.add(record(output_tokens=None, output_tokens_client=7))  # nothing to compare
    overall = tally.overall
    assert overall.token_compared == 2
    assert overall.token_disagree == 1
    assert overall.token_abs_diff == 3
    assert overall.output_tokens == 20
    assert overall.output_tokens_client == 30


def test_first_intended_and_last_done_bound_the_measured_window() -> None:
    tally = Tally()
    tally.add(record(intended_at=1000.0, e2e_ms=500.0))
    tally.add(record(intended_at=1000.2, e2e_ms=100.0))
    tally.add(record(intended_at=999.0, e2e_ms=100.0, error_class="timeout"))
    assert tally.overall.first_intended == 999.0
    assert tally.overall.last_done == pytest.approx(1000.5)


def test_warmup_records_are_counted_but_not_measured() -> None:
    tally = Tally(open_loop=True)
    tally.add(record(warmup=True, error_class="timeout", violations=["rule_a"], lag_ms=9.0))
    tally.add(record(warmup=True))
    assert tally.warmup == 2
    assert tally.operations == {}
    assert tally.errors == {}
    assert tally.violations == {}
    tally.add(record(e2e_ms=42.0))
    assert tally.overall.total == 1
    assert tally.overall.metrics["e2e"].count == 1
    assert tally.overall.metrics["lag"].count == 1


def test_lag_is_recorded_only_in_an_open_loop_and_for_failed_requests_too() -> None:
    closed, opened = Tally(open_loop=False), Tally(open_loop=True)
    for tally in (closed, opened):
        tally.add(record(lag_ms=12.0))
        tally.add(record(lag_ms=30.0, error_class="http_5xx"))
    assert "lag" not in closed.overall.metrics
    lag = opened.overall.metrics["lag"]
    assert lag.count == 2
    assert lag.maximum == 30.0
    assert lag.summary()["mean"] == pytest.approx(21.0, rel=1e-12)


def test_output_token_rate_is_recorded_per_successful_request() -> None:
    tally = Tally()
    tally.add(record(e2e_ms=500.0, output_tokens=100))
    rate = tally.overall.metrics["output_tokens_per_s"]
    assert rate.count == 1
    assert rate.maximum == pytest.approx(200.0, rel=1e-12)


# --- drain ----------------------------------------------------------------------------------------------


def test_drain_returns_the_delta_and_starts_afresh() -> None:
    tally = Tally(open_loop=True)
    tally.add(record(e2e_ms=10.0, violations=["rule_a"]))
    tally.add(record(warmup=True))
    tally.add(record(error_class="timeout"))
    tally.judged(["rule_a", "rule_b"])
    tally.add_finding({"rule": "rule_a", "message": "m"})
    first = Tally.from_wire(tally.drain())
    assert first.overall.total == 2
    assert first.warmup == 1
    assert first.errors == {"timeout": 1}
    assert first.violations == {"rule_a": 1}
    assert first.rules_judged == {"rule_a": 1, "rule_b": 1}
    assert len(first.findings) == 1
    assert first.open_loop
    assert (tally.operations, tally.warmup, tally.errors, tally.violations) == ({}, 0, {}, {})
    assert (tally.findings, tally.rules_judged) == ([], {})
    assert tally.open_loop  # the loop kind outlives a drain
    tally.add(record(e2e_ms=20.0))
    second = Tally.from_wire(tally.drain())
    assert second.overall.total == 1
    assert second.overall.metrics["e2e"].maximum == 20.0
    assert second.errors == {}
    master = Tally(open_loop=True)
    master.merge(first)
    master.merge(second)
    assert master.overall.total == 3
    assert master.overall.metrics["e2e"].count == 2


def test_findings_are_capped_per_rule_across_merges() -> None:
    a, b = Tally(max_findings_per_rule=2), Tally()
    for _ in range(3):
        a.add_finding({"rule": "rule_a"})
        b.add_finding({"rule": "rule_a"})
    b.add_finding({"rule": "rule_b"})
    a.merge(over_the_wire(b))
    assert [f["rule"] for f in a.findings] == ["rule_a", "rule_a", "rule_b"]


def test_an_operation_tally_survives_the_wire() -> None:
    op = OperationTally()
    op.add(record(e2e_ms=70.0, itl_ms=[1.0, 2.0]), with_lag=True)
    copy = OperationTally.from_wire(json.loads(json.dumps(op.to_wire())))
    assert copy.to_wire() == op.to_wire()
    assert ALL == "all"
