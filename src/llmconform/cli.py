"""The one entry point: ``llmconform check | load | mock``.

Exit codes everywhere (architecture.md, CLI contract): 0 all held; 1 the target broke the contract;
2 usage or configuration error; 3 target unreachable or harness failure.
"""

from __future__ import annotations

import functools
import signal
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import click
from pydantic import SecretStr, ValidationError
from rich.console import Console

from llmconform import __version__
from llmconform.config import (
    API_KEY_ENV,
    FAMILIES,
    CheckConfig,
    LimitsConfig,
    TargetConfig,
    TaskPollingConfig,
    api_key_from_env,
    is_loopback_url,
)
from llmconform.conformance.outcome import ExitCode
from llmconform.load.plan import Arrival
from llmconform.mock import DEFAULT_API_KEY, DEFAULT_MODELS, MockConfig
from llmconform.mock.capacity import MAX_JITTER, CapacityConfig, CapacityConfigError
from llmconform.mock.faults import FAULTS_BY_FAMILY
from llmconform.mock.load_faults import LOAD_FAULTS, check_rates
from llmconform.redact import Redactor

DEFAULT_REPORTS_ROOT = Path("reports")


def _split_values(values: tuple[str, ...]) -> tuple[str, ...]:
    """Accept both ``--family chat --family models`` and ``--family chat,models``."""
    return tuple(part.strip() for value in values for part in value.split(",") if part.strip())


MEDIA_KINDS = ("speech", "translation", "video")


def _media_models(values: tuple[str, ...]) -> dict[str, str]:
    """``--media-model speech=tts-1`` values as {kind: model}; a malformed one is a usage error naming the fix."""
    models: dict[str, str] = {}
    for value in values:
        kind, sep, name = value.partition("=")
        if not sep or kind.strip() not in MEDIA_KINDS or not name.strip():
            raise click.BadParameter(
                f"{value!r}: write KIND=MODEL with KIND one of {', '.join(MEDIA_KINDS)}, e.g. speech=tts-1",
                param_hint="--media-model",
            )
        models[kind.strip()] = name.strip()
    return models


def _validation_message(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error["loc"]) or "value"
        lines.append(f"{where}: {error['msg']}")
    return "; ".join(lines)


# Options check and load share (the same flag means the same thing in every command).
_BASE_URL = click.option(
    "--base-url", metavar="URL", help="Server root, e.g. https://api.aboai.ai. Default: the embedded mock."
)
_API_KEY = click.option("--api-key", metavar="KEY", help=f"API key (Bearer). Also read from ${API_KEY_ENV}.")
_TIMEOUT = click.option(
    "--timeout",
    "timeout_s",
    type=click.FloatRange(min=0.1),
    default=60.0,
    show_default=True,
    help="Deadline for one request, streams included (seconds).",
)
_READ_TIMEOUT = click.option(
    "--read-timeout",
    "read_timeout_s",
    type=click.FloatRange(min=0.1),
    help="No byte received for this long ends a request (seconds). Default: 30, or --timeout if shorter.",
)
_MAX_BODY_MB = click.option(
    "--max-body-mb",
    type=click.FloatRange(min=0, min_open=True),
    default=32.0,
    show_default=True,
    help="Largest response body or stream, after decompression (MiB); a larger one ends the request.",
)


def _limits(timeout_s: float, read_timeout_s: float | None, max_body_mb: float) -> LimitsConfig:
    """The per-request limits of --timeout, --read-timeout and --max-body-mb (docs/limits.md)."""
    return LimitsConfig(
        read_timeout_s=read_timeout_s if read_timeout_s is not None else min(30.0, timeout_s),
        deadline_s=timeout_s,
        max_body_bytes=max(1, round(max_body_mb * 1024 * 1024)),
    )


