"""The mock's capacity model on virtual time (Scheduler), its config file, and the load-fault building blocks."""

from __future__ import annotations

import json
import logging
import random
from pathlib import Path

import pytest
from click.testing import CliRunner

from llmconform.cli import main
from llmconform.mock import MockConfig
from llmconform.mock.capacity import (
    CapacityConfig,
    CapacityConfigError,
    Demand,
    Refusal,
    Scheduler,
    SequenceState,
    prompt_prefixes,
)
from llmconform.mock.load_faults import (
    _DELIBERATE,
    CHAT_SSE,
    GEMINI_SSE,
    LOAD_FAULTS,
    LoadFaultPicker,
    _DeliberateDisconnectFilter,
    check_rates,
    cut_round,
)
from llmconform.mock.request import ChatRequest

MODEL = "llmconform-mock-small"
# Round step times, so expected timings are exact: step = 10 + 2 per decode token + 0.1 per prefill token (ms).
EXACT = CapacityConfig(
    max_running=32, queue_size=64, step_base_ms=10.0, step_per_running_ms=2.0, prefill_ms_per_token=0.1
)


def _run(scheduler: Scheduler, until: float = 1e9) -> list[int]:
    """Run steps back to back on virtual time; the batch size of every step."""
    batches = []
    now = 0.0
    while (plan := scheduler.plan_step(now)) is not None and plan.start < until:
        assert len(scheduler.running) <= scheduler.config.max_running
        batches.append(len(plan.prefill) + len(plan.decode))
        scheduler.complete_step(plan)
        now = plan.end
    return batches


def _submit(scheduler: Scheduler, demand: Demand, now: float = 0.0) -> SequenceState:
    state = scheduler.submit(demand, now)
    assert isinstance(state, SequenceState)
    return state


def _itl_ms(state: SequenceState) -> float:
    gaps = [b - a for a, b in zip(state.token_times, state.token_times[1:], strict=False)]
    return 1000 * sum(gaps) / len(gaps)


def _ttft_ms(state: SequenceState) -> float:
    return 1000 * (state.token_times[0] - state.arrived_at)


# ------------------------------------------------------------------------------ latency shape


def test_itl_is_the_step_time_of_the_batch_and_grows_with_concurrency() -> None:
    alone = Scheduler(EXACT)
    single = _submit(alone, Demand(prompt_tokens=10, output_tokens=20))
    _run(alone)
    crowd = Scheduler(EXACT)
    many = [_submit(crowd, Demand(prompt_tokens=10, output_tokens=20)) for _ in range(24)]
    _run(crowd)
    assert _itl_ms(single) == pytest.approx(10 + 2 * 1)
    assert all(_itl_ms(s) == pytest.approx(10 + 2 * 24) for s in many)
    assert all(s.produced == 20 and s.finished for s in [single, *many])


def test_ttft_is_queue_wait_plus_the_uncached_prefill_and_grows_with_prompt_length() -> None:
    ttfts = {}
    for prompt in (100, 2000):
        scheduler = Scheduler(EXACT)
        state = _submit(scheduler, Demand(prompt_tokens=prompt, output_tokens=5))
        _run(scheduler)
        ttfts[prompt] = _ttft_ms(state)
    assert ttfts[100] == pytest.approx(10 + 0.1 * 100)
    assert ttfts[2000] == pytest.approx(10 + 0.1 * 2000)


def test_chunked_prefill_spreads_a_long_prompt_over_steps() -> None:
    scheduler = Scheduler(EXACT.model_copy(update={"prefill_chunk_tokens": 250}))
    state = _submit(scheduler, Demand(prompt_tokens=1000, output_tokens=2))
    _run(scheduler)
    assert _ttft_ms(state) == pytest.approx(4 * (10 + 0.1 * 250))


