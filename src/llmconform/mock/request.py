"""The parts of a validated chat-completion body that the mock acts on, plus its seeds.

Parsing is tolerant on purpose: the body has passed the contract's schema (or the
``accept_invalid`` fault let a range or enum violation through), so anything odd falls back to
the default rather than raising. ``n`` and ``top_logprobs`` are clamped to what the mock can
answer (1..128 and 0..100) so that an accepted out-of-range value cannot blow up the work.

Seeds: ``content_seed`` is the SHA-256 of the canonical JSON (sorted keys) of model, messages,
tools, tool_choice, response_format, seed, temperature, top_p, presence_penalty and
frequency_penalty. Length limits, stop sequences, n, streaming, logprobs and user do not enter
it, so a truncated or stop-cut answer is a prefix of the full one and a stream carries the
unary text. ``request_key`` is the SHA-256 of the whole canonical body (response ids, faults
that pick requests by hash).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from llmconform.json_numbers import as_int
from llmconform.mock.tokenizer import count_prompt_tokens

__all__ = ["SEED_FIELDS", "ChatRequest"]

SEED_FIELDS = (
    "model",
    "messages",
    "tools",
    "tool_choice",
    "response_format",
    "seed",
    "temperature",
    "top_p",
    "presence_penalty",
    "frequency_penalty",
)
_MAX_N = 128
_MAX_TOP_LOGPROBS = 100


def _canonical_digest(value: object) -> bytes:
    return hashlib.sha256(orjson.dumps(value, option=orjson.OPT_SORT_KEYS)).digest()


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """What the generator needs from one POST /v1/chat/completions body."""

    model: str
    messages: tuple[Any, ...]
    tools: tuple[Mapping[str, Any], ...]
    tool_choice: object
    response_format: Mapping[str, Any] | None
    n: int
    max_tokens: int | None
    stop: tuple[str, ...]
    stream: bool
    include_usage: bool
    logprobs: bool
    top_logprobs: int
    prompt_tokens: int
    content_seed: bytes
    request_key: bytes
    ignore_eos: bool = False

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> ChatRequest:
        """Read a (schema-valid) request body; see the module docstring for the fallbacks."""
        messages = body.get("messages")
        messages = tuple(messages) if isinstance(messages, list) else ()
        raw_tools = body.get("tools")
        tools = tuple(t for t in raw_tools if isinstance(t, Mapping)) if isinstance(raw_tools, list) else ()
        response_format = body.get("response_format")
        stop = body.get("stop")
        if isinstance(stop, str):
            stops: tuple[str, ...] = (stop,) if stop else ()
        elif isinstance(stop, list):
            stops = tuple(s for s in stop if isinstance(s, str) and s)
        else:
            stops = ()
        limit = as_int(body.get("max_completion_tokens"))
        if limit is None:
            limit = as_int(body.get("max_tokens"))
        n = as_int(body.get("n"))
        top = as_int(body.get("top_logprobs"))
        options = body.get("stream_options")
        seed_material = {name: body.get(name) for name in SEED_FIELDS}
        return cls(
            model=str(body.get("model", "")),
            messages=messages,
            tools=tools,
            tool_choice=body.get("tool_choice"),
            response_format=response_format if isinstance(response_format, Mapping) else None,
            n=min(max(n if n is not None else 1, 1), _MAX_N),
            max_tokens=None if limit is None else max(limit, 0),
            stop=stops,
            stream=body.get("stream") is True,
            include_usage=isinstance(options, Mapping) and options.get("include_usage") is True,
            logprobs=body.get("logprobs") is True,
            top_logprobs=min(max(top if top is not None else 0, 0), _MAX_TOP_LOGPROBS),
            prompt_tokens=count_prompt_tokens(messages, raw_tools, response_format),
            content_seed=_canonical_digest(seed_material),
            request_key=_canonical_digest(body),
            ignore_eos=body.get("ignore_eos") is True,
        )
