"""Secret redaction: the one place that decides what a report, log or finding may show.

API keys travel in headers (``Authorization``, ``x-api-key``, ``x-goog-api-key``, ``api-key``) and in
``?key=`` query parameters. A hostile server may also echo a key back in a body. Every rendering of an
exchange therefore goes through :class:`Redactor`, which masks the known secret headers and scrubs
every known secret value from any text.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

REDACTED = "[REDACTED]"

SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "x-api-key", "x-goog-api-key", "api-key", "cookie", "set-cookie"}
)
SECRET_QUERY_PARAMS = frozenset({"key", "api_key", "apikey", "access_token", "token"})

# Secrets shorter than this are not scrubbed from free text: masking "a" everywhere would destroy reports.
_MIN_SCRUB_LENGTH = 6


class Redactor:
    """Masks secret headers and query parameters and scrubs known secret values from text."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        self._secrets = sorted({s for s in secrets if s and len(s) >= _MIN_SCRUB_LENGTH}, key=len, reverse=True)

    def add(self, secret: str | None) -> None:
        """Register another secret value to scrub."""
        if secret and len(secret) >= _MIN_SCRUB_LENGTH and secret not in self._secrets:
            self._secrets.append(secret)
            self._secrets.sort(key=len, reverse=True)

    def text(self, value: str) -> str:
        """Return ``value`` with every known secret replaced by ``[REDACTED]``."""
        for secret in self._secrets:
            if secret in value:
                value = value.replace(secret, REDACTED)
        return value

    def headers(self, headers: Mapping[str, str]) -> dict[str, str]:
        """Return a copy of ``headers`` with secret headers masked and secrets scrubbed from the rest."""
        clean: dict[str, str] = {}
        for name, value in headers.items():
            if name.lower() in SECRET_HEADERS:
                scheme = value.split(" ", 1)[0] if " " in value else ""
                clean[name] = f"{scheme} {REDACTED}".strip()
            else:
                clean[name] = self.text(value)
        return clean

    def url(self, url: str) -> str:
        """Return ``url`` with secret query parameters masked."""
        parts = urlsplit(url)
        if not parts.query:
            return self.text(url)
        query = [
            (k, REDACTED if k.lower() in SECRET_QUERY_PARAMS else v)
            for k, v in parse_qsl(parts.query, keep_blank_values=True)
        ]
        return self.text(urlunsplit(parts._replace(query=urlencode(query, safe="[]"))))
