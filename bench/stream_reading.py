"""Reading a stream of many small deltas takes linear time, in every format (a hostile server's defence).

Figure: for each format, the time to build its view of a stream of N 100-character deltas and of 8N, and
the ratio of the two. Linear reading gives about 8; the old ``text = text + piece`` reading gave about
64 (each piece copied the whole text so far), so a 32 MiB stream of tiny deltas took minutes to judge
after the request had ended. Target: ratio < 16 for every format (measured in the same run, so the
machine's speed cancels out).

    .venv/bin/python bench/stream_reading.py [--deltas 2000]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable

from llmconform.exchange import Exchange, StreamEvent
from llmconform.families.chat import chat_view
from llmconform.families.gemini import gemini_view
from llmconform.families.messages import messages_view
from llmconform.families.responses import responses_view

TARGET_RATIO = 16.0
# One delta: 100 characters, as a fast model's multi-token chunks or a hostile server's filler.
PIECE = " lighthouse" * 9 + " sea"


def chat_events(n: int) -> list[tuple[str, str]]:
    chunk = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m"}
    return [("message", json.dumps({**chunk, "choices": [{"index": 0, "delta": {"content": PIECE}}]}))] * n


def messages_events(n: int) -> list[tuple[str, str]]:
    start = {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}
    delta = {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": PIECE}}
    return [("content_block_start", json.dumps(start))] + [("content_block_delta", json.dumps(delta))] * n


def gemini_events(n: int) -> list[tuple[str, str]]:
    frame = {"candidates": [{"index": 0, "content": {"role": "model", "parts": [{"text": PIECE}]}}]}
    return [("message", json.dumps(frame))] * n


def responses_events(n: int) -> list[tuple[str, str]]:
    delta = {"type": "response.output_text.delta", "output_index": 0, "content_index": 0, "delta": PIECE}
    return [("response.output_text.delta", json.dumps(delta))] * n


FORMATS: dict[str, tuple[str, str, Callable[[int], list[tuple[str, str]]], Callable[[Exchange], object]]] = {
    "chat": ("chat", "/v1/chat/completions", chat_events, chat_view),
    "messages": ("messages", "/v1/messages", messages_events, messages_view),
    "gemini": ("gemini", "/v1beta/models/m:streamGenerateContent?alt=sse", gemini_events, gemini_view),
    "responses": ("responses", "/v1/responses", responses_events, responses_view),
}


def seconds_to_read(name: str, n: int) -> float:
    family, path, events, view = FORMATS[name]
    exchange = Exchange(
        family=family,
        operation=family,
        method="POST",
        url=f"http://127.0.0.1:9{path}",
        request_headers={},
        request_json={"model": "m", "stream": True},
        status=200,
        response_headers={"content-type": "text/event-stream"},
        events=[StreamEvent(at_s=i * 1e-4, event=e, data=d) for i, (e, d) in enumerate(events(n))],
    )
    started = time.perf_counter()
    view(exchange)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--deltas", type=int, default=2_000)
    args = parser.parse_args()
    failed = False
    for name in FORMATS:
        small = min(seconds_to_read(name, args.deltas) for _ in range(3))
        large = seconds_to_read(name, 8 * args.deltas)
        ratio = large / small
        verdict = "PASS" if ratio < TARGET_RATIO else "FAIL"
        failed |= verdict == "FAIL"
        print(
            f"{name:10} {args.deltas:>7} deltas {small * 1000:8.1f} ms, {8 * args.deltas:>7} deltas "
            f"{large * 1000:8.1f} ms: ratio {ratio:5.1f} (linear 8, target < {TARGET_RATIO:g}) {verdict}"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
