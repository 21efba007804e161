"""Probe steps every family runs the same way: stopping when the target refuses the configured key, the
auth probe (no key, then a wrong Bearer key) and the invalid-request probes.

A family hands these steps its own way of sending (``send(body, label, **options)``, the options being
those of :meth:`Session.send`), its relation rule and the rule's id.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from llmconform.checks.registry import Violation
from llmconform.conformance.session import Session
from llmconform.exchange import Exchange

__all__ = [
    "NO_API_KEY",
    "TIME_FUNCTION",
    "WEATHER_FUNCTION",
    "WRONG_BEARER_KEY",
    "InvalidRequest",
    "KeyRefused",
    "judge_invalid_requests",
    "probe_bearer_auth",
]

# Why the auth probes are skipped when the run has no key.
NO_API_KEY = "no API key was given, so the target is used without credentials"
# The key the auth probes send as ``Authorization: Bearer`` to be refused.
WRONG_BEARER_KEY = "sk-llmconform-wrong-key-000"

# (what the case is, the JSON body, or raw bytes sent instead of it: a body that is not JSON).
InvalidRequest = tuple[str, Any, bytes | None]
# A family's way of sending a probe request: send(body, label, **Session.send options).
Send = Callable[..., Exchange]


# The two functions every family's tool probes offer, as a name, a description and JSON Schema parameters;
# each family wraps them in its own tool shape.
WEATHER_FUNCTION: dict[str, Any] = {
    "name": "get_weather",
    "description": "Current weather for a city.",
    "parameters": {
        "type": "object",
        "properties": {
            "city": {"type": "string", "description": "City name"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        },
        "required": ["city"],
    },
}
TIME_FUNCTION: dict[str, Any] = {
    "name": "get_time",
    "description": "Current local time in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


class KeyRefused(Exception):
    """The target answered 401 to the configured key: a configuration problem, not a finding."""


def probe_bearer_auth(
    session: Session,
    send: Send,
    body: Any,
    rule_id: str,
    rule: Callable[[Exchange, Exchange], Iterable[Violation]],
) -> None:
    """Send ``body`` without a key and with a wrong Bearer key and judge both answers by ``rule``
    (skipped when the run has no key)."""
    if not session.client.api_key:
        session.skip(rule_id, NO_API_KEY)
        return
    without = send(body, "auth: no key", auth=False)
    wrong = send(body, "auth: wrong key", auth=False, headers={"authorization": f"Bearer {WRONG_BEARER_KEY}"})
    session.judge(rule_id, rule(without, wrong), without, wrong)


def judge_invalid_requests(
    session: Session,
    send: Send,
    cases: Sequence[InvalidRequest],
    rule_id: str,
    rule: Callable[[Exchange, str], Iterable[Violation]],
) -> None:
    """Send each invalid request (labelled "invalid request: <what>") and judge its answer by ``rule``."""
    for what, body, raw in cases:
        exchange = send(body, f"invalid request: {what}", raw_body=raw, headers={"content-type": "application/json"})
        session.judge(rule_id, rule(exchange, what), exchange)
