"""Probes of Gemini's inline media output, run with the gemini family's probes: an image with text
(responseModalities TEXT and IMAGE, imageConfig 16:9), an image alone streamed as server-sent events, and
speech (responseModalities AUDIO, a prebuilt voice). Their answers are judged by the exchange rules of
:mod:`llmconform.checks.gemini_media` (mime types, decoding, modalities, aspect ratio, usage by modality)
and by every other Gemini rule.

A model that does not generate media answers 400; the media rules are then "not judged", with a note
saying to check an image or speech model with ``--model`` (the mock serves both for every model).
"""

from __future__ import annotations

from typing import Any

from llmconform.conformance.session import Session
from llmconform.exchange import Exchange
from llmconform.families.gemini import FAMILY, GENERATE_OPERATION, STREAM_OPERATION, gemini_body, generate_path

IMAGE_PROMPT = "Draw a small red lighthouse on a rocky island at dusk, flat colours."
SPEECH_PROMPT = "Say cheerfully: have a wonderful day!"
ASPECT_RATIO = "16:9"
VOICE = "Kore"
MEDIA_RULES = (
    "gemini_inline_data_mime_type",
    "gemini_inline_data_decodes",
    "gemini_response_modalities_honoured",
    "gemini_image_config_honoured",
    "gemini_usage_modality_details",
)
# Requests run_gemini_media_probes sends, so the run can state its plan before it starts.
PLANNED_REQUESTS = 3
# Every media answer is bounded (a live run costs per token): room for one image at Gemini's largest
# count (1,290 tokens for 1024x1024, "Understand and count tokens") or ~40 s of speech (32 tokens/s).
MEDIA_OUTPUT_TOKENS = 1400


def media_body(prompt: str, modalities: list[str], **config: Any) -> dict[str, Any]:
    """A generateContent body asking for ``modalities``; ``config`` entries join generationConfig."""
    body = gemini_body([{"role": "user", "content": prompt}])
    body["generationConfig"] = {"responseModalities": modalities, "maxOutputTokens": MEDIA_OUTPUT_TOKENS, **config}
    return body


def _send(session: Session, body: dict[str, Any], label: str, *, stream: bool = False) -> Exchange:
    return session.send(
        "POST",
        generate_path(session.model, stream=stream),
        operation=STREAM_OPERATION if stream else GENERATE_OPERATION,
        family=FAMILY,
        label=f"gemini media: {label}",
        json_body=body,
    )


def run_gemini_media_probes(session: Session) -> None:
    """An image with text, an image alone (streamed), and speech; a note when none came back 2xx."""
    image = media_body(IMAGE_PROMPT, ["TEXT", "IMAGE"], imageConfig={"aspectRatio": ASPECT_RATIO})
    speech = media_body(
        SPEECH_PROMPT, ["AUDIO"], speechConfig={"voiceConfig": {"prebuiltVoiceConfig": {"voiceName": VOICE}}}
    )
    answers = [
        _send(session, image, f"TEXT+IMAGE {ASPECT_RATIO}"),
        _send(session, media_body(IMAGE_PROMPT, ["IMAGE"]), "IMAGE alone, streamed", stream=True),
        _send(session, speech, f"AUDIO, voice {VOICE}"),
    ]
    if not any(answer.ok for answer in answers):
        statuses = ", ".join(str(answer.status or answer.error) for answer in answers)
        why = f"no media request was answered 2xx ({statuses}); check an image or speech model with --model"
        session.notes.append(f"gemini media: not judged; {why}")
        for rule in MEDIA_RULES:
            session.skip(rule, why)
