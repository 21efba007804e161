"""Chat rules on hand-made exchanges: each holds on a correct answer and fires on the broken one."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from llmconform.checks import REGISTRY, Results, check_exchange
from llmconform.exchange import Exchange, StreamEvent
from llmconform.families.chat import CHAT_OPERATION
from llmconform.sse import decode_all


def unary(request: dict[str, Any], body: dict[str, Any]) -> Exchange:
    return Exchange(
        family="chat",
        operation=CHAT_OPERATION,
        method="POST",
        url="http://127.0.0.1/v1/chat/completions",
        request_headers={},
        request_json={"model": "m", "messages": [{"role": "user", "content": "hi"}], **request},
        status=200,
        response_headers={"content-type": "application/json"},
        body=json.dumps(body).encode(),
    )


def stream(request: dict[str, Any], payload: bytes) -> Exchange:
    exchange = unary({**request, "stream": True}, {})
    exchange.response_headers = {"content-type": "text/event-stream"}
    exchange.body = payload
    exchange.events = [StreamEvent(at_s=0.0, data=e.data, event=e.event) for e in decode_all(payload)]
    return exchange


def sse(*chunks: dict[str, Any] | str) -> bytes:
    return b"".join(f"data: {c if isinstance(c, str) else json.dumps(c)}\n\n".encode() for c in chunks)


def findings(exchange: Exchange) -> set[str]:
    results = Results()
    check_exchange(exchange, results)
    return {f.rule for f in results.findings}


def answer(*texts: str, usage: dict[str, Any] | None = None, **choice: Any) -> dict[str, Any]:
    return {
        "id": "x",
        "object": "chat.completion",
        "created": 1,
        "model": "m",
        "choices": [
            {"index": i, "message": {"role": "assistant", "content": t}, "finish_reason": "stop", **choice}
            for i, t in enumerate(texts)
        ],
        "usage": usage or {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
    }


def chunk(delta: dict[str, Any], finish: str | None = None, index: int = 0, **extra: Any) -> dict[str, Any]:
    choice = {"index": index, "delta": delta, "finish_reason": finish}
    return {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m", "choices": [choice], **extra}


USAGE_RULES = {"usage_total_is_sum", "usage_counts_non_negative", "usage_details_within_parent"}


@given(prompt=st.integers(1, 10**6), completion=st.integers(1, 10**6), cached=st.integers(0, 10**6))
def test_valid_usage_holds_and_a_wrong_total_fires(prompt: int, completion: int, cached: int) -> None:
    usage = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": min(cached, prompt)},
    }
    assert findings(unary({}, answer("a b c", usage=usage))) & USAGE_RULES == set()
    broken = {**usage, "total_tokens": prompt + completion + 1}
    assert "usage_total_is_sum" in findings(unary({}, answer("a b c", usage=broken)))


def test_integral_floats_are_integers_like_json_schema_says() -> None:
    assert "n_choices_count" not in findings(unary({"n": 2.0}, answer("a", "b")))
    assert "n_choices_count" in findings(unary({"n": 2.0}, answer("a")))
    usage = {"prompt_tokens": 5.0, "completion_tokens": 3, "total_tokens": 8.0}
    assert findings(unary({}, answer("a b c", usage=usage))) & USAGE_RULES == set()


def logprob(token: str) -> dict[str, Any]:
    return {"token": token, "logprob": -0.5, "bytes": list(token.encode()), "top_logprobs": []}


def test_logprobs_spell_the_text_except_after_a_stop_cut() -> None:
    entries = [logprob("Hel"), logprob("lo"), logprob(" wor")]
    request = {"logprobs": True, "top_logprobs": 0, "stop": ["ld"]}
    cut = answer("Hello wor", logprobs={"content": entries, "refusal": None})
    assert "logprobs_token_count" not in findings(unary(request, cut))
    with_stop_tokens = answer("Hello wo", logprobs={"content": entries, "refusal": None})
    assert "logprobs_token_count" not in findings(unary(request, with_stop_tokens))  # prefix is enough here
    no_stop = {"logprobs": True, "top_logprobs": 0}
    assert "logprobs_token_count" in findings(unary(no_stop, with_stop_tokens))
    wrong = answer("Goodbye", logprobs={"content": entries, "refusal": None})
    assert "logprobs_token_count" in findings(unary(request, wrong))


def test_finish_may_share_a_chunk_with_content_but_nothing_may_follow_it() -> None:
    legal = sse(chunk({"role": "assistant", "content": ""}), chunk({"content": "Hi"}, "stop"), "[DONE]")
    assert findings(stream({}, legal)) == set()
    late = sse(chunk({"role": "assistant", "content": ""}, "stop"), chunk({"content": "Hi"}), "[DONE]")
    assert "stream_single_finish_reason" in findings(stream({}, late))


def test_usage_chunk_only_when_asked_and_then_last() -> None:
    usage = {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6}
    final = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m", "choices": [], "usage": usage}
    asked = {"stream_options": {"include_usage": True}}
    good = sse(
        chunk({"role": "assistant", "content": "Hi"}, usage=None), chunk({}, "stop", usage=None), final, "[DONE]"
    )
    assert findings(stream(asked, good)) == set()
    assert "stream_usage_only_if_requested" in findings(stream({}, good))
    on_finish = sse(chunk({"role": "assistant", "content": "Hi"}), chunk({}, "stop", usage=usage), "[DONE]")
    assert "stream_usage_chunk_final" in findings(stream(asked, on_finish))


def test_two_tool_calls_at_one_index_are_flagged() -> None:
    tools = {"tools": [{"type": "function", "function": {"name": "f"}}]}

    def call(call_id: str) -> dict[str, Any]:
        return {"index": 0, "id": call_id, "type": "function", "function": {"name": "f", "arguments": "{}"}}

    one = sse(chunk({"role": "assistant", "tool_calls": [call("a")]}), chunk({}, "tool_calls"), "[DONE]")
    assert "stream_tool_call_deltas" not in findings(stream(tools, one))
    two = sse(chunk({"role": "assistant", "tool_calls": [call("a")]}), chunk({"tool_calls": [call("b")]}), "[DONE]")
    assert "stream_tool_call_deltas" in findings(stream(tools, two))


def test_every_rule_module_is_registered() -> None:
    kinds = {rule.kind for rule in REGISTRY}
    assert kinds == {"exchange", "relation", "schemathesis"}
