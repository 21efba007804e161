"""How many streamed requests per second `llmconform load` completes, next to a bare locust FastHttpUser.

Target: against a zero-latency mock, llmconform's completed streamed requests/s divided by those of
a bare locust FastHttpUser that reads the same stream, measured on the same machine in the same run,
is >= 0.8 (median over the rounds). The machine is shared and noisy, so only that same-run ratio is
judged; the absolute rates are printed for orientation.

Method
    One ``llmconform mock --port 0 --ttft-ms 0 --itl-ms 0`` runs as its own process (so the server is
    inside neither generator). Then, alternating A B A B ... for --rounds:
      A  ``llmconform load --scenario chat-stream --users 50 --duration D --warmup 2 --input-tokens 32
         --output-tokens 16 --ignore-eos`` against it; rate = load.json requests.total / duration_s.
      B  ``python -m locust -f bench/bare_fasthttp_locustfile.py --headless -u 50 -r 50 -t (2+D)s``: the same
         request body, the stream read to its end line by line and checked to end with ``data: [DONE]``.
    Both spawn 50 users at 50/s and exclude the same warm-up the same way: the bare locustfile counts
    only requests sent 2 s or more after test start, and divides by the time from the first such send
    to the last completion, which is how load.json defines requests_per_s and duration_s. (locust's
    --reset-stats would reset at the end of spawning, about 1 s in; its totals, warm-up included, are
    printed as a cross-check.) Requests still in flight when B's -t ends are cut off and not counted;
    A lets its last requests finish; at ~50 in flight of thousands this is noise.
    With a zero ITL the mock writes each whole stream (16 one-token chunks, a usage chunk, [DONE];
    about 5.4 kB) in one write, so this measures what each generator spends per request.

    CPU is sampled with psutil every 0.25 s: "% core" is the CPU time of the locust process (A: the
    locust child of the CLI; B: locust itself) and of the mock over the middle of each run (40-85% of
    the locust process's life: after start-up and warm-up, before shutdown), as % of one core, and
    "ms/req" is that CPU per completed request. "tree s" is the exact CPU of the whole generator
    process tree (getrusage of waited children: A includes the CLI parent, its start-up and its report).

    --profile FILE additionally runs llmconform's locust process once under cProfile (the same argv
    llmconform builds, with the same plan) and prints where its time goes.

Reading the output: one line per round (A and B rates, A/B, CPU), then the medians and a PASS/FAIL
line; the exit status is 0 on PASS and 1 on FAIL.

    .venv/bin/python bench/load_generator_capacity.py [--rounds 3] [--duration 15] [--quick] [--profile FILE]

The process helpers here (the mock process, running a generator with CPU/RSS sampling, stopping
every process started) are shared with bench/load_timing_accuracy.py and bench/load_memory.py.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

REPO = Path(__file__).resolve().parents[1]
BARE_LOCUSTFILE = REPO / "bench" / "bare_fasthttp_locustfile.py"
API_KEY = "sk-llmconform-mock"  # the embedded mock's documented key
MODEL = "llmconform-mock-small"
TARGET_RATIO = 0.8
USERS = 50
WARMUP_S = 2.0
INPUT_TOKENS = 32
OUTPUT_TOKENS = 16


# ---------------------------------------------------------------------------------------------------
# Process helpers (shared with the other load benchmarks)


def raise_nofile(wanted: int = 65536) -> int:
    """Raise this process's soft RLIMIT_NOFILE (children inherit it); return the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    ceiling = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < ceiling:
        resource.setrlimit(resource.RLIMIT_NOFILE, (ceiling, hard))
        soft = ceiling
    return int(soft)


def stop_tree(process: subprocess.Popen[Any], *, grace_s: float = 20.0) -> None:
    """Stop a process we started and every process below it (locust runs in sessions of its own).

    SIGTERM first (``llmconform load`` then stops its locust processes and reaps them), SIGKILL for
    whatever is left after ``grace_s``; processes are addressed by pid, never by name.
    """
    try:
        below = psutil.Process(process.pid).children(recursive=True)
    except psutil.Error:
        below = []
    if process.poll() is None:
        try:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            pass
    _, alive = psutil.wait_procs(below, timeout=2.0)
    for leftover in alive:
        try:
            leftover.kill()
        except psutil.Error:
            pass
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            process.kill()
        process.wait()


