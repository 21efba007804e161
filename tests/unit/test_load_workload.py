"""What each load request asks: synthetic prompts of exact mock token lengths, JSONL prompts, plan parsing."""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from tests.builders import load_plan as plan

from llmconform.load.plan import Arrival, LoadPlan, TokenDistribution, WorkloadSpec, parse_distribution, parse_slo
from llmconform.load.workload import CHAT_OVERHEAD_TOKENS, Workload, WorkloadError, draw, load_prompts
from llmconform.mock.tokenizer import count_prompt_tokens


def fixed(n: int) -> TokenDistribution:
    return TokenDistribution(kind="fixed", mean=n)


def workload(index: int = 0, **spec: Any) -> Workload:
    return Workload(WorkloadSpec(**spec), "test-model", index)


def prompt_tokens(body: dict[str, Any]) -> int:
    return count_prompt_tokens(body["messages"], body.get("tools"), body.get("response_format"))


def write(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "prompts.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# --- synthetic prompts ----------------------------------------------------------------------------------


@pytest.mark.parametrize("length", [16, 17, 20, 64, 128, 1000, 4096])
def test_a_synthetic_prompt_counts_its_target_length_on_the_mock(length: int) -> None:
    source = workload(input_tokens=fixed(length))
    for _ in range(3):
        body = source.chat_body(stream=False)
        assert prompt_tokens(body) == length


def test_the_target_length_holds_for_many_digit_process_and_sequence_numbers() -> None:
    source = workload(index=123, input_tokens=fixed(50))
    bodies = [source.chat_body(stream=True) for _ in range(120)]
    assert {prompt_tokens(b) for b in bodies} == {50}
    assert bodies[-1]["messages"][0]["content"].startswith("Request 123-120 of the llmconform load.")


def test_a_length_below_the_opening_gives_the_opening_alone() -> None:
    body = workload(input_tokens=fixed(4)).chat_body(stream=False)
    assert body["messages"][0]["content"] == "Request 0-1 of the llmconform load."
    assert prompt_tokens(body) == 16 > 4
    assert CHAT_OVERHEAD_TOKENS == 7


def test_the_same_seed_gives_the_same_bodies() -> None:
    spec = {"seed": 42, "input_tokens": TokenDistribution(kind="uniform", low=20, high=200, mean=110)}
    first, second = workload(**spec), workload(**spec)
    assert [first.chat_body(stream=True) for _ in range(20)] == [second.chat_body(stream=True) for _ in range(20)]


def test_a_different_seed_gives_different_prompts() -> None:
    first, second = workload(seed=1), workload(seed=2)
    assert first.chat_body(stream=False)["messages"] != second.chat_body(stream=False)["messages"]


def test_different_processes_send_different_prompts() -> None:
    def words(body: dict[str, Any]) -> str:
        return body["messages"][0]["content"].split(".", 1)[1]  # the words after the unique opening

    zero, one = workload(index=0, seed=5), workload(index=1, seed=5)
    bodies_zero = [zero.chat_body(stream=True) for _ in range(10)]
    bodies_one = [one.chat_body(stream=True) for _ in range(10)]
    contents = {b["messages"][0]["content"] for b in bodies_zero + bodies_one}
    assert len(contents) == 20  # every prompt of the run is unique
    assert [words(b) for b in bodies_zero] != [words(b) for b in bodies_one]
    assert bodies_one[0]["messages"][0]["content"].startswith("Request 1-1 ")


def test_stream_bodies_ask_for_the_usage_chunk_and_unary_bodies_do_not() -> None:
    source = workload(output_tokens=fixed(33))
    streamed, unary = source.chat_body(stream=True), source.chat_body(stream=False)
    assert streamed["stream"] is True
    assert streamed["stream_options"] == {"include_usage": True}
    assert "stream" not in unary and "stream_options" not in unary
    for body in (streamed, unary):
        assert body["model"] == "test-model"
        assert body["max_tokens"] == 33
        assert "ignore_eos" not in body
        assert [m["role"] for m in body["messages"]] == ["user"]


def test_ignore_eos_and_limit_key_are_honoured() -> None:
    body = workload(ignore_eos=True, limit_key="max_completion_tokens", output_tokens=fixed(12)).chat_body(stream=True)
    assert body["ignore_eos"] is True
    assert body["max_completion_tokens"] == 12
    assert "max_tokens" not in body


# --- distributions --------------------------------------------------------------------------------------


def test_a_fixed_distribution_always_draws_its_value() -> None:
    rng = random.Random(0)
    assert {draw(fixed(64), rng) for _ in range(100)} == {64}


def test_a_uniform_distribution_stays_within_its_bounds_and_reaches_both() -> None:
    rng = random.Random(0)
    values = [draw(TokenDistribution(kind="uniform", low=3, high=9, mean=6), rng) for _ in range(2000)]
    assert min(values) == 3
    assert max(values) == 9
    assert set(values) == set(range(3, 10))


def test_a_normal_distribution_is_clipped_to_at_least_one() -> None:
    rng = random.Random(0)
    values = [draw(TokenDistribution(kind="normal", mean=5, stdev=20.0), rng) for _ in range(2000)]
    assert min(values) == 1
    assert all(isinstance(v, int) and v >= 1 for v in values)
    centred = [draw(TokenDistribution(kind="normal", mean=500, stdev=10.0), rng) for _ in range(2000)]
    assert sum(centred) / len(centred) == pytest.approx(500, rel=0.01)


def test_synthetic_lengths_follow_the_input_distribution() -> None:
    source = workload(seed=9, input_tokens=TokenDistribution(kind="uniform", low=30, high=60, mean=45))
    lengths = {prompt_tokens(source.chat_body(stream=False)) for _ in range(200)}
    assert min(lengths) >= 30 and max(lengths) <= 60
    assert len(lengths) > 10


def test_output_lengths_follow_the_output_distribution() -> None:
    source = workload(seed=9, output_tokens=TokenDistribution(kind="uniform", low=5, high=8, mean=6))
    assert {source.chat_body(stream=False)["max_tokens"] for _ in range(200)} == {5, 6, 7, 8}


# --- JSONL prompts --------------------------------------------------------------------------------------


def test_prompt_and_messages_forms_and_the_output_tokens_override(tmp_path: Path) -> None:
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Why?"}]
    path = write(
        tmp_path,
        json.dumps({"prompt": "Hello"}),
        "",
        "   ",
        json.dumps({"messages": messages, "output_tokens": 7}),
    )
    entries = load_prompts(path)
    assert len(entries) == 2  # blank lines are skipped
    assert entries[0].messages == ({"role": "user", "content": "Hello"},)
    assert entries[0].output_tokens is None
    assert entries[1].messages == tuple(messages)
    assert entries[1].output_tokens == 7


def test_file_prompts_cycle_in_a_seeded_order_with_their_own_output_lengths(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        json.dumps({"prompt": "one"}),
        json.dumps({"prompt": "two", "output_tokens": 7}),
        json.dumps({"messages": [{"role": "user", "content": "three"}]}),
    )
    source = workload(seed=3, prompts_file=str(path), output_tokens=fixed(40))
    bodies = [source.chat_body(stream=False) for _ in range(6)]
    contents = [b["messages"][-1]["content"] for b in bodies]
    assert Counter(contents) == {"one": 2, "two": 2, "three": 2}  # every prompt once per cycle
    assert set(contents[:3]) == set(contents[3:]) == {"one", "two", "three"}
    assert {b["messages"][-1]["content"]: b["max_tokens"] for b in bodies} == {"one": 40, "two": 7, "three": 40}
    again = workload(seed=3, prompts_file=str(path), output_tokens=fixed(40))
    assert [again.chat_body(stream=False) for _ in range(6)] == bodies


@pytest.mark.parametrize(
    ("bad", "says"),
    [
        ("{not json", "not JSON"),
        ('["a list"]', "expected an object"),
        ('"text"', "expected an object"),
        ('{"prompt": 5}', 'needs "prompt"'),
        ('{"messages": []}', 'needs "prompt"'),
        ('{"messages": [{"content": "no role"}]}', 'needs "prompt"'),
        ('{"messages": "hi"}', 'needs "prompt"'),
        ('{"prompt": "hi", "output_tokens": 0}', "output_tokens must be an integer >= 1"),
        ('{"prompt": "hi", "output_tokens": "5"}', "output_tokens must be an integer >= 1"),
        ('{"prompt": "hi", "output_tokens": true}', "output_tokens must be an integer >= 1"),
        ('{"prompt": "hi", "output_tokens": 2.5}', "output_tokens must be an integer >= 1"),
    ],
)
def test_a_bad_line_is_named_by_file_and_line(tmp_path: Path, bad: str, says: str) -> None:
    path = write(tmp_path, json.dumps({"prompt": "fine"}), "", bad)
    with pytest.raises(WorkloadError) as caught:
        load_prompts(path)
    assert f"{path}:3:" in str(caught.value)
    assert says in str(caught.value)


@pytest.mark.parametrize("content", ["", "\n\n  \n"])
def test_an_empty_prompts_file_is_rejected_by_name(tmp_path: Path, content: str) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(WorkloadError, match="no prompts") as caught:
        load_prompts(path)
    assert str(path) in str(caught.value)


def test_a_missing_prompts_file_is_rejected_by_name(tmp_path: Path) -> None:
    path = tmp_path / "absent.jsonl"
    with pytest.raises(WorkloadError, match="cannot read prompts file") as caught:
        load_prompts(path)
    assert str(path) in str(caught.value)


def test_a_workload_reads_its_prompts_file_when_built(tmp_path: Path) -> None:
    path = write(tmp_path, "{broken")
    with pytest.raises(WorkloadError, match=":1:"):
        workload(prompts_file=str(path))


# --- plan: distributions --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("64", TokenDistribution(kind="fixed", mean=64)),
        (" 1 ", TokenDistribution(kind="fixed", mean=1)),
        ("64:16", TokenDistribution(kind="normal", mean=64, stdev=16.0)),
        ("64:0.5", TokenDistribution(kind="normal", mean=64, stdev=0.5)),
        ("32..128", TokenDistribution(kind="uniform", mean=80, low=32, high=128)),
        ("7..7", TokenDistribution(kind="uniform", mean=7, low=7, high=7)),
    ],
)
def test_parse_distribution_accepts_the_documented_forms(text: str, expected: TokenDistribution) -> None:
    assert parse_distribution(text) == expected


