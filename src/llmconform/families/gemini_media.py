"""The inline media of a Gemini answer (images and speech in ``inlineData`` parts), each decoded once.

:func:`inline_media` reads every non-thought ``inlineData`` part of a generation answer (unary, SSE or
JSON-array; through :func:`llmconform.families.gemini.gemini_view`) into an :class:`InlineMedia`: the
declared ``mimeType`` split into its media type and parameters, the base64 ``data`` decoded, and what the
bytes are: an image as Pillow reads it (format, size), or audio (raw 16-bit PCM at the declared rate, a WAV
file read by the standard ``wave`` module, or a compressed file known by its signature). Nothing here
raises on a malformed part: what could not be read is its ``problem``.
"""

from __future__ import annotations

import base64
import binascii
import io
import wave
from dataclasses import dataclass, field
from typing import Any

from llmconform.exchange import Exchange
from llmconform.families.gemini import gemini_view, is_generation_answer
from llmconform.families.images import ImageFacts, decode_image
from llmconform.families.reading import cached_view

__all__ = ["InlineMedia", "MediaView", "inline_media", "media_signature", "parse_mime_type"]

# Raw PCM media types: 16-bit signed big- or little-endian samples whose rate the parameters give.
RAW_PCM_TYPES = frozenset({"audio/l16", "audio/pcm"})
WAV_TYPES = frozenset({"audio/wav", "audio/x-wav", "audio/wave", "audio/vnd.wave"})


@dataclass(frozen=True, slots=True)
class AudioFacts:
    """What audio bytes are: their kind (pcm, wav, or a compressed format's media type) and duration if known."""

    kind: str
    seconds: float | None = None


@dataclass(slots=True)
class InlineMedia:
    """One inlineData part of an answer, decoded."""

    candidate: Any
    position: int
    mime_type: Any
    media_type: str = ""
    parameters: dict[str, str] = field(default_factory=dict)
    data: bytes | None = None
    image: ImageFacts | None = None
    audio: AudioFacts | None = None
    # Why the data could not be read as what its media type says (None when it could).
    problem: str | None = None

    @property
    def main_type(self) -> str:
        return self.media_type.partition("/")[0]


@dataclass(slots=True)
class MediaView:
    """Every inline medium of an answer, in candidate order."""

    items: list[InlineMedia] = field(default_factory=list)


def parse_mime_type(value: Any) -> tuple[str, dict[str, str]] | None:
    """(``type/subtype`` lower-cased, parameters) of a media type such as ``audio/L16;codec=pcm;rate=24000``."""
    if not isinstance(value, str):
        return None
    head, *params = value.split(";")
    media = head.strip().lower()
    main, slash, sub = media.partition("/")
    if not slash or not main or not sub or " " in media:
        return None
    parsed: dict[str, str] = {}
    for param in params:
        key, equals, raw = param.partition("=")
        if equals:
            parsed[key.strip().lower()] = raw.strip().strip('"')
    return media, parsed


def media_signature(data: bytes) -> str | None:
    """The media type a file's first bytes announce (images and the audio files a server may send), if any."""
    if data.startswith(b"RIFF") and data[8:12] == b"WAVE":
        return "audio/wav"
    if data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return "image/webp"
    for media, signatures in (
        ("image/png", (b"\x89PNG\r\n\x1a\n",)),
        ("image/jpeg", (b"\xff\xd8\xff",)),
        ("image/gif", (b"GIF87a", b"GIF89a")),
        ("audio/ogg", (b"OggS",)),
        ("audio/flac", (b"fLaC",)),
        ("audio/mpeg", (b"ID3",)),
    ):
        if data.startswith(signatures):
            return media
    return None


def inline_media(exchange: Exchange) -> MediaView:
    """The inline media of a Gemini generation answer (cached on the exchange); empty for anything else."""
    return cached_view(exchange, "gemini_inline_media", MediaView, _read)


def _read(exchange: Exchange) -> MediaView:
    view = MediaView()
    if not is_generation_answer(exchange):
        return view
    for candidate in gemini_view(exchange).candidates:
        for position, part in enumerate(p for p in candidate.inline_data if not p.thought):
            item = InlineMedia(candidate=candidate.index, position=position, mime_type=part.mime_type)
            view.items.append(item)
            _decode(item, part.data)
    return view


def _decode(item: InlineMedia, text: Any) -> None:
    parsed = parse_mime_type(item.mime_type)
    if parsed is not None:
        item.media_type, item.parameters = parsed
    if not isinstance(text, str) or not text:
        item.problem = f"data is {type(text).__name__ if text is not None else 'missing'}, not base64 text"
        return
    try:
        item.data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        item.problem = f"data is not valid base64 ({exc})"
        return
    if not item.data:
        item.problem = "data decodes to no bytes"
    elif item.main_type == "image" or (not item.media_type and media_signature(item.data or b"") is not None):
        item.image, problem = decode_image(item.data)
        item.problem = None if problem is None else f"{len(item.data)} bytes that {problem}"
    elif item.main_type == "audio":
        _decode_audio(item, item.data)


def _decode_audio(item: InlineMedia, data: bytes) -> None:
    if item.media_type in RAW_PCM_TYPES:
        rate = item.parameters.get("rate", "")
        if len(data) % 2:
            item.problem = f"{len(data)} bytes of raw PCM: not a whole number of 16-bit samples"
        elif rate.isdigit() and int(rate) > 0:
            item.audio = AudioFacts("pcm", len(data) / 2 / int(rate))
        else:
            item.audio = AudioFacts("pcm")
    elif item.media_type in WAV_TYPES:
        try:
            with wave.open(io.BytesIO(data), "rb") as reader:
                frames, frame_rate = reader.getnframes(), reader.getframerate()
        except (wave.Error, EOFError) as exc:
            item.problem = f"{len(data)} bytes that do not read as a WAV file ({exc})"
            return
        item.audio = AudioFacts("wav", frames / frame_rate if frame_rate else None)
    else:
        item.audio = AudioFacts(item.media_type)
