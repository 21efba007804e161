"""Resident memory of `llmconform load` per 1,000 concurrent streams, next to a bare locust FastHttpUser.

Figure: MB of RSS per 1,000 concurrent streams = (RSS with 1,000 users - RSS with 10 users) x 1000/990,
for llmconform's locust process and for a bare FastHttpUser reading the same streams, and the ratio
of the two (measured in the same run; there is no pass/fail target, the figure is for sizing).

Method
    One ``llmconform mock --port 0 --ttft-ms 100 --itl-ms 200`` runs as its own process. Every request
    asks for N output tokens with ignore_eos, so a stream lasts 0.1 + 0.2 x (N - 1) s (N = 75: 14.9 s)
    and each user keeps one stream open for nearly the whole run. Runs (each bounded to well under
    60 s), in this order:
      A10, A1000  ``llmconform load --users U --duration D --warmup 0 --output-tokens N --ignore-eos``
                  (spawned at min(U, 1000)/s, so all streams are open within about a second; D < the
                  stream length, so each user sends one request and the run ends when its stream does)
      B10, B1000  ``locust -f bench/bare_fasthttp_locustfile.py -u U -r U -t Ts`` (T = the stream length +
                  1 s: every first stream completes; the second ones are cut when locust stops)
    psutil samples every 0.25 s the RSS of the locust process(es) (A: the locust child of the CLI, the
    CLI itself is reported separately as "tree"), the connections established at the mock (the
    streams open) and CPU. The figure uses the largest RSS sampled once the streams are open (from
    the first sample with U connections on; i.e. while all U streams are in flight, growing as their
    answers accumulate). RLIMIT_NOFILE is raised for the children first; if 1,000 streams cannot be
    opened the output says how many were.

Reading the output: one line per run (streams open at the peak, peak RSS of locust and of the whole
tree, requests completed), then MB per 1,000 streams for both generators and their ratio.

    .venv/bin/python bench/load_memory.py [--output-tokens 75] [--quick]
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

from load_generator_capacity import (
    MockProcess,
    RunUsage,
    fmt,
    no_leftovers,
    raise_nofile,
    run_bare_locust,
    run_llmconform,
)

TTFT_MS = 100.0
ITL_MS = 200.0
SMALL, LARGE = 10, 1000


@dataclass
class MemoryRun:
    name: str
    users: int
    usage: RunUsage
    completed: int
    failed: int

    @property
    def open_at_peak(self) -> int:
        return max((s.probe or 0 for s in self.usage.samples), default=0)

    def _from(self) -> float:
        """When all the streams were open (the first sample with the most connections seen)."""
        peak = self.open_at_peak
        return next((s.at for s in self.usage.samples if (s.probe or 0) >= peak), 0.0)

    @property
    def rss_mb(self) -> float:
        return self.usage.peak_rss_mb(self._from())

    @property
    def tree_mb(self) -> float:
        return self.usage.peak_rss_mb(self._from(), tree=True)


def stream_seconds(tokens: int) -> float:
    return (TTFT_MS + ITL_MS * (tokens - 1)) / 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output-tokens", type=int, default=75, help="tokens per stream (75: 14.9 s streams)")
    parser.add_argument("--quick", action="store_true", help="6.1 s streams (31 tokens): a smoke check, ~1 minute")
    args = parser.parse_args()
    tokens = 31 if args.quick else args.output_tokens
    length = stream_seconds(tokens)
    run_a = max(length - 2.0, 1.0)  # no new request after this: one stream per user, the run ends with it
    run_b = length + 1.0  # every first stream completes, then locust stops (cutting the second ones)
    limit = raise_nofile()
    runs: list[MemoryRun] = []
    with no_leftovers(), MockProcess(ttft_ms=TTFT_MS, itl_ms=ITL_MS) as mock:
        print(
            f"mock {mock.url} (TTFT {TTFT_MS:g} ms, ITL {ITL_MS:g} ms); streams of {tokens} tokens last "
            f"{length:.1f} s; RLIMIT_NOFILE soft limit {limit}\n"
        )
        print(
            f"{'run':>6} {'users':>6} {'streams open':>12} {'locust RSS MB':>13} {'tree RSS MB':>11} "
            f"{'locust CPU %':>12} {'completed':>9} {'failed':>6} {'wall s':>6}"
        )
        for name, users in (("A", SMALL), ("A", LARGE), ("B", SMALL), ("B", LARGE)):
            if name == "A":
                doc, usage = run_llmconform(
                    mock,
                    users=users,
                    duration_s=run_a,
                    warmup_s=0,
                    output_tokens=tokens,
                    probe=mock.open_connections,
                )
                completed, failed = doc["requests"]["ok"], doc["requests"]["failed"]
            else:
                bare, usage = run_bare_locust(
                    mock, users=users, run_s=run_b, warmup_s=0, output_tokens=tokens, probe=mock.open_connections
                )
                completed, failed = bare["completed"], bare["failed"]
            run = MemoryRun(f"{name}{users}", users, usage, completed, failed)
            runs.append(run)
            cpu, _ = usage.steady_cpu_pct()
            print(
                f"{run.name:>6} {users:>6} {run.open_at_peak:>12} {run.rss_mb:>13.1f} {run.tree_mb:>11.1f} "
                f"{fmt(cpu):>12} {completed:>9} {failed:>6} {usage.wall_s:>6.1f}",
                flush=True,
            )
    by_name = {r.name: r for r in runs}
    scale = 1000 / (LARGE - SMALL)
    llm_mb = (by_name[f"A{LARGE}"].rss_mb - by_name[f"A{SMALL}"].rss_mb) * scale
    bare_mb = (by_name[f"B{LARGE}"].rss_mb - by_name[f"B{SMALL}"].rss_mb) * scale
    print(
        f"\nMB per 1,000 concurrent streams ({tokens}-token streams, RSS at the peak): llmconform {llm_mb:.1f}, "
        f"bare locust {bare_mb:.1f}, ratio {llm_mb / bare_mb if bare_mb > 0 else float('nan'):.2f}"
    )
    short = [r for r in runs if r.users == LARGE and r.open_at_peak < LARGE]
    for run in short:
        print(f"note: {run.name} reached only {run.open_at_peak} open streams (of {LARGE})")
    if by_name[f"A{LARGE}"].failed:
        print(f"note: llmconform had {by_name[f'A{LARGE}'].failed} failed request(s) with {LARGE} users")
    return 1 if short else 0


if __name__ == "__main__":
    sys.exit(main())
