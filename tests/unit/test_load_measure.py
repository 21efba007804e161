"""Each load-metric definition held on hand-made timed exchanges (llmconform.load.measure.DEFINITIONS).

Streams are written as the OpenAI chat stream: a role chunk with empty content first, content chunks, a
finish chunk, a usage-only chunk with ``"choices": []``, then ``[DONE]``; every event's ``at_s`` (seconds
after the request was sent) is chosen by hand, so every expected number below is worked out exactly.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from llmconform.exchange import Exchange, StreamEvent, TransportError
from llmconform.families.chat import CHAT_OPERATION, MODELS_OPERATION, answer_text, chat_view, token_deltas
from llmconform.load.measure import (
    CSV_COLUMNS,
    DEFINITIONS,
    ERROR_CLASSES,
    RequestRecord,
    Timing,
    classify,
    csv_row,
    judge_slos,
    measure,
    tokenizer_named,
)
from llmconform.mock.tokenizer import count_tokens

TIGHT = 1e-9
SENT = 1000.0  # perf_counter seconds of the send (closed loop: intended == sent)
WALL = 1_700_000_000.0  # perf_counter -> epoch offset


# --- hand-made exchanges -------------------------------------------------------------------------------


def chunk(delta: dict[str, Any] | None = None, *, finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "delta": delta or {}, "logprobs": None, "finish_reason": finish}],
    }


def role_chunk() -> dict[str, Any]:
    return chunk({"role": "assistant", "content": ""})


def text_chunk(text: str) -> dict[str, Any]:
    return chunk({"content": text})


def usage_chunk(completion: int, prompt: int = 12) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [],
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
    }


def stream_exchange(events: list[tuple[float, dict[str, Any] | str]], *, elapsed: float) -> Exchange:
    return Exchange(
        family="chat",
        operation=CHAT_OPERATION,
        method="POST",
        url="http://127.0.0.1/v1/chat/completions",
        request_headers={},
        request_json={
            "model": "m",
            "messages": [{"role": "user", "content": "hi"}],
            "stream": True,
            "stream_options": {"include_usage": True},
        },
        status=200,
        response_headers={"content-type": "text/event-stream"},
        events=[StreamEvent(at_s=at, data=d if isinstance(d, str) else json.dumps(d)) for at, d in events],
        elapsed_s=elapsed,
    )


def unary_exchange(body: dict[str, Any] | bytes, *, elapsed: float, status: int = 200) -> Exchange:
    return Exchange(
        family="chat",
        operation=CHAT_OPERATION,
        method="POST",
        url="http://127.0.0.1/v1/chat/completions",
        request_headers={},
        request_json={"model": "m", "messages": [{"role": "user", "content": "hi"}]},
        status=status,
        response_headers={"content-type": "application/json"},
        body=body if isinstance(body, bytes) else json.dumps(body).encode(),
        elapsed_s=elapsed,
    )


def unary_answer(content: str | None, *, completion: int | None, tool_arguments: str | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if tool_arguments is not None:
        message["tool_calls"] = [
            {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": tool_arguments}}
        ]
    body: dict[str, Any] = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": "stop"}],
    }
    if completion is not None:
        body["usage"] = {"prompt_tokens": 12, "completion_tokens": completion, "total_tokens": 12 + completion}
    return body


# The reference stream: role-only chunk at 100 ms, an empty-content chunk at 150 ms, text at 250 ms
# ("Hello", 1 token), 300 ms (" the model", 2 tokens) and 450 ms (" is", 1 token), the finish chunk at
# 500 ms, the usage chunk (completion_tokens=4) at 510 ms, [DONE] at 520 ms; the body ends at 530 ms.
def reference_stream(completion: int = 4) -> Exchange:
    return stream_exchange(
        [
            (0.100, role_chunk()),
            (0.150, text_chunk("")),
            (0.250, text_chunk("Hello")),
            (0.300, text_chunk(" the model")),
            (0.450, text_chunk(" is")),
            (0.500, chunk({}, finish="stop")),
            (0.510, usage_chunk(completion)),
            (0.520, "[DONE]"),
        ],
        elapsed=0.530,
    )


def measured(
    exchange: Exchange,
    *,
    intended: float = SENT,
    sent: float = SENT,
    error_rules: list[str] | None = None,
    warning_rules: list[str] | None = None,
    tokenizer: str = "words",
    operation: str = "chat-stream",
) -> RequestRecord:
    return measure(
        exchange,
        operation=operation,
        timing=Timing(intended=intended, sent=sent),
        wall_offset=WALL,
        error_rules=error_rules or [],
        warning_rules=warning_rules or [],
        tokenizer=tokenizer_named(tokenizer),
    )


# --- definitions ----------------------------------------------------------------------------------------


def test_every_definition_has_text() -> None:
    expected = {
        "send_time",
        "scheduling_lag",
        "ttft",
        "itl",
        "tpot",
        "e2e",
        "output_tokens",
        "output_tokens_per_s_per_request",
        "output_tokens_per_s",
        "requests_per_s",
        "duration_s",
        "warmup",
        "goodput",
        "percentiles",
        "errors",
    }
    assert expected <= set(DEFINITIONS)
    for name, text in DEFINITIONS.items():
        assert isinstance(text, str) and text.strip(), name


def test_errors_definition_names_every_error_class() -> None:
    for error_class in ERROR_CLASSES:
        assert error_class in DEFINITIONS["errors"]


# --- TTFT -----------------------------------------------------------------------------------------------


def test_ttft_is_stamped_at_the_first_chunk_with_non_empty_content() -> None:
    record = measured(reference_stream())
    assert record.ttft_ms == pytest.approx(250.0, rel=TIGHT)  # not 100 (role-only), not 150 (empty content)


def test_token_deltas_skip_role_only_empty_usage_only_and_done_events() -> None:
    view = chat_view(reference_stream())
    assert [(round(at, 3), text) for at, text in token_deltas(view)] == [
        (0.25, "Hello"),
        (0.3, " the model"),
        (0.45, " is"),
    ]


def test_a_role_chunk_that_carries_content_is_the_first_token() -> None:
    exchange = stream_exchange(
        [
            (0.080, chunk({"role": "assistant", "content": "Hi"})),
            (0.120, text_chunk(" there")),
            (0.130, chunk({}, finish="stop")),
            (0.140, usage_chunk(2)),
            (0.150, "[DONE]"),
        ],
        elapsed=0.160,
    )
    assert measured(exchange).ttft_ms == pytest.approx(80.0, rel=TIGHT)


@pytest.mark.parametrize("key", ["reasoning_content", "reasoning", "refusal"])
def test_reasoning_and_refusal_deltas_count_as_generated_text(key: str) -> None:
    exchange = stream_exchange(
        [
            (0.100, role_chunk()),
            (0.200, chunk({key: "Let me think"})),
            (0.350, text_chunk(" Yes")),
            (0.400, chunk({}, finish="stop")),
            (0.410, usage_chunk(4)),
            (0.420, "[DONE]"),
        ],
        elapsed=0.430,
    )
    record = measured(exchange)
    assert record.ttft_ms == pytest.approx(200.0, rel=TIGHT)
    assert record.itl_ms == pytest.approx([150.0], rel=TIGHT)
    assert record.output_tokens_client == count_tokens("Let me think Yes") == 4


def test_tool_call_arguments_count_as_text_but_the_function_name_does_not() -> None:
    def call(function: dict[str, Any], **extra: Any) -> dict[str, Any]:
        return chunk({"tool_calls": [{"index": 0, "function": function, **extra}]})

    exchange = stream_exchange(
        [
            (0.100, chunk({"role": "assistant", "content": None})),
            (0.150, call({"name": "lookup", "arguments": ""}, id="call_1", type="function")),
            (0.220, call({"arguments": '{"city"'})),
            (0.300, call({"arguments": ': "Oslo"}'})),
            (0.310, chunk({}, finish="tool_calls")),
            (0.320, usage_chunk(8)),
            (0.330, "[DONE]"),
        ],
        elapsed=0.340,
    )
    record = measured(exchange)
    assert record.ttft_ms == pytest.approx(220.0, rel=TIGHT)
    assert record.itl_ms == pytest.approx([80.0], rel=TIGHT)
    assert record.chunks == 2
    assert record.output_tokens_client == count_tokens('{"city": "Oslo"}')
    assert record.finish_reason == "tool_calls"


def test_a_stream_without_generated_text_has_no_ttft_and_no_itl() -> None:
    exchange = stream_exchange(
        [(0.1, role_chunk()), (0.2, chunk({}, finish="stop")), (0.3, usage_chunk(0)), (0.4, "[DONE]")],
        elapsed=0.5,
    )
    record = measured(exchange)
    assert record.ttft_ms is None
    assert record.itl_ms == []
    assert record.itl_token_ms == []
    assert record.tpot_ms is None
    assert record.chunks == 0
    assert record.e2e_ms == pytest.approx(500.0, rel=TIGHT)


# --- open loop: the send time is the intended time ------------------------------------------------------


def test_closed_loop_has_no_scheduling_lag() -> None:
    record = measured(reference_stream())
    assert record.lag_ms == 0.0
    assert record.intended_at == pytest.approx(SENT + WALL, rel=TIGHT)


def test_open_loop_ttft_and_e2e_include_the_scheduling_lag() -> None:
    closed = measured(reference_stream())
    late = measured(reference_stream(), intended=SENT, sent=SENT + 0.040)  # sent 40 ms after its slot
    assert late.lag_ms == pytest.approx(40.0, rel=1e-6)
    assert late.ttft_ms == pytest.approx(250.0 + 40.0, rel=1e-6)
    assert late.e2e_ms == pytest.approx(530.0 + 40.0, rel=1e-6)
    assert closed.e2e_ms == pytest.approx(530.0, rel=TIGHT)
    assert late.intended_at == pytest.approx(SENT + WALL, rel=TIGHT)  # the row is stamped at the slot


def test_lag_does_not_change_inter_token_latency_or_tpot() -> None:
    closed = measured(reference_stream())
    late = measured(reference_stream(), intended=SENT, sent=SENT + 0.040)
    assert late.itl_ms == pytest.approx(closed.itl_ms, rel=TIGHT)
    assert late.tpot_ms == pytest.approx(closed.tpot_ms, rel=1e-6)


def test_a_send_before_its_intended_time_counts_no_negative_lag() -> None:
    assert Timing(intended=10.0, sent=9.5).lag_s == 0.0
    assert Timing(intended=10.0, sent=10.25).lag_s == pytest.approx(0.25, rel=TIGHT)


def test_unary_latency_includes_the_scheduling_lag() -> None:
    exchange = unary_exchange(unary_answer("Hello there, friend.", completion=5), elapsed=0.2)
    record = measured(exchange, intended=SENT, sent=SENT + 0.030, operation="chat-unary")
    assert record.e2e_ms == pytest.approx(230.0, rel=1e-6)


# --- ITL ------------------------------------------------------------------------------------------------


def test_itl_per_chunk_is_the_gaps_between_text_carrying_chunks_only() -> None:
    record = measured(reference_stream())
    # 250 -> 300 -> 450 ms; the role chunk, the empty chunk, the finish, usage and [DONE] make no gaps
    assert record.itl_ms == pytest.approx([50.0, 150.0], rel=TIGHT)
    assert record.chunks == 3


def test_itl_per_token_divides_a_gap_by_the_tokens_of_the_later_chunk_and_weights_it() -> None:
    record = measured(reference_stream())
    assert count_tokens(" the model") == 2
    gaps = [gap for gap, _ in record.itl_token_ms]
    weights = [tokens for _, tokens in record.itl_token_ms]
    assert gaps == pytest.approx([25.0, 150.0], rel=TIGHT)  # 50 ms / 2 tokens, 150 ms / 1 token
    assert weights == [2, 1]


def test_itl_per_token_with_the_chunks_tokenizer_is_one_token_per_chunk() -> None:
    record = measured(reference_stream(), tokenizer="chunks")
    assert [gap for gap, _ in record.itl_token_ms] == pytest.approx([50.0, 150.0], rel=TIGHT)
    assert [tokens for _, tokens in record.itl_token_ms] == [1, 1]
    assert record.output_tokens_client == 3


def test_tokenizers_by_name() -> None:
    words, chunks = tokenizer_named("words"), tokenizer_named("chunks")
    assert words(" the model") == 2
    assert words("") == 0
    assert chunks(" the model") == 1
    assert chunks("") == 0


# --- TPOT -----------------------------------------------------------------------------------------------


def test_tpot_is_e2e_minus_ttft_over_output_tokens_minus_one() -> None:
    record = measured(reference_stream())
    assert record.output_tokens == 4
    assert record.tpot_ms == pytest.approx((530.0 - 250.0) / (4 - 1), rel=TIGHT)


def test_tpot_uses_the_server_usage_not_the_client_count() -> None:
    record = measured(reference_stream(completion=8))  # client counts 4, server says 8
    assert record.output_tokens_client == 4
    assert record.tpot_ms == pytest.approx((530.0 - 250.0) / (8 - 1), rel=TIGHT)


@pytest.mark.parametrize("completion", [0, 1])
def test_no_tpot_when_there_are_at_most_one_output_token(completion: int) -> None:
    exchange = stream_exchange(
        [
            (0.1, role_chunk()),
            (0.2, text_chunk("Yes")),
            (0.3, chunk({}, finish="stop")),
            (0.31, usage_chunk(completion)),
            (0.32, "[DONE]"),
        ],
        elapsed=0.33,
    )
    record = measured(exchange)
    assert record.ttft_ms == pytest.approx(200.0, rel=TIGHT)
    assert record.tpot_ms is None


def test_tpot_falls_back_to_the_client_count_when_the_server_reports_no_usage() -> None:
    exchange = stream_exchange(
        [
            (0.1, role_chunk()),
            (0.2, text_chunk("One")),
            (0.3, text_chunk(" two three")),
            (0.4, chunk({}, finish="stop")),
            (0.5, "[DONE]"),
        ],
        elapsed=0.6,
    )
    record = measured(exchange)
    assert record.output_tokens is None
    assert record.output_tokens_client == 3
    assert record.token_discrepancy is None
    assert not record.tokens_disagree
    assert record.tpot_ms == pytest.approx((600.0 - 200.0) / (3 - 1), rel=TIGHT)


# --- output tokens --------------------------------------------------------------------------------------


def test_output_tokens_come_from_usage_and_the_client_count_from_the_tokenizer() -> None:
    record = measured(reference_stream())
    assert record.output_tokens == 4
    assert record.prompt_tokens == 12
    assert record.output_tokens_client == count_tokens("Hello the model is") == 4
    assert record.token_discrepancy == 0
    assert not record.tokens_disagree
    assert record.finish_reason == "stop"


def test_a_discrepancy_is_client_minus_server_and_kept_beside_the_server_count() -> None:
    record = measured(reference_stream(completion=10))
    assert record.output_tokens == 10  # the server's count is never replaced
    assert record.token_discrepancy == 4 - 10
    assert record.tokens_disagree


@pytest.mark.parametrize(
    ("server", "client", "disagree"),
    [(10, 10, False), (10, 11, False), (10, 9, False), (10, 12, True), (10, 8, True), (1, 2, True), (0, 0, False)],
)
def test_tokens_disagree_when_more_than_ten_percent_apart(server: int, client: int, disagree: bool) -> None:
    record = RequestRecord(
        operation="chat-stream",
        family="chat",
        stream=True,
        intended_at=0.0,
        lag_ms=0.0,
        status=200,
        error_class=None,
        e2e_ms=100.0,
        output_tokens=server,
        output_tokens_client=client,
    )
    assert record.tokens_disagree is disagree


def test_output_tokens_per_second_is_output_tokens_over_e2e() -> None:
    record = measured(reference_stream())
    assert record.output_tokens_per_s == pytest.approx(4 / 0.530, rel=TIGHT)


def test_an_answer_that_broke_the_contract_keeps_its_token_rate() -> None:
    record = measured(reference_stream(), error_rules=["some_error_rule"])
    assert record.error_class == "contract"
    assert record.output_tokens_per_s is not None and record.output_tokens_per_s > 0


def test_a_request_without_a_complete_answer_has_no_token_rate() -> None:
    record = measured(reference_stream(), error_rules=["stream_done_last"])
    assert record.error_class == "stream_truncated"
    assert record.output_tokens_per_s is None


# --- unary answers --------------------------------------------------------------------------------------


def test_unary_answer_has_no_ttft_and_its_e2e_is_the_elapsed_time() -> None:
    exchange = unary_exchange(unary_answer("Hello there, friend.", completion=5), elapsed=0.2)
    record = measured(exchange, operation="chat-unary")
    assert record.stream is False
    assert record.ttft_ms is None
    assert record.tpot_ms is None
    assert record.itl_ms == []
    assert record.chunks == 0
    assert record.e2e_ms == pytest.approx(200.0, rel=TIGHT)
    assert record.output_tokens == 5
    assert record.output_tokens_client == count_tokens("Hello there, friend.") == 5
    assert record.finish_reason == "stop"


def test_unary_client_count_includes_tool_call_arguments() -> None:
    exchange = unary_exchange(unary_answer(None, completion=6, tool_arguments='{"city": "Oslo"}'), elapsed=0.1)
    view = chat_view(exchange)
    assert answer_text(view) == '{"city": "Oslo"}'
    assert measured(exchange).output_tokens_client == count_tokens('{"city": "Oslo"}')


def test_unary_body_that_is_not_json_counts_zero_client_tokens() -> None:
    record = measured(unary_exchange(b"not json", elapsed=0.1))
    assert record.output_tokens is None
    assert record.output_tokens_client == 0


def test_non_chat_and_failed_answers_carry_no_token_measurements() -> None:
    models = unary_exchange({"object": "list", "data": []}, elapsed=0.05)
    models.operation = MODELS_OPERATION
    record = measured(models, operation="models")
    assert record.output_tokens is None and record.output_tokens_client == 0
    assert record.e2e_ms == pytest.approx(50.0, rel=TIGHT)
    failed = measured(unary_exchange({"error": {"message": "busy"}}, elapsed=0.01, status=503))
    assert failed.error_class == "http_5xx"
    assert failed.output_tokens is None
    assert failed.e2e_ms == pytest.approx(10.0, rel=TIGHT)


# --- error classes --------------------------------------------------------------------------------------


def transport_failure(kind: TransportError, status: int | None) -> Exchange:
    exchange = stream_exchange([], elapsed=0.1)
    exchange.status = status
    exchange.error = f"{kind.value} happened"
    exchange.error_kind = kind
    return exchange


@pytest.mark.parametrize(
    ("kind", "status", "expected"),
    [
        (TransportError.CONNECT, None, "connect"),
        (TransportError.TIMEOUT, None, "timeout"),
        (TransportError.TIMEOUT, 200, "timeout"),
        (TransportError.STREAM_TRUNCATED, 200, "stream_truncated"),
        (TransportError.DECODE, 200, "decode"),
        (TransportError.TOO_LARGE, 200, "too_large"),
        (TransportError.PROTOCOL, None, "protocol"),
        (TransportError.PROTOCOL, 200, "stream_truncated"),  # the connection broke after the headers
    ],
)
def test_transport_errors_classify_by_their_kind(kind: TransportError, status: int | None, expected: str) -> None:
    exchange = transport_failure(kind, status)
    assert classify(exchange, []) == expected
    assert measured(exchange).error_class == expected


@pytest.mark.parametrize(
    ("status", "expected"),
    [(400, "http_4xx"), (404, "http_4xx"), (429, "http_4xx"), (500, "http_5xx"), (503, "http_5xx"), (302, "protocol")],
)
def test_http_status_classes(status: int, expected: str) -> None:
    assert classify(unary_exchange({"error": {"message": "no"}}, elapsed=0.1, status=status), []) == expected


def test_an_error_status_wins_over_broken_rules() -> None:
    exchange = unary_exchange({"error": {"message": "no"}}, elapsed=0.1, status=429)
    assert classify(exchange, ["error_body_shape"]) == "http_4xx"


def test_a_2xx_answer_that_broke_an_error_rule_is_a_contract_failure() -> None:
    assert classify(reference_stream(), ["chat_usage_present"]) == "contract"
    record = measured(reference_stream(), error_rules=["chat_usage_present"], warning_rules=["some_warning"])
    assert record.error_class == "contract"
    assert not record.ok
    assert record.violations == ["chat_usage_present", "some_warning"]


def test_warnings_alone_do_not_fail_a_request() -> None:
    record = measured(reference_stream(), warning_rules=["some_warning"])
    assert record.error_class is None
    assert record.ok
    assert record.violations == ["some_warning"]


@pytest.mark.parametrize("rule", ["stream_done_last", "request_completes"])
def test_a_2xx_stream_without_its_terminal_event_is_truncated_not_contract(rule: str) -> None:
    exchange = stream_exchange([(0.1, role_chunk()), (0.2, text_chunk("Hi"))], elapsed=0.3)
    assert classify(exchange, [rule]) == "stream_truncated"
    assert classify(exchange, ["chat_usage_present", rule]) == "stream_truncated"


def test_unreadable_2xx_answers_are_decode_failures() -> None:
    assert classify(reference_stream(), ["stream_chunk_is_json"]) == "decode"
    garbled = reference_stream()
    garbled.invalid_utf8 = True
    assert classify(garbled, []) == "decode"


def test_a_clean_2xx_answer_has_no_error_class() -> None:
    assert classify(reference_stream(), []) is None
    assert measured(reference_stream()).ok


def test_every_class_classify_returns_is_a_documented_error_class() -> None:
    produced = {classify(transport_failure(kind, status), []) for kind in TransportError for status in (None, 200)}
    produced |= {classify(unary_exchange({}, elapsed=0.1, status=s), []) for s in (302, 404, 500)}
    produced |= {classify(reference_stream(), [rules]) for rules in ("x", "stream_done_last", "stream_chunk_is_json")}
    # task_failed is the harness's verdict on a whole video task whose answers all kept the contract.
    assert produced | {"task_failed"} == set(ERROR_CLASSES)


# --- per-request SLOs (goodput) -------------------------------------------------------------------------


def test_judge_slos_holds_each_per_request_metric_against_its_limit() -> None:
    record = measured(reference_stream())  # ttft 250, largest gap 150, tpot 93.33, e2e 530
    assert judge_slos(record, {})
    assert judge_slos(record, {"ttft_ms": 250.001, "itl_ms": 150.001, "tpot_ms": 93.334, "e2e_ms": 530.001})
    assert not judge_slos(record, {"ttft_ms": 249.0})
    assert not judge_slos(record, {"itl_ms": 149.0})  # the request's largest chunk gap
    assert judge_slos(record, {"itl_ms": 151.0})
    assert not judge_slos(record, {"tpot_ms": 93.0})
    assert not judge_slos(record, {"e2e_ms": 529.0})


def test_judge_slos_ignores_percentile_slos() -> None:
    record = measured(reference_stream())
    assert judge_slos(record, {"ttft_p95_ms": 1.0, "e2e_p99_ms": 1.0, "itl_p999_ms": 1.0})


def test_judge_slos_counts_the_lag_of_a_late_open_loop_request() -> None:
    late = measured(reference_stream(), intended=SENT, sent=SENT + 0.100)
    assert not judge_slos(late, {"ttft_ms": 300.0})  # 250 ms + 100 ms of lag


def test_a_failed_request_is_never_good() -> None:
    assert not judge_slos(measured(reference_stream(), error_rules=["some_rule"]), {})


def test_an_slo_on_a_metric_the_request_lacks_is_not_judged() -> None:
    unary = measured(unary_exchange(unary_answer("Hi", completion=1), elapsed=0.1))
    assert judge_slos(unary, {"ttft_ms": 1.0, "tpot_ms": 1.0, "itl_ms": 1.0})
    assert not judge_slos(unary, {"e2e_ms": 50.0})


# --- CSV ------------------------------------------------------------------------------------------------


def test_csv_row_has_one_cell_per_column() -> None:
    for record in (
        measured(reference_stream()),
        measured(unary_exchange(unary_answer("Hi", completion=1), elapsed=0.1)),
        measured(transport_failure(TransportError.CONNECT, None)),
    ):
        assert len(csv_row(record)) == len(CSV_COLUMNS)


def test_csv_row_cells() -> None:
    record = measured(reference_stream(), intended=SENT, sent=SENT + 0.040, warning_rules=["w1", "w2"])
    record.good = True
    row = dict(zip(CSV_COLUMNS, csv_row(record), strict=True))
    assert row["intended_at"] == f"{SENT + WALL:.6f}"
    assert row["stream"] == 1
    assert row["warmup"] == 0
    assert row["status"] == 200
    assert row["error_class"] == ""
    assert row["lag_ms"] == "40.000"
    assert row["ttft_ms"] == "290.000"
    assert row["e2e_ms"] == "570.000"
    assert row["tpot_ms"] == "93.333"
    assert row["itl_mean_ms"] == "100.000"
    assert row["itl_max_ms"] == "150.000"
    assert row["chunks"] == 3
    assert row["output_tokens"] == 4
    assert row["output_tokens_client"] == 4
    assert row["prompt_tokens"] == 12
    assert row["finish_reason"] == "stop"
    assert row["good"] == 1
    assert row["violations"] == "w1 w2"
    assert row["error"] == ""


def test_csv_row_leaves_absent_values_empty_and_bounds_the_error_text() -> None:
    failure = transport_failure(TransportError.CONNECT, None)
    failure.error = "x" * 500
    row = dict(zip(CSV_COLUMNS, csv_row(measured(failure)), strict=True))
    assert row["status"] == ""
    assert row["error_class"] == "connect"
    assert row["ttft_ms"] == row["tpot_ms"] == row["itl_mean_ms"] == row["itl_max_ms"] == ""
    assert row["output_tokens"] == row["prompt_tokens"] == row["finish_reason"] == ""
    assert row["error"] == "x" * 200
