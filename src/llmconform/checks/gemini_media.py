"""Rules of Gemini's inline media output (images with responseModalities IMAGE, speech with AUDIO): each
inlineData part declares the media type its bytes are, the bytes decode, the asked modalities come back (and
no others), the asked aspect ratio is kept, and usage lists the media's tokens by modality.

They judge every Gemini generation answer that carries inline media or asked for some (unary, SSE or JSON
array alike, through :func:`llmconform.families.gemini_media.inline_media`); they register when
:mod:`llmconform.checks.gemini` is imported. Gemini text-to-speech is judged here, in the gemini family:
it is the same route, the same part and the same rules as images.
"""

from __future__ import annotations

from collections.abc import Iterator

from llmconform.checks.registry import Severity, Violation, Warn, exchange_rule
from llmconform.exchange import Exchange
from llmconform.families.gemini import (
    FAMILY,
    gemini_view,
    image_config,
    is_generation_answer,
    response_modalities,
    usage_count,
)
from llmconform.families.gemini_media import (
    RAW_PCM_TYPES,
    WAV_TYPES,
    InlineMedia,
    inline_media,
    media_signature,
)
from llmconform.json_numbers import as_int

# The media type of each modality's inline parts.
MODALITY_TYPES = {"IMAGE": "image", "AUDIO": "audio"}
# Spellings of one media type that servers use interchangeably.
_SAME_TYPE = {
    "image/jpg": "image/jpeg",
    "audio/mp3": "audio/mpeg",
    "audio/opus": "audio/ogg",
    "audio/x-wav": "audio/wav",
}
# How far an image's width:height may be from the asked aspect ratio: Google draws 16:9 as 1344x768 (1.75, not
# 1.78) and 4:5 as 896x1152, a few per cent off (Gemini image generation guide, resolution tables).
ASPECT_TOLERANCE = 0.05
_MAX_ERRORS = 3


def _has_media(exchange: Exchange) -> bool:
    return is_generation_answer(exchange) and bool(inline_media(exchange).items)


def _where(item: InlineMedia) -> str:
    return f"candidate {item.candidate} inlineData #{item.position}"


def _same(media_type: str) -> str:
    return _SAME_TYPE.get(media_type, media_type)


def _content_mismatch(item: InlineMedia) -> str | None:
    """Why the bytes are not what the declared media type says, or None (undecodable bytes are not judged here)."""
    data = item.data or b""
    found = media_signature(data)
    declared = _same(item.media_type)
    if item.image is not None:
        if declared != item.image.media_type:
            return f"the bytes are a {item.image.format} image ({item.image.media_type})"
    elif item.media_type in RAW_PCM_TYPES:
        if found is not None:
            return f"raw PCM was declared, but the bytes are a {found} file"
        if not item.parameters.get("rate", "").isdigit():
            return "raw PCM without a rate parameter: the sample rate of the samples is unknown"
    elif item.media_type in WAV_TYPES:
        if found != "audio/wav":
            return f"the bytes are {'a ' + found + ' file' if found else 'not a WAV file (no RIFF/WAVE header)'}"
    elif found is not None and _same(found) != declared:
        return f"the bytes are a {found} file"
    return None


@exchange_rule("gemini_inline_data_mime_type", family=FAMILY, severity=Severity.ERROR, applies=_has_media)
def gemini_inline_data_mime_type(exchange: Exchange) -> Iterator[Violation]:
    """Each inlineData part's mimeType is a media type of an asked modality (image/* for IMAGE, audio/* for
    AUDIO) that names what its bytes are (image/png for a PNG; audio/L16 with a rate for raw PCM).

    Source: python-genai types.py Blob.mime_type ("The IANA standard MIME type of the source data") and
    GenerationConfig.response_modalities; shared/reference/aboai-api.md sections 7 (TTS: audio/L16;codec=pcm;
    rate=24000, raw 24 kHz 16-bit mono PCM) and 9 (image output: inlineData mimeType image/png).
    """
    asked = response_modalities(exchange)
    types = {MODALITY_TYPES[m] for m in asked if m in MODALITY_TYPES}
    reported = 0
    for item in inline_media(exchange).items:
        if not item.media_type:
            message = f"{_where(item)}: Expected: a media type such as image/png. Received: {item.mime_type!r:.60}"
        elif types and item.main_type not in types:
            message = (
                f"{_where(item)}: Expected: {' or '.join(sorted(t + '/*' for t in types))} (responseModalities "
                f"{sorted(asked)}). Received: {item.mime_type!r}"
            )
        elif item.problem is None and (mismatch := _content_mismatch(item)) is not None:
            message = f"{_where(item)}: Expected: mimeType {item.mime_type!r} to name the data. Received: {mismatch}"
        else:
            continue
        yield message
        reported += 1
        if reported >= _MAX_ERRORS:
            return


@exchange_rule("gemini_inline_data_decodes", family=FAMILY, severity=Severity.ERROR, applies=_has_media)
def gemini_inline_data_decodes(exchange: Exchange) -> Iterator[Violation]:
    """Each inlineData part's data is base64 of a whole medium: an image decodes (PNG, JPEG, WebP, GIF), raw PCM
    is a whole number of 16-bit samples, a WAV file reads.

    Source: python-genai types.py Blob.data ("Raw bytes", base64 in JSON); Gemini speech generation guide (the
    audio is 24 kHz 16-bit mono PCM to be written into a WAV file); shared/reference/aboai-api.md sections 7, 9.
    """
    reported = 0
    for item in inline_media(exchange).items:
        if item.problem is not None:
            yield f"{_where(item)}: Expected: data that decodes as {item.mime_type!r}. Received: {item.problem}"
            reported += 1
            if reported >= _MAX_ERRORS:
                return