class MockProcess:
    """``llmconform mock`` on a free port (port 0), in a session of its own; a context manager."""

    def __init__(self, ttft_ms: float, itl_ms: float, extra: Sequence[str] = ()) -> None:
        self.argv = [
            sys.executable,
            "-m",
            "llmconform.cli",
            "mock",
            "--port",
            "0",
            "--ttft-ms",
            f"{ttft_ms:g}",
            "--itl-ms",
            f"{itl_ms:g}",
            *extra,
        ]
        self.url = ""
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0
        self._log = tempfile.NamedTemporaryFile(prefix="llmconform-bench-mock-", suffix=".log")  # noqa: SIM115
        self._psutil: psutil.Process | None = None

    def __enter__(self) -> MockProcess:
        self.process = subprocess.Popen(
            self.argv, stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log, start_new_session=True
        )
        deadline = time.monotonic() + 30.0
        while time.monotonic() < deadline:
            text = Path(self._log.name).read_text(encoding="utf-8", errors="replace")
            found = re.search(r"listening on (http://\S+)", text)
            if found:
                self.url = found.group(1)
                self.port = int(self.url.rsplit(":", 1)[1].rstrip("/"))
                self._psutil = psutil.Process(self.process.pid)
                return self
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        self.__exit__(None, None, None)
        raise SystemExit(f"the mock did not start: {Path(self._log.name).read_text(errors='replace')[-2000:]}")

    def __exit__(self, *_exc: object) -> None:
        if self.process is not None:
            stop_tree(self.process, grace_s=10.0)
        self._log.close()

    def open_connections(self) -> int:
        """TCP connections established to the mock's port right now (one per connected client socket)."""
        if self._psutil is None:
            return 0
        try:
            connections = self._psutil.net_connections(kind="tcp")
        except psutil.Error:
            return 0
        return sum(1 for c in connections if c.status == psutil.CONN_ESTABLISHED and c.laddr.port == self.port)

    def cpu_s(self) -> float:
        """CPU seconds the mock has used so far."""
        if self._psutil is None:
            return 0.0
        try:
            times = self._psutil.cpu_times()
        except psutil.Error:
            return 0.0
        return float(times.user + times.system)


@dataclass
class Sample:
    at: float  # seconds since the generator was started
    locust_cpu_s: float
    locust_rss: int
    locust_processes: int
    mock_cpu_s: float
    tree_rss: int = 0  # every process of the generator's tree (for A: the CLI parent too)
    probe: int | None = None  # what the caller's probe returned (e.g. connections open at the mock)


@dataclass
class RunUsage:
    """What one generator run cost: wall time, exact tree CPU, and the sampled series."""

    wall_s: float = 0.0
    tree_cpu_s: float = 0.0
    samples: list[Sample] = field(default_factory=list)
    returncode: int | None = None
    stdout: str = ""
    stderr: str = ""

    def window(self, low: float = 0.40, high: float = 0.85) -> tuple[Sample, Sample] | None:
        """The first and last samples of the middle of the locust process's life (steady state)."""
        alive = [s for s in self.samples if s.locust_processes]
        if len(alive) < 4:
            return None
        begin, end = alive[0].at, alive[-1].at
        inside = [s for s in alive if begin + low * (end - begin) <= s.at <= begin + high * (end - begin)]
        return (inside[0], inside[-1]) if len(inside) >= 2 else None

    def steady_cpu_pct(self) -> tuple[float, float]:
        """(locust, mock) CPU in the steady-state window, % of one core."""
        span = self.window()
        if span is None:
            return float("nan"), float("nan")
        first, last = span
        seconds = last.at - first.at
        return (
            100 * (last.locust_cpu_s - first.locust_cpu_s) / seconds,
            100 * (last.mock_cpu_s - first.mock_cpu_s) / seconds,
        )

    def peak_rss_mb(self, after_s: float = 0.0, *, tree: bool = False) -> float:
        """The largest sampled RSS of the locust processes (or of the whole tree) from ``after_s`` on, in MiB."""
        values = [s.tree_rss if tree else s.locust_rss for s in self.samples if s.at >= after_s and s.locust_processes]
        return max(values, default=0) / 2**20


def _tree(root: psutil.Process) -> list[psutil.Process]:
    try:
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def _locust_processes(root: psutil.Process) -> list[psutil.Process]:
    found = []
    for process in _tree(root):
        try:
            if any("locust" in part for part in process.cmdline()):
                found.append(process)
        except psutil.Error:
            continue
    return found