# The capacity model and faults under load of the mock: options of `llmconform mock` and, for its embedded
# mock, of `llmconform load` (docs/mock-capacity.md). Any capacity option turns the capacity model on.
_CAPACITY_DEFAULTS = {name: info.default for name, info in CapacityConfig.model_fields.items()}
_CAPACITY_OPTIONS = (
    click.option(
        "--max-running",
        type=click.IntRange(min=1),
        help=f"Capacity model: sequences decoded together at most. Default {_CAPACITY_DEFAULTS['max_running']}.",
    ),
    click.option(
        "--queue-size",
        type=click.IntRange(min=0),
        help="Capacity model: requests that may wait for a slot; one more gets 429 with Retry-After. "
        f"Default {_CAPACITY_DEFAULTS['queue_size']}.",
    ),
    click.option(
        "--step-ms",
        type=click.FloatRange(min=0),
        help=f"Capacity model: fixed time of one engine step (ms). Default {_CAPACITY_DEFAULTS['step_base_ms']}.",
    ),
    click.option(
        "--step-per-running-ms",
        type=click.FloatRange(min=0),
        help="Capacity model: added step time per sequence decoding in the batch (ms). "
        f"Default {_CAPACITY_DEFAULTS['step_per_running_ms']}.",
    ),
    click.option(
        "--prefill-ms-per-token",
        type=click.FloatRange(min=0),
        help="Capacity model: added step time per uncached prompt token (ms). "
        f"Default {_CAPACITY_DEFAULTS['prefill_ms_per_token']}.",
    ),
    click.option(
        "--prefix-cache/--no-prefix-cache",
        default=None,
        help="Capacity model: serve repeated prompt prefixes from a simulated cache (reported as cached tokens). "
        "Default off.",
    ),
    click.option(
        "--jitter",
        type=click.FloatRange(0, MAX_JITTER),
        help=f"Capacity model: relative standard deviation of step times (at most {MAX_JITTER}; seeded). Default 0.",
    ),
    click.option(
        "--capacity-config",
        type=click.Path(dir_okay=False, path_type=Path),
        help="TOML or JSON file of capacity-model settings (CapacityConfig fields); the options above override it.",
    ),
    click.option(
        "--load-fault",
        "load_fault_rates",
        multiple=True,
        metavar="KIND=RATE",
        help=f"Fault under load on this share of requests (repeatable): {', '.join(LOAD_FAULTS)}.",
    ),
)
# Capacity options -> CapacityConfig fields.
_CAPACITY_FIELDS = {
    "max_running": "max_running",
    "queue_size": "queue_size",
    "step_ms": "step_base_ms",
    "step_per_running_ms": "step_per_running_ms",
    "prefill_ms_per_token": "prefill_ms_per_token",
    "prefix_cache": "prefix_cache",
    "jitter": "jitter",
}


@dataclass(frozen=True, slots=True)
class _MockFlags:
    """The capacity and load-fault options as given (None: not given)."""

    max_running: int | None
    queue_size: int | None
    step_ms: float | None
    step_per_running_ms: float | None
    prefill_ms_per_token: float | None
    prefix_cache: bool | None
    jitter: float | None
    capacity_config: Path | None
    load_fault_rates: tuple[str, ...]

    def given(self) -> list[str]:
        """The options the user gave, as spelled on the command line."""
        named = [f"--{name.replace('_', '-')}" for name in _CAPACITY_FIELDS if getattr(self, name) is not None]
        if self.capacity_config is not None:
            named.append("--capacity-config")
        if self.load_fault_rates:
            named.append("--load-fault")
        return named

    def capacity(self, seed: int | None) -> CapacityConfig | None:
        """The capacity model they ask for (file, then options, then ``seed``), or None when none is asked."""
        overrides: dict[str, object] = {
            field: getattr(self, name) for name, field in _CAPACITY_FIELDS.items() if getattr(self, name) is not None
        }
        if not overrides and self.capacity_config is None:
            return None
        if seed is not None:
            overrides["seed"] = seed
        try:
            if self.capacity_config is not None:
                return CapacityConfig.from_file(self.capacity_config, **overrides)
            return CapacityConfig.model_validate(overrides)
        except CapacityConfigError as exc:
            raise click.BadParameter(str(exc), param_hint="--capacity-config") from None
        except ValidationError as exc:
            raise click.UsageError(f"capacity model: {_validation_message(exc)}") from None

    def load_faults(self) -> dict[str, float]:
        """``--load-fault KIND=RATE`` values as kind -> rate."""
        rates: dict[str, float] = {}
        for text in _split_values(self.load_fault_rates):
            kind, equals, rate = text.partition("=")
            try:
                value = float(rate)
            except ValueError:
                value = -1.0
            if not equals or kind.strip() not in LOAD_FAULTS or not 0.0 <= value <= 1.0:
                raise click.BadParameter(
                    f"{text!r}: use KIND=RATE with a rate between 0 and 1 (e.g. disconnect=0.05); kinds: "
                    f"{', '.join(LOAD_FAULTS)}",
                    param_hint="--load-fault",
                )
            rates[kind.strip()] = value
        try:
            return check_rates(rates)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--load-fault") from None


