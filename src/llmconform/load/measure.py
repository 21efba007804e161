"""From one timed, checked Exchange to one request record: the load metrics and their definitions.

The definitions below are written into every load report verbatim (``DEFINITIONS``); the tests in
tests/unit/test_load_measure.py hold each one on hand-made timed exchanges. Output tokens come from
the server's ``usage``; the client's own count (``tokenizer``) is kept beside it so a discrepancy is
visible, never silently substituted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from llmconform.exchange import Exchange, TransportError
from llmconform.families import Answer, read_answer
from llmconform.mock.tokenizer import count_tokens

__all__ = [
    "DEFINITIONS",
    "ERROR_CLASSES",
    "STREAM_TERMINATION_RULES",
    "TIMED_CLASSES",
    "RequestRecord",
    "Timing",
    "classify",
    "measure",
    "tokenizer_named",
]

DEFINITIONS: dict[str, str] = {
    "send_time": (
        "The origin of every latency. Open loop (--rate): the request's intended send time from the arrival "
        "schedule, so a stalled target or a saturated generator shows as latency instead of vanishing "
        "(coordinated omission). Closed loop (--users): the moment the request was sent."
    ),
    "scheduling_lag": "Actual send time minus intended send time (open loop only; 0 in a closed loop).",
    "ttft": (
        "Time to first token: send time to the arrival of the first stream chunk that carries generated text "
        "(non-empty delta content, reasoning, refusal or tool-call arguments in any choice). Role-only and "
        "usage-only chunks and [DONE] do not count. Streamed requests only, and media answers (images, audio), "
        "which carry no text: for them, send time to the first byte of the answer (a video task: of the create "
        "call's answer)."
    ),
    "itl": (
        "Inter-token latency, per chunk: the gap between the arrivals of successive text-carrying chunks of "
        "one stream, every gap of every stream pooled. 'itl_per_token' divides each gap by the number of "
        "tokens the later chunk carries (client tokenizer) and counts it once per token."
    ),
    "tpot": (
        "Time per output token after the first: (E2E - TTFT) / (output tokens - 1), per request, for streams "
        "with at least 2 output tokens (server usage; the client count when the server sent none)."
    ),
    "e2e": (
        "End-to-end latency: send time to the last byte of the response (the stream's end for streams; for a "
        "video task, the end of the poll that saw it reach a final state)."
    ),
    "output_tokens": (
        "usage.completion_tokens reported by the server (the final usage chunk of a stream). The client "
        "counts the generated text with its tokenizer too; 'token_count_check' reports how often and by how "
        "much the two differ (a request differs when they are more than 10% apart)."
    ),
    "output_tokens_per_s_per_request": "A timed request's output tokens divided by its E2E latency in seconds.",
    "output_tokens_per_s": "Output tokens of all measured timed requests (see timed_requests) divided by duration_s.",
    "requests_per_s": "Measured requests that completed (successfully or not) divided by duration_s.",
    "duration_s": (
        "From the first measured send time (after the warm-up) to the completion of the last measured request."
    ),
    "warmup": "Requests whose send time falls inside the warm-up are recorded in the CSV but not measured.",
    "goodput": (
        "Requests per second that succeeded, broke no error-severity contract rule, and met every per-request "
        "SLO given with --slo METRIC_ms=LIMIT (ttft, itl = the request's largest chunk gap, tpot, e2e)."
    ),
    "timed_requests": (
        "Latency distributions cover every request that received a complete 2xx answer, those that broke the "
        "contract included (they also count as failed, class 'contract'); requests without a complete answer "
        "are counted in 'errors' and have no latency."
    ),
    "percentiles": (
        "p50/p90/p95/p99/p999 from an HdrHistogram of microsecond values with 3 significant digits (relative "
        "error <= 0.1%); histograms from workers are merged exactly; mean and max are exact."
    ),
    "errors": (
        "Every failed request has one class: connect, timeout, http_4xx, http_5xx, stream_truncated (the "
        "connection or the stream ended early), decode (an unreadable body or stream), too_large, protocol, "
        "contract (a 2xx answer that broke an error-severity rule; 'violations' counts rules), or task_failed (an "
        "asynchronous task, a video, that ended failed, expired or cancelled)."
    ),
}

ERROR_CLASSES = (
    "connect",
    "timeout",
    "http_4xx",
    "http_5xx",
    "stream_truncated",
    "decode",
    "too_large",
    "protocol",
    "contract",
    "task_failed",
)
# A complete 2xx answer is timed even when it broke the contract (it is counted as failed all the same).
TIMED_CLASSES = frozenset({None, "contract"})
# A 2xx stream that ended without its terminal event was cut short: classified as truncated, not contract.
# Rules whose violation means the stream ended early (each format's own end-of-stream rule), and rules
# whose violation means an event could not be decoded.
STREAM_TERMINATION_RULES = frozenset(
    {
        "stream_done_last",
        "request_completes",
        "messages_stream_error_event",
        "responses_stream_lifecycle",
        "gemini_stream_final_frame",
    }
)
DECODE_RULES = frozenset({"stream_chunk_is_json", "responses_stream_event_is_json", "gemini_stream_frames_are_json"})
_DISCREPANCY = 0.10

Tokenizer = Callable[[str], int]


def _chunk_tokens(text: str) -> int:
    return 1 if text else 0


def tokenizer_named(name: str) -> Tokenizer:
    """``words``: the mock's documented tokenizer (llmconform.mock.tokenizer); ``chunks``: one per chunk."""
    return count_tokens if name == "words" else _chunk_tokens