def test_ttft_grows_with_the_queue_and_the_running_count_never_exceeds_max_running() -> None:
    scheduler = Scheduler(EXACT.model_copy(update={"max_running": 2, "queue_size": 8}))
    states = [_submit(scheduler, Demand(prompt_tokens=10, output_tokens=10)) for _ in range(6)]
    assert [s.queue_depth_at_arrival for s in states] == [0, 0, 0, 1, 2, 3]
    assert len(scheduler.running) == 2 and len(scheduler.waiting) == 4
    batches = _run(scheduler)
    assert max(batches) == 2
    ttfts = [_ttft_ms(s) for s in states]
    assert ttfts[0] == ttfts[1] < ttfts[2] == ttfts[3] < ttfts[4] == ttfts[5]
    assert [s.running_at_admission for s in states] == [1, 2, 1, 2, 1, 2]


def test_random_arrivals_never_run_more_than_max_running() -> None:
    rng = random.Random(3)
    scheduler = Scheduler(EXACT.model_copy(update={"max_running": 5, "queue_size": 10}))
    now, refused, admitted = 0.0, 0, 0
    for _ in range(300):
        if rng.random() < 0.6:
            result = scheduler.submit(Demand(rng.randint(1, 500), rng.randint(1, 40)), now)
            refused += isinstance(result, Refusal)
            admitted += isinstance(result, SequenceState)
        plan = scheduler.plan_step(now)
        assert len(scheduler.running) <= 5 and len(scheduler.waiting) <= 10
        if plan is not None:
            assert len(plan.prefill) + len(plan.decode) <= 5
            scheduler.complete_step(plan)
            now = plan.end
    assert refused and admitted  # the run saw both a full queue and room


# ------------------------------------------------------------------------------ queue full


def test_a_full_queue_refuses_with_a_retry_after_from_the_drain_estimate() -> None:
    scheduler = Scheduler(EXACT.model_copy(update={"max_running": 2, "queue_size": 1}))
    for _ in range(3):
        _submit(scheduler, Demand(prompt_tokens=100, output_tokens=400))
    refusal = scheduler.submit(Demand(prompt_tokens=10, output_tokens=10), 0.0)
    assert isinstance(refusal, Refusal)
    # 1200 tokens left over a batch of 2 at 14 ms per step, plus 300 prompt tokens at 0.1 ms
    assert refusal.drain_s == pytest.approx((600 * 14 + 300 * 0.1) / 1000)
    assert refusal.retry_after_s == 9 and refusal.queue_depth == 1 and refusal.running == 2


def test_room_in_the_queue_admits_and_an_empty_engine_says_retry_after_one_second() -> None:
    scheduler = Scheduler(EXACT.model_copy(update={"max_running": 1, "queue_size": 1}))
    assert isinstance(scheduler.submit(Demand(10, 1), 0.0), SequenceState)
    assert isinstance(scheduler.submit(Demand(10, 1), 0.0), SequenceState)  # queued
    _run(scheduler)
    assert scheduler.drain_estimate_s() == 0.0
    assert not scheduler.running and not scheduler.waiting


def test_cancelling_a_running_sequence_gives_its_slot_to_the_next_waiting_one() -> None:
    scheduler = Scheduler(EXACT.model_copy(update={"max_running": 1, "queue_size": 1}))
    first = _submit(scheduler, Demand(10, 100))
    second = _submit(scheduler, Demand(10, 3))
    assert second.admitted_at is None
    scheduler.cancel(first, 0.5)
    assert first.cancelled and scheduler.running == [second] and second.admitted_at == 0.5
    _run(scheduler)
    assert second.finished and first.produced == 0


# ------------------------------------------------------------------------------ prefix cache


def _chat(*contents: str) -> ChatRequest:
    messages = [{"role": "system", "content": contents[0]}] + [{"role": "user", "content": c} for c in contents[1:]]
    return ChatRequest.from_body({"model": MODEL, "messages": messages})


def _demand(chat: ChatRequest) -> Demand:
    return Demand(chat.prompt_tokens, 5, prompt_prefixes(chat))


