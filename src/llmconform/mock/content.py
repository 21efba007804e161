"""Deterministic answers: what each choice says, where it ends, what it costs in tokens.

Every choice is drawn from ``random.Random`` seeded with SHA-256(``content_seed`` + choice
index), so the same request always gets the same answer (see ``request`` for what enters the
seed). An answer is a list of token pieces in the mock's tokenizer (``tokenizer.tokenize``);
the content is their concatenation and ``completion_tokens`` is the number of pieces emitted.

* Natural text: 8-48 pieces of English-ish words, occasional ",", ending in ".". With the vLLM
  extension ``ignore_eos: true`` and a token limit, sentences follow each other until the limit, so
  a load workload gets exactly the output length it asks for (finish "length").
* ``response_format`` ``json_object`` -> ``{"answer":"<natural text>"}``; ``json_schema`` -> a
  seeded instance of its schema (``{}`` without one); both are tokenized like text.
* Tools: ``tool_choice`` "none" -> text; "required" -> call the first tool; a named choice ->
  call that tool; "auto" or absent -> call the first tool when the last message is from the
  user, else text. A call's arguments are the compact JSON of a seeded instance of the tool's
  ``parameters`` schema, and its pieces are the tokens of that string.
* ``max_completion_tokens`` (else ``max_tokens``) = k shorter than the answer -> the first k
  pieces, finish "length". A stop string inside the (possibly truncated) text cuts the content
  just before its earliest occurrence (the last piece may be partial and counts as one) with
  finish "stop". Stop strings do not apply to tool-call arguments.
* Logprobs come from a second generator seeded per choice, one entry per emitted piece, so
  they too are a prefix of the untruncated answer's.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from llmconform.mock.instances import instance_for
from llmconform.mock.request import ChatRequest
from llmconform.mock.tokenizer import tokenize

__all__ = ["Choice", "Completion", "TokenLogprob", "ToolCall", "generate"]

_VOCABULARY = (
    "the", "model", "answer", "is", "a", "simple", "mock", "reply", "with", "tokens",
    "that", "count", "exactly", "and", "stream", "in", "order", "every", "request", "gets",
    "same", "words", "for", "seed", "clear", "river", "stone", "light", "quiet", "morning",
    "follows", "from", "of", "to", "each", "small", "useful", "test", "data", "value",
    "check", "contract", "keeps", "its", "shape", "under", "load", "fast",
)  # fmt: skip
_ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_MIN_PIECES = 8
_MAX_PIECES = 48
_EXTRA_STREAM_PIECE = " indeed"


@dataclass(frozen=True, slots=True)
class TokenLogprob:
    """Log probability of one emitted piece and its ranked alternatives (chosen piece first)."""

    token: str
    logprob: float
    top: tuple[tuple[str, float], ...]


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One generated call; ``pieces`` are the emitted tokens of ``arguments``."""

    id: str
    name: str
    arguments: str
    pieces: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Choice:
    """One generated choice. ``pieces`` holds content pieces, empty for a tool-call answer."""

    index: int
    content: str | None
    pieces: tuple[str, ...]
    tool_calls: tuple[ToolCall, ...]
    finish_reason: str
    completion_tokens: int
    logprobs: tuple[TokenLogprob, ...] | None


@dataclass(frozen=True, slots=True)
class Completion:
    """All choices of one request and its token counts."""

    choices: tuple[Choice, ...]
    prompt_tokens: int
    completion_tokens: int


def generate(request: ChatRequest, faults: frozenset[str], *, streaming: bool = False) -> Completion:
    """Answer ``request`` deterministically, with the content-level ``faults`` applied.

    ``streaming`` matters only to the ``stream_matches_unary`` fault.
    """
    count = 1 if "n_choices_count" in faults else request.n
    choices = tuple(_choice(request, faults, i, streaming) for i in range(count))
    completion = sum(c.completion_tokens for c in choices)
    return Completion(choices=choices, prompt_tokens=request.prompt_tokens, completion_tokens=completion)