@pytest.mark.parametrize(
    "text", ["0", "-1", "", "abc", "1.5", "64:", ":16", "64:-1", "64:1e3", "0..5", "128..64", "1...2"]
)
def test_parse_distribution_rejects_other_forms_showing_the_valid_ones(text: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_distribution(text)
    message = str(caught.value)
    assert "N (fixed" in message and "MEAN:STDEV" in message and "MIN..MAX" in message


def test_parse_distribution_rejects_a_superscript_digit_showing_the_valid_forms() -> None:
    with pytest.raises(ValueError, match="MEAN:STDEV"):
        parse_distribution("²")


def test_distributions_describe_themselves() -> None:
    assert parse_distribution("64").describe() == "64"
    assert parse_distribution("64:16").describe() == "normal(mean=64, stdev=16)"
    assert parse_distribution("32..128").describe() == "uniform(32..128)"


# --- plan: SLOs -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ttft_ms=500", ("ttft_ms", 500.0)),
        ("itl_ms=50", ("itl_ms", 50.0)),
        ("tpot_ms=20.5", ("tpot_ms", 20.5)),
        ("e2e_ms=2000", ("e2e_ms", 2000.0)),
        ("ttft_p95_ms=500", ("ttft_p95_ms", 500.0)),
        ("itl_p999_ms=80", ("itl_p999_ms", 80.0)),
        ("e2e_p50_ms=1e3", ("e2e_p50_ms", 1000.0)),
        (" tpot_p99_ms = 30", ("tpot_p99_ms", 30.0)),
    ],
)
def test_parse_slo_accepts_the_documented_forms(text: str, expected: tuple[str, float]) -> None:
    assert parse_slo(text) == expected