def test_prefixes_end_at_the_whole_prompt() -> None:
    chat = _chat("word " * 50, "question here")
    prefixes = prompt_prefixes(chat)
    assert len(prefixes) == 2 and prefixes[-1].tokens == chat.prompt_tokens
    assert prefixes[0].tokens < prefixes[1].tokens
    assert prompt_prefixes(_chat("word " * 50, "another question"))[0] == prefixes[0]
    assert prompt_prefixes(_chat("word " * 51, "question here"))[0] != prefixes[0]


def test_a_repeated_prompt_is_served_from_cache_in_whole_blocks_and_prefills_faster() -> None:
    config = EXACT.model_copy(update={"prefix_cache": True, "prefix_block_tokens": 16})
    scheduler = Scheduler(config)
    chat = _chat("word " * 300, "question here")
    first = _submit(scheduler, _demand(chat))
    _run(scheduler)
    again = _submit(scheduler, _demand(chat), now=10.0)
    shared = _submit(scheduler, _demand(_chat("word " * 300, "a different question")), now=10.0)
    other = _submit(scheduler, _demand(_chat("other " * 300, "question here")), now=10.0)
    _run(scheduler)
    assert first.cached_tokens == 0 and other.cached_tokens == 0
    assert again.cached_tokens == (chat.prompt_tokens - 1) // 16 * 16 > 0
    system_tokens = prompt_prefixes(chat)[0].tokens
    assert shared.cached_tokens == system_tokens // 16 * 16 > 0
    assert _ttft_ms(again) < _ttft_ms(first)


def test_without_the_prefix_cache_nothing_is_cached() -> None:
    scheduler = Scheduler(EXACT)
    chat = _chat("word " * 300, "question here")
    _submit(scheduler, _demand(chat))
    _run(scheduler)
    assert _submit(scheduler, _demand(chat), now=10.0).cached_tokens == 0


def test_the_cache_forgets_the_least_recently_used_prefixes() -> None:
    config = EXACT.model_copy(update={"prefix_cache": True, "prefix_block_tokens": 1, "prefix_cache_entries": 2})
    scheduler = Scheduler(config)
    old, new = _chat("old " * 40), _chat("new " * 40)
    for chat in (old, new, _chat("newer " * 40)):
        _submit(scheduler, _demand(chat))
        _run(scheduler)
    assert _submit(scheduler, _demand(old), now=5.0).cached_tokens == 0
    assert _submit(scheduler, _demand(new), now=5.0).cached_tokens > 0


# ------------------------------------------------------------------------------ jitter


def _durations(config: CapacityConfig) -> list[float]:
    scheduler = Scheduler(config)
    for _ in range(4):
        _submit(scheduler, Demand(50, 30))
    durations = []
    now = 0.0
    while (plan := scheduler.plan_step(now)) is not None:
        durations.append(plan.duration)
        scheduler.complete_step(plan)
        now = plan.end
    return durations


def test_jitter_is_seeded_reproducible_and_bounded() -> None:
    jittered = EXACT.model_copy(update={"jitter": 0.3, "seed": 11})
    first, again = _durations(jittered), _durations(jittered)
    other = _durations(jittered.model_copy(update={"seed": 12}))
    steady = _durations(EXACT)
    assert first == again
    assert first != other
    assert len(set(steady[1:])) == 1  # without jitter every decode step of the same batch lasts the same
    assert len(set(first[1:])) > 1
    assert all(0.3 * s - 1e-12 <= j <= 1.7 * s + 1e-12 for j, s in zip(first, steady, strict=True))


def test_jitter_above_the_cap_is_refused() -> None:
    with pytest.raises(ValueError, match=r"less than or equal to 0\.3"):
        CapacityConfig(jitter=0.5)


# ------------------------------------------------------------------------------ config file