@dataclass(frozen=True, slots=True)
class Timing:
    """When a request was meant to go and when it went (``time.perf_counter`` seconds)."""

    intended: float
    sent: float

    @property
    def lag_s(self) -> float:
        return max(self.sent - self.intended, 0.0)


@dataclass(slots=True)
class RequestRecord:
    """One request's measurements; a CSV row, and the input of the histograms."""

    operation: str
    family: str
    stream: bool
    intended_at: float
    lag_ms: float
    status: int | None
    error_class: str | None
    e2e_ms: float
    ttft_ms: float | None = None
    tpot_ms: float | None = None
    itl_ms: list[float] = field(default_factory=list)
    itl_token_ms: list[tuple[float, int]] = field(default_factory=list)
    chunks: int = 0
    output_tokens: int | None = None
    output_tokens_client: int = 0
    prompt_tokens: int | None = None
    finish_reason: str | None = None
    violations: list[str] = field(default_factory=list)
    warmup: bool = False
    good: bool = False
    process: int = 0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error_class is None

    @property
    def output_tokens_per_s(self) -> float | None:
        tokens = self.output_tokens
        if self.error_class not in TIMED_CLASSES or tokens is None or self.e2e_ms <= 0:
            return None
        return tokens / (self.e2e_ms / 1000)

    @property
    def token_discrepancy(self) -> int | None:
        """Client count minus server count, when the server reported one."""
        if self.output_tokens is None:
            return None
        return self.output_tokens_client - self.output_tokens

    @property
    def tokens_disagree(self) -> bool:
        diff = self.token_discrepancy
        if diff is None or self.output_tokens is None:
            return False
        return abs(diff) > _DISCREPANCY * max(self.output_tokens, 1)


def classify(exchange: Exchange, error_rules: Iterable[str]) -> str | None:
    """The failure class of an exchange, or None when it succeeded and kept the contract."""
    if exchange.error_kind is not None:
        kind = exchange.error_kind
        if kind is TransportError.PROTOCOL and exchange.status is not None:
            return "stream_truncated"
        return kind.value
    status = exchange.status or 0
    if 400 <= status < 500:
        return "http_4xx"
    if status >= 500 or status < 200 or status >= 300:
        return "http_5xx" if status >= 500 else "protocol"
    broken = set(error_rules)
    if broken & STREAM_TERMINATION_RULES:
        return "stream_truncated"
    if exchange.invalid_utf8 or broken & DECODE_RULES:
        return "decode"
    if broken:
        return "contract"
    return None


