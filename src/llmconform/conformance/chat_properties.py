"""Property tests through the chat family client: hypothesis draws request variations (limits, n, stop,
logprobs, streaming with and without usage, JSON modes, tools, sampling) and every answer must keep
every exchange rule. Shrinking is off: each example costs a real request, and a finding already
carries its exchange.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from llmconform.conformance.chat_probes import JSON_PROMPT, PROMPT, TIME_TOOL, WEATHER_TOOL
from llmconform.conformance.drive import drive
from llmconform.conformance.session import Session
from llmconform.families.chat import chat_request

PROMPTS = (PROMPT, "Name three colours of the sea at dusk.", "Explain in two sentences how tides work.")
STOP_POOL = (".", ",", " the", " sea", "\n", "light")


@st.composite
def chat_variations(draw: st.DrawFn, model: str) -> dict[str, Any]:
    """A valid, bounded chat request (each at most 48 output tokens per choice)."""
    json_mode = draw(st.sampled_from([None, None, "text", "json_object"]))
    prompt = JSON_PROMPT if json_mode == "json_object" else draw(st.sampled_from(PROMPTS))
    body = chat_request(model, prompt)
    limit_key = draw(st.sampled_from(["max_tokens", "max_completion_tokens"]))
    body[limit_key] = draw(st.integers(min_value=1, max_value=48))
    if draw(st.booleans()):
        body["temperature"] = draw(st.sampled_from([0, 0.0, 0.7, 1, 2]))
    if draw(st.booleans()):
        body["seed"] = draw(st.integers(min_value=0, max_value=2**31 - 1))
    if draw(st.booleans()):
        body["n"] = draw(st.integers(min_value=1, max_value=3))
    if draw(st.booleans()):
        body["stop"] = draw(
            st.one_of(st.sampled_from(STOP_POOL), st.lists(st.sampled_from(STOP_POOL), min_size=1, max_size=4))
        )
    if draw(st.booleans()):
        body["logprobs"] = True
        body["top_logprobs"] = draw(st.integers(min_value=0, max_value=3))
    if json_mode is not None:
        body["response_format"] = {"type": json_mode}
    if json_mode is None and draw(st.integers(min_value=0, max_value=3)) == 0:
        body["tools"] = [WEATHER_TOOL, TIME_TOOL]
        body["tool_choice"] = draw(
            st.sampled_from(["auto", "none", "required", {"type": "function", "function": {"name": "get_time"}}])
        )
    if draw(st.booleans()):
        body["stream"] = True
        usage = draw(st.sampled_from([None, True, False]))
        if usage is not None:
            body["stream_options"] = {"include_usage": usage}
    return body


def run_chat_properties(session: Session, examples: int, seed: int) -> None:
    """Send ``examples`` generated requests; the budget or an unreachable target stops it early."""
    drive(chat_variations(session.model), examples, seed, lambda body: _send(session, body))


def _send(session: Session, body: dict[str, Any]) -> None:
    session.chat(body, "property: generated request")