# The mock models' context length: with ignore_eos an answer stops here at the latest (vLLM stops at
# max_model_len the same way).
CONTEXT_TOKENS = 32_768


def _rng(request: ChatRequest, index: int, purpose: bytes) -> random.Random:
    digest = hashlib.sha256(request.content_seed + index.to_bytes(4, "big") + purpose).digest()
    return random.Random(int.from_bytes(digest, "big"))


def _natural_pieces(rng: random.Random, at_least: int | None = None) -> list[str]:
    pieces = _sentence(rng)
    while at_least is not None and len(pieces) < at_least:
        pieces += [" " + p if i == 0 else p for i, p in enumerate(_sentence(rng))]
    return pieces


def _sentence(rng: random.Random) -> list[str]:
    length = rng.randint(_MIN_PIECES, _MAX_PIECES)
    pieces: list[str] = []
    while len(pieces) < length - 1:
        word = rng.choice(_VOCABULARY)
        pieces.append(" " + word if pieces else word.capitalize())
        if len(pieces) < length - 2 and rng.random() < 0.12:
            pieces.append(",")
    pieces.append(".")
    return pieces


def _tool_to_call(request: ChatRequest, faults: frozenset[str]) -> Mapping[str, Any] | None:
    """Return the function definition to call, or None for a text answer."""
    choice = request.tool_choice
    functions = [t.get("function") for t in request.tools]
    named = [f for f in functions if isinstance(f, Mapping) and isinstance(f.get("name"), str)]
    if isinstance(choice, Mapping):
        if "tool_choice_honoured" in faults:
            return None
        wanted = choice.get("function")
        name = wanted.get("name") if isinstance(wanted, Mapping) else None
        # A named tool that was not offered cannot be called: answer as with "auto" (OpenAI refuses such a
        # request with 400; the mock stays lenient on schema-valid input so schemathesis sees it accepted).
        offered = next((f for f in named if f["name"] == name), None)
        if offered is not None:
            return offered
        choice = "auto"
    if not named or choice == "none":
        return None
    if choice == "required":
        return named[0]
    last = request.messages[-1] if request.messages else None
    if isinstance(last, Mapping) and last.get("role") == "user":
        return named[0]
    return None


def _text_pieces(request: ChatRequest, faults: frozenset[str], rng: random.Random) -> list[str]:
    fmt = request.response_format.get("type") if request.response_format else None
    if fmt not in ("json_object", "json_schema") or "json_mode_content_parses" in faults:
        # ignore_eos: one piece past the limit, so the limit always cuts and the finish is "length"; never
        # more than the mock model's context, so no request makes the mock build gigabytes of answer.
        at_least = (
            min(request.max_tokens, CONTEXT_TOKENS) + 1
            if request.ignore_eos and request.max_tokens is not None
            else None
        )
        return _natural_pieces(rng, at_least)
    if fmt == "json_object":
        text = orjson.dumps({"answer": "".join(_natural_pieces(rng))}).decode()
    elif "json_schema_content_valid" in faults:
        text = "{}"
    else:
        spec = request.response_format.get("json_schema") if request.response_format else None
        schema = spec.get("schema") if isinstance(spec, Mapping) else None
        text = orjson.dumps(instance_for(schema, rng)).decode()
    return tokenize(text)


def _truncate(pieces: list[str], limit: int | None, faults: frozenset[str]) -> tuple[list[str], bool]:
    if limit is None or limit >= len(pieces):
        return pieces, False
    keep = limit + 1 if "completion_within_max_tokens" in faults else limit
    return pieces[:keep], True


