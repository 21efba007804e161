"""A conformance session: the client, the request budget, the results, and the progress callback.

Every request of a check run goes through :meth:`Session.send`, which takes one unit of budget, sends,
runs every exchange rule on the answer, and counts it. So the budget stated up front is the budget kept.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from llmconform.checks import REGISTRY, Results, check_exchange
from llmconform.checks.registry import Rule, Violation
from llmconform.client import TargetClient
from llmconform.exchange import Exchange, TransportError
from llmconform.families.chat import CHAT_OPERATION, CHAT_PATH, FAMILY

# After this many consecutive connection failures the target is declared unreachable (exit 3).
UNREACHABLE_AFTER = 3
# After this many consecutive timeouts the run stops: the findings so far show a hanging target.
HANGING_AFTER = 3


class BudgetExhausted(Exception):
    """The run has sent as many requests as it was allowed to."""


class TargetUnreachable(Exception):
    """The target refuses connections; the run cannot judge it."""


class TargetHanging(Exception):
    """Several requests in a row timed out; going on would only multiply the wait."""


@dataclass(slots=True)
class Budget:
    """A request cap; None means unlimited."""

    limit: int | None
    used: int = 0

    def take(self) -> None:
        if self.limit is not None and self.used >= self.limit:
            raise BudgetExhausted(f"request budget of {self.limit} spent")
        self.used += 1

    @property
    def remaining(self) -> int | None:
        return None if self.limit is None else max(0, self.limit - self.used)


@dataclass(slots=True)
class RequestDialect:
    """How probes phrase a request so the target accepts it. OpenAI's reasoning models refuse max_tokens
    (they want max_completion_tokens) and a temperature other than 1; the baseline probe learns that from
    a 400 naming the parameter and retries in the accepted dialect."""

    limit_key: str = "max_tokens"
    temperature: bool = True
    seed: bool = True


@dataclass
class Session:
    """Sends requests within the budget and judges every answer."""

    client: TargetClient
    results: Results
    budget: Budget
    model: str
    rules: list[Rule]
    on_sent: Callable[[Exchange], None] | None = None
    consecutive_connect_failures: int = 0
    connected_once: bool = False
    consecutive_timeouts: int = 0
    exchanges_sent: int = 0
    deterministic: bool | None = None
    dialect: RequestDialect = field(default_factory=RequestDialect)
    notes: list[str] = field(default_factory=list)
    # The model the embeddings family is checked with ("" means the model under test).
    embedding_model: str = ""
    # Models of the media requests by kind (speech, translation, video: TargetConfig.media_models).
    media_models: dict[str, str] = field(default_factory=dict)
    # Families the target answered 404/405 for (see conformance.runner._served): not judged, not asked again.
    unserved: set[str] = field(default_factory=set)
    # How asynchronous tasks (video) are polled: one poll every interval until the deadline, in seconds
    # (CheckConfig.task_polling, resolved for the target).
    task_poll_interval_s: float = 5.0
    task_deadline_s: float = 600.0

    def model_for(self, family: str) -> str:
        """The model a family's requests name: the embeddings model for embeddings, the media model of a kind
        (``media_models``: speech, translation, video; the audio family's requests are speech) when one was given,
        else the model under test."""
        if family == "embeddings":
            return self.embedding_model or self.model
        return self.media_models.get("speech" if family == "audio" else family) or self.model

    def send(
        self,
        method: str,
        path: str,
        *,
        operation: str,
        family: str,
        label: str,
        json_body: Any = None,
        raw_body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        auth: bool = True,
        judge: bool = True,
    ) -> Exchange:
        """Send within the budget; the answer is judged by every exchange rule unless ``judge`` is False
        (the caller then decides, e.g. a "not served" answer is no evidence about a family's contract). A
        request the transport failed (no answer, a timeout, a cut stream) is judged either way: that is evidence."""
        self.budget.take()
        exchange = self.client.send(
            method,
            path,
            family=family,
            operation=operation,
            json_body=json_body,
            raw_body=raw_body,
            headers=headers,
            auth=auth,
            label=label,
        )
        self.exchanges_sent += 1
        if exchange.error_kind is TransportError.CONNECT:
            self.consecutive_connect_failures += 1
            if not self.connected_once or self.consecutive_connect_failures >= UNREACHABLE_AFTER:
                raise TargetUnreachable(exchange.error or "connection refused")
        else:
            self.consecutive_connect_failures = 0
            self.connected_once = True
        if judge or exchange.error is not None:
            check_exchange(exchange, self.results, self.rules)
        if self.on_sent is not None:
            self.on_sent(exchange)
        self.consecutive_timeouts = (
            self.consecutive_timeouts + 1 if exchange.error_kind is TransportError.TIMEOUT else 0
        )
        if self.consecutive_timeouts >= HANGING_AFTER:
            raise TargetHanging(f"{HANGING_AFTER} requests in a row timed out (last: {exchange.label})")
        return exchange

    def judge_exchange(self, exchange: Exchange) -> None:
        """Judge an answer sent with ``judge=False`` by every exchange rule after all."""
        check_exchange(exchange, self.results, self.rules)

    def chat(self, body: dict[str, Any], label: str, **kwargs: Any) -> Exchange:
        """POST a chat request."""
        return self.send(
            "POST", CHAT_PATH, operation=CHAT_OPERATION, family=FAMILY, label=label, json_body=body, **kwargs
        )

    def judge(
        self, rule_id: str, violations: Iterable[Violation], exchange: Exchange | None, *related: Exchange
    ) -> bool:
        """Record a relation rule's verdict."""
        return self.results.judge(REGISTRY.get(rule_id), list(violations), exchange, tuple(related))

    def skip(self, rule_id: str, why: str) -> None:
        self.results.skip(rule_id, f"{rule_id} not judged: {why}")
