"""The error body rule (rule table F, E1): every non-2xx answer of an OpenAI-format route is an
OpenAI error object."""

from __future__ import annotations

from collections.abc import Iterator

from llmconform.checks.common import error_object
from llmconform.checks.registry import Severity, Violation, Warn, exchange_rule
from llmconform.exchange import Exchange
from llmconform.families.chat import CHAT_OPERATION, MODELS_OPERATION


def _is_error(exchange: Exchange) -> bool:
    return (
        exchange.error is None
        and exchange.status is not None
        and exchange.status >= 400
        and exchange.operation in (CHAT_OPERATION, MODELS_OPERATION)
    )


@exchange_rule("error_body_shape", family="chat", severity=Severity.ERROR, applies=_is_error)
def error_body_shape(exchange: Exchange) -> Iterator[Violation]:
    """A non-2xx answer is JSON {"error": {"message": str, "type": str, "param": str|null, "code": str|null}}.

    Source: contract-rules.md F E1; OpenAI openapi.yaml ErrorResponse / Error (message, type, param, code
    required; param and code nullable); autogen #757 (error as a string breaks clients). A missing param or
    code is a warning: several compatible servers omit them and the SDKs tolerate it.
    """
    error = error_object(exchange)
    if isinstance(error, str):
        yield error
        return
    for key in ("message", "type"):
        if not isinstance(error.get(key), str):
            yield f"Expected: error.{key} a string. Received: {error.get(key)!r:.80}"
    for key in ("param", "code"):
        if key not in error:
            yield Warn(f"Expected: error.{key} (string or null). Received: no {key!r} key")
        elif error[key] is not None and not isinstance(error[key], str):
            yield Warn(f"Expected: error.{key} a string or null. Received: {error[key]!r:.80}")