def run_generator(
    argv: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    timeout_s: float,
    mock: MockProcess | None = None,
    interval_s: float = 0.25,
    probe: Callable[[], int] | None = None,
) -> RunUsage:
    """Run one load generator to its end, sampling its locust processes' CPU and RSS; never leaves one behind."""
    usage = RunUsage()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.monotonic()
        process = subprocess.Popen(
            list(argv), env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err, start_new_session=True
        )
        done = threading.Event()
        cpu_by_pid: dict[int, float] = {}

        def sample() -> None:
            root = psutil.Process(process.pid)
            while not done.is_set():
                rss = 0
                procs = _locust_processes(root)
                tree_rss = 0
                for proc in _tree(root):
                    try:
                        tree_rss += proc.memory_info().rss
                    except psutil.Error:
                        continue
                for proc in procs:
                    try:
                        with proc.oneshot():
                            times = proc.cpu_times()
                            rss += proc.memory_info().rss
                        cpu_by_pid[proc.pid] = times.user + times.system
                    except psutil.Error:
                        continue
                usage.samples.append(
                    Sample(
                        at=time.monotonic() - started,
                        locust_cpu_s=sum(cpu_by_pid.values()),
                        locust_rss=rss,
                        locust_processes=len(procs),
                        mock_cpu_s=mock.cpu_s() if mock is not None else 0.0,
                        tree_rss=tree_rss,
                        probe=probe() if probe is not None else None,
                    )
                )
                done.wait(interval_s)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            usage.returncode = process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            usage.returncode = None
        finally:
            done.set()
            stop_tree(process)
            sampler.join()
        usage.wall_s = time.monotonic() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        usage.tree_cpu_s = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        out.seek(0)
        err.seek(0)
        usage.stdout = out.read().decode(errors="replace")
        usage.stderr = err.read().decode(errors="replace")
    return usage


def llmconform_load_argv(
    url: str,
    report_dir: str | Path,
    *,
    users: int,
    duration_s: float,
    warmup_s: float,
    input_tokens: int,
    output_tokens: int,
    workers: int = 0,
) -> list[str]:
    return [
        sys.executable,
        "-m",
        "llmconform.cli",
        "load",
        "--base-url",
        url,
        "--api-key",
        API_KEY,
        "--model",
        MODEL,
        "--scenario",
        "chat-stream",
        "--users",
        str(users),
        "--duration",
        f"{duration_s:g}",
        "--warmup",
        f"{warmup_s:g}",
        "--input-tokens",
        str(input_tokens),
        "--output-tokens",
        str(output_tokens),
        "--ignore-eos",
        "--workers",
        str(workers),
        "--report-dir",
        str(report_dir),
    ]


def run_llmconform(
    mock: MockProcess,
    *,
    users: int,
    duration_s: float,
    warmup_s: float,
    input_tokens: int = INPUT_TOKENS,
    output_tokens: int = OUTPUT_TOKENS,
    workers: int = 0,
    probe: Callable[[], int] | None = None,
) -> tuple[dict[str, Any], RunUsage]:
    """One `llmconform load` run against the mock; its load.json and what it cost."""
    with tempfile.TemporaryDirectory(prefix="llmconform-bench-") as report_dir:
        argv = llmconform_load_argv(
            mock.url,
            report_dir,
            users=users,
            duration_s=duration_s,
            warmup_s=warmup_s,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            workers=workers,
        )
        usage = run_generator(argv, timeout_s=duration_s + warmup_s + 90, mock=mock, probe=probe)
        path = Path(report_dir) / "load.json"
        if not path.exists():
            raise SystemExit(f"llmconform load wrote no load.json (exit {usage.returncode}):\n{usage.stderr[-3000:]}")
        return json.loads(path.read_text(encoding="utf-8")), usage


