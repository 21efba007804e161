"""The mock's documented, deterministic tokenizer and its prompt-token formula.

Tokens
    ``tokenize(text)`` splits text into pieces matching, in order of preference,
    ``\\s*\\w+`` (a word with the whitespace before it), ``\\s*[^\\w\\s]`` (one punctuation or
    symbol character with the whitespace before it) or ``\\s+`` (whitespace at the very end).
    Every character belongs to exactly one piece, so ``"".join(tokenize(t)) == t`` for every
    string ``t``, and ``count_tokens(t) == len(tokenize(t))``.

Prompt tokens (``count_prompt_tokens``)
    3 priming tokens
    + for each message: 3
      + tokens of its ``role``
      + tokens of its ``content``: a string, or for each part of a list: a text or refusal
        part's text, 85 for an ``image_url`` part, 0 for any other part
      + tokens of its ``name`` and of its ``tool_call_id`` (when present)
      + for each of its ``tool_calls``: tokens of ``function.name`` and ``function.arguments``
    + tokens of the compact JSON of ``tools`` (when present and non-empty)
    + tokens of the compact JSON of ``response_format.json_schema`` (when the format is
      ``json_schema``).
    "Compact JSON" is ``orjson.dumps`` output: no spaces, keys in request order.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

__all__ = [
    "IMAGE_PART_TOKENS",
    "MESSAGE_OVERHEAD_TOKENS",
    "PRIMING_TOKENS",
    "count_prompt_tokens",
    "count_tokens",
    "tokenize",
]

PRIMING_TOKENS = 3
MESSAGE_OVERHEAD_TOKENS = 3
IMAGE_PART_TOKENS = 85

_PIECE = re.compile(r"\s*\w+|\s*[^\w\s]|\s+")


def tokenize(text: str) -> list[str]:
    """Split ``text`` into token pieces; the pieces concatenate back to ``text`` exactly."""
    return _PIECE.findall(text)


def count_tokens(text: str) -> int:
    """Return the number of tokens in ``text`` (``len(tokenize(text))``)."""
    return sum(1 for _ in _PIECE.finditer(text))


def _text_tokens(value: object) -> int:
    return count_tokens(value) if isinstance(value, str) else 0


def _content_tokens(content: object) -> int:
    if isinstance(content, str):
        return count_tokens(content)
    if not isinstance(content, Sequence):
        return 0
    total = 0
    for part in content:
        if not isinstance(part, Mapping):
            continue
        kind = part.get("type")
        if kind == "image_url":
            total += IMAGE_PART_TOKENS
        elif kind == "text":
            total += _text_tokens(part.get("text"))
        elif kind == "refusal":
            total += _text_tokens(part.get("refusal"))
    return total


def _message_tokens(message: Mapping[str, Any]) -> int:
    total = MESSAGE_OVERHEAD_TOKENS + _text_tokens(message.get("role"))
    total += _content_tokens(message.get("content"))
    total += _text_tokens(message.get("name")) + _text_tokens(message.get("tool_call_id"))
    calls = message.get("tool_calls")
    if isinstance(calls, Sequence) and not isinstance(calls, str):
        for call in calls:
            function = call.get("function") if isinstance(call, Mapping) else None
            if isinstance(function, Mapping):
                total += _text_tokens(function.get("name")) + _text_tokens(function.get("arguments"))
    return total


def _json_tokens(value: object) -> int:
    return count_tokens(orjson.dumps(value).decode())


def count_prompt_tokens(messages: Sequence[object], tools: object = None, response_format: object = None) -> int:
    """Apply the prompt-token formula of the module docstring to a request's parts."""
    total = PRIMING_TOKENS
    for message in messages:
        if isinstance(message, Mapping):
            total += _message_tokens(message)
    if tools:
        total += _json_tokens(tools)
    if isinstance(response_format, Mapping) and response_format.get("type") == "json_schema":
        schema = response_format.get("json_schema")
        if schema is not None:
            total += _json_tokens(schema)
    return total
