"""The OpenAI embeddings family: paths, request builders and a parsed view of any answer.

:func:`embeddings_view` turns an Exchange into one :class:`EmbeddingsView`: the ``data`` items in
the order they came, each vector read as floats whether it was sent as a JSON array or as a base64
string of little-endian float32 bytes (what ``encoding_format: base64`` returns and what the openai
SDK decodes), and the usage. It never raises on a malformed answer: what it could not read is
recorded on the view and left for the checks to judge.

Embeddings generate nothing, so the shared family interface reads them as an answer with input
tokens only: no text, no stream, no finish reason.
"""

from __future__ import annotations

import array
import base64
import binascii
import math
import sys
from dataclasses import dataclass, field
from typing import Any, Literal

from llmconform.exchange import Exchange
from llmconform.families.answer import Answer
from llmconform.families.reading import AnswerPredicates, cached_view, read_data_list
from llmconform.json_numbers import as_int

__all__ = [
    "EMBEDDINGS_OPERATION",
    "EMBEDDINGS_PATH",
    "FAMILY",
    "MAX_INPUTS",
    "EmbeddingsView",
    "VectorView",
    "all_finite",
    "build_request",
    "cosine",
    "decode_base64_vector",
    "embeddings_request",
    "embeddings_view",
    "first_not_finite",
    "input_count",
    "input_texts",
    "is_embeddings",
    "is_embeddings_answer",
    "read_answer",
    "request_headers",
    "requested_dimensions",
    "requested_encoding",
    "usage_counts",
    "vectors_of",
]

FAMILY = "embeddings"
EMBEDDINGS_PATH = "/v1/embeddings"
EMBEDDINGS_OPERATION = f"POST {EMBEDDINGS_PATH}"
# At most this many inputs per request (OpenAI CreateEmbeddingRequest.input: "any array must be 2048
# dimensions or less").
MAX_INPUTS = 2048
# Request parameters of this format that build_request passes through; generation parameters
# (temperature, stop, ignore_eos, ...) mean nothing here and OpenAI refuses unknown ones.
_EMBEDDING_PARAMS = ("dimensions", "encoding_format", "user")

Form = Literal["float", "base64", "invalid"]


@dataclass(slots=True)
class VectorView:
    """One ``data`` item: where it came, the index it claims, and its vector read as numbers."""

    position: int
    index: Any = None
    # "float" (a JSON array), "base64" (a string) or "invalid" (anything else, or no embedding).
    form: Form = "invalid"
    # The components: the JSON array as sent (its items may be anything), or the decoded float32s.
    values: list[Any] | None = None
    # Why a base64 string could not be read, or why the item has no vector.
    problem: str | None = None
    # For a base64 string: how many bytes it decoded to.
    byte_length: int | None = None


@dataclass(slots=True)
class EmbeddingsView:
    """Everything checks need to know about one embeddings answer."""

    payload: Any = None
    vectors: list[VectorView] = field(default_factory=list)
    usage: Any = None
    has_usage_key: bool = False
    problems: list[str] = field(default_factory=list)

    @property
    def lengths(self) -> list[int]:
        """The length of every readable vector, in ``data`` order."""
        return [len(v.values) for v in self.vectors if v.values is not None]


def embeddings_request(
    model: str,
    inputs: str | list[str] | list[int] | list[list[int]],
    *,
    dimensions: int | None = None,
    encoding_format: str | None = None,
) -> dict[str, Any]:
    """A POST /v1/embeddings body; ``dimensions`` and ``encoding_format`` are sent only when given."""
    body: dict[str, Any] = {"model": model, "input": inputs}
    if dimensions is not None:
        body["dimensions"] = dimensions
    if encoding_format is not None:
        body["encoding_format"] = encoding_format
    return body


def input_count(value: Any) -> int | None:
    """How many embeddings an ``input`` value asks for, or None when the value is not one of its forms.

    A string is one input, an array of strings or of token-id arrays one per item, and an array of
    token ids (integers) is one input.
    """
    if isinstance(value, str):
        return 1
    if not isinstance(value, list):
        return None
    if not value:
        return 0
    if all(isinstance(v, str) for v in value) or all(isinstance(v, list) for v in value):
        return len(value)
    if all(as_int(v) is not None for v in value):
        return 1
    return None


def input_texts(messages: list[dict[str, Any]]) -> list[str]:
    """The text of each chat-format message (text parts of a content list joined), in order."""
    texts: list[str] = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, str):
            texts.append(content)
        elif isinstance(content, list):
            texts.append(
                "".join(
                    part["text"] for part in content if isinstance(part, dict) and isinstance(part.get("text"), str)
                )
            )
    return texts


def requested_encoding(exchange: Exchange) -> Any:
    """The ``encoding_format`` the request asked for; absent (or null) means the default, "float"."""
    value = exchange.request_body.get("encoding_format")
    return "float" if value is None else value


def requested_dimensions(exchange: Exchange) -> int | None:
    """The ``dimensions`` the request asked for, when it is a positive integer."""
    value = as_int(exchange.request_body.get("dimensions"))
    return value if value is not None and value >= 1 else None


