"""The mock's server-side record: one JSON line per finished request (``MockConfig.record_path``).

Every request that reaches a family's handler is recorded once it is over: answered, refused (any error
status), cut by a load fault or abandoned by its client. A line holds (``null`` where it does not apply):

``family`` (chat, models, messages, gemini, responses, embeddings, images, audio, video), ``path``,
``status`` (the HTTP status sent; a stream cut mid-way still says 200), ``stream``, ``received_at``,
``admitted_at`` (capacity model: when it got a running slot), ``first_token_at`` (the first content round
sent, or for a unary answer when its first token was ready), ``done_at`` (all epoch seconds,
``time.time()``), ``input_tokens`` (the prompt's tokens, cached ones included), ``cached_tokens``,
``output_tokens`` (as the answer's usage reports them), ``queue_depth_at_arrival`` and
``running_at_admission`` (capacity model; the latter counts the request itself), ``load_fault`` (the kind
applied, see ``mock.load_faults``) and ``client_disconnected`` (the client went away before the answer
ended).

Lines are appended with one ``write`` each on a file opened for appending, so every line is on disk when
its request ends and concurrent writers never interleave within a line.
"""

from __future__ import annotations

import os
import time
import weakref
from dataclasses import asdict, dataclass

import orjson

__all__ = ["RECORD_FIELDS", "Recorder", "RequestRecord", "family_of_path"]

RECORD_FIELDS = (
    "family",
    "path",
    "status",
    "stream",
    "received_at",
    "admitted_at",
    "first_token_at",
    "done_at",
    "input_tokens",
    "cached_tokens",
    "output_tokens",
    "queue_depth_at_arrival",
    "running_at_admission",
    "load_fault",
    "client_disconnected",
)
_FAMILY_BY_PREFIX = (
    ("/v1/chat/completions", "chat"),
    ("/v1/models", "models"),
    ("/v1/messages", "messages"),
    ("/v1/responses", "responses"),
    ("/v1/embeddings", "embeddings"),
    ("/v1beta/", "gemini"),
    ("/v1/images", "images"),
    ("/v1/audio", "audio"),
    ("/api/v3/contents/generations/tasks", "video"),
)


def family_of_path(path: str) -> str:
    """The API family a mock path belongs to (``other`` for none)."""
    return next((family for prefix, family in _FAMILY_BY_PREFIX if path.startswith(prefix)), "other")


@dataclass(slots=True)
class RequestRecord:
    """One request's line, filled in as the request goes (see the module docstring for the fields)."""

    family: str
    path: str
    received_at: float
    status: int | None = None
    stream: bool = False
    admitted_at: float | None = None
    first_token_at: float | None = None
    done_at: float | None = None
    input_tokens: int | None = None
    cached_tokens: int | None = None
    output_tokens: int | None = None
    queue_depth_at_arrival: int | None = None
    running_at_admission: int | None = None
    load_fault: str | None = None
    client_disconnected: bool = False
    # The answer's stream writes the line when it ends (the handler's return is not the end of it).
    deferred: bool = False

    def line(self) -> bytes:
        """The record as one JSON line."""
        fields = asdict(self)
        return orjson.dumps({name: fields[name] for name in RECORD_FIELDS}) + b"\n"


class Recorder:
    """Appends request records to one file (created when missing)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._closer = weakref.finalize(self, os.close, self._fd)

    def open(self, path: str) -> RequestRecord:
        """A new record for a request to ``path`` received now."""
        return RequestRecord(family=family_of_path(path), path=path, received_at=time.time())

    def write(self, record: RequestRecord) -> None:
        """Append ``record`` (its ``done_at`` set to now when still unset)."""
        if record.done_at is None:
            record.done_at = time.time()
        os.write(self._fd, record.line())

    def close(self) -> None:
        """Close the file (also done when the recorder is garbage collected)."""
        self._closer()
