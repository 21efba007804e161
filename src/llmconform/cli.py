"""The one entry point: ``llmconform check | mock``.

Exit codes everywhere (architecture.md, CLI contract): 0 all held; 1 the target broke the contract;
2 usage or configuration error; 3 target unreachable or harness failure.
"""

from __future__ import annotations

import signal
import sys
from datetime import UTC, datetime
from pathlib import Path

import click
from pydantic import SecretStr, ValidationError
from rich.console import Console

from llmconform import __version__
from llmconform.config import API_KEY_ENV, FAMILIES, CheckConfig, LimitsConfig, TargetConfig, api_key_from_env
from llmconform.conformance.outcome import ExitCode
from llmconform.mock import DEFAULT_API_KEY, DEFAULT_MODELS, FAULTS, MockConfig
from llmconform.redact import Redactor

DEFAULT_REPORTS_ROOT = Path("reports")


def _split_values(values: tuple[str, ...]) -> tuple[str, ...]:
    """Accept both ``--family chat --family models`` and ``--family chat,models``."""
    return tuple(part.strip() for value in values for part in value.split(",") if part.strip())


def _validation_message(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error["loc"]) or "value"
        lines.append(f"{where}: {error['msg']}")
    return "; ".join(lines)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, prog_name="llmconform")
def main() -> None:
    """Contract-conformance and load-testing harness for LLM APIs (OpenAI, Claude, Gemini, Responses)."""


@main.command()
@click.option("--base-url", metavar="URL", help="Server root, e.g. https://api.aboai.ai. Default: the embedded mock.")
@click.option("--api-key", metavar="KEY", help=f"API key (Bearer). Also read from ${API_KEY_ENV}.")
@click.option("--model", metavar="M", help="Model id to check. Default: the first chat model the target lists.")
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
    help="Request budget. Default: unlimited against the embedded mock, 150 against a URL.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for generated requests.")
@click.option(
    "--timeout",
    "timeout_s",
    type=click.FloatRange(min=0.1),
    default=60.0,
    show_default=True,
    help="Deadline for one request, streams included (seconds).",
)
def check(
    base_url: str | None,
    api_key: str | None,
    model: str | None,
    families: tuple[str, ...],
    report_dir: Path | None,
    max_requests: int | None,
    seed: int,
    timeout_s: float,
) -> None:
    """Check that a target keeps its contract; write conformance.json and junit.xml."""
    from llmconform.conformance.runner import run_check
    from llmconform.report import CheckProgress, render_summary, write_conformance_json, write_junit

    key = api_key or api_key_from_env()
    try:
        config = CheckConfig(
            target=TargetConfig(base_url=base_url, api_key=SecretStr(key) if key else None, model=model),
            families=_split_values(families) or ("all",),
            report_dir=report_dir or _default_report_dir("check"),
            max_requests=max_requests,
            seed=seed,
            limits=LimitsConfig(read_timeout_s=min(30.0, timeout_s), deadline_s=timeout_s),
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
    "--fault",
    "faults",
    multiple=True,
    metavar="NAME",
    help="Break one contract rule on every request (repeatable); see --list-faults.",
)
@click.option("--list-faults", is_flag=True, help="List the fault names and exit.")
def mock(
    host: str,
    port: int,
    api_key: str,
    models: tuple[str, ...],
    ttft_ms: float,
    itl_ms: float,
    tokens_per_chunk: int,
    faults: tuple[str, ...],
    list_faults: bool,
) -> None:
    """Serve the embedded mock of the chat API in the foreground (Ctrl-C stops it)."""
    from llmconform.mock import serve

    if list_faults:
        for name, description in FAULTS.items():
            click.echo(f"{name:36} {description}")
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
            faults=frozenset(_split_values(faults)),
        )
    except ValidationError as exc:
        raise click.UsageError(_validation_message(exc)) from None
    from llmconform.mock import MockError

    def ready(url: str) -> None:
        click.echo(
            f"llmconform mock listening on {url} (models: {', '.join(config.models)}; "
            f"faults: {', '.join(sorted(config.faults)) or 'none'}); Ctrl-C stops it",
            err=True,
        )

    try:
        serve(config, on_ready=ready)
    except MockError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(ExitCode.HARNESS)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
