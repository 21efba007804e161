"""Whether `llmconform load` reads TTFT and ITL as a minimal reference client does, on the same server.

Target: against a server with a known TTFT of 50 ms and ITL of 10 ms at 20 concurrent streams,
llmconform's reported TTFT p50 is within 2 ms of a minimal reference client measured in the same
run, and its ITL p50 within 0.5 ms. The machine is shared and noisy, and the server's own timing
varies with load, so only same-run differences are judged (median over the rounds).

Method
    One ``llmconform mock --port 0 --ttft-ms 50 --itl-ms 10`` runs as its own process. Then, for
    --rounds, alternately:
      ref  20 threads in this process, each with one keep-alive ``http.client`` connection, POST the
           same kind of body (32 prompt tokens, max_tokens 32, ignore_eos, stream with usage) again
           and again for 2 s warm-up + D seconds. Each thread reads the body with ``read1`` as it
           arrives, stamps every read with ``time.perf_counter()``, splits SSE lines itself and
           parses each ``data:`` line as JSON. TTFT = send (just before ``request()``) to the first
           chunk whose choices[0].delta.content is non-empty; ITL = the gaps between successive such
           chunks, pooled. Requests sent in the warm-up are not counted. Exact medians.
      llm  ``llmconform load --users 20 --duration D --warmup 2 --input-tokens 32 --output-tokens 32
           --ignore-eos`` against the same mock; TTFT and ITL p50 from load.json (HdrHistogram, 3
           significant digits).
    The mock sleeps 50 ms, then sends one chunk per 10 ms (asyncio sleeps, so a real gap is a bit
    over 10 ms and grows when the machine is busy); both clients see that same server.

Reading the output: one line per run with requests, TTFT p50/p90, ITL p50/p90 and the client's
CPU (% of one core; the reference's is this process's CPU, llmconform's its locust process); then
per round llmconform minus the reference, the median differences and a PASS/FAIL line (exit 0/1).

    .venv/bin/python bench/load_timing_accuracy.py [--rounds 3] [--duration 15] [--quick]
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import statistics
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from load_generator_capacity import API_KEY, MODEL, MockProcess, fmt, no_leftovers, raise_nofile, run_llmconform

TTFT_MS = 50.0
ITL_MS = 10.0
USERS = 20
WARMUP_S = 2.0
INPUT_TOKENS = 32
OUTPUT_TOKENS = 32
TTFT_TOLERANCE_MS = 2.0
ITL_TOLERANCE_MS = 0.5
# 25 words are 25 tokens on the mock; with the 7 tokens of chat overhead, 32 prompt tokens.
PROMPT = "Request of the reference client benchmark " + " ".join(["river"] * 19)


@dataclass
class RefResult:
    ttft_ms: list[float] = field(default_factory=list)
    itl_ms: list[float] = field(default_factory=list)
    requests: int = 0
    failed: int = 0
    cpu_s: float = 0.0
    wall_s: float = 0.0


def _one_stream(conn: http.client.HTTPConnection, body: bytes, headers: dict[str, str]) -> tuple[float, list[float]]:
    """Send one streamed request; return its TTFT and its content-chunk gaps (ms). Raises on any error."""
    sent = time.perf_counter()
    conn.request("POST", "/v1/chat/completions", body=body, headers=headers)
    response = conn.getresponse()
    if response.status != 200:
        response.read()
        raise RuntimeError(f"status {response.status}")
    arrivals: list[float] = []
    buffer = b""
    done = False
    while True:
        data = response.read1(65536)
        if not data:
            break
        now = time.perf_counter()
        buffer += data
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            if not line.startswith(b"data:"):
                continue
            payload = line[5:].strip()
            if payload == b"[DONE]":
                done = True
                continue
            chunk = json.loads(payload)
            choices = chunk.get("choices") or []
            if choices and (choices[0].get("delta") or {}).get("content"):
                arrivals.append(now)
    if not done or not arrivals:
        raise RuntimeError("stream ended without content or without [DONE]")
    ttft = (arrivals[0] - sent) * 1000
    gaps = [(b - a) * 1000 for a, b in itertools.pairwise(arrivals)]
    return ttft, gaps


def run_reference(url: str, *, users: int, warmup_s: float, duration_s: float) -> RefResult:
    """``users`` threads streaming back to back for warmup_s + duration_s; the measured part only."""
    parts = urlsplit(url)
    body = json.dumps(
        {
            "model": MODEL,
            "messages": [{"role": "user", "content": PROMPT}],
            "max_tokens": OUTPUT_TOKENS,
            "ignore_eos": True,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
    ).encode()
    headers = {"authorization": f"Bearer {API_KEY}", "content-type": "application/json"}
    result = RefResult()
    lock = threading.Lock()
    start = time.perf_counter()
    measure_from = start + warmup_s
    stop_at = measure_from + duration_s

    def user() -> None:
        conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=30)
        try:
            while True:
                began = time.perf_counter()
                if began >= stop_at:
                    return
                try:
                    ttft, gaps = _one_stream(conn, body, headers)
                except (OSError, http.client.HTTPException, RuntimeError, ValueError):
                    conn.close()
                    if began >= measure_from:
                        with lock:
                            result.requests += 1
                            result.failed += 1
                    continue
                if began >= measure_from:
                    with lock:
                        result.requests += 1
                        result.ttft_ms.append(ttft)
                        result.itl_ms.extend(gaps)
        finally:
            conn.close()

    previous = sys.getswitchinterval()
    sys.setswitchinterval(0.0005)  # hand the GIL over quickly when a waiting thread's data arrives
    cpu = time.process_time()
    threads = [threading.Thread(target=user, daemon=True) for _ in range(users)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=warmup_s + duration_s + 60)
    finally:
        sys.setswitchinterval(previous)
    result.cpu_s = time.process_time() - cpu
    result.wall_s = time.perf_counter() - start
    return result


def _p(values: list[float], q: float) -> float:
    """The q-quantile (0 < q < 1, in hundredths), interpolated; p50 is the exact median."""
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=15.0, help="measured seconds per run (after 2 s warm-up)")
    parser.add_argument("--quick", action="store_true", help="one round of 5 s (a smoke check, under a minute)")
    args = parser.parse_args()
    rounds, duration = (1, 5.0) if args.quick else (args.rounds, args.duration)
    raise_nofile()
    diffs: list[tuple[float, float]] = []
    failed = 0
    with no_leftovers(), MockProcess(ttft_ms=TTFT_MS, itl_ms=ITL_MS) as mock:
        print(
            f"mock {mock.url} (TTFT {TTFT_MS:g} ms, ITL {ITL_MS:g} ms); {USERS} concurrent streams of {OUTPUT_TOKENS} "
            f"tokens, {duration:g} s measured after {WARMUP_S:g} s warm-up, {rounds} round(s)\n"
        )
        print(
            f"{'round':>5} {'client':>10} {'requests':>8} {'TTFT p50':>9} {'TTFT p90':>9} {'ITL p50':>8} "
            f"{'ITL p90':>8} {'gaps':>7} {'CPU %':>6} {'failed':>6}"
        )
        for number in range(1, rounds + 1):
            ref = run_reference(mock.url, users=USERS, warmup_s=WARMUP_S, duration_s=duration)
            ref_row = (_p(ref.ttft_ms, 0.5), _p(ref.itl_ms, 0.5))
            print(
                f"{number:>5} {'reference':>10} {ref.requests:>8} {ref_row[0]:>9.2f} {_p(ref.ttft_ms, 0.9):>9.2f} "
                f"{ref_row[1]:>8.3f} {_p(ref.itl_ms, 0.9):>8.3f} {len(ref.itl_ms):>7} "
                f"{fmt(100 * ref.cpu_s / ref.wall_s):>6} {ref.failed:>6}",
                flush=True,
            )
            doc, usage = run_llmconform(
                mock,
                users=USERS,
                duration_s=duration,
                warmup_s=WARMUP_S,
                input_tokens=INPUT_TOKENS,
                output_tokens=OUTPUT_TOKENS,
            )
            latency: dict[str, Any] = doc["latency_ms"]
            ttft, itl = latency["ttft"], latency["itl"]
            cpu, _ = usage.steady_cpu_pct()
            print(
                f"{number:>5} {'llmconform':>10} {doc['requests']['total']:>8} {ttft['p50']:>9.2f} {ttft['p90']:>9.2f} "
                f"{itl['p50']:>8.3f} {itl['p90']:>8.3f} {itl['count']:>7} {fmt(cpu):>6} {doc['requests']['failed']:>6}",
                flush=True,
            )
            diff = (ttft["p50"] - ref_row[0], itl["p50"] - ref_row[1])
            diffs.append(diff)
            failed += ref.failed + doc["requests"]["failed"]
            print(f"{'':>5} {'llm - ref':>10} {'':>8} {diff[0]:>+9.2f} {'':>9} {diff[1]:>+8.3f}", flush=True)
    ttft_diff = statistics.median(d[0] for d in diffs)
    itl_diff = statistics.median(d[1] for d in diffs)
    print(
        f"\nmedian llmconform - reference: TTFT p50 {ttft_diff:+.2f} ms (target within {TTFT_TOLERANCE_MS:g} ms), "
        f"ITL p50 {itl_diff:+.3f} ms (target within {ITL_TOLERANCE_MS:g} ms)"
    )
    ok = abs(ttft_diff) <= TTFT_TOLERANCE_MS and abs(itl_diff) <= ITL_TOLERANCE_MS and failed == 0
    note = f"; {failed} failed request(s)" if failed else ""
    verdict = "PASS" if ok else "FAIL"
    print(f"{verdict}: TTFT p50 {ttft_diff:+.2f} ms, ITL p50 {itl_diff:+.3f} ms{note}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