def test_capacity_config_from_toml_and_json_with_overrides(tmp_path: Path) -> None:
    toml = tmp_path / "capacity.toml"
    toml.write_text("max_running = 4\nqueue_size = 2\nprefix_cache = true\n", encoding="utf-8")
    assert CapacityConfig.from_file(toml) == CapacityConfig(max_running=4, queue_size=2, prefix_cache=True)
    assert CapacityConfig.from_file(toml, max_running=8).max_running == 8
    table = tmp_path / "table.toml"
    table.write_text("[capacity]\nstep_base_ms = 3.5\n", encoding="utf-8")
    assert CapacityConfig.from_file(table).step_base_ms == 3.5
    as_json = tmp_path / "capacity.json"
    as_json.write_text(json.dumps({"jitter": 0.1, "seed": 5}), encoding="utf-8")
    assert CapacityConfig.from_file(as_json) == CapacityConfig(jitter=0.1, seed=5)


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("bad.toml", "max_running = [", "not valid TOML"),
        ("bad.json", "{", "not valid JSON"),
        ("typo.toml", "max_runing = 3", "max_runing: Extra inputs are not permitted.*fields: max_running"),
        ("range.toml", "max_running = 0", "max_running: Input should be greater than or equal to 1"),
        ("list.json", "[1]", "must hold a table"),
    ],
)
def test_a_bad_capacity_config_names_the_file_and_the_problem(
    tmp_path: Path, name: str, text: str, message: str
) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CapacityConfigError, match=message) as caught:
        CapacityConfig.from_file(path)
    assert str(path) in str(caught.value)
    with pytest.raises(CapacityConfigError, match="cannot read"):
        CapacityConfig.from_file(tmp_path / "missing.toml")


# ------------------------------------------------------------------------------ load faults


def test_load_fault_rates_are_checked() -> None:
    assert check_rates({"stall": 0.5, "truncate": 0.5}) == {"stall": 0.5, "truncate": 0.5}
    with pytest.raises(ValueError, match="unknown load fault"):
        check_rates({"explode": 0.1})
    with pytest.raises(ValueError, match="between 0 and 1"):
        check_rates({"stall": 1.5})
    with pytest.raises(ValueError, match=r"add up to 1\.2"):
        check_rates({"stall": 0.6, "truncate": 0.6})


def test_load_faults_by_rate_are_seeded_and_near_their_rates() -> None:
    rates = {"error_429": 0.2, "disconnect": 0.1}
    picker, twin = LoadFaultPicker(rates, 9, False), LoadFaultPicker(rates, 9, False)
    draws = [picker.pick(None) for _ in range(2000)]
    assert draws == [twin.pick(None) for _ in range(2000)]
    assert draws != [LoadFaultPicker(rates, 10, False).pick(None) for _ in range(2000)]
    assert 0.17 < draws.count("error_429") / 2000 < 0.23
    assert 0.08 < draws.count("disconnect") / 2000 < 0.12
    assert set(draws) == {"error_429", "disconnect", None}
    assert LoadFaultPicker({}, 9, False).pick(None) is None


def test_the_load_fault_header_names_the_kind_when_allowed() -> None:
    assert LoadFaultPicker({}, 0, True).pick("stall") == "stall"
    assert LoadFaultPicker({}, 0, True).pick("explode") is None
    assert LoadFaultPicker({}, 0, False).pick("stall") is None
    assert LoadFaultPicker({"truncate": 1.0}, 0, True).pick("stall") == "stall"
    assert LoadFaultPicker({"truncate": 1.0}, 0, True).pick(None) == "truncate"
    assert set(LOAD_FAULTS) == {
        "error_429",
        "error_500",
        "error_503",
        "disconnect",
        "truncate",
        "malformed_chunk",
        "stall",
    }


def test_a_stream_is_cut_after_half_its_rounds_and_a_single_round_before_its_last_event() -> None:
    assert [cut_round(n) for n in (1, 2, 3, 4, 9)] == [1, 1, 2, 2, 5]
    assert CHAT_SSE.without_last_event(b"data: 1\n\ndata: 2\n\ndata: [DONE]\n\n") == b"data: 1\n\ndata: 2\n\n"
    assert CHAT_SSE.without_last_event(b"data: 1\n\n") == b""
    assert GEMINI_SSE.without_last_event(b"data: 1\r\n\r\ndata: 2\r\n\r\n") == b"data: 1\r\n\r\n"


