"""What each load request asks: synthetic prompts of target token lengths, or prompts from a file.

Synthetic prompts
    A prompt of input length L is a unique opening ("Request 12-3 of the llmconform load.") followed
    by common English words until the message content holds L - 7 tokens in the mock's tokenizer
    (one word with its leading space is one token there, and one in the usual BPE vocabularies too);
    7 is the chat overhead the mock counts for one user message (3 priming + 3 per message + the
    role). Servers count their own template, so the report shows the server's mean prompt_tokens
    next to the target. Lengths are drawn from the plan's distributions with ``random.Random``
    seeded by (seed, process index), so a run is repeatable and workers never send the same stream.

JSONL prompts (``--prompts FILE``)
    One JSON object per line: ``{"prompt": "text"}`` or ``{"messages": [...]}`` (chat messages as
    the API takes them), optionally with ``"output_tokens": N``. Blank lines are skipped. Prompts are
    used in a seeded shuffled order, cycling when the run outlasts the file.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmconform.families import build_request
from llmconform.families.chat import CHAT_OPERATION, CHAT_PATH
from llmconform.load.plan import TokenDistribution, WorkloadSpec
from llmconform.mock.tokenizer import count_tokens

__all__ = ["CHAT_OVERHEAD_TOKENS", "PromptEntry", "Workload", "WorkloadError", "load_prompts"]

CHAT_OVERHEAD_TOKENS = 7
_WORDS = (
    "time", "people", "way", "water", "world", "house", "story", "music", "river", "light",
    "city", "garden", "paper", "table", "window", "market", "winter", "summer", "family", "school",
    "number", "question", "answer", "morning", "evening", "road", "friend", "letter", "forest", "bridge",
)  # fmt: skip


class WorkloadError(ValueError):
    """The prompts file cannot be used; the message names the line and the fix."""


@dataclass(frozen=True, slots=True)
class PromptEntry:
    """One prompt from a file: chat messages and, optionally, its own output length."""

    messages: tuple[dict[str, Any], ...]
    output_tokens: int | None = None


def load_prompts(path: str | Path) -> list[PromptEntry]:
    """Read and validate a JSONL prompts file (see the module docstring for the format)."""
    file = Path(path)
    try:
        lines = file.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise WorkloadError(f"cannot read prompts file {file}: {exc}") from None
    entries: list[PromptEntry] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{file}:{number}"
        try:
            item = json.loads(line)
        except ValueError as exc:
            raise WorkloadError(f"{where}: not JSON ({exc}); each line must be one JSON object") from None
        if not isinstance(item, dict):
            raise WorkloadError(f'{where}: expected an object like {{"prompt": "..."}}, got {type(item).__name__}')
        entries.append(_entry(item, where))
    if not entries:
        raise WorkloadError(f'{file}: no prompts; write one JSON object per line, e.g. {{"prompt": "Hello"}}')
    return entries


def _entry(item: dict[str, Any], where: str) -> PromptEntry:
    output = item.get("output_tokens")
    if output is not None and (not isinstance(output, int) or isinstance(output, bool) or output < 1):
        raise WorkloadError(f"{where}: output_tokens must be an integer >= 1, got {output!r}")
    if isinstance(item.get("prompt"), str):
        return PromptEntry(({"role": "user", "content": item["prompt"]},), output)
    messages = item.get("messages")
    if (
        isinstance(messages, list)
        and messages
        and all(isinstance(m, dict) and isinstance(m.get("role"), str) for m in messages)
    ):
        return PromptEntry(tuple(messages), output)
    raise WorkloadError(
        f'{where}: needs "prompt" (a string) or "messages" (a non-empty list of {{"role", "content"}} objects)'
    )


class Workload:
    """Builds the request bodies of one locust process, deterministically from the plan's seed."""

    def __init__(self, spec: WorkloadSpec, model: str, process_index: int = 0, embedding_model: str = "") -> None:
        self.spec = spec
        self.model = model
        self.embedding_model = embedding_model or model
        self.process_index = process_index
        self._rng = random.Random(f"{spec.seed}:{process_index}")
        self._prompts = load_prompts(spec.prompts_file) if spec.prompts_file else None
        self._order: list[int] = []
        self._sequence = 0

    def chat_body(self, *, stream: bool) -> dict[str, Any]:
        """The next chat-completions request body."""
        self._sequence += 1
        messages, output = self._next_prompt()
        body: dict[str, Any] = {"model": self.model, "messages": list(messages), self.spec.limit_key: output}
        if self.spec.ignore_eos:
            body["ignore_eos"] = True
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        return body

    def request(self, family: str, *, stream: bool) -> tuple[str, str, str, dict[str, Any]]:
        """The next request of ``family`` as (method, path, operation, body): the same prompts and output
        lengths as chat, translated into that family's format."""
        if family == "chat":
            body = self.chat_body(stream=stream)
            return "POST", CHAT_PATH, CHAT_OPERATION, body
        self._sequence += 1
        messages, output = self._next_prompt()
        params: dict[str, Any] = {"ignore_eos": True} if self.spec.ignore_eos else {}
        model = self.embedding_model if family == "embeddings" else self.model
        return build_request(family, model, list(messages), max_tokens=output, stream=stream, **params)

    def _next_prompt(self) -> tuple[tuple[dict[str, Any], ...], int]:
        if self._prompts is None:
            length = draw(self.spec.input_tokens, self._rng)
            return ({"role": "user", "content": self.synthetic_prompt(length)},), draw(
                self.spec.output_tokens, self._rng
            )
        if not self._order:
            self._order = list(range(len(self._prompts)))
            self._rng.shuffle(self._order)
        entry = self._prompts[self._order.pop()]
        return entry.messages, entry.output_tokens or draw(self.spec.output_tokens, self._rng)

    def synthetic_prompt(self, input_tokens: int) -> str:
        """A unique prompt whose chat request counts ``input_tokens`` prompt tokens on the mock."""
        text = f"Request {self.process_index}-{self._sequence} of the llmconform load."
        wanted = max(input_tokens - CHAT_OVERHEAD_TOKENS, 1)
        have = count_tokens(text)
        if have >= wanted:
            return text
        words = [self._rng.choice(_WORDS) for _ in range(wanted - have)]
        return text + " " + " ".join(words)


def draw(distribution: TokenDistribution, rng: random.Random) -> int:
    """One length from the distribution (always >= 1)."""
    if distribution.kind == "fixed":
        return distribution.mean
    if distribution.kind == "normal":
        return max(1, round(rng.gauss(distribution.mean, distribution.stdev)))
    return rng.randint(distribution.low, distribution.high)