def run_bare_locust(
    mock: MockProcess,
    *,
    users: int,
    run_s: float,
    warmup_s: float,
    output_tokens: int = OUTPUT_TOKENS,
    probe: Callable[[], int] | None = None,
) -> tuple[dict[str, Any], RunUsage]:
    """One bare FastHttpUser run for ``run_s`` seconds (warm-up included); its own counts and locust's stats."""
    with tempfile.TemporaryDirectory(prefix="llmconform-bench-bare-") as directory:
        result = Path(directory) / "bare.json"
        env = {
            **os.environ,
            "LLMCONFORM_API_KEY": API_KEY,
            "BENCH_MODEL": MODEL,
            "BENCH_OUTPUT_TOKENS": str(output_tokens),
            "BENCH_WARMUP_S": f"{warmup_s:g}",
            "BENCH_RESULT": str(result),
            "PYTHONUNBUFFERED": "1",
        }
        argv = [
            sys.executable,
            "-m",
            "locust",
            "-f",
            str(BARE_LOCUSTFILE),
            "--headless",
            "-u",
            str(users),
            "-r",
            str(min(users, 1000)),
            "-t",
            f"{math.ceil(run_s)}s",  # locust takes whole seconds
            "--host",
            mock.url,
            "--only-summary",
            "--json",
            "--loglevel",
            "WARNING",
        ]
        usage = run_generator(argv, env=env, timeout_s=run_s + 60, mock=mock, probe=probe)
        if not result.exists():
            raise SystemExit(f"bare locust wrote no result (exit {usage.returncode}):\n{usage.stderr[-3000:]}")
        counts = json.loads(result.read_text(encoding="utf-8"))
    try:
        stats = json.loads(usage.stdout)
    except ValueError:
        stats = []
    counts["locust_num_requests"] = sum(e.get("num_requests", 0) for e in stats)
    counts["locust_num_failures"] = sum(e.get("num_failures", 0) for e in stats)
    span = (counts["last_done"] or 0) - (counts["first_send"] or 0)
    counts["duration_s"] = span
    counts["requests_per_s"] = (counts["completed"] + counts["failed"]) / span if span > 0 else 0.0
    return counts, usage


@contextmanager
def no_leftovers() -> Iterator[None]:
    """Fail loudly if a benchmark left a child process running (it should never happen)."""
    try:
        yield
    finally:
        left = psutil.Process().children(recursive=True)
        for process in left:
            try:
                process.kill()
            except psutil.Error:
                pass
        if left:
            print(f"warning: {len(left)} leftover child process(es) killed: {[p.pid for p in left]}")


def fmt(value: float, digits: int = 0) -> str:
    return "-" if value != value else f"{value:,.{digits}f}"  # NaN -> "-"


# ---------------------------------------------------------------------------------------------------
# The benchmark