@pytest.mark.parametrize(
    "text", ["ttft=500", "ttft_ms", "ttft_ms:500", "latency_ms=5", "TTFT_ms=5", "ttft_p97_ms=5", "ttft_p95=5", "=5"]
)
def test_parse_slo_rejects_other_names_showing_the_valid_forms(text: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_slo(text)
    message = str(caught.value)
    assert "METRIC_ms=LIMIT" in message and "METRIC_pNN_ms=LIMIT" in message
    assert "ttft, itl, tpot, e2e" in message


@pytest.mark.parametrize(
    ("text", "says"), [("ttft_ms=abc", "not a number"), ("ttft_ms=0", "> 0"), ("e2e_ms=-5", "> 0")]
)
def test_parse_slo_rejects_limits_that_are_not_positive_numbers(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse_slo(text)


@pytest.mark.parametrize("text", ["ttft_ms=nan", "ttft_ms=inf"])
def test_parse_slo_rejects_limits_that_are_not_finite(text: str) -> None:
    with pytest.raises(ValueError):
        parse_slo(text)


# --- plan: LoadPlan -------------------------------------------------------------------------------------


def test_a_plan_without_duration_and_requests_is_rejected() -> None:
    with pytest.raises(ValidationError, match="--duration or --requests"):
        plan(duration_s=None, requests=None)


def test_a_plan_with_requests_only_or_duration_only_is_accepted() -> None:
    assert plan(duration_s=None, requests=10).requests == 10
    assert plan(duration_s=5.0).duration_s == 5.0


def test_a_plan_rejects_unknown_slo_names() -> None:
    with pytest.raises(ValidationError, match="is not an SLO"):
        plan(slos={"latency_ms": 5.0})
    assert plan(slos={"ttft_ms": 500.0, "e2e_p99_ms": 900.0}).slos == {"ttft_ms": 500.0, "e2e_p99_ms": 900.0}


def test_the_load_model_names_closed_and_open_loops() -> None:
    assert plan(users=4).load_model == "closed(users=4)"
    assert not plan(users=4).open_loop
    opened = plan(rate=2.5, arrival=Arrival.POISSON, users=16)
    assert opened.load_model == "open(rate=2.5/s, arrival=poisson, max_concurrency=16)"
    assert opened.open_loop
    assert plan(rate=10.0).load_model == "open(rate=10/s, arrival=constant, max_concurrency=8)"


def test_a_plan_travels_as_json_unchanged() -> None:
    original = plan(rate=3.0, requests=20, warmup_s=1.5, slos={"ttft_ms": 100.0}, workload=WorkloadSpec(seed=9))
    assert LoadPlan.model_validate_json(original.model_dump_json()) == original


def test_the_process_count_is_at_least_one() -> None:
    assert plan(workers=0).process_count == 1
    assert plan(workers=4).process_count == 4


def test_each_format_gets_the_same_prompt_and_length_in_its_own_shape() -> None:
    spec = WorkloadSpec(
        input_tokens=TokenDistribution(kind="fixed", mean=40), output_tokens=TokenDistribution(kind="fixed", mean=12)
    )
    requests = {
        family: Workload(spec, "chat-a", 0, "emb-b").request(family, stream=True)
        for family in ("chat", "messages", "gemini", "responses", "embeddings")
    }
    assert requests["chat"][3]["max_tokens"] == 12 and requests["chat"][3]["model"] == "chat-a"
    assert requests["messages"][3]["max_tokens"] == 12 and requests["messages"][3]["stream"] is True
    assert requests["gemini"][1] == "/v1beta/models/chat-a:streamGenerateContent?alt=sse"
    assert requests["gemini"][3]["generationConfig"]["maxOutputTokens"] == 12
    assert requests["responses"][3]["max_output_tokens"] == 12 and requests["responses"][3]["stream"] is True
    assert requests["embeddings"][3]["model"] == "emb-b", "embeddings name the embeddings model"
    prompt = requests["chat"][3]["messages"][-1]["content"]
    assert requests["embeddings"][3]["input"] == [prompt]


def test_without_an_embeddings_model_embeddings_name_the_model_under_load() -> None:
    _, _, _, body = Workload(WorkloadSpec(), "chat-a").request("embeddings", stream=False)
    assert body["model"] == "chat-a"
