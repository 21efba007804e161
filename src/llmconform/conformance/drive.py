"""Drive a hypothesis strategy as a request generator: a bounded number of examples, no shrinking,
no example database, seeded; the budget and an unreachable target end it early.

Hypothesis is used here as a generator, not as a test runner: an example never "fails" (findings are
recorded by the checks), so shrinking, which would send more requests, never starts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

from llmconform.conformance.session import BudgetExhausted, TargetHanging, TargetUnreachable

T = TypeVar("T")


def drive(strategy: st.SearchStrategy[T], examples: int, seed: int, action: Callable[[T], None]) -> None:
    """Call ``action`` on up to ``examples`` drawn values; re-raise a budget or reachability stop after."""
    if examples <= 0:
        return
    stopped: list[BudgetExhausted | TargetUnreachable | TargetHanging] = []

    @hypothesis_seed(seed)
    @settings(
        max_examples=examples,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
    @given(value=strategy)
    def one(value: T) -> None:
        if stopped:
            return
        try:
            action(value)
        except (BudgetExhausted, TargetUnreachable, TargetHanging) as exc:
            stopped.append(exc)

    one()
    if stopped:
        raise stopped[0]