def profile_llmconform(mock: MockProcess, out_path: Path, duration_s: float) -> None:
    """Run llmconform's locust process once under cProfile (same argv and plan as the CLI) and summarise."""
    import pstats

    from llmconform.load.engine import _locust_argv, scenario_file
    from llmconform.load.plan import LoadPlan, TokenDistribution, WorkloadSpec

    with tempfile.TemporaryDirectory(prefix="llmconform-bench-prof-") as report_dir:
        plan = LoadPlan(
            scenario="chat-stream",
            locustfile=str(scenario_file("chat-stream")),
            base_url=mock.url,
            model=MODEL,
            users=USERS,
            duration_s=duration_s,
            warmup_s=WARMUP_S,
            workload=WorkloadSpec(
                input_tokens=TokenDistribution(mean=INPUT_TOKENS),
                output_tokens=TokenDistribution(mean=OUTPUT_TOKENS),
                ignore_eos=True,
            ),
            report_dir=report_dir,
        )
        argv = _locust_argv(plan, plan.model_dump_json())
        argv[1:3] = ["-m", "cProfile", "-o", str(out_path), "-m", "locust"]
        argv += ["-u", str(USERS), "-r", str(USERS)]
        env = {**os.environ, "LLMCONFORM_API_KEY": API_KEY}
        usage = run_generator(argv, env=env, timeout_s=duration_s + WARMUP_S + 90, mock=mock)
        measured = json.loads((Path(report_dir) / "measurements.json").read_text())["tally"]["operations"]["all"]
    print(f"\ncProfile of llmconform's locust process ({usage.wall_s:.1f} s wall): {out_path}")
    print(f"  requests completed under the profiler (after warm-up): {measured.get('total')}")
    stats = pstats.Stats(str(out_path))
    stats.sort_stats("tottime").print_stats(15)
    stats.sort_stats("cumulative").print_stats(r"llmconform/(sse|checks|load|families)", 20)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=15.0, help="measured seconds per run (after 2 s warm-up)")
    parser.add_argument("--quick", action="store_true", help="one round of 5 s (a smoke check, under a minute)")
    parser.add_argument("--profile", type=Path, help="also profile llmconform's locust process into this file")
    parser.add_argument(
        "--workers",
        type=int,
        default=0,
        help="llmconform load --workers N (locust master + N worker processes; the bare side stays one process, "
        "as it is bound by the mock, not by itself); 'A locust % core' then shows the master only",
    )
    args = parser.parse_args()
    rounds, duration = (1, 5.0) if args.quick else (args.rounds, args.duration)
    raise_nofile()
    rows: list[dict[str, Any]] = []
    with no_leftovers(), MockProcess(ttft_ms=0, itl_ms=0) as mock:
        print(f"mock {mock.url} (TTFT 0, ITL 0); {USERS} users, {duration:g} s measured after {WARMUP_S:g} s warm-up")
        print(f"{rounds} round(s), A = llmconform load (--workers {args.workers}), B = bare locust FastHttpUser\n")
        header = (
            f"{'round':>5} {'A req/s':>8} {'B req/s':>8} {'A/B':>6}   {'A locust':>8} {'B locust':>8} "
            f"{'A ms/req':>8} {'B ms/req':>8}   {'mock(A)':>7} {'mock(B)':>7}   {'A tree s':>8} {'B tree s':>8}"
            f"   {'A fail':>6} {'B fail':>6}"
        )
        print(header)
        print(f"{'':>5} {'':>8} {'':>8} {'':>6}   {'% core':>8} {'% core':>8} {'CPU':>8} {'CPU':>8}   "
              f"{'% core':>7} {'% core':>7}")  # fmt: skip
        for number in range(1, rounds + 1):
            doc, usage_a = run_llmconform(
                mock, users=USERS, duration_s=duration, warmup_s=WARMUP_S, workers=args.workers
            )
            bare, usage_b = run_bare_locust(mock, users=USERS, run_s=WARMUP_S + duration, warmup_s=WARMUP_S)
            rate_a = doc["requests"]["total"] / doc["duration_s"] if doc["duration_s"] else 0.0
            rate_b = bare["requests_per_s"]
            cpu_a, mock_a = usage_a.steady_cpu_pct()
            cpu_b, mock_b = usage_b.steady_cpu_pct()
            row = {
                "round": number,
                "a_rate": rate_a,
                "b_rate": rate_b,
                "ratio": rate_a / rate_b if rate_b else 0.0,
                "a_cpu": cpu_a,
                "b_cpu": cpu_b,
                "a_ms_per_req": 10 * cpu_a / rate_a if rate_a else float("nan"),
                "b_ms_per_req": 10 * cpu_b / rate_b if rate_b else float("nan"),
                "a_mock": mock_a,
                "b_mock": mock_b,
                "a_tree": usage_a.tree_cpu_s,
                "b_tree": usage_b.tree_cpu_s,
                "a_failed": doc["requests"]["failed"],
                "b_failed": bare["failed"],
            }
            rows.append(row)
            print(
                f"{number:>5} {fmt(rate_a):>8} {fmt(rate_b):>8} {row['ratio']:>6.2f}   {fmt(cpu_a):>8} {fmt(cpu_b):>8} "
                f"{fmt(row['a_ms_per_req'], 3):>8} {fmt(row['b_ms_per_req'], 3):>8}   {fmt(mock_a):>7} "
                f"{fmt(mock_b):>7}   {usage_a.tree_cpu_s:>8.1f} {usage_b.tree_cpu_s:>8.1f}   "
                f"{row['a_failed']:>6} {row['b_failed']:>6}",
                flush=True,
            )
            print(
                f"{'':>5} A: {doc['requests']['total']} measured in {doc['duration_s']:.2f} s "
                f"(+{doc['requests']['warmup_excluded']} warm-up); B: {bare['completed'] + bare['failed']} measured "
                f"in {bare['duration_s']:.2f} s (locust's own count, warm-up included: "
                f"{bare['locust_num_requests']}, {bare['locust_num_failures']} failed)"
            )
        if args.profile is not None:
            profile_llmconform(mock, args.profile.resolve(), duration)
    ratio = statistics.median(r["ratio"] for r in rows)
    median_a = statistics.median(r["a_rate"] for r in rows)
    median_b = statistics.median(r["b_rate"] for r in rows)
    print(
        f"\nmedian: A {median_a:,.0f} req/s, B {median_b:,.0f} req/s; median of the round ratios A/B = {ratio:.2f} "
        f"(ratio of the medians {median_a / median_b:.2f})"
    )
    failed = sum(r["a_failed"] + r["b_failed"] for r in rows)
    verdict = "PASS" if ratio >= TARGET_RATIO and failed == 0 else "FAIL"
    note = f"; {failed} failed request(s)" if failed else ""
    print(f"{verdict}: llmconform/bare = {ratio:.2f} (target >= {TARGET_RATIO}){note}")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
