"""Redaction for report writers: a per-run redactor, argv masking and a deep scrub of documents.

Every string that leaves a report writer passes through :func:`scrub`. On top of the secrets the
caller's :class:`~llmconform.redact.Redactor` knows, :func:`run_redactor` learns the secrets the run
itself carried (the ``--api-key`` value on the command line, the credential headers and ``?key=``
parameters of every recorded request, secret-looking environment entries), so a key the server echoes
back in a body or a message is scrubbed even when the caller forgot to register it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from llmconform.conformance.outcome import ConformanceRun
from llmconform.exchange import Exchange
from llmconform.redact import REDACTED, SECRET_QUERY_PARAMS, Redactor

API_KEY_FLAG = "--api-key"

# Request headers whose value is a credential (cookies are left out: their values are not keys).
_CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "x-api-key", "x-goog-api-key", "api-key"})
_SECRET_NAME = re.compile(r"key|token|secret|passw|authorization|credential", re.IGNORECASE)
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


class _RunRedactor(Redactor):
    """The caller's redactor plus the secrets learned from one run; the caller's object is not changed."""

    def __init__(self, base: Redactor, learned: Iterable[str]) -> None:
        super().__init__(learned)
        self._base = base

    def text(self, value: str) -> str:
        return super().text(self._base.text(value))


def run_redactor(run: ConformanceRun, redactor: Redactor) -> Redactor:
    """Return a redactor that also scrubs every secret the run itself carried."""
    if isinstance(redactor, _RunRedactor):
        return redactor
    return _RunRedactor(redactor, _run_secrets(run))


def _run_secrets(run: ConformanceRun) -> Iterator[str]:
    yield from _argv_secrets(run.command)
    for name, value in run.environment.items():
        if _SECRET_NAME.search(str(name)) and isinstance(value, str):
            yield value
    for finding in run.results.findings:
        for exchange in (finding.exchange, *finding.related):
            if exchange is not None:
                yield from _exchange_secrets(exchange)


def _argv_secrets(argv: Iterable[str]) -> Iterator[str]:
    previous = ""
    for arg in argv:
        if previous == API_KEY_FLAG:
            yield arg
        elif arg.startswith(API_KEY_FLAG + "="):
            yield arg.split("=", 1)[1]
        previous = arg


def _exchange_secrets(exchange: Exchange) -> Iterator[str]:
    for name, value in exchange.request_headers.items():
        if name.lower() in _CREDENTIAL_HEADERS:
            yield value
            if " " in value:
                yield value.split(" ", 1)[1].strip()
    try:
        query = urlsplit(exchange.url).query
    except ValueError:
        return
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name.lower() in SECRET_QUERY_PARAMS:
            yield value


def mask_command(argv: Iterable[str], redactor: Redactor) -> list[str]:
    """The command line with the ``--api-key`` value masked (both spellings) and secrets scrubbed."""
    masked: list[str] = []
    previous = ""
    for arg in argv:
        if previous == API_KEY_FLAG:
            masked.append(REDACTED)
        elif arg.startswith(API_KEY_FLAG + "="):
            masked.append(f"{API_KEY_FLAG}={REDACTED}")
        else:
            masked.append(redactor.text(arg))
        previous = arg
    return masked


def mask_environment(environment: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``environment`` with the values of secret-looking names masked."""
    return {
        name: (REDACTED if _SECRET_NAME.search(str(name)) and value not in (None, "") else value)
        for name, value in environment.items()
    }


def clean(value: str, redactor: Redactor) -> str:
    """Scrub secrets from ``value`` and replace lone surrogates (which UTF-8 cannot encode)."""
    return _LONE_SURROGATE.sub("\ufffd", redactor.text(value))


def scrub(value: Any, redactor: Redactor) -> Any:
    """A JSON-safe deep copy of ``value`` with every string (keys included) scrubbed.

    Values JSON cannot hold are rendered with ``str()`` (then scrubbed); NaN and infinities become
    ``None`` so the document stays strict JSON.
    """
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        return clean(value, redactor)
    if isinstance(value, Mapping):
        return {clean(str(k), redactor): scrub(v, redactor) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [scrub(v, redactor) for v in value]
    if isinstance(value, bytes):
        return clean(value.decode("utf-8", errors="replace"), redactor)
    return clean(str(value), redactor)
