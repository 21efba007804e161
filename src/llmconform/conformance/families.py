"""What ``llmconform check`` runs for each family: its probes, its contract document, and how
schemathesis-generated bodies of that document are pinned to the model and bounded in cost.

The runner walks the selected families in this table's order; adding a family is adding a row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from llmconform.conformance import (
    audio_probes,
    chat_probes,
    consistency_probes,
    embeddings_probes,
    gemini_probes,
    images_probes,
    messages_probes,
    responses_probes,
    video_probes,
)
from llmconform.conformance.session import Session

Probes = Callable[[Session], None]
BodyPin = Callable[[dict[str, Any], Session, bool], None]


@dataclass(frozen=True, slots=True)
class FamilyCheck:
    """One family's part of a check run."""

    name: str
    planned_requests: int
    run_probes: Probes
    # The OpenAPI document (openapi/<document>.yaml) whose operations of this family schemathesis drives.
    document: str | None = None
    # operationIds of the document that belong to this family (the chat document also holds listModels).
    operations: tuple[str, ...] | None = None
    # Top-level request properties capped for cheap positive generation (value = maximum).
    bounds: dict[str, int] = field(default_factory=dict)
    pin_body: BodyPin | None = None
    # Whether hypothesis property examples (chat_properties) run for this family.
    properties: bool = False
    # At most this many (positive, negative) schemathesis examples per operation: families whose answers are
    # media cost more per case (encoding, decoding), and a live target bills every generated task.
    examples_cap: tuple[int, int] | None = None


def _by_model(family: str, pin: Callable[[dict[str, Any], str, bool], None]) -> BodyPin:
    """A family's pin that needs only the model its requests name."""
    return lambda body, session, positive: pin(body, session.model_for(family), positive)


FAMILY_CHECKS: dict[str, FamilyCheck] = {
    check.name: check
    for check in (
        FamilyCheck(
            "models",
            chat_probes.MODELS_PLANNED_REQUESTS,
            chat_probes.run_models_probes,
            document="chat",
            operations=("listModels",),
        ),
        FamilyCheck(
            "chat",
            sum(chat_probes.PLANNED_REQUESTS.values()),
            chat_probes.run_chat_probes,
            document="chat",
            operations=("createChatCompletion",),
            bounds=dict(chat_probes.GENERATION_BOUNDS),
            pin_body=chat_probes.pin_generated_body,
            properties=True,
        ),
        FamilyCheck(
            "messages",
            messages_probes.PLANNED_REQUESTS,
            messages_probes.run_messages_probes,
            document="messages",
            bounds=messages_probes.GENERATION_BOUNDS,
            pin_body=_by_model("messages", messages_probes.pin_generated_body),
        ),
        FamilyCheck(
            "gemini",
            gemini_probes.PLANNED_REQUESTS,
            gemini_probes.run_gemini_probes,
            document="gemini",
            bounds=gemini_probes.GENERATION_BOUNDS,
            pin_body=_by_model("gemini", gemini_probes.pin_generated_body),
        ),
        FamilyCheck(
            "responses",
            responses_probes.PLANNED_REQUESTS,
            responses_probes.run_responses_probes,
            document="responses",
            bounds=responses_probes.GENERATION_BOUNDS,
            pin_body=_by_model("responses", responses_probes.pin_generated_body),
        ),
        FamilyCheck(
            "embeddings",
            embeddings_probes.PLANNED_REQUESTS,
            embeddings_probes.run_embeddings_probes,
            document="embeddings",
            bounds=embeddings_probes.GENERATION_BOUNDS,
            pin_body=_by_model("embeddings", embeddings_probes.pin_generated_body),
        ),
        FamilyCheck(
            "images",
            images_probes.PLANNED_REQUESTS,
            images_probes.run_images_probes,
            document="images",
            bounds=images_probes.GENERATION_BOUNDS,
            pin_body=_by_model("images", images_probes.pin_generated_body),
            examples_cap=images_probes.EXAMPLES_CAP,
        ),
        FamilyCheck(
            "audio",
            audio_probes.PLANNED_REQUESTS,
            audio_probes.run_audio_probes,
            document="audio",
            # Translation forms are left to the probes: a generated file part is never audio, so no positive
            # case could be answered 2xx.
            operations=("createSpeech",),
            examples_cap=audio_probes.EXAMPLES_CAP,
            bounds=audio_probes.GENERATION_BOUNDS,
            pin_body=_by_model("speech", audio_probes.pin_generated_body),
        ),
        FamilyCheck(
            "video",
            video_probes.PLANNED_REQUESTS,
            video_probes.run_video_probes,
            document="video",
            bounds=video_probes.GENERATION_BOUNDS,
            pin_body=_by_model("video", video_probes.pin_generated_body),
            examples_cap=video_probes.EXAMPLES_CAP,
        ),
        FamilyCheck(
            "consistency",
            consistency_probes.PLANNED_REQUESTS,
            consistency_probes.run_consistency_probes,
        ),
    )
}
