"""The baseline the load benchmarks compare `llmconform load` with: a bare locust FastHttpUser.

Each user POSTs a streamed chat completion shaped like llmconform's chat-stream workload (a prompt
of 32 prompt tokens on the mock, ``max_tokens`` output tokens with ``ignore_eos``, usage on) and
reads the stream to its end line by line, checking that the last data line is ``data: [DONE]``.
Nothing else: no JSON parsing of the chunks, no contract checks, no histograms.

Lines are split from ``iter_content`` exactly as locust's ``FastHttpSession.iter_lines`` splits
them. That helper itself is not used because it reports the request to locust when the headers
arrive, before the body is read; with ``catch_response=True`` the request is reported once, after
the stream was read to its end (as llmconform does).

Configured by environment (the benchmarks set it):
    LLMCONFORM_API_KEY      the bearer key (never on the command line)
    BENCH_MODEL             model id (default llmconform-mock-small)
    BENCH_OUTPUT_TOKENS     max_tokens (default 16)
    BENCH_WARMUP_S          seconds after test start whose sends are not counted (default 0)
    BENCH_RESULT            when set, a JSON file written at the end with the requests counted the way
                            llmconform counts them: sent after the warm-up, from the first such send to
                            the last completion (``completed``, ``failed``, ``first_send``, ``last_done``)

Run by bench/load_generator_capacity.py and bench/load_memory.py; by hand, for example:
    LLMCONFORM_API_KEY=sk-llmconform-mock .venv/bin/python -m locust -f bench/bare_fasthttp_locustfile.py \
        --headless -u 50 -r 50 -t 10s --host http://127.0.0.1:8400 --only-summary
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from locust import FastHttpUser, constant, events, task

API_KEY = os.environ.get("LLMCONFORM_API_KEY", "")
MODEL = os.environ.get("BENCH_MODEL", "llmconform-mock-small")
OUTPUT_TOKENS = int(os.environ.get("BENCH_OUTPUT_TOKENS", "16"))
WARMUP_S = float(os.environ.get("BENCH_WARMUP_S", "0"))
RESULT = os.environ.get("BENCH_RESULT", "")
# 25 words are 25 tokens on the mock; with the 7 tokens of chat overhead, 32 prompt tokens.
PROMPT = "Request of the bare locust benchmark " + " ".join(["river"] * 19)
BODY = {
    "model": MODEL,
    "messages": [{"role": "user", "content": PROMPT}],
    "max_tokens": OUTPUT_TOKENS,
    "ignore_eos": True,
    "stream": True,
    "stream_options": {"include_usage": True},
}
HEADERS = {"authorization": f"Bearer {API_KEY}"} if API_KEY else {}

_counts: dict[str, Any] = {"completed": 0, "failed": 0, "first_send": None, "last_done": None, "start": None}


@events.test_start.add_listener
def _on_test_start(**_: Any) -> None:
    _counts["start"] = time.perf_counter()


@events.quitting.add_listener
def _on_quitting(**_: Any) -> None:
    if RESULT:
        with open(RESULT, "w", encoding="utf-8") as file:
            json.dump({**_counts, "warmup_s": WARMUP_S}, file)


class BareStreamUser(FastHttpUser):
    wait_time = constant(0)

    @task
    def chat_stream(self) -> None:
        sent = time.perf_counter()
        last = ""
        ok = False
        with self.client.post(
            "/v1/chat/completions",
            json=BODY,
            headers=HEADERS,
            name="chat-stream",
            stream=True,
            catch_response=True,
        ) as response:
            if response.status_code == 200:
                buffer = ""
                for chunk in response.iter_content(chunk_size=1024, decode_content=True):
                    buffer += chunk if isinstance(chunk, str) else chunk.decode("utf-8", errors="replace")
                    while "\n" in buffer:
                        line, buffer = buffer.split("\n", 1)
                        if line:
                            last = line
                ok = last == "data: [DONE]"
            if ok:
                response.success()
            else:
                response.failure(f"status {response.status_code}, last line {last[:80]!r}")
        done = time.perf_counter()
        start = _counts["start"]
        if start is not None and sent - start >= WARMUP_S:
            _counts["completed" if ok else "failed"] += 1
            first = _counts["first_send"]
            _counts["first_send"] = sent if first is None else min(first, sent)
            _counts["last_done"] = done