def _cut_at_stop(pieces: list[str], stops: Sequence[str], faults: frozenset[str]) -> list[str] | None:
    """Return the pieces up to the earliest stop string, or None when no stop string occurs."""
    text = "".join(pieces)
    hits = [(pos, len(stop)) for stop in stops if (pos := text.find(stop)) >= 0]
    if not hits:
        return None
    pos, size = min(hits)
    end = pos + size if "stop_sequence_excluded" in faults else pos
    out: list[str] = []
    offset = 0
    for piece in pieces:
        if offset >= end:
            break
        out.append(piece[: end - offset])
        offset += len(piece)
    if "stop_sequence_ends_answer" in faults and out:
        out.pop()  # stop one token early: the stop string is still absent, but the answer is cut short
    return out


def _logprobs(
    request: ChatRequest, faults: frozenset[str], index: int, pieces: Sequence[str]
) -> tuple[TokenLogprob, ...]:
    rng = _rng(request, index, b"logprobs")
    wanted = request.top_logprobs + (1 if "top_logprobs_count" in faults else 0)
    positive = "logprob_values_valid" in faults
    entries: list[TokenLogprob] = []
    for piece in pieces:
        value = -round(rng.random() ** 2 * 2.5, 6)
        top: list[tuple[str, float]] = []
        if wanted:
            top.append((piece, value))
            alt = value
            for token in _alternatives(rng, piece, wanted - 1):
                alt = round(alt - rng.uniform(0.05, 1.5), 6)
                top.append((token, alt))
        if positive:
            value = 0.5
            top = [(token, 0.5) for token, _ in top]
        entries.append(TokenLogprob(token=piece, logprob=value, top=tuple(top)))
    if "logprobs_token_count" in faults and entries:
        entries.pop()
    return tuple(entries)


def _alternatives(rng: random.Random, piece: str, count: int) -> list[str]:
    """``count`` distinct runner-up tokens for ``piece``, with its leading whitespace."""
    lead = piece[: len(piece) - len(piece.lstrip())]
    words = [w for w in _VOCABULARY if lead + w != piece]
    picked = rng.sample(words, min(count, len(words)))
    picked += [f"{words[k % len(words)]}{k // len(words) + 1}" for k in range(len(picked), count)]
    return [lead + word for word in picked]


def _call_id(rng: random.Random) -> str:
    return "call_" + "".join(rng.choice(_ALNUM) for _ in range(24))


def _choice(request: ChatRequest, faults: frozenset[str], index: int, streaming: bool) -> Choice:
    rng = _rng(request, index, b"content")
    shown_index = 0 if "choice_indices_permutation" in faults else index
    function = _tool_to_call(request, faults)
    calls: tuple[ToolCall, ...] = ()
    content: str | None
    if function is not None:
        call_id = _call_id(rng)
        arguments = orjson.dumps(instance_for(function.get("parameters"), rng)).decode()
        emitted, truncated = _truncate(tokenize(arguments), request.max_tokens, faults)
        calls = (ToolCall(call_id, str(function["name"]), "".join(emitted), tuple(emitted)),)
        pieces: tuple[str, ...] = ()
        content = None
        finish = "length" if truncated else "tool_calls"
    else:
        emitted, truncated = _truncate(_text_pieces(request, faults, rng), request.max_tokens, faults)
        cut = _cut_at_stop(emitted, request.stop, faults) if request.stop else None
        if cut is not None:
            emitted, truncated = cut, False
        if streaming and "stream_matches_unary" in faults:
            emitted = [*emitted, _EXTRA_STREAM_PIECE]
        pieces = tuple(emitted)
        content = "".join(pieces)
        finish = "length" if truncated else "stop"
        if "tool_calls_finish_reason" in faults:
            finish = "tool_calls"
    if truncated and "truncation_finish_reason_length" in faults:
        finish = "stop"
    wants_logprobs = request.logprobs or "logprobs_absent_unless_requested" in faults
    return Choice(
        index=shown_index,
        content=content,
        pieces=pieces,
        tool_calls=calls,
        finish_reason=finish,
        completion_tokens=len(emitted),
        logprobs=_logprobs(request, faults, index, emitted) if wants_logprobs else None,
    )