def _mock_flags(command: Callable[..., None]) -> Callable[..., None]:
    """Give ``command`` the capacity and load-fault options, passed to it as one ``mock_flags`` argument."""

    @functools.wraps(command)
    def run(*args: object, **kwargs: object) -> None:
        values = {name: kwargs.pop(name) for name in _MockFlags.__dataclass_fields__}
        command(*args, mock_flags=_MockFlags(**values), **kwargs)  # type: ignore[arg-type]

    for option in reversed(_CAPACITY_OPTIONS):
        run = option(run)
    return run


def _explicit_seed() -> int | None:
    """--seed when the user gave it (it then also seeds the capacity model's jitter), else None."""
    ctx = click.get_current_context()
    source = ctx.get_parameter_source("seed")
    seed = ctx.params.get("seed")
    return seed if source not in (None, click.core.ParameterSource.DEFAULT) and isinstance(seed, int) else None


def _secrets_in_play(argv: list[str]) -> list[str]:
    """Every key this process was given: --api-key values (both spellings) and the environment's."""
    found = [api_key_from_env()]
    for index, arg in enumerate(argv):
        if arg == "--api-key" and index + 1 < len(argv):
            found.append(argv[index + 1])
        elif arg.startswith("--api-key="):
            found.append(arg.partition("=")[2])
    return [key for key in found if key]


