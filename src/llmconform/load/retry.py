"""When a load request may be sent again: a 429 or 503 whose ``Retry-After`` says how long to wait.

Only with ``--respect-retry-after``, only a bounded number of times per request (``max_retries``), never
for longer than ``max_retry_wait_s`` at once, and never past the run's end. ``Retry-After`` is either a
number of seconds or an HTTP date (RFC 9110 section 10.2.3); anything else is not an invitation to retry.
"""

from __future__ import annotations

import email.utils
import time

from llmconform.exchange import Exchange

__all__ = ["RETRYABLE_STATUSES", "parse_retry_after", "retry_wait_s"]

RETRYABLE_STATUSES = frozenset({429, 503})


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delay-seconds or HTTP-date); None when unusable."""
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None  # RFC 9110 dates are GMT; a date without a zone is not one
    return max(when.timestamp() - (time.time() if now is None else now), 0.0)


def retry_wait_s(exchange: Exchange, max_wait_s: float, seconds_left: float | None) -> float | None:
    """How long to wait before sending ``exchange``'s request again, or None when it must not be retried."""
    if exchange.status not in RETRYABLE_STATUSES:
        return None
    headers = {name.lower(): value for name, value in exchange.response_headers.items()}
    wait = parse_retry_after(headers.get("retry-after"))
    if wait is None or wait > max_wait_s:
        return None
    if seconds_left is not None and wait >= seconds_left:
        return None  # the answer would come after the run's end
    return wait
