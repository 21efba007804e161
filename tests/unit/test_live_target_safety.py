"""A live target is bounded up front: which URLs count as live, what a load plan may spend at most,
and the --max-rate ceiling's consistency with --rate."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from tests.builders import load_plan as plan

from llmconform.config import is_loopback_url
from llmconform.load.plan import TokenDistribution, WorkloadSpec


@pytest.mark.parametrize(
    ("url", "loopback"),
    [
        ("http://127.0.0.1:8400", True),
        ("http://127.9.9.9", True),
        ("http://localhost:8000", True),
        ("http://[::1]:8000", True),
        ("https://api.aboai.ai", False),
        ("http://10.0.0.5:8000", False),
        ("http://192.0.2.1", False),
        ("http://127.0.0.1.example.com", False),
    ],
)
def test_only_this_machine_counts_as_loopback(url: str, loopback: bool) -> None:
    assert is_loopback_url(url) is loopback


def test_an_open_loop_budget_is_rate_times_seconds_capped_by_the_request_count() -> None:
    budget = plan(rate=4.0, duration_s=10.0, warmup_s=1.0).budget()
    assert budget.requests == 44 and budget.output_tokens == 44 * 64
    capped = plan(rate=4.0, duration_s=10.0, warmup_s=1.0, requests=20).budget()
    assert capped.requests == 24  # 20 measured + the 4 the warm-up second sends


def test_max_rate_bounds_a_closed_loop_budget() -> None:
    assert plan(users=8, duration_s=5.0, warmup_s=0.0).budget().requests is None
    budget = plan(users=8, duration_s=5.0, warmup_s=0.0, max_rate=3.0).budget()
    assert budget.requests == 15
    assert "at most 15 requests" in budget.describe()


def test_the_token_budget_takes_each_length_at_its_high_end() -> None:
    workload = WorkloadSpec(
        input_tokens=TokenDistribution(kind="uniform", mean=60, low=20, high=100),
        output_tokens=TokenDistribution(kind="normal", mean=64, stdev=10.0),
    )
    budget = plan(requests=10, warmup_s=0.0, duration_s=None, workload=workload).budget()
    assert (budget.requests, budget.input_tokens_per_request, budget.output_tokens_per_request) == (10, 100, 94)
    assert "1000 input and 940 output tokens" in budget.describe()


def test_an_unbounded_count_says_how_to_cap_it() -> None:
    assert "add --requests N or --max-rate R" in plan(users=8, duration_s=5.0).budget().describe()


def test_a_rate_above_the_ceiling_is_refused_naming_both() -> None:
    with pytest.raises(ValidationError, match=r"--rate 5 is above --max-rate 2"):
        plan(rate=5.0, max_rate=2.0)
