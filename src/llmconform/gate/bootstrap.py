"""Bootstrap confidence intervals of the relative change between a baseline run and a new run.

The method is the two-sample percentile bootstrap (Efron & Tibshirani, *An Introduction to the
Bootstrap*, ch. 13): each run's samples are resampled with replacement, independently, ``resamples``
times; the statistic (a percentile, the mean or the max) is computed on each resample, and the
``(1 - confidence) / 2`` and ``(1 + confidence) / 2`` quantiles of ``new* / old* - 1`` bound the
interval. scipy.stats.bootstrap does the one-sample case but scipy is not a dependency, so this is
numpy only. BCa is not used: its jackknife costs one statistic per left-out request, which for a
percentile of tens of thousands of requests is far more than the resampling itself.

Latency samples are per-request values (TTFT, E2E, TPOT, the request's mean chunk gap). Throughput is a
rate, and resampling single requests would keep their count, and so the rate, fixed; it is therefore
resampled by time window: the run is cut into ``window_s`` windows by completion time, each window
contributes (its amount, its length), and a resample's rate is the sum of amounts over the sum of
lengths. A regression is declared only when the *whole* interval lies beyond the tolerance in the bad
direction (above ``+tolerance`` for latency, below ``-tolerance`` for throughput): noise, or too few
samples to tell, never fails a release, while a real slowdown larger than the tolerance does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = [
    "MIN_SAMPLES",
    "WINDOW_S",
    "Interval",
    "compute_statistic",
    "rate_windows",
    "relative_change",
    "relative_rate_change",
]

Floats = npt.NDArray[np.float64]
MIN_SAMPLES = 5
WINDOW_S = 1.0
# Resampled values held in memory at once (rows x samples), so 2000 resamples of 10^6 requests stay bounded.
_CHUNK_ELEMENTS = 4_000_000
_QUANTILES = {"p50": 50.0, "p90": 90.0, "p95": 95.0, "p99": 99.0, "p999": 99.9}


@dataclass(frozen=True, slots=True)
class Interval:
    """The relative change ``new / old - 1`` of a statistic, with its bootstrap confidence interval.

    ``low`` and ``high`` are ``-inf`` and ``inf`` when either run has fewer than MIN_SAMPLES samples
    (``too_few`` is then True): such an interval can show no regression.
    """

    statistic: str
    old: float
    new: float
    change: float
    low: float
    high: float
    confidence: float
    resamples: int
    n_old: int
    n_new: int

    @property
    def too_few(self) -> bool:
        return math.isinf(self.low) and math.isinf(self.high)

    def regressed(self, tolerance: float, *, higher_is_worse: bool) -> bool:
        """True when the whole interval lies beyond ``tolerance`` in the bad direction."""
        if higher_is_worse:
            return self.low > tolerance
        return self.high < -tolerance

    def to_json(self) -> dict[str, object]:
        def finite(x: float) -> float | None:
            return x if math.isfinite(x) else None

        return {
            "statistic": self.statistic,
            "baseline": finite(self.old),
            "current": finite(self.new),
            "change": finite(self.change),
            "low": finite(self.low),
            "high": finite(self.high),
            "confidence": self.confidence,
            "resamples": self.resamples,
            "n_baseline": self.n_old,
            "n_current": self.n_new,
        }


def compute_statistic(values: Floats, statistic: str) -> float:
    """p50/p90/p95/p99/p999 (linear interpolation), mean or max of a non-empty sample."""
    return float(_rowwise(values[np.newaxis, :], statistic)[0])


def _rowwise(matrix: Floats, statistic: str) -> Floats:
    if statistic == "mean":
        return np.asarray(matrix.mean(axis=1), dtype=np.float64)
    if statistic == "max":
        return np.asarray(matrix.max(axis=1), dtype=np.float64)
    try:
        q = _QUANTILES[statistic]
    except KeyError:
        raise ValueError(f"unknown statistic {statistic!r}; use one of {[*_QUANTILES, 'mean', 'max']}") from None
    return np.percentile(matrix, q, axis=1)


def _resampled(values: Floats, statistic: str, resamples: int, rng: np.random.Generator) -> Floats:
    """The statistic of ``resamples`` resamples (with replacement) of ``values``."""
    n = len(values)
    rows = max(1, _CHUNK_ELEMENTS // n)
    out = np.empty(resamples, dtype=np.float64)
    for start in range(0, resamples, rows):
        count = min(rows, resamples - start)
        index = rng.integers(0, n, size=(count, n))
        out[start : start + count] = _rowwise(values[index], statistic)
    return out


def _interval(ratios: Floats, confidence: float) -> tuple[float, float]:
    alpha = (1 - confidence) / 2
    low, high = np.quantile(ratios, [alpha, 1 - alpha])
    return float(low), float(high)


def _too_few(
    statistic: str, old: float, new: float, confidence: float, resamples: int, n_old: int, n_new: int
) -> Interval:
    change = new / old - 1 if old > 0 else math.nan
    return Interval(statistic, old, new, change, -math.inf, math.inf, confidence, resamples, n_old, n_new)


def relative_change(
    old: Floats,
    new: Floats,
    statistic: str,
    *,
    confidence: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
) -> Interval:
    """The change of a latency statistic from ``old`` to ``new`` samples, with its percentile-bootstrap CI.

    Raises ValueError when either sample is empty or the baseline's statistic is not positive.
    """
    old = np.asarray(old, dtype=np.float64)
    new = np.asarray(new, dtype=np.float64)
    if len(old) == 0 or len(new) == 0:
        raise ValueError("both runs need at least one sample")
    old_value = compute_statistic(old, statistic)
    new_value = compute_statistic(new, statistic)
    if old_value <= 0:
        raise ValueError(f"the baseline's {statistic} is {old_value}, so a relative change is undefined")
    if min(len(old), len(new)) < MIN_SAMPLES:
        return _too_few(statistic, old_value, new_value, confidence, resamples, len(old), len(new))
    rng = np.random.default_rng(seed)
    old_stats = _resampled(old, statistic, resamples, rng)
    new_stats = _resampled(new, statistic, resamples, rng)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = np.where(old_stats > 0, new_stats / old_stats - 1, np.inf)
    low, high = _interval(ratios, confidence)
    return Interval(
        statistic, old_value, new_value, new_value / old_value - 1, low, high, confidence, resamples, len(old), len(new)
    )


def rate_windows(done_at: Floats, amounts: Floats, start: float, window_s: float = WINDOW_S) -> tuple[Floats, Floats]:
    """Cut a run into ``window_s`` windows by completion time: (amount per window, window length in s).

    The run spans ``start`` (its first send time) to its last completion, as load.json's duration_s; the
    last window is as long as what remains of the run.
    """
    done_at = np.asarray(done_at, dtype=np.float64)
    amounts = np.asarray(amounts, dtype=np.float64)
    if len(done_at) == 0:
        return np.zeros(0), np.zeros(0)
    span = max(float(done_at.max()) - start, 0.0)
    count = max(1, math.ceil(span / window_s))
    index = np.clip(((done_at - start) // window_s).astype(np.int64), 0, count - 1)
    totals = np.bincount(index, weights=amounts, minlength=count).astype(np.float64)
    lengths = np.full(count, window_s, dtype=np.float64)
    lengths[-1] = max(span - window_s * (count - 1), 1e-9)
    return totals, lengths


def _resampled_rates(totals: Floats, lengths: Floats, resamples: int, rng: np.random.Generator) -> Floats:
    n = len(totals)
    rows = max(1, _CHUNK_ELEMENTS // n)
    out = np.empty(resamples, dtype=np.float64)
    for start in range(0, resamples, rows):
        count = min(rows, resamples - start)
        index = rng.integers(0, n, size=(count, n))
        out[start : start + count] = totals[index].sum(axis=1) / lengths[index].sum(axis=1)
    return out


def relative_rate_change(
    old: tuple[Floats, Floats],
    new: tuple[Floats, Floats],
    statistic: str,
    *,
    confidence: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
) -> Interval:
    """The change of a rate (per second) between two runs given as ``rate_windows`` output, with its CI.

    Raises ValueError when either run has no window or the baseline's rate is 0.
    """
    (old_totals, old_lengths), (new_totals, new_lengths) = old, new
    if len(old_totals) == 0 or len(new_totals) == 0:
        raise ValueError("both runs need at least one completed request")
    old_value = float(old_totals.sum() / old_lengths.sum())
    new_value = float(new_totals.sum() / new_lengths.sum())
    if old_value <= 0:
        raise ValueError(f"the baseline's {statistic} is 0, so a relative change is undefined")
    if min(len(old_totals), len(new_totals)) < MIN_SAMPLES:
        return _too_few(statistic, old_value, new_value, confidence, resamples, len(old_totals), len(new_totals))
    rng = np.random.default_rng(seed)
    old_rates = _resampled_rates(old_totals, old_lengths, resamples, rng)
    new_rates = _resampled_rates(new_totals, new_lengths, resamples, rng)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = np.where(old_rates > 0, new_rates / old_rates - 1, np.inf)
    low, high = _interval(ratios, confidence)
    return Interval(
        statistic,
        old_value,
        new_value,
        new_value / old_value - 1,
        low,
        high,
        confidence,
        resamples,
        len(old_totals),
        len(new_totals),
    )
