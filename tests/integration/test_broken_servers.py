"""``llmconform check`` fails servers that are broken the way real servers and gateways break.

Each case turns on one :class:`Breakage` of the independent server (``tests/servers/unusual_server.py``,
written from the contract, never from ``llmconform.mock``; its quirks stay on, so every case is a
conformant-but-unusual server with exactly one real bug). The real CLI checks it in a subprocess: the
run must exit 1, and the rule(s) that state the broken requirement (``docs/rules.md``) must be among
its error findings. ``test_the_unbroken_server_passes_the_same_run`` is the control: the same run
against the same server without a breakage passes, so each failure is the breakage's doing.

The runs go two at a time in a thread pool (one server thread and one CLI subprocess each); every
case waits only for its own run, so a failure names its breakage and lists what llmconform found.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.servers.unusual_server import API_KEY, Breakage, Quirks, UnusualServer

from llmconform.checks import REGISTRY

MODEL = "unusual/lexicon-70b:fp8"
# 60 requests cover every probe and some schemathesis cases; a run then takes about 2 s.
MAX_REQUESTS = 60
WORKERS = 2
RUN_TIMEOUT_S = 120

# Per breakage: the rules that state the requirement it breaks (all error severity).
EXPECTED: dict[Breakage, tuple[str, ...]] = {
    # usage
    Breakage.USAGE_TOTAL_NOT_SUM: ("usage_total_is_sum",),
    Breakage.PROMPT_TOKENS_ZERO: ("usage_counts_nonzero",),
    Breakage.UNARY_USAGE_MISSING: ("usage_present", "response_matches_schema"),
    Breakage.CACHED_OVER_PROMPT: ("usage_details_within_parent",),
    # usage in streams
    Breakage.STREAM_USAGE_NULL: ("stream_usage_chunk_final",),
    Breakage.UNREQUESTED_USAGE_CHUNK: ("stream_usage_only_if_requested",),
    Breakage.USAGE_CHUNK_WITHOUT_CHOICES: ("stream_usage_chunk_final", "response_matches_schema"),
    Breakage.USAGE_ON_FINISH_CHUNK: ("stream_usage_chunk_final",),
    Breakage.PARTIAL_USAGE_ON_EVERY_CHUNK: ("stream_usage_chunk_final", "response_matches_schema"),
    Breakage.USAGE_CHUNK_EMPTY_IDENTITY: ("stream_constant_identity",),
    # max_tokens, stop, n
    Breakage.STOP_WHEN_TRUNCATED: ("truncation_finish_reason_length",),
    Breakage.OVER_MAX_TOKENS: ("completion_within_max_tokens",),
    Breakage.STOP_SEQUENCE_INCLUDED: ("stop_sequence_excluded", "stop_sequence_ends_answer"),
    Breakage.N_IGNORED: ("n_choices_count",),
    Breakage.DUPLICATE_CHOICE_INDICES: ("choice_indices_permutation",),
    # logprobs
    Breakage.LOGPROBS_NULL: ("top_logprobs_count",),
    Breakage.TOP_LOGPROBS_OFF_BY_ONE: ("top_logprobs_count",),
    Breakage.POSITIVE_LOGPROB: ("logprob_values_valid",),
    Breakage.LOGPROB_TOKENS_STRIPPED: ("logprobs_token_count",),
    # tools and structured output
    Breakage.TOOL_ARGUMENTS_OBJECT: ("tool_call_shape", "response_matches_schema"),
    Breakage.TOOL_DELTA_WITHOUT_INDEX: ("stream_tool_call_deltas", "response_matches_schema"),
    Breakage.PARALLEL_CALLS_SAME_INDEX: ("stream_tool_call_deltas",),
    Breakage.TOOL_CALLS_FINISH_WITHOUT_CALLS: ("tool_calls_finish_reason",),
    Breakage.NAMED_TOOL_CHOICE_IGNORED: ("tool_choice_honoured",),
    Breakage.TOOL_CHOICE_NONE_IGNORED: ("tool_choice_honoured",),
    Breakage.JSON_MODE_PROSE: ("json_mode_content_parses",),
    Breakage.JSON_SCHEMA_IGNORED: ("json_schema_content_valid",),
    # stream framing
    Breakage.MISSING_DONE: ("stream_done_last",),
    Breakage.DATA_AFTER_DONE: ("stream_done_last",),
    Breakage.CHUNK_ID_CHANGES: ("stream_constant_identity",),
    Breakage.TWO_FINISH_REASONS: ("stream_single_finish_reason",),
    Breakage.STREAM_DROPS_LAST_TOKEN: ("stream_matches_unary",),
    Breakage.STREAM_AS_JSON: ("content_type_declared",),
    Breakage.NDJSON_STREAM: ("stream_done_last", "stream_chunk_is_json"),
    # shape and media types
    Breakage.OBJECT_MISSING: ("response_matches_schema",),
    Breakage.CREATED_AS_STRING: ("response_matches_schema",),
    Breakage.UNARY_TEXT_PLAIN: ("content_type_declared",),
    Breakage.MODEL_NOT_LISTED: ("model_listed",),
    # errors
    Breakage.ERROR_AS_STRING: ("error_body_shape",),
    Breakage.HTML_404: ("error_body_shape", "content_type_declared"),
    Breakage.NO_KEY_ACCEPTED: ("auth_required",),
    Breakage.UNKNOWN_MODEL_ACCEPTED: ("unknown_model_rejected",),
    Breakage.MALFORMED_BODY_500: ("invalid_request_rejected", "schemathesis.not_a_server_error"),
    Breakage.ERRORS_WITH_STATUS_200: ("auth_required", "unknown_model_rejected", "invalid_request_rejected"),
    Breakage.OUT_OF_RANGE_ACCEPTED: ("parameter_limits_enforced",),
    # only the streaming path is broken
    Breakage.STREAM_STOP_WHEN_TRUNCATED: ("truncation_finish_reason_length",),
    Breakage.STREAM_N_IGNORED: ("n_choices_count",),
    Breakage.STREAM_LOGPROBS_MISSING: ("top_logprobs_count",),
    Breakage.STREAM_STOP_INCLUDED: ("stop_sequence_excluded",),
    Breakage.STREAM_USAGE_TOTAL_NOT_SUM: ("usage_total_is_sum", "stream_matches_unary"),
    Breakage.STREAM_TOOL_ARGUMENTS_LOST: ("stream_matches_unary",),
}

# Breakages llmconform fails the server for, but not under the rule that states the requirement.
# Breakages llmconform misses, each with the reason (a strict xfail, so a fix turns it green). The four
# this battery first found (same-index parallel calls, out-of-range stop/top_logprobs accepted, a stream
# cut by max_tokens saying "stop", streamed tool arguments lost) are fixed; none is open.
GAPS: dict[Breakage, str] = {}


@dataclass(frozen=True)
class Outcome:
    returncode: int
    errors: dict[str, list[str]]  # rule id -> first lines of its error findings
    output: str

    def describe(self) -> str:
        found = "\n".join(f"  {rule}: {messages[0]}" for rule, messages in sorted(self.errors.items()))
        return f"exit {self.returncode}; error findings:\n{found or '  (none)'}\n{self.output[-1500:]}"


def run_check(quirks: Quirks, report_dir: Path) -> Outcome:
    with UnusualServer(quirks=quirks) as server:
        result = subprocess.run(
            [
                *(sys.executable, "-m", "llmconform.cli", "check"),
                *("--base-url", server.base_url, "--api-key", API_KEY, "--model", MODEL),
                *("--report-dir", str(report_dir), "--seed", "0", "--max-requests", str(MAX_REQUESTS)),
            ],
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT_S,
            env={**os.environ, "COLUMNS": "160"},
            check=False,
        )
    output = result.stdout + result.stderr
    report_file = report_dir / "conformance.json"
    if not report_file.exists():
        return Outcome(result.returncode, {}, output)
    errors: dict[str, list[str]] = {}
    for finding in json.loads(report_file.read_text())["findings"]:
        if finding["severity"] == "error":
            errors.setdefault(finding["rule"], []).append(finding["message"].splitlines()[0][:200])
    return Outcome(result.returncode, errors, output)


def _case(breakage: Breakage) -> object:
    if breakage in GAPS:
        return pytest.param(breakage, marks=pytest.mark.xfail(strict=True, reason=GAPS[breakage]))
    return breakage


@pytest.fixture(scope="module")
def outcomes(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Future[Outcome]]]:
    """Starts the runs of the selected cases (and the control), two at a time, in test order."""
    wanted: list[str] = []
    for item in request.session.items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if item.module is request.module and "breakage" in params:
            wanted.append(params["breakage"])
        elif item.module is request.module and item.name == test_the_unbroken_server_passes_the_same_run.__name__:
            wanted.insert(0, "control")
    with ThreadPoolExecutor(WORKERS, thread_name_prefix="broken-check") as pool:
        runs: dict[str, Future[Outcome]] = {}
        for name in wanted:
            quirks = Quirks(breakages=frozenset() if name == "control" else frozenset({Breakage(name)}))
            runs[name] = pool.submit(run_check, quirks, tmp_path_factory.mktemp(name))
        yield runs
        for future in runs.values():
            future.cancel()


def test_every_breakage_names_error_rules() -> None:
    assert set(EXPECTED) == set(Breakage)
    assert set(GAPS) <= set(Breakage)
    for breakage, rules in EXPECTED.items():
        assert rules, breakage
        for rule in rules:
            assert REGISTRY.get(rule).severity == "error", f"{breakage}: {rule} is not an error-severity rule"


def test_the_unbroken_server_passes_the_same_run(outcomes: dict[str, Future[Outcome]]) -> None:
    outcome: Outcome = outcomes["control"].result(timeout=RUN_TIMEOUT_S)
    assert outcome.returncode == 0, outcome.describe()
    assert outcome.errors == {}, outcome.describe()


@pytest.mark.parametrize("breakage", [_case(b) for b in Breakage], ids=str)
def test_check_fails_the_broken_server(breakage: Breakage, outcomes: dict[str, Future[Outcome]]) -> None:
    outcome: Outcome = outcomes[breakage].result(timeout=2 * RUN_TIMEOUT_S)
    assert outcome.returncode == 1, f"{breakage}: llmconform did not fail the run; {outcome.describe()}"
    missing = [rule for rule in EXPECTED[breakage] if rule not in outcome.errors]
    assert missing == [], f"{breakage}: expected error findings {missing} are absent; {outcome.describe()}"
