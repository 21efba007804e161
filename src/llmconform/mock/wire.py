"""Encode a generated ``Completion`` as OpenAI wire bytes: a unary body or SSE stream rounds.

Streams are built ahead of time as *rounds*: round 0 holds each choice's role chunk and its
first content chunk (sent together once the time to first token has passed), round r holds
each choice's r-th content chunk (one inter-token latency later), and a choice's finish chunk
rides with its last content chunk. Choices are interleaved round-robin, the way a server
decoding n sequences in one batch sends them. The usage chunk and ``data: [DONE]`` close the
last round. Chunks share a pre-encoded envelope (id, object, created, model, fingerprint), so
each frame costs one ``orjson.dumps`` of its ``choices``.

Wire-level faults (usage arithmetic, stream protocol, shapes) are applied here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import orjson

from llmconform.mock.content import Choice, Completion, TokenLogprob, ToolCall

__all__ = ["SYSTEM_FINGERPRINT", "Envelope", "content_rounds", "stream_rounds", "unary_body", "usage_dict"]

SYSTEM_FINGERPRINT = "fp_llmconform"
DONE_FRAME = b"data: [DONE]\n\n"
BROKEN_FRAME = b'data: {"id": \n\n'


@dataclass(frozen=True, slots=True)
class Envelope:
    """The fields every body or chunk of one response repeats."""

    id: str
    created: int | str
    model: str


def usage_dict(prompt: int, completion: int, faults: frozenset[str], cached: int = 0) -> dict[str, Any]:
    """Return the exact usage object (``cached`` prompt tokens from the capacity model's prefix cache), with the
    usage faults applied."""
    if "usage_counts_nonzero" in faults:
        prompt = 0  # the total stays the sum: only the lost prompt count is wrong
    if "cross_format_usage_consistent" in faults:
        prompt += 2  # consistent with itself, not with the other formats
    total = prompt + completion + (1 if "usage_total_is_sum" in faults else 0)
    cached = prompt + 5 if "usage_details_within_parent" in faults else min(cached, prompt)
    reasoning = -1 if "usage_counts_non_negative" in faults else 0
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": total,
        "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": reasoning,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _logprob_entries(entries: tuple[TokenLogprob, ...]) -> list[dict[str, Any]]:
    return [
        {
            "token": e.token,
            "logprob": e.logprob,
            "bytes": list(e.token.encode()),
            "top_logprobs": [{"token": t, "logprob": v, "bytes": list(t.encode())} for t, v in e.top],
        }
        for e in entries
    ]


def _logprobs(entries: tuple[TokenLogprob, ...] | None) -> dict[str, Any] | None:
    if entries is None:
        return None
    return {"content": _logprob_entries(entries), "refusal": None}


def _arguments_object(arguments: str) -> object:
    try:
        return orjson.loads(arguments)
    except orjson.JSONDecodeError:
        return {}


def _unary_call(call: ToolCall, faults: frozenset[str]) -> dict[str, Any]:
    arguments: object = call.arguments
    if "tool_call_shape" in faults:
        arguments = _arguments_object(call.arguments)
    return {"id": call.id, "type": "function", "function": {"name": call.name, "arguments": arguments}}


def _unary_choice(choice: Choice, faults: frozenset[str]) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": choice.content, "refusal": None}
    if choice.tool_calls:
        message["tool_calls"] = [_unary_call(c, faults) for c in choice.tool_calls]
    return {
        "index": choice.index,
        "message": message,
        "logprobs": _logprobs(choice.logprobs),
        "finish_reason": choice.finish_reason,
    }


def unary_body(envelope: Envelope, completion: Completion, faults: frozenset[str], cached: int = 0) -> bytes:
    """Encode the ``chat.completion`` object (``cached``: prompt tokens served from cache)."""
    body: dict[str, Any] = {
        "id": envelope.id,
        "object": "chat.completion",
        "created": envelope.created,
        "model": envelope.model,
        "system_fingerprint": SYSTEM_FINGERPRINT,
        "choices": [_unary_choice(c, faults) for c in completion.choices],
    }
    if "usage_present" not in faults:
        body["usage"] = usage_dict(completion.prompt_tokens, completion.completion_tokens, faults, cached)
    return orjson.dumps(body)


def _groups(count: int, size: int) -> list[tuple[int, int]]:
    return [(start, min(start + size, count)) for start in range(0, count, size)]


def _choice_pieces(choice: Choice) -> int:
    return len(choice.pieces) if not choice.tool_calls else sum(len(c.pieces) for c in choice.tool_calls)


def content_rounds(completion: Completion, tokens_per_chunk: int) -> int:
    """How many content rounds the stream of ``completion`` has (at least 1)."""
    most = max((_choice_pieces(c) for c in completion.choices), default=0)
    return max(1, math.ceil(most / tokens_per_chunk))


class _ChunkEncoder:
    """Frames chunks from a pre-encoded envelope; counts them for the identity fault."""

    def __init__(self, envelope: Envelope, include_usage: bool, faults: frozenset[str]) -> None:
        self._envelope = envelope
        self._vary_id = "stream_constant_identity" in faults
        self._suffix = b',"usage":null}' if include_usage else b"}"
        self._prefix = self._make_prefix(envelope.id)
        self._count = 0

    def _make_prefix(self, chunk_id: str) -> bytes:
        head = orjson.dumps(
            {
                "id": chunk_id,
                "object": "chat.completion.chunk",
                "created": self._envelope.created,
                "model": self._envelope.model,
                "system_fingerprint": SYSTEM_FINGERPRINT,
            }
        )
        return b"data: " + head[:-1] + b',"choices":'

    def _next_prefix(self) -> bytes:
        self._count += 1
        return self._make_prefix(f"{self._envelope.id}-{self._count}") if self._vary_id else self._prefix

    def choice(
        self,
        index: int,
        delta: dict[str, Any],
        finish: str | None = None,
        logprobs: dict[str, Any] | None = None,
    ) -> bytes:
        choice = {"index": index, "delta": delta, "logprobs": logprobs, "finish_reason": finish}
        return self._next_prefix() + orjson.dumps([choice]) + self._suffix + b"\n\n"

    def usage(self, usage: dict[str, Any]) -> bytes:
        return self._next_prefix() + b'[],"usage":' + orjson.dumps(usage) + b"}\n\n"


def _text_steps(choice: Choice, enc: _ChunkEncoder, tpc: int, faults: frozenset[str]) -> list[list[bytes]]:
    role: dict[str, Any] = {"content": ""}
    if "stream_role_first" not in faults:
        role = {"role": "assistant", **role}
    steps: list[list[bytes]] = [[enc.choice(choice.index, role)]]
    entries = choice.logprobs
    for n, (start, end) in enumerate(_groups(len(choice.pieces), tpc)):
        delta = {"content": "".join(choice.pieces[start:end])}
        logprobs = _logprobs(entries[start:end]) if entries is not None else None
        frame = enc.choice(choice.index, delta, logprobs=logprobs)
        if n == 0:
            steps[0].append(frame)
        else:
            steps.append([frame])
    return steps


def _tool_steps(choice: Choice, enc: _ChunkEncoder, tpc: int, faults: frozenset[str]) -> list[list[bytes]]:
    with_index = "stream_tool_call_deltas" not in faults
    shape_fault = "tool_call_shape" in faults
    steps: list[list[bytes]] = []
    entries = choice.logprobs
    offset = 0
    for i, call in enumerate(choice.tool_calls):
        header: dict[str, Any] = {
            "id": call.id,
            "type": "function",
            "function": {"name": call.name, "arguments": ""},
        }
        if with_index:
            header = {"index": i, **header}
        delta: dict[str, Any] = {"tool_calls": [header]}
        if i == 0:
            role = {} if "stream_role_first" in faults else {"role": "assistant"}
            delta = {**role, "content": None, **delta}
        steps.append([enc.choice(choice.index, delta)])
        spans = [(0, len(call.pieces))] if shape_fault else _groups(len(call.pieces), tpc)
        for n, (start, end) in enumerate(spans):
            arguments: object = "".join(call.pieces[start:end])
            if shape_fault:
                arguments = _arguments_object(call.arguments)
            fragment: dict[str, Any] = {"function": {"arguments": arguments}}
            if with_index:
                fragment = {"index": i, **fragment}
            span = entries[offset + start : offset + end] if entries is not None else None
            frame = enc.choice(choice.index, {"tool_calls": [fragment]}, logprobs=_logprobs(span))
            if n == 0:
                steps[-1].append(frame)
            else:
                steps.append([frame])
        offset += len(call.pieces)
    return steps


# Legal SSE (a block without data is not dispatched) that the openai Python SDK misreads as an event.
DATALESS_FRAME = b"event: ping\n\n"


def stream_rounds(
    envelope: Envelope,
    completion: Completion,
    *,
    include_usage: bool,
    tokens_per_chunk: int,
    faults: frozenset[str],
    cached: int = 0,
) -> list[bytes]:
    """Encode the SSE stream of ``completion`` as rounds of frames (see the module docstring)."""
    enc = _ChunkEncoder(envelope, include_usage, faults)
    per_choice: list[list[list[bytes]]] = []
    for choice in completion.choices:
        build = _tool_steps if choice.tool_calls else _text_steps
        steps = build(choice, enc, tokens_per_chunk, faults)
        finish = enc.choice(choice.index, {}, choice.finish_reason)
        steps[-1].append(finish)
        if "stream_single_finish_reason" in faults:
            steps[-1].append(finish)
        per_choice.append(steps)
    rounds: list[list[bytes]] = []
    for r in range(max(len(s) for s in per_choice)):
        rounds.append([frame for steps in per_choice if r < len(steps) for frame in steps[r]])
    if "stream_chunk_is_json" in faults:
        rounds[0].insert(1, BROKEN_FRAME)
    if "stream_sdk_compatible" in faults:
        rounds[0].insert(1, DATALESS_FRAME)
    if include_usage:
        send_usage = "stream_usage_chunk_final" not in faults
    else:
        send_usage = "stream_usage_only_if_requested" in faults
    if send_usage:
        usage = usage_dict(completion.prompt_tokens, completion.completion_tokens, faults, cached)
        rounds[-1].append(enc.usage(usage))
    if "stream_done_last" not in faults:
        rounds[-1].append(DONE_FRAME)
    return [b"".join(frames) for frames in rounds]