def _asks_modalities(exchange: Exchange) -> bool:
    return (
        is_generation_answer(exchange)
        and bool(response_modalities(exchange) & {"IMAGE", "AUDIO"})
        and bool(gemini_view(exchange).candidates)
    )


@exchange_rule("gemini_response_modalities_honoured", family=FAMILY, severity=Severity.ERROR, applies=_asks_modalities)
def gemini_response_modalities_honoured(exchange: Exchange) -> Iterator[Violation]:
    """A candidate that ends STOP without a function call carries the media responseModalities asks for (an image
    for IMAGE, audio for AUDIO) and no text when TEXT is not among them. With TEXT and IMAGE, an answer without an
    image is a warning (Google says image models may answer with text only).

    Source: python-genai types.py GenerationConfig.response_modalities ("The requested modalities of the
    response"); Gemini image generation guide ("the model might output text only"; image-only output with
    responseModalities ["Image"]); Gemini speech generation guide (responseModalities ["AUDIO"]);
    shared/reference/aboai-api.md sections 7 and 9.
    """
    asked = response_modalities(exchange)
    media = inline_media(exchange).items
    for candidate in gemini_view(exchange).candidates:
        if candidate.finish_reason != "STOP" or candidate.function_calls:
            continue  # cut short, or a turn that calls a function (its answer comes after the call's result)
        got = {item.main_type for item in media if item.candidate == candidate.index}
        for modality in ("IMAGE", "AUDIO"):
            if modality in asked and MODALITY_TYPES[modality] not in got:
                message = (
                    f"candidate {candidate.index}: Expected: an {MODALITY_TYPES[modality]} part "
                    f"(responseModalities {sorted(asked)}). Received: none, finishReason STOP"
                )
                yield Warn(message) if modality == "IMAGE" and "TEXT" in asked else message
        if "TEXT" not in asked and candidate.text:
            yield (
                f"candidate {candidate.index}: Expected: no text (responseModalities {sorted(asked)}). "
                f"Received: {candidate.text[:60]!r}"
            )


def _asked_ratio(exchange: Exchange) -> tuple[int, int] | None:
    ratio = image_config(exchange).get("aspectRatio")
    if not isinstance(ratio, str):
        return None
    across, colon, down = ratio.partition(":")
    if not colon or not across.isdigit() or not down.isdigit() or not int(across) or not int(down):
        return None
    return int(across), int(down)


@exchange_rule(
    "gemini_image_config_honoured",
    family=FAMILY,
    severity=Severity.ERROR,
    applies=lambda ex: _has_media(ex) and _asked_ratio(ex) is not None,
)
def gemini_image_config_honoured(exchange: Exchange) -> Iterator[Violation]:
    """Each image of an answer has the width:height that imageConfig.aspectRatio asks (within 5 %).

    Source: python-genai types.py ImageConfig.aspect_ratio ("Aspect ratio of the generated images");
    shared/reference/aboai-api.md section 9 (AboAI's example asks imageConfig aspectRatio 16:9); Gemini image
    generation guide (the resolution of each aspect ratio).
    """
    ratio = _asked_ratio(exchange)
    assert ratio is not None
    wanted = ratio[0] / ratio[1]
    for item in inline_media(exchange).items:
        if item.image is None or not item.image.height:
            continue
        got = item.image.width / item.image.height
        if abs(got - wanted) / wanted > ASPECT_TOLERANCE:
            yield (
                f"{_where(item)}: Expected: aspect {ratio[0]}:{ratio[1]} ({wanted:.3f}). Received: "
                f"{item.image.width}x{item.image.height} ({got:.3f})"
            )


def _has_details(exchange: Exchange) -> bool:
    usage = gemini_view(exchange).usage
    return _has_media(exchange) and isinstance(usage, dict) and "candidatesTokenCount" in usage


@exchange_rule("gemini_usage_modality_details", family=FAMILY, severity=Severity.WARNING, applies=_has_details)
def gemini_usage_modality_details(exchange: Exchange) -> Iterator[Violation]:
    """When media come back, usageMetadata.candidatesTokensDetails lists their modality, and its token counts add
    up to candidatesTokenCount.

    Source: python-genai types.py GenerateContentResponseUsageMetadata.candidates_tokens_details ("List of
    modalities that were returned in the response") and ModalityTokenCount; shared/reference/aboai-api.md
    section 9 (AboAI's image answer lists IMAGE and TEXT). A warning: the sum is not stated upstream in words.
    """
    usage = gemini_view(exchange).usage
    assert isinstance(usage, dict)
    details = usage.get("candidatesTokensDetails")
    if not isinstance(details, list):
        yield f"Expected: candidatesTokensDetails listing the media's modality. Received: {details!r:.60}"
        return
    listed = {d.get("modality") for d in details if isinstance(d, dict)}
    returned = {item.main_type.upper() for item in inline_media(exchange).items if item.main_type in ("image", "audio")}
    missing = sorted(returned - listed)
    if missing:
        yield f"Expected: candidatesTokensDetails with {missing}. Received: modalities {sorted(map(str, listed))}"
    counts = [as_int(d.get("tokenCount", 0)) for d in details if isinstance(d, dict)]
    total = usage_count(usage, "candidatesTokenCount")
    if total is not None and all(c is not None for c in counts) and sum(c for c in counts if c) != total:
        yield f"Expected: candidatesTokensDetails adding up to candidatesTokenCount {total}. Received: {counts}"
