"""The regression statistics: seeded synthetic runs with known effects.

Noise (two draws of one distribution) must almost never look like a regression; a real 20% slowdown or a
20% throughput drop must be caught; a handful of samples gives an interval too wide to fail anything.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from llmconform.gate.bootstrap import (
    MIN_SAMPLES,
    compute_statistic,
    rate_windows,
    relative_change,
    relative_rate_change,
)

TOLERANCE = 0.10


def latencies(seed: int, n: int, scale: float = 1.0, sigma: float = 0.25) -> np.ndarray:
    """n TTFT-like latencies (ms): lognormal around 60 ms, times ``scale``."""
    return 60.0 * scale * np.random.default_rng(seed).lognormal(0.0, sigma, n)


def poisson_run(seed: int, rate: float, seconds: float) -> tuple[np.ndarray, np.ndarray]:
    """Completion times of a Poisson stream of requests, 64 output tokens each: rate_windows' input."""
    rng = np.random.default_rng(seed)
    done = np.cumsum(rng.exponential(1 / rate, int(rate * seconds * 1.5)))
    done = done[done < seconds]
    return rate_windows(1000.0 + done, np.full(len(done), 64.0), 1000.0)


def test_statistics_match_numpy() -> None:
    values = np.arange(1.0, 101.0)
    assert compute_statistic(values, "p50") == pytest.approx(50.5)
    assert compute_statistic(values, "p99") == pytest.approx(np.percentile(values, 99))
    assert compute_statistic(values, "p999") == pytest.approx(np.percentile(values, 99.9))
    assert compute_statistic(values, "mean") == pytest.approx(50.5)
    assert compute_statistic(values, "max") == 100.0
    with pytest.raises(ValueError, match="unknown statistic"):
        compute_statistic(values, "p42")


def test_same_seed_same_interval() -> None:
    old, new = latencies(1, 300), latencies(2, 300)
    first = relative_change(old, new, "p95", seed=7)
    assert first == relative_change(old, new, "p95", seed=7)
    assert first.low <= first.change <= first.high
    assert first.n_old == first.n_new == 300 and first.resamples == 2000


def test_noise_almost_never_flags_a_regression() -> None:
    """100 seeded pairs of runs from one distribution: no false alarm at 10% tolerance, and with no tolerance at
    all the upper-tail miss rate of a 95% interval stays near its nominal 2.5%."""
    beyond_tolerance = beyond_zero = 0
    for seed in range(100):
        old, new = latencies(2 * seed, 400), latencies(2 * seed + 1, 400)
        interval = relative_change(old, new, "p95", resamples=500, seed=seed)
        beyond_tolerance += interval.regressed(TOLERANCE, higher_is_worse=True)
        beyond_zero += interval.regressed(0.0, higher_is_worse=True)
    assert beyond_tolerance <= 5  # measured: 0 of 100
    assert beyond_zero <= 8  # measured: 0 of 100 (nominal 2.5)


@pytest.mark.parametrize("statistic", ["p50", "mean"])
def test_twenty_percent_slowdown_is_caught(statistic: str) -> None:
    caught = 0
    for seed in range(20):
        old, new = latencies(2 * seed, 1000), latencies(2 * seed + 1, 1000, scale=1.2)
        interval = relative_change(old, new, statistic, seed=seed)
        assert interval.change == pytest.approx(0.2, abs=0.05)
        caught += interval.regressed(TOLERANCE, higher_is_worse=True)
    assert caught >= 19  # measured: 20 of 20


def test_a_speedup_is_never_a_latency_regression() -> None:
    interval = relative_change(latencies(1, 500), latencies(2, 500, scale=0.7), "p50")
    assert interval.high < 0
    assert not interval.regressed(TOLERANCE, higher_is_worse=True)


def test_a_slowdown_within_tolerance_passes() -> None:
    interval = relative_change(latencies(1, 2000), latencies(2, 2000, scale=1.03), "p50")
    assert not interval.regressed(TOLERANCE, higher_is_worse=True)


def test_small_samples_give_wide_intervals_and_pass() -> None:
    """With 20 requests per run the p95's interval is wider than +-10%, so noise does not fail the gate."""
    passed = 0
    for seed in range(20):
        interval = relative_change(latencies(2 * seed, 20), latencies(2 * seed + 1, 20), "p95", seed=seed)
        assert interval.high - interval.low > 0.2
        passed += not interval.regressed(TOLERANCE, higher_is_worse=True)
    assert passed >= 19  # measured: 20 of 20


def test_too_few_samples_is_an_infinite_interval() -> None:
    interval = relative_change(latencies(1, MIN_SAMPLES - 1), latencies(2, 50, scale=3.0), "p50")
    assert interval.too_few and interval.low == -math.inf and interval.high == math.inf
    assert not interval.regressed(TOLERANCE, higher_is_worse=True)
    assert interval.to_json()["low"] is None
    assert interval.change > 1


def test_empty_or_zero_baseline_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one sample"):
        relative_change(np.zeros(0), latencies(1, 10), "p50")
    with pytest.raises(ValueError, match="undefined"):
        relative_change(np.zeros(10), latencies(1, 10), "p50")


def test_rate_windows_cover_the_run() -> None:
    totals, lengths = rate_windows(np.array([10.2, 10.9, 11.5, 12.25]), np.array([1.0, 1.0, 2.0, 1.0]), 10.0)
    assert totals.tolist() == [2.0, 2.0, 1.0]
    assert lengths.tolist() == pytest.approx([1.0, 1.0, 0.25])
    assert totals.sum() / lengths.sum() == pytest.approx(5 / 2.25)


def test_twenty_percent_throughput_drop_is_caught() -> None:
    caught = 0
    for seed in range(20):
        old, new = poisson_run(2 * seed, 20.0, 300.0), poisson_run(2 * seed + 1, 16.0, 300.0)
        interval = relative_rate_change(old, new, "throughput.output_tokens_per_s", seed=seed)
        assert interval.change == pytest.approx(-0.2, abs=0.07)
        caught += interval.regressed(TOLERANCE, higher_is_worse=False)
    assert caught >= 19  # measured: 20 of 20


def test_throughput_noise_passes() -> None:
    alarms = 0
    for seed in range(50):
        old, new = poisson_run(2 * seed, 20.0, 60.0), poisson_run(2 * seed + 1, 20.0, 60.0)
        interval = relative_rate_change(old, new, "throughput.requests_per_s", resamples=500, seed=seed)
        alarms += interval.regressed(TOLERANCE, higher_is_worse=False)
    assert alarms <= 2  # measured: 0 of 50


def test_short_runs_cannot_fail_throughput() -> None:
    """A 4-second run has 4 windows: too few to judge, whatever the drop."""
    interval = relative_rate_change(poisson_run(1, 20.0, 4.0), poisson_run(2, 5.0, 4.0), "throughput.requests_per_s")
    assert interval.too_few
    assert not interval.regressed(TOLERANCE, higher_is_worse=False)