_EMBEDDINGS_ANSWERS = AnswerPredicates(EMBEDDINGS_OPERATION)
is_embeddings = _EMBEDDINGS_ANSWERS.is_operation
is_embeddings_answer = _EMBEDDINGS_ANSWERS.is_answer


def decode_base64_vector(text: str) -> tuple[list[float] | None, int | None, str | None]:
    """(values, byte length, problem) of a base64 string of little-endian float32s.

    The openai SDK decodes such a string with ``numpy.frombuffer(..., dtype="float32")`` or
    ``array.array("f", ...)``; both need a whole number of 4-byte floats.
    """
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        return None, None, f"not valid base64 ({exc})"
    if len(raw) % 4:
        return None, len(raw), f"decodes to {len(raw)} bytes, not a whole number of 4-byte float32 values"
    floats = array.array("f", raw)
    if sys.byteorder == "big":
        floats.byteswap()
    return floats.tolist(), len(raw), None


def embeddings_view(exchange: Exchange) -> EmbeddingsView:
    """Parse (once, cached on the exchange) an embeddings answer into an EmbeddingsView."""
    return cached_view(exchange, "embeddings_view", EmbeddingsView, _view)


def _view(exchange: Exchange) -> EmbeddingsView:
    view = EmbeddingsView()
    data = read_data_list(exchange, view)
    if data is None:
        return view
    for position, item in enumerate(data):
        vector = VectorView(position=position)
        view.vectors.append(vector)
        if not isinstance(item, dict):
            vector.problem = f"data[{position}] is {type(item).__name__}, not an object"
            continue
        vector.index = item.get("index")
        embedding = item.get("embedding")
        if isinstance(embedding, list):
            vector.form, vector.values = "float", embedding
        elif isinstance(embedding, str):
            vector.form = "base64"
            vector.values, vector.byte_length, vector.problem = decode_base64_vector(embedding)
        else:
            vector.problem = f"data[{position}].embedding is {type(embedding).__name__}, not an array or a string"
    return view


def usage_counts(exchange: Exchange) -> tuple[int, int] | None:
    """(prompt_tokens, total_tokens) of an answer when its usage carries both as integers."""
    usage = embeddings_view(exchange).usage
    if not isinstance(usage, dict):
        return None
    prompt, total = as_int(usage.get("prompt_tokens")), as_int(usage.get("total_tokens"))
    return (prompt, total) if prompt is not None and total is not None else None


def all_finite(values: list[Any]) -> bool:
    """Whether every item is a finite number (C-speed: it runs on every vector under load)."""
    try:
        return all(map(math.isfinite, values))
    except TypeError:
        return False


def first_not_finite(values: list[Any]) -> tuple[int, Any]:
    """(position, value) of the first item that is not a finite number; (-1, None) when there is none."""
    for position, value in enumerate(values):
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            return position, value
    return -1, None


def vectors_of(exchange: Exchange) -> list[list[float] | None]:
    """The readable, finite vectors of an answer by data position (None where one is not)."""
    return [
        [float(x) for x in v.values] if v.values is not None and all_finite(v.values) else None
        for v in embeddings_view(exchange).vectors
    ]


def cosine(a: list[float], b: list[float]) -> float:
    """Cosine similarity of two vectors of equal length (0 when either is all zeros)."""
    norms = math.hypot(*a) * math.hypot(*b)
    return math.fsum(x * y for x, y in zip(a, b, strict=True)) / norms if norms else 0.0


# ---------------------------------------------------------------------- the shared family interface


def request_headers(api_key: str | None) -> dict[str, str]:
    """The headers every request of this family carries: the key as ``Authorization: Bearer``."""
    return {"authorization": f"Bearer {api_key}"} if api_key else {}


def build_request(
    model: str, messages: list[dict[str, Any]], *, max_tokens: int | None, stream: bool, **params: Any
) -> tuple[str, str, str, dict[str, Any]]:
    """(method, path, operation, body) of an embeddings request embedding each message's text.

    ``input`` is the list of the messages' contents, in order. ``max_tokens`` and ``stream`` are
    ignored (nothing is generated); of ``params`` only the embedding parameters (``dimensions``,
    ``encoding_format``, ``user``) are sent.
    """
    body = embeddings_request(model, input_texts(messages))
    body.update({k: v for k, v in params.items() if k in _EMBEDDING_PARAMS})
    return "POST", EMBEDDINGS_PATH, EMBEDDINGS_OPERATION, body


def read_answer(exchange: Exchange) -> Answer | None:
    """A completed 2xx embeddings answer as an :class:`Answer` (input tokens only), else None."""
    if not is_embeddings_answer(exchange):
        return None
    usage = embeddings_view(exchange).usage
    prompt = as_int(usage.get("prompt_tokens")) if isinstance(usage, dict) else None
    return Answer(input_tokens=prompt, output_tokens=0, finish=None, raw_finish=None, stream=False)
