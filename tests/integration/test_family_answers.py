"""Every chat-like format, read through its family's ``read_answer``, tells the same story on the mock:
the same text streamed and unary, usage in OpenAI's terms, finish reasons mapped, and a stream's text
events (each format's own "first token": chat delta content, Claude content_block_delta, Gemini candidate
text, Responses output_text delta) arriving after the mock's time to first token, one per generated
token. These are the facts load metrics (TTFT, ITL) and the cross-format rules stand on."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from llmconform.client import TargetClient
from llmconform.exchange import TransportError
from llmconform.families import GENERATION_FAMILIES, Answer, build_request, read_answer
from llmconform.mock import DEFAULT_API_KEY, DEFAULT_MODELS, MockConfig, MockServer

TTFT_MS = 40.0
MESSAGES = [
    {"role": "system", "content": "You are a concise assistant."},
    {"role": "user", "content": "Write about lighthouses."},
]


@pytest.fixture(scope="module")
def client() -> Iterator[TargetClient]:
    with (
        MockServer(MockConfig(ttft_ms=TTFT_MS, itl_ms=1.0)) as server,
        TargetClient(server.base_url, DEFAULT_API_KEY) as target,
    ):
        yield target


def ask(client: TargetClient, family: str, *, stream: bool, max_tokens: int) -> Answer:
    method, path, operation, body = build_request(
        family, DEFAULT_MODELS[0], list(MESSAGES), max_tokens=max_tokens, stream=stream, temperature=0
    )
    exchange = client.send(method, path, family=family, operation=operation, json_body=body)
    assert exchange.ok, (family, exchange.status, exchange.body[:300], exchange.error)
    answer = read_answer(exchange)
    assert answer is not None, family
    return answer


@pytest.mark.parametrize("family", GENERATION_FAMILIES)
def test_a_stream_carries_the_unary_answer_with_timed_text_events(client: TargetClient, family: str) -> None:
    unary = ask(client, family, stream=False, max_tokens=64)
    stream = ask(client, family, stream=True, max_tokens=64)
    assert unary.text and stream.text == unary.text
    assert unary.text_events == [] and not unary.stream
    assert stream.stream and "".join(text for _, text in stream.text_events) == unary.text
    assert stream.text_events[0][0] >= TTFT_MS / 1000, "the first text event comes after the time to first token"
    assert len(stream.text_events) == stream.output_tokens, "one text event per token at one token per chunk"
    assert (stream.input_tokens, stream.output_tokens, stream.finish) == (
        unary.input_tokens,
        unary.output_tokens,
        unary.finish,
    )


@pytest.mark.parametrize("max_tokens", [5, 64])
def test_every_format_reports_the_same_usage_and_finish(client: TargetClient, max_tokens: int) -> None:
    answers = {family: ask(client, family, stream=False, max_tokens=max_tokens) for family in GENERATION_FAMILIES}
    assert len({a.input_tokens for a in answers.values()}) == 1, {f: a.input_tokens for f, a in answers.items()}
    assert len({a.output_tokens for a in answers.values()}) == 1, {f: a.output_tokens for f, a in answers.items()}
    assert len({a.text for a in answers.values()}) == 1
    finishes = {family: (a.finish, a.raw_finish) for family, a in answers.items()}
    expected = "length" if max_tokens == 5 else "stop"
    assert {finish for finish, _ in finishes.values()} == {expected}, finishes
    if max_tokens == 5:
        assert finishes["messages"][1] == "max_tokens" and finishes["gemini"][1] == "MAX_TOKENS", finishes


@pytest.mark.parametrize("family", GENERATION_FAMILIES)
def test_a_stream_cut_by_the_transport_still_gives_what_arrived(client: TargetClient, family: str) -> None:
    method, path, operation, body = build_request(
        family, DEFAULT_MODELS[0], list(MESSAGES), max_tokens=64, stream=True, temperature=0
    )
    exchange = client.send(method, path, family=family, operation=operation, json_body=body)
    assert exchange.events is not None and len(exchange.events) > 8
    exchange.events = exchange.events[:6]  # as if the connection reset after six events
    exchange.error, exchange.error_kind = "connection reset mid-stream", TransportError.PROTOCOL
    answer = read_answer(exchange)
    assert answer is not None and answer.stream, "the time to first token was measured before the cut"
    assert answer.text_events and answer.text_events[0][0] >= TTFT_MS / 1000
