"""Claude messages, Gemini, Responses, embeddings, images, audio and video keep their contracts, and one prompt tells
the same story through every format (usage and finish reasons map onto each other).

Each test runs that family's probes through one Session: every answer is judged by every exchange rule
as well as by the family's relation rules. A family the target does not serve fails here; run only the
families your target speaks with ``-k``, e.g. ``pytest conformance/ -k "messages or consistency"``.
"""

from __future__ import annotations

from conftest import expect_held
from llmconform.checks import REGISTRY
from llmconform.conformance import (
    audio_probes,
    consistency_probes,
    embeddings_probes,
    gemini_probes,
    images_probes,
    messages_probes,
    responses_probes,
    video_probes,
)
from llmconform.conformance.session import Session


def rules_of(family: str) -> list[str]:
    return [rule.id for rule in REGISTRY if rule.family == family and rule.kind == "relation"]


def test_claude_messages(session: Session) -> None:
    messages_probes.run_messages_probes(session)
    expect_held(session.results, *rules_of("messages"))


def test_gemini(session: Session) -> None:
    gemini_probes.run_gemini_probes(session)
    expect_held(session.results, *rules_of("gemini"))


def test_responses(session: Session) -> None:
    responses_probes.run_responses_probes(session)
    expect_held(session.results, *rules_of("responses"))


def test_embeddings(session: Session) -> None:
    embeddings_probes.run_embeddings_probes(session)
    expect_held(session.results, *rules_of("embeddings"))


def test_images(session: Session) -> None:
    images_probes.run_images_probes(session)
    expect_held(session.results, *rules_of("images"))


def test_audio(session: Session) -> None:
    audio_probes.run_audio_probes(session)
    expect_held(session.results, *rules_of("audio"))


def test_video(session: Session) -> None:
    video_probes.run_video_probes(session)
    expect_held(session.results, *rules_of("video"))


def test_one_prompt_through_every_format(session: Session) -> None:
    consistency_probes.run_consistency_probes(session)
    expect_held(session.results, "cross_format_usage_consistent", "cross_format_finish_consistent")
