"""Against a URL a run is bounded: at most the budget in requests, and no answered request without an
output limit (a live LLM costs money per token)."""

from __future__ import annotations

from llmconform.config import LIVE_DEFAULT_MAX_REQUESTS, CheckConfig, TargetConfig
from llmconform.conformance.gemini_media_probes import MEDIA_OUTPUT_TOKENS
from llmconform.conformance.runner import run_check
from llmconform.exchange import Exchange
from llmconform.json_numbers import as_int
from llmconform.mock import DEFAULT_API_KEY, DEFAULT_MODELS, MockConfig, MockServer

MAX_OUTPUT_TOKENS_PER_CHOICE = 64
MAX_CHOICES = 3


def test_every_answered_request_is_bounded_and_the_budget_holds() -> None:
    sent: list[Exchange] = []
    with MockServer(MockConfig()) as server:
        config = CheckConfig(
            target=TargetConfig(base_url=server.base_url, api_key=DEFAULT_API_KEY, model=DEFAULT_MODELS[0])
        )
        outcome, _ = run_check(config, command=["test"], say=lambda _text: None, on_sent=sent.append)
    assert outcome.budget == LIVE_DEFAULT_MAX_REQUESTS == 400
    assert len(sent) == outcome.sent_requests <= 400
    answered = [e for e in sent if e.ok and e.operation.endswith("/chat/completions")]
    assert len(answered) > 50
    for exchange in answered:
        body = exchange.request_body
        limits = [as_int(body[k]) for k in ("max_tokens", "max_completion_tokens") if body.get(k) is not None]
        assert limits and all(v is not None and v <= MAX_OUTPUT_TOKENS_PER_CHOICE for v in limits), body
        assert (as_int(body.get("n")) or 1) <= MAX_CHOICES, body


# Where each generation family puts its output limit and its number of answers.
LIMITS = {
    "chat": lambda body: [body.get("max_tokens"), body.get("max_completion_tokens")],
    "messages": lambda body: [body.get("max_tokens")],
    "gemini": lambda body: [(body.get("generationConfig") or {}).get("maxOutputTokens")],
    "responses": lambda body: [body.get("max_output_tokens")],
}


def test_every_answered_generation_of_every_format_is_bounded() -> None:
    sent: list[Exchange] = []
    with MockServer(MockConfig()) as server:
        config = CheckConfig(
            target=TargetConfig(base_url=server.base_url, api_key=DEFAULT_API_KEY, model=DEFAULT_MODELS[0]),
            max_requests=600,
            positive_examples=30,  # enough generated bodies per operation to exercise every family's pin
            negative_examples=10,
        )
        outcome, _ = run_check(config, command=["test"], say=lambda _text: None, on_sent=sent.append)
    assert len(sent) == outcome.sent_requests <= 600
    answered = [e for e in sent if e.ok and e.family in LIMITS and e.method == "POST"]
    assert {e.family for e in answered} == set(LIMITS)
    for exchange in answered:
        limits = [as_int(v) for v in LIMITS[exchange.family](exchange.request_body) if v is not None]
        config = exchange.request_body.get("generationConfig") or {}
        media = set(config.get("responseModalities") or []) & {"IMAGE", "AUDIO"}
        cap = MEDIA_OUTPUT_TOKENS if media else MAX_OUTPUT_TOKENS_PER_CHOICE  # an image costs ~1,290 tokens
        assert limits and all(v is not None and v <= cap for v in limits), (
            exchange.family,
            exchange.request_body,
        )
    candidates = [as_int((e.request_body.get("generationConfig") or {}).get("candidateCount")) for e in answered]
    assert all((count or 1) <= MAX_CHOICES for count in candidates)