class _GuardedGroup(click.Group):
    """Turns an unexpected exception (a harness bug) into exit code 3 and a traceback with every key
    scrubbed: Python's own handler would print the exception's text as it is, key included."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort, KeyboardInterrupt, SystemExit):
            raise
        except Exception as exc:
            redactor = Redactor(_secrets_in_play(sys.argv))
            trace = "".join(traceback.format_exception(exc))
            click.echo(redactor.text(trace), err=True)
            click.echo(
                f"llmconform: internal error ({type(exc).__name__}); this is a bug in llmconform, please report "
                "it with the traceback above (keys are redacted)",
                err=True,
            )
            sys.exit(ExitCode.HARNESS)


@click.group(cls=_GuardedGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, prog_name="llmconform")
def main() -> None:
    """Contract-conformance and load-testing harness for LLM APIs (OpenAI, Claude, Gemini, Responses)."""


@main.command()
@_BASE_URL
@_API_KEY
@click.option("--model", metavar="M", help="Model id to check. Default: the first chat model the target lists.")
@click.option(
    "--embedding-model",
    metavar="M",
    help="Model id for the embeddings family. Default: the first listed id naming an embeddings model.",
)
@click.option(
    "--media-model",
    "media_models",
    multiple=True,
    metavar="KIND=M",
    help="Model id of one kind of media request: speech=M, translation=M or video=M (repeatable), e.g. "
    "speech=tts-1. Default: the model under test.",
)
@click.option(
    "--family",
    "families",
    multiple=True,
    metavar="F",
    help=f"API family to check: all (default), {', '.join(FAMILIES)}. Repeat or comma-separate.",
)
@click.option(
    "--report-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the report files go (directly in it). Default: reports/<timestamp>-check/.",
)
@click.option(
    "--max-requests",
    type=click.IntRange(min=1),
    help="Request budget. Default: unlimited against the embedded mock, 400 against a URL.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for generated requests.")
@click.option(
    "--video-deadline",
    "video_deadline_s",
    type=click.FloatRange(min=0, min_open=True),
    metavar="SECONDS",
    help="How long a video task may take to end; it is polled until then (at most 30 polls, each a request of "
    "the budget). Default: 600 against a URL, a few seconds against the embedded mock.",
)
@_TIMEOUT
@_READ_TIMEOUT
@_MAX_BODY_MB
def check(
    base_url: str | None,
    api_key: str | None,
    model: str | None,
    embedding_model: str | None,
    media_models: tuple[str, ...],
    families: tuple[str, ...],
    report_dir: Path | None,
    max_requests: int | None,
    seed: int,
    video_deadline_s: float | None,
    timeout_s: float,
    read_timeout_s: float | None,
    max_body_mb: float,
) -> None:
    """Check that a target keeps its contract; write conformance.json and junit.xml."""
    from llmconform.conformance.runner import run_check
    from llmconform.report import CheckProgress, render_summary, write_conformance_json, write_junit

    key = api_key or api_key_from_env()
    try:
        config = CheckConfig(
            target=TargetConfig(
                base_url=base_url,
                api_key=SecretStr(key) if key else None,
                model=model,
                embedding_model=embedding_model,
                media_models=_media_models(media_models),
            ),
            families=_split_values(families) or ("all",),
            report_dir=report_dir or _default_report_dir("check"),
            max_requests=max_requests,
            seed=seed,
            limits=_limits(timeout_s, read_timeout_s, max_body_mb),
            task_polling=TaskPollingConfig(deadline_s=video_deadline_s),
        )
    except ValidationError as exc:
        raise click.UsageError(_validation_message(exc)) from None

    # A CI log is not a terminal: give the summary table room instead of rich's 80-column default.
    out = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
    signal.signal(signal.SIGTERM, _interrupt)
    err = Console(stderr=True, highlight=False)
    with CheckProgress(err) as progress:
        run, redactor = run_check(
            config,
            command=["llmconform", *sys.argv[1:]],
            say=lambda text: err.print(Redactor([key]).text(text)),
            on_phase=progress.start_phase,
            on_sent=lambda _exchange: progress.advance(),
        )
    try:
        paths = [
            write_conformance_json(run, config.report_dir, redactor),
            write_junit(run, config.report_dir, redactor),
        ]
    except OSError as exc:
        err.print(f"[red]cannot write the report to {config.report_dir}: {exc}[/red]")
        sys.exit(ExitCode.HARNESS)
    render_summary(run, out, redactor, paths)
    sys.exit(int(run.exit_code))


def _interrupt(signum: int, _frame: object) -> None:
    """SIGTERM ends a run like Ctrl-C: the report of what completed is still written, marked partial."""
    raise KeyboardInterrupt(f"signal {signum}")


def _default_report_dir(kind: str) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return DEFAULT_REPORTS_ROOT / f"{stamp}-{kind}"


@main.command()
@_BASE_URL
@_API_KEY
@click.option("--model", metavar="M", help="Model id. Default: the first chat model the target lists.")
@click.option(
    "--embedding-model",
    metavar="M",
    help="Model id of embeddings requests (scenarios embeddings, mixed). Default: the first listed embeddings model.",
)
@click.option(
    "--scenario",
    default="chat-stream",
    show_default=True,
    help="chat-stream, chat-unary, messages-stream, gemini-stream, responses-stream, embeddings, images, audio, video, "
    "mixed (every format, reported per operation), or the path of your own locustfile.",
)
@click.option("--users", type=click.IntRange(min=1), help="Closed loop: this many concurrent users. Default: 8.")
@click.option("--rate", type=click.FloatRange(min=0, min_open=True), help="Open loop: requests per second.")
@click.option(
    "--max-rate",
    type=click.FloatRange(min=0, min_open=True),
    help="Ceiling on requests per second for the whole run, closed loop included (a live target's safety cap).",
)
@click.option(
    "--sweep",
    is_flag=True,
    help="Find the highest rate that meets every --slo: open-loop points from --sweep-start up, x--sweep-factor, "
    "until an SLO breaks or the target saturates, then bisect; --duration is per point.",
)
@click.option(
    "--sweep-start", type=click.FloatRange(min=0, min_open=True), default=1.0, show_default=True, help="First rate."
)
@click.option(
    "--sweep-factor", type=click.FloatRange(min=1, min_open=True), default=2.0, show_default=True, help="Rate growth."
)
@click.option(
    "--sweep-points", type=click.IntRange(min=2), default=10, show_default=True, help="Most points a sweep measures."
)
@click.option(
    "--arrival",
    type=click.Choice([a.value for a in Arrival]),
    default="constant",
    show_default=True,
    help="Open-loop arrivals: evenly spaced or a Poisson process (seeded).",
)
@click.option(
    "--max-concurrency",
    type=click.IntRange(min=1),
    default=256,
    show_default=True,
    help="Open loop: requests in flight at most; later arrivals wait and their lag is reported.",
)
@click.option("--duration", type=click.FloatRange(min=0, min_open=True), help="Measured seconds (after warm-up).")
@click.option("--requests", "request_count", type=click.IntRange(min=1), help="Measured requests (after warm-up).")
@click.option(
    "--warmup", type=click.FloatRange(min=0), default=1.0, show_default=True, help="Seconds sent but not measured."
)
@click.option("--input-tokens", default="128", show_default=True, help="Prompt length: N, MEAN:STDEV or MIN..MAX.")
@click.option("--output-tokens", default="64", show_default=True, help="Output length (max_tokens), same forms.")
@click.option("--prompts", type=click.Path(dir_okay=False, path_type=Path), help="JSONL file of prompts instead.")
@click.option(
    "--ignore-eos/--no-ignore-eos",
    default=None,
    help="Send vLLM's ignore_eos so answers have the full output length. Default: on for the embedded mock only.",
)
@click.option(
    "--slo",
    "slos",
    multiple=True,
    metavar="NAME=MS",
    help="SLO, repeatable: ttft_ms=500 (per request, for goodput) or ttft_p95_ms=500 (the run's percentile).",
)
@click.option(
    "--respect-retry-after",
    is_flag=True,
    help="Wait out a 429/503's Retry-After and send again (at most 3 times, 30 s a wait); retries are reported apart.",
)
@click.option("--workers", type=click.IntRange(min=0), default=0, show_default=True, help="Local locust workers.")
@click.option(
    "--remote-workers",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Workers on other machines the master waits for (they run `llmconform load --worker --master-host H`).",
)
@click.option("--worker", "as_worker", is_flag=True, help="Run only a locust worker for a master elsewhere.")
@click.option("--master-host", default="127.0.0.1", show_default=True, help="Master to join (with --worker).")
@click.option("--master-port", type=click.IntRange(1, 65535), help="Master port (default: 5557 / any free locally).")
@click.option("--calibrate", is_flag=True, help="Afterwards, measure the generator's own overhead at the run's rate.")
@click.option(
    "--report-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the report files go. Default: reports/<timestamp>-load/.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for prompts, lengths and arrivals.")
@_TIMEOUT
@_READ_TIMEOUT
@_MAX_BODY_MB
@click.option(
    "--tokenizer",
    type=click.Choice(["words", "chunks"]),
    default="words",
    show_default=True,
    help="Client-side token count compared with usage: the mock's word tokenizer, or one token per chunk.",
)
@click.option(
    "--mock-ttft-ms", type=click.FloatRange(min=0), default=60.0, show_default=True, help="Embedded mock TTFT."
)
@click.option("--mock-itl-ms", type=click.FloatRange(min=0), default=12.0, show_default=True, help="Embedded mock ITL.")
@click.option(
    "--mock-tokens-per-chunk", type=click.IntRange(min=1), default=1, show_default=True, help="Embedded mock chunking."
)
@click.option("--mock-fault", "mock_faults", multiple=True, metavar="NAME", help="Embedded mock fault (repeatable).")
@_mock_flags
def load(
    base_url: str | None,
    api_key: str | None,
    model: str | None,
    embedding_model: str | None,
    scenario: str,
    users: int | None,
    rate: float | None,
    max_rate: float | None,
    sweep: bool,
    sweep_start: float,
    sweep_factor: float,
    sweep_points: int,
    arrival: str,
    max_concurrency: int,
    duration: float | None,
    request_count: int | None,
    warmup: float,
    input_tokens: str,
    output_tokens: str,
    prompts: Path | None,
    ignore_eos: bool | None,
    slos: tuple[str, ...],
    respect_retry_after: bool,
    workers: int,
    remote_workers: int,
    as_worker: bool,
    master_host: str,
    master_port: int | None,
    calibrate: bool,
    report_dir: Path | None,
    seed: int,
    timeout_s: float,
    read_timeout_s: float | None,
    max_body_mb: float,
    tokenizer: str,
    mock_ttft_ms: float,
    mock_itl_ms: float,
    mock_tokens_per_chunk: int,
    mock_faults: tuple[str, ...],
    mock_flags: _MockFlags,
) -> None:
    """Load the target with locust; every answer is checked; write load.json, requests.csv and load.html."""
    from llmconform.load.engine import LoadRunFailed, MockSettings, scenario_file
    from llmconform.load.plan import LoadPlan, WorkloadSpec, parse_distribution, parse_slo
    from llmconform.load.runner import LoadRequest, run_load
    from llmconform.load.sweep import SweepSettings
    from llmconform.load.workload import WorkloadError, load_prompts
    from llmconform.report.load_console import LoadLive, render_load_summary

    key = api_key or api_key_from_env()
    err = Console(stderr=True, highlight=False)
    try:
        locustfile = scenario_file(scenario)
    except LoadRunFailed as exc:
        raise click.UsageError(str(exc)) from None
    if as_worker:
        _run_worker(locustfile, master_host, master_port or 5557, key)
        return
    if users is not None and rate is not None:
        raise click.UsageError("--users (closed loop) and --rate (open loop) exclude each other; pick one")
    if sweep and (users is not None or rate is not None or request_count is not None):
        raise click.UsageError(
            "--sweep picks its own rates, one open-loop run per point: drop --users, --rate and --requests "
            "(--max-concurrency bounds the requests in flight, --duration is per point)"
        )
    try:
        input_dist = parse_distribution(input_tokens)
        output_dist = parse_distribution(output_tokens)
        slo_limits = dict(parse_slo(text) for text in slos)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    if prompts is not None:
        try:
            load_prompts(prompts)
        except WorkloadError as exc:
            raise click.UsageError(str(exc)) from None
    try:
        target = TargetConfig(base_url=base_url, api_key=SecretStr(key) if key else None, model=model)
    except ValidationError as exc:
        raise click.UsageError(_validation_message(exc)) from None
    if target.base_url is not None and not is_loopback_url(target.base_url) and duration is None and not request_count:
        raise click.UsageError(
            f"{target.base_url} is not this machine, and a live target costs money: give --duration SECONDS or "
            "--requests N (or both) so the run's budget is known before it starts; --max-rate R caps its rate"
        )
    if sweep and target.base_url is not None and not is_loopback_url(target.base_url) and max_rate is None:
        raise click.UsageError(
            f"{target.base_url} is not this machine: a sweep against it needs --max-rate R, the highest rate it may "
            "offer, so that its request budget is known before it starts"
        )
    if target.base_url is not None and mock_flags.given():
        raise click.UsageError(
            f"{', '.join(mock_flags.given())} configure the embedded mock, which a run with --base-url does not "
            "start; drop them, or drop --base-url to load the embedded mock"
        )
    try:
        mock_settings = MockSettings(
            ttft_ms=mock_ttft_ms,
            itl_ms=mock_itl_ms,
            tokens_per_chunk=mock_tokens_per_chunk,
            faults=MockConfig(faults=frozenset(_split_values(mock_faults))).faults,
            capacity=mock_flags.capacity(_explicit_seed()),
            load_faults=mock_flags.load_faults(),
            seed=seed,
        )
        plan = LoadPlan(
            scenario=scenario,
            locustfile=str(locustfile),
            base_url=target.base_url or "",
            model=model or "",
            embedding_model=embedding_model or "",
            embedded=target.embedded,
            users=users if users is not None else (max_concurrency if rate is not None or sweep else 8),
            rate=rate,
            max_rate=max_rate,
            arrival=Arrival(arrival),
            duration_s=duration if duration is not None or request_count is not None else 10.0,
            requests=request_count,
            warmup_s=warmup,
            workload=WorkloadSpec(
                input_tokens=input_dist,
                output_tokens=output_dist,
                prompts_file=str(prompts.resolve()) if prompts else None,
                seed=seed,
                ignore_eos=ignore_eos if ignore_eos is not None else target.embedded,
            ),
            slos=slo_limits,
            limits=_limits(timeout_s, read_timeout_s, max_body_mb),
            tokenizer=tokenizer,  # type: ignore[arg-type]  # click.Choice holds it to the literal values
            respect_retry_after=respect_retry_after,
            workers=workers + remote_workers,
            report_dir=str((report_dir or _default_report_dir("load")).resolve()),
        )
    except ValidationError as exc:
        raise click.UsageError(_validation_message(exc)) from None

    out = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
    signal.signal(signal.SIGTERM, _interrupt)
    redactor = Redactor([key] if key else [])
    request = LoadRequest(
        plan=plan,
        api_key=key,
        mock_settings=mock_settings,
        calibrate=calibrate,
        remote_workers=remote_workers,
        master_port=master_port,
        command=["llmconform", *sys.argv[1:]],
        sweep=SweepSettings(start_rate=sweep_start, factor=sweep_factor, max_points=sweep_points, max_rate=max_rate)
        if sweep
        else None,
    )
    try:
        with LoadLive(err) as live:
            outcome = run_load(request, say=lambda text: err.print(redactor.text(text)), on_progress=live.update)
    except LoadRunFailed as exc:
        err.print(f"[red]{redactor.text(str(exc))}[/red]")
        sys.exit(ExitCode.HARNESS)
    except OSError as exc:
        err.print(f"[red]cannot write the report to {plan.report_dir}: {redactor.text(str(exc))}[/red]")
        sys.exit(ExitCode.HARNESS)
    render_load_summary(outcome.document, out, outcome.paths)
    sys.exit(outcome.exit_code)


def _run_worker(locustfile: Path, master_host: str, master_port: int, key: str | None) -> None:
    """Join a master on another machine as one locust worker (the plan comes from the master)."""
    import os
    import subprocess

    env = dict(os.environ)
    if key:
        env[API_KEY_ENV] = key
    argv = [sys.executable, "-m", "locust", "-f", str(locustfile), "--worker", "--master-host", master_host]
    argv += ["--master-port", str(master_port), "--loglevel", "WARNING"]
    sys.exit(subprocess.call(argv, env=env))


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", type=click.IntRange(0, 65535), default=8400, show_default=True, help="Port (0: any free).")
@click.option("--api-key", default=DEFAULT_API_KEY, show_default=True, help="The one key the mock accepts.")
@click.option(
    "--model",
    "models",
    multiple=True,
    metavar="M",
    help=f"Model id to serve (repeatable). Default: {', '.join(DEFAULT_MODELS)}.",
)
@click.option(
    "--ttft-ms",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Time to first token in ms (0: as fast as it can).",
)
@click.option(
    "--itl-ms",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Inter-token latency in ms (0: as fast as it can).",
)
@click.option(
    "--tokens-per-chunk",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Tokens per streamed content chunk.",
)
@click.option(
    "--video-stage-ms",
    type=click.FloatRange(min=0),
    default=MockConfig.model_fields["video_stage_ms"].default,
    show_default=True,
    help="How long a video task stays queued, then running, before it ends (ms per stage).",
)
@click.option(
    "--fault",
    "faults",
    multiple=True,
    metavar="NAME",
    help="Break one contract rule on every request (repeatable); see --list-faults.",
)
@click.option("--list-faults", is_flag=True, help="List the fault names and exit.")
@click.option(
    "--record",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Append one JSON line per finished request to this file (server-side timings and tokens).",
)
@click.option("--seed", type=int, help="Seed of the load-fault draws and the capacity model's jitter. Default: 0.")
@_mock_flags
def mock(
    host: str,
    port: int,
    api_key: str,
    models: tuple[str, ...],
    ttft_ms: float,
    itl_ms: float,
    tokens_per_chunk: int,
    video_stage_ms: float,
    faults: tuple[str, ...],
    list_faults: bool,
    record: Path | None,
    seed: int | None,
    mock_flags: _MockFlags,
) -> None:
    """Serve the embedded mock of every family (chat, Claude messages, Gemini, Responses, embeddings, images,
    audio, video tasks, model lists) in the foreground (Ctrl-C stops it)."""
    from llmconform.mock import serve

    if list_faults:
        for family, catalogue in FAULTS_BY_FAMILY.items():
            click.echo(f"# {family}")
            for name, description in catalogue.items():
                click.echo(f"{name:44} {description}")
        return
    try:
        config = MockConfig(
            host=host,
            port=port,
            api_key=api_key,
            models=tuple(_split_values(models)) or DEFAULT_MODELS,
            ttft_ms=ttft_ms,
            itl_ms=itl_ms,
            tokens_per_chunk=tokens_per_chunk,
            video_stage_ms=video_stage_ms,
            faults=frozenset(_split_values(faults)),
            capacity=mock_flags.capacity(seed),
            load_faults=mock_flags.load_faults(),
            seed=seed or 0,
            record_path=str(record) if record is not None else None,
        )
    except ValidationError as exc:
        raise click.UsageError(_validation_message(exc)) from None
    if record is not None:
        try:
            record.open("a").close()
        except OSError as exc:
            message = f"cannot append to {record}: {exc.strerror or exc}"
            raise click.BadParameter(message, param_hint="--record") from None
    from llmconform.mock import MockError

    def ready(url: str) -> None:
        capacity = f"capacity model: {config.capacity.describe()}" if config.capacity else "fixed TTFT/ITL"
        rates = ", ".join(f"{kind}={rate:g}" for kind, rate in config.load_faults.items()) or "none"
        click.echo(
            f"llmconform mock listening on {url} (models: {', '.join(config.models)}; "
            f"faults: {', '.join(sorted(config.faults)) or 'none'}; {capacity}; load faults: {rates}"
            f"{f'; record: {record}' if record else ''}); Ctrl-C stops it",
            err=True,
        )

    try:
        serve(config, on_ready=ready)
    except MockError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(ExitCode.HARNESS)
    except KeyboardInterrupt:
        pass


@main.command()
@click.option(
    "--thresholds",
    "thresholds",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The thresholds file (TOML); start from the documented gates.toml of the llmconform repository.",
)
@click.option(
    "--baseline",
    "baseline_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="The report directory of an earlier run: regressions against it are judged with bootstrap intervals.",
)
@click.argument("report_dir", type=click.Path(file_okay=False, path_type=Path))
def gate(thresholds: Path, baseline_dir: Path | None, report_dir: Path) -> None:
    """Judge a run's reports against thresholds (and a baseline); write gate.json; exit 0 pass, 1 fail, 2 bad file."""
    from llmconform.gate import GateConfigError, run_gate

    try:
        result = run_gate(thresholds, report_dir, baseline_dir)
    except GateConfigError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(ExitCode.USAGE)
    counts = result.counts()
    for check in result.checks:
        if check.status != "passed":
            mark = "FAIL" if check.status == "failed" else "skip"
            click.echo(f"{mark}  [{check.section}] {check.name}: {check.message}")
    click.echo(
        f"gate {result.verdict}: {counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped "
        f"({thresholds}{f', baseline {baseline_dir}' if baseline_dir else ''}); {report_dir / 'gate.json'}"
    )
    sys.exit(result.exit_code)


@main.command()
@click.argument("report_dir", type=click.Path(file_okay=False, path_type=Path))
def report(report_dir: Path) -> None:
    """Render REPORT_DIR's reports (conformance, load, gate) as report.html and summary.md (a CI job summary)."""
    from llmconform.report.run_report import ReportInputError, render_report

    try:
        written = render_report(report_dir)
    except ReportInputError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(ExitCode.USAGE)
    for path in written:
        click.echo(str(path))


if __name__ == "__main__":
    main()
