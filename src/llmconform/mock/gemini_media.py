"""Inline media of the mock's Gemini answers: images (responseModalities IMAGE) and speech (AUDIO).

A request whose ``generationConfig.responseModalities`` names IMAGE or AUDIO (in any case, as Google takes
it) gets, per candidate, one ``inlineData`` part per media modality after its text: a PNG image
(``image/png``) whose aspect is ``imageConfig.aspectRatio`` (1:1 by default) and whose long side is 64, 128
or 256 pixels for ``imageSize`` 1K, 2K or 4K (the mock's scale: Google draws 1024 to 4096), and speech as
Gemini's text-to-speech returns it: raw 16-bit mono PCM at 24 kHz, ``audio/L16;codec=pcm;rate=24000``,
0.2 s plus 40 ms per word of the last user turn, at most 1 s. Text parts come only when TEXT is among the
modalities too.

Tokens, as Gemini counts them: an image of at most 384x384 pixels is 258 tokens, audio 32 tokens per
second (Gemini API "Understand and count tokens"). They are part of candidatesTokenCount and listed per
modality in candidatesTokensDetails. A medium that does not fit in what maxOutputTokens leaves after the
text is left out and the candidate ends MAX_TOKENS; a candidate without text that got all its media ends
STOP. Requests that name no media modality are answered exactly as before.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from llmconform.json_numbers import as_int
from llmconform.mock.content import Choice
from llmconform.mock.media import image_bytes, pcm16

__all__ = [
    "AUDIO_MIME_TYPE",
    "AUDIO_RATE",
    "AUDIO_TOKENS_PER_S",
    "IMAGE_TOKENS",
    "CandidateMedia",
    "candidate_media",
    "plan_media",
    "requested_modalities",
    "spoken_text",
    "usage_details",
]

MEDIA_MODALITIES = ("IMAGE", "AUDIO")
# Tokens of an image with both sides <= 384 px, and of one second of audio (Gemini API token counting guide).
IMAGE_TOKENS = 258
AUDIO_TOKENS_PER_S = 32
AUDIO_RATE = 24000
AUDIO_MIME_TYPE = f"audio/L16;codec=pcm;rate={AUDIO_RATE}"
_LONG_SIDE = {"1K": 64, "2K": 128, "4K": 256}
_MAX_SPEECH_S = 1.0


@dataclass(frozen=True, slots=True)
class CandidateMedia:
    """The media of one candidate: its inlineData parts, their tokens per modality, whether its text is shown,
    and the finishReason it must end with instead of the text's (None: the text's)."""

    parts: tuple[dict[str, Any], ...]
    tokens: tuple[tuple[str, int], ...]
    show_text: bool
    finish: str | None

    @property
    def token_count(self) -> int:
        return sum(count for _, count in self.tokens)


def requested_modalities(body: Mapping[str, Any]) -> frozenset[str]:
    """generationConfig.responseModalities of a request, upper-cased (empty when absent)."""
    config = body.get("generationConfig")
    modalities = config.get("responseModalities") if isinstance(config, dict) else None
    if not isinstance(modalities, list):
        return frozenset()
    return frozenset(m.upper() for m in modalities if isinstance(m, str))


def spoken_text(body: Mapping[str, Any]) -> str:
    """The text of the last user turn (what text-to-speech reads)."""
    for turn in reversed(body.get("contents") or []):
        if isinstance(turn, dict) and turn.get("role", "user") == "user":
            parts = turn.get("parts")
            parts = parts if isinstance(parts, list) else []
            texts = [p["text"] for p in parts if isinstance(p, dict) and isinstance(p.get("text"), str)]
            if texts:
                return " ".join(texts)
    return ""


def _image_size(body: Mapping[str, Any], faults: frozenset[str]) -> tuple[int, int]:
    config = body.get("generationConfig")
    image = config.get("imageConfig") if isinstance(config, dict) else None
    image = image if isinstance(image, dict) else {}
    size = image.get("imageSize")
    long_side = _LONG_SIDE.get(size.upper(), 64) if isinstance(size, str) else 64
    ratio = image.get("aspectRatio")
    if "gemini_image_config_honoured" in faults or not isinstance(ratio, str) or ":" not in ratio:
        return long_side, long_side
    across, _, down = ratio.partition(":")
    a, b = int(across or 1), int(down or 1)
    if a >= b:
        return long_side, max(1, round(long_side * b / a))
    return max(1, round(long_side * a / b)), long_side


def _blob(mime_type: str, data: bytes, faults: frozenset[str]) -> dict[str, Any]:
    if "gemini_inline_data_decodes" in faults:
        data = data[16:]
    return {"inlineData": {"mimeType": mime_type, "data": base64.b64encode(data).decode("ascii")}}


def plan_media(
    body: Mapping[str, Any],
    seed: bytes,
    text_tokens: int,
    limit: int | None,
    faults: frozenset[str],
) -> CandidateMedia | None:
    """The media of one candidate whose text took ``text_tokens``, within ``limit`` (maxOutputTokens); None when
    the request names no media modality."""
    modalities = requested_modalities(body)
    media = [m for m in MEDIA_MODALITIES if m in modalities]
    if not media:
        return None
    if "gemini_response_modalities_honoured" in faults:
        return CandidateMedia((), (), True, "STOP")
    show_text = "TEXT" in modalities
    used = text_tokens if show_text else 0
    parts: list[dict[str, Any]] = []
    tokens: list[tuple[str, int]] = []
    cut = False
    for modality in media:
        if modality == "IMAGE":
            width, height = _image_size(body, faults)
            cost = IMAGE_TOKENS
            mime = "image/jpeg" if "gemini_inline_data_mime_type" in faults else "image/png"
            part = _blob(mime, image_bytes(width, height, "png", seed=seed), faults)
        else:
            words = len(spoken_text(body).split())
            seconds = round(min(_MAX_SPEECH_S, 0.2 + 0.04 * words), 3)
            cost = math.ceil(seconds * AUDIO_TOKENS_PER_S)
            part = _blob(AUDIO_MIME_TYPE, pcm16(seconds, AUDIO_RATE, seed=seed), faults)
        if limit is not None and used + cost > limit:
            cut = True
            continue
        used += cost
        parts.append(part)
        tokens.append((modality, cost))
    finish = "MAX_TOKENS" if cut else (None if show_text else "STOP")
    return CandidateMedia(tuple(parts), tuple(tokens), show_text, finish)


def usage_details(text_tokens: int, media: list[CandidateMedia], faults: frozenset[str]) -> list[dict[str, Any]]:
    """candidatesTokensDetails: the text's tokens, then each media modality's (left out under the fault)."""
    details = [{"modality": "TEXT", "tokenCount": text_tokens}] if text_tokens or not media else []
    if "gemini_usage_modality_details" in faults:
        return details or [{"modality": "TEXT", "tokenCount": 0}]
    totals: dict[str, int] = {}
    for candidate in media:
        for modality, count in candidate.tokens:
            totals[modality] = totals.get(modality, 0) + count
    details.extend({"modality": modality, "tokenCount": count} for modality, count in totals.items())
    return details


def candidate_media(
    body: Mapping[str, Any], seed: bytes, choices: Sequence[Choice], faults: frozenset[str]
) -> tuple[CandidateMedia | None, ...]:
    """The media of each generated choice, within generationConfig.maxOutputTokens; none for a choice that calls
    a function (the turn is the call, as Google answers it)."""
    config = body.get("generationConfig")
    limit = as_int(config.get("maxOutputTokens")) if isinstance(config, dict) else None
    return tuple(
        None
        if choice.tool_calls
        else plan_media(body, seed + choice.index.to_bytes(4, "big"), choice.completion_tokens, limit, faults)
        for choice in choices
    )