def measure(
    exchange: Exchange,
    *,
    operation: str,
    timing: Timing,
    wall_offset: float,
    error_rules: list[str],
    warning_rules: list[str],
    tokenizer: Tokenizer,
    warmup: bool = False,
    process: int = 0,
) -> RequestRecord:
    """Measure one exchange. ``wall_offset`` turns perf_counter seconds into epoch seconds."""
    lag_s = timing.lag_s
    record = RequestRecord(
        operation=operation,
        family=exchange.family,
        stream=exchange.is_stream,
        intended_at=timing.intended + wall_offset,
        lag_ms=lag_s * 1000,
        status=exchange.status,
        error_class=classify(exchange, error_rules),
        e2e_ms=(lag_s + exchange.elapsed_s) * 1000,
        violations=[*error_rules, *warning_rules],
        warmup=warmup,
        process=process,
        error=exchange.error,
    )
    answer = read_answer(exchange)
    if answer is not None:
        _measure_answer(answer, record, lag_s, tokenizer)
    return record


def _measure_answer(answer: Answer, record: RequestRecord, lag_s: float, tokenizer: Tokenizer) -> None:
    """Token counts, finish, and for a stream TTFT/ITL/TPOT from the format's text events."""
    record.output_tokens = answer.output_tokens
    record.prompt_tokens = answer.input_tokens
    record.finish_reason = answer.raw_finish
    if answer.first_byte_s is not None:
        record.ttft_ms = (lag_s + answer.first_byte_s) * 1000  # a media answer's "first token": its first byte
    if not answer.stream:
        record.output_tokens_client = tokenizer(answer.text)
        return
    deltas = answer.text_events
    record.chunks = len(deltas)
    counts = [tokenizer(text) for _, text in deltas]
    record.output_tokens_client = sum(counts)
    if not deltas:
        return
    record.ttft_ms = (lag_s + deltas[0][0]) * 1000
    for (previous, _), (at, _), tokens in zip(deltas, deltas[1:], counts[1:], strict=False):
        gap_ms = (at - previous) * 1000
        record.itl_ms.append(gap_ms)
        if tokens > 0:
            record.itl_token_ms.append((gap_ms / tokens, tokens))
    tokens_out = record.output_tokens if record.output_tokens is not None else record.output_tokens_client
    if tokens_out > 1:
        record.tpot_ms = (record.e2e_ms - record.ttft_ms) / (tokens_out - 1)


def judge_slos(record: RequestRecord, slos: dict[str, float]) -> bool:
    """True when the request succeeded and met every per-request SLO (``ttft_ms``, ``itl_ms``, ...)."""
    if not record.ok:
        return False
    values: dict[str, float | None] = {
        "ttft_ms": record.ttft_ms,
        "itl_ms": max(record.itl_ms) if record.itl_ms else None,
        "tpot_ms": record.tpot_ms,
        "e2e_ms": record.e2e_ms,
    }
    for name, limit in slos.items():
        if name not in values:
            continue  # a percentile SLO (ttft_p95_ms) is judged on the run, not per request
        value = values[name]
        if value is not None and value > limit:
            return False
    return True


CSV_COLUMNS = (
    "intended_at",
    "process",
    "operation",
    "family",
    "stream",
    "warmup",
    "status",
    "error_class",
    "lag_ms",
    "ttft_ms",
    "e2e_ms",
    "tpot_ms",
    "itl_mean_ms",
    "itl_max_ms",
    "chunks",
    "output_tokens",
    "output_tokens_client",
    "prompt_tokens",
    "finish_reason",
    "good",
    "violations",
    "error",
)


def csv_row(record: RequestRecord) -> list[Any]:
    """The record as one row of requests.csv (CSV_COLUMNS order; empty cells for absent values)."""

    def ms(value: float | None) -> str:
        return "" if value is None else f"{value:.3f}"

    itl_mean = sum(record.itl_ms) / len(record.itl_ms) if record.itl_ms else None
    return [
        f"{record.intended_at:.6f}",
        record.process,
        record.operation,
        record.family,
        int(record.stream),
        int(record.warmup),
        "" if record.status is None else record.status,
        record.error_class or "",
        ms(record.lag_ms),
        ms(record.ttft_ms),
        ms(record.e2e_ms),
        ms(record.tpot_ms),
        ms(itl_mean),
        ms(max(record.itl_ms) if record.itl_ms else None),
        record.chunks,
        "" if record.output_tokens is None else record.output_tokens,
        record.output_tokens_client,
        "" if record.prompt_tokens is None else record.prompt_tokens,
        record.finish_reason or "",
        int(record.good),
        " ".join(record.violations),
        (record.error or "")[:200],
    ]