def test_only_a_deliberate_disconnect_is_kept_out_of_the_server_log() -> None:
    quiet = _DeliberateDisconnectFilter()
    unfinished = logging.LogRecord(
        "uvicorn.error", logging.ERROR, __file__, 1, "ASGI callable returned without completing response.", None, None
    )
    other = logging.LogRecord("uvicorn.error", logging.ERROR, __file__, 1, "Exception in ASGI application", None, None)
    assert quiet.filter(unfinished) and quiet.filter(other)  # a real bug stays visible
    token = _DELIBERATE.set(True)
    try:
        assert not quiet.filter(unfinished)
        assert quiet.filter(other)
    finally:
        _DELIBERATE.reset(token)


# ------------------------------------------------------------------------------ command line


def _mock_config(monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[int, str, list[MockConfig]]:
    """Run `llmconform mock ARGS` without serving; the exit code, the output and the config it would serve."""
    served: list[MockConfig] = []
    monkeypatch.setattr("llmconform.mock.serve", lambda config, on_ready=None: served.append(config))
    result = CliRunner().invoke(main, ["mock", *args])
    return result.exit_code, result.output, served


def test_mock_capacity_options_build_the_capacity_model(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    code, _, served = _mock_config(monkeypatch)
    assert code == 0 and served[0].capacity is None and served[0].load_faults == {}
    settings = tmp_path / "capacity.toml"
    settings.write_text("max_running = 3\nqueue_size = 5\nprefix_block_tokens = 8\n", encoding="utf-8")
    record = tmp_path / "record.jsonl"
    code, output, served = _mock_config(
        monkeypatch,
        *("--capacity-config", str(settings), "--max-running", "9", "--step-ms", "4", "--prefix-cache"),
        *("--jitter", "0.1", "--seed", "7", "--load-fault", "stall=0.25", "--load-fault", "error_503=0.5"),
        *("--record", str(record)),
    )
    assert code == 0, output
    config = served[-1]
    assert config.capacity == CapacityConfig(
        max_running=9, queue_size=5, step_base_ms=4.0, prefix_cache=True, prefix_block_tokens=8, jitter=0.1, seed=7
    )
    assert config.load_faults == {"stall": 0.25, "error_503": 0.5} and config.seed == 7
    assert config.record_path == str(record)
    code, _, served = _mock_config(monkeypatch, "--queue-size", "0")
    assert code == 0 and served[-1].capacity == CapacityConfig(queue_size=0)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--load-fault", "explode=0.1"], "--load-fault"),
        (["--load-fault", "stall"], "KIND=RATE"),
        (["--load-fault", "stall=0.7", "--load-fault", "truncate=0.7"], "add up to 1.4"),
        (["--jitter", "0.9"], "--jitter"),
        (["--capacity-config", "/no/such/capacity.toml"], "cannot read"),
        (["--record", "/no/such/dir/record.jsonl"], "--record"),
    ],
)
def test_bad_mock_capacity_options_exit_2_naming_the_option(
    monkeypatch: pytest.MonkeyPatch, args: list[str], message: str
) -> None:
    code, output, served = _mock_config(monkeypatch, *args)
    assert code == 2 and message in output and not served, output


def test_load_refuses_mock_options_with_a_base_url() -> None:
    result = CliRunner().invoke(
        main,
        [
            "load",
            "--base-url",
            "http://127.0.0.1:9",
            "--requests",
            "1",
            "--max-running",
            "2",
            "--load-fault",
            "stall=0.1",
        ],
    )
    assert result.exit_code == 2
    assert "--max-running, --load-fault configure the embedded mock" in result.output
