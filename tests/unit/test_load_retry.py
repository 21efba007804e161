"""--respect-retry-after: which answers invite a retry, how long to wait, and how retries are tallied."""

from __future__ import annotations

import email.utils

import pytest

from llmconform.exchange import Exchange
from llmconform.load.retry import parse_retry_after, retry_wait_s
from llmconform.load.tally import Tally

NOW = 1_800_000_000.0


def answer(status: int, retry_after: str | None) -> Exchange:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    return Exchange(
        family="chat",
        operation="chat",
        method="POST",
        url="http://127.0.0.1:9/x",
        request_headers={},
        status=status,
        response_headers=headers,
    )


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("3", 3.0),
        (" 0 ", 0.0),
        (email.utils.formatdate(NOW + 7, usegmt=True), 7.0),
        (email.utils.formatdate(NOW - 50, usegmt=True), 0.0),
        ("soon", None),
        ("-1", None),
        ("1.5", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_is_seconds_or_an_http_date(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value, now=NOW) == seconds


def test_only_429_and_503_with_a_usable_short_wait_before_the_end_are_retried() -> None:
    assert retry_wait_s(answer(429, "2"), max_wait_s=30, seconds_left=10) == 2.0
    assert retry_wait_s(answer(503, "1"), max_wait_s=30, seconds_left=None) == 1.0
    assert retry_wait_s(answer(500, "1"), max_wait_s=30, seconds_left=10) is None
    assert retry_wait_s(answer(429, None), max_wait_s=30, seconds_left=10) is None
    assert retry_wait_s(answer(429, "60"), max_wait_s=30, seconds_left=100) is None
    assert retry_wait_s(answer(429, "5"), max_wait_s=30, seconds_left=4) is None


def test_retries_are_counted_apart_and_survive_the_wire() -> None:
    worker = Tally()
    worker.retry(429, 1.0, warmup=False)
    worker.retry(429, 2.0, warmup=False)
    worker.retry(503, 0.5, warmup=True)  # a warm-up request's retries are not measured
    master = Tally()
    master.merge(Tally.from_wire(worker.drain()))
    master.merge(Tally.from_wire(worker.drain()))  # the second drain is empty
    assert master.retries == {"429": 2} and master.retry_wait_s == 3.0
