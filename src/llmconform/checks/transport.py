"""The transport rule: a request completes within the configured limits (a hanging, dripping, oversized
or truncated answer becomes a finding here instead of a hang or a crash of the harness)."""

from __future__ import annotations

from collections.abc import Iterator

from llmconform.checks.registry import Severity, Violation, exchange_rule
from llmconform.exchange import Exchange, TransportError


def _failed_after_connecting(exchange: Exchange) -> bool:
    return exchange.error is not None and exchange.error_kind is not TransportError.CONNECT


@exchange_rule("request_completes", family="chat", severity=Severity.ERROR, applies=_failed_after_connecting)
def request_completes(exchange: Exchange) -> Iterator[Violation]:
    """Every request gets a complete answer within the time and size limits (no timeout, reset or cut stream).

    Source: architecture.md principles (a hanging target becomes findings); HTTP/1.1 RFC 9112 section 6 (a
    message body ends at its declared length or the stream's end); contract-rules.md F A5/O8 (a stream is
    never silently closed).
    """
    yield f"{exchange.error_kind}: {exchange.error}"
