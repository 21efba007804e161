"""The OpenAI audio family: text-to-speech and speech translation, and a parsed view of their answers.

``POST /v1/audio/speech`` answers bytes of audio. :func:`speech_view` reads one answer: the format the
request asked for (``response_format``, mp3 by default), the media type that came back, and what the bytes
decode to (container, codec, sample rate, duration) - decoded by FFmpeg through PyAV, or, for the headerless
``pcm`` format, measured as 24 kHz 16-bit mono samples. ``POST /v1/audio/translations`` takes the audio as a
``multipart/form-data`` file and answers English text: :func:`translation_view` reads it as JSON (``json``,
``verbose_json``), plain text (``text``) or subtitle cues (``srt``, ``vtt``).

Neither view raises on a malformed answer: what could not be read is recorded on the view for the checks.

The multipart body of a translation is encoded by httpx; the request's JSON slot of the Exchange then holds
a description of the form (its fields, and the file's name, media type and size) so that checks and reports
can see what was sent without the file's bytes.
"""

from __future__ import annotations

import io
import math
import re
from dataclasses import dataclass, field
from typing import Any

import httpx

from llmconform.exchange import Exchange
from llmconform.families.answer import Answer
from llmconform.families.reading import AnswerPredicates, cached_view, read_json_object, received_2xx

__all__ = [
    "DEFAULT_SPEECH_FORMAT",
    "DEFAULT_TRANSLATION_FORMAT",
    "FAMILY",
    "MAX_SPEECH_INPUT",
    "PCM_SAMPLE_RATE",
    "SPEECH_FORMATS",
    "SPEECH_MEDIA_TYPES",
    "SPEECH_OPERATION",
    "SPEECH_PATH",
    "SPEED_RANGE",
    "TRANSLATION_FORMATS",
    "TRANSLATION_OPERATION",
    "TRANSLATION_PATH",
    "Cue",
    "DecodedAudio",
    "SpeechView",
    "TranslationView",
    "build_request",
    "decode_audio",
    "is_speech",
    "is_speech_answer",
    "is_translation",
    "is_translation_answer",
    "parse_srt",
    "parse_vtt",
    "plausible_speech_seconds",
    "read_answer",
    "request_headers",
    "speech_request",
    "speech_view",
    "translation_form",
    "translation_view",
]

FAMILY = "audio"
SPEECH_PATH = "/v1/audio/speech"
SPEECH_OPERATION = f"POST {SPEECH_PATH}"
TRANSLATION_PATH = "/v1/audio/translations"
TRANSLATION_OPERATION = f"POST {TRANSLATION_PATH}"
# OpenAI CreateSpeechRequest: input maxLength 4096, speed 0.25..4.0 (default 1.0), response_format default mp3.
MAX_SPEECH_INPUT = 4096
SPEED_RANGE = (0.25, 4.0)
DEFAULT_SPEECH_FORMAT = "mp3"
DEFAULT_TRANSLATION_FORMAT = "json"
# OpenAI: "pcm ... 24kHz sample rate, mono channel, and 16-bit depth in signed little-endian format".
PCM_SAMPLE_RATE = 24_000
# Each response_format's media type (openapi/audio.yaml), and the other names servers use for it.
SPEECH_MEDIA_TYPES: dict[str, tuple[str, ...]] = {
    "mp3": ("audio/mpeg", "audio/mp3"),
    "opus": ("audio/opus", "audio/ogg"),
    "aac": ("audio/aac", "audio/aacp", "audio/x-aac"),
    "flac": ("audio/flac", "audio/x-flac"),
    "wav": ("audio/wav", "audio/wave", "audio/x-wav", "audio/vnd.wave"),
    "pcm": ("audio/pcm", "audio/l16"),
}
SPEECH_FORMATS = tuple(SPEECH_MEDIA_TYPES)
TRANSLATION_FORMATS = ("json", "text", "srt", "verbose_json", "vtt")
# What FFmpeg calls each format's container and codec: (demuxer names, codec names).
_CONTAINERS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "mp3": (frozenset({"mp3"}), frozenset({"mp3", "mp3float"})),
    "opus": (frozenset({"ogg", "matroska,webm"}), frozenset({"opus", "libopus"})),
    "aac": (frozenset({"aac", "mov,mp4,m4a,3gp,3g2,mj2"}), frozenset({"aac", "aac_fixed"})),
    "flac": (frozenset({"flac"}), frozenset({"flac"})),
    "wav": (frozenset({"wav"}), frozenset({"pcm_s16le", "pcm_s24le", "pcm_s32le", "pcm_f32le", "pcm_u8", "pcm_mulaw"})),
}
# Speaking rates a listener still calls speech, at speed 1.0: 1 to 5 words a second (people speak 2-3), 5 to
# 30 characters a second for text without spaces between words; plus up to 2 s of silence around it.
_MIN_WPS, _MAX_WPS = 1.0, 5.0
_MIN_CPS, _MAX_CPS = 5.0, 30.0
_SILENCE_S = 2.0
_SPEECH_PARAMS = ("voice", "response_format", "speed", "instructions")


# ----------------------------------------------------------------------------------------- requests


def speech_request(
    model: str,
    text: str,
    *,
    voice: str = "alloy",
    response_format: str | None = None,
    speed: float | None = None,
) -> dict[str, Any]:
    """A POST /v1/audio/speech body; ``response_format`` and ``speed`` are sent only when given."""
    body: dict[str, Any] = {"model": model, "input": text, "voice": voice}
    if response_format is not None:
        body["response_format"] = response_format
    if speed is not None:
        body["speed"] = speed
    return body


def translation_form(
    model: str | None,
    audio: bytes | None,
    *,
    filename: str = "speech.wav",
    media_type: str = "audio/wav",
    response_format: str | None = None,
    extra: dict[str, str] | None = None,
) -> tuple[dict[str, Any], bytes, str]:
    """(a description of the form, the multipart body, its Content-Type) of a POST /v1/audio/translations.

    ``model`` or ``audio`` None leaves that part out (the requests a target must refuse). The body is encoded
    by httpx, as the openai SDK's client does; the fields go as parts without a filename, so a form without a
    file is multipart/form-data all the same.
    """
    data: dict[str, str] = {}
    if model is not None:
        data["model"] = model
    if response_format is not None:
        data["response_format"] = response_format
    data.update(extra or {})
    parts: list[tuple[str, tuple[str | None, bytes, str | None]]] = [
        (name, (None, value.encode(), None)) for name, value in data.items()
    ]
    if audio is not None:
        parts.append(("file", (filename, audio, media_type)))
    request = httpx.Request("POST", "http://form.invalid/", files=parts)
    body = request.read()
    described: dict[str, Any] = dict(data)
    if audio is not None:
        described["file"] = {"filename": filename, "content_type": media_type, "bytes": len(audio)}
    return described, body, request.headers["content-type"]


def requested_speech_format(exchange: Exchange) -> Any:
    """The ``response_format`` a speech request asked for; absent (or null) means mp3."""
    value = exchange.request_body.get("response_format")
    return DEFAULT_SPEECH_FORMAT if value is None else value


def requested_speed(exchange: Exchange) -> float | None:
    """The ``speed`` a speech request asked for (1.0 when absent), or None when it is not a number in range."""
    value = exchange.request_body.get("speed", 1.0)
    if value is None:
        return 1.0
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value) if SPEED_RANGE[0] <= value <= SPEED_RANGE[1] else None


def requested_translation_format(exchange: Exchange) -> Any:
    """The ``response_format`` a translation form asked for; absent means json."""
    value = exchange.request_body.get("response_format")
    return DEFAULT_TRANSLATION_FORMAT if value is None else value


_SPEECH = AnswerPredicates(SPEECH_OPERATION)
_TRANSLATION = AnswerPredicates(TRANSLATION_OPERATION)
is_speech = _SPEECH.is_operation
is_speech_answer = _SPEECH.is_answer
is_translation = _TRANSLATION.is_operation
is_translation_answer = _TRANSLATION.is_answer


def is_audio(exchange: Exchange) -> bool:
    """An exchange of either audio operation, answered or not."""
    return exchange.operation in (SPEECH_OPERATION, TRANSLATION_OPERATION)


# ------------------------------------------------------------------------------------------ decoding


@dataclass(slots=True)
class DecodedAudio:
    """What a body of encoded audio turned out to be."""

    container: str | None = None
    codec: str | None = None
    sample_rate: int | None = None
    channels: int | None = None
    samples: int = 0
    problem: str | None = None

    @property
    def duration_s(self) -> float:
        return self.samples / self.sample_rate if self.sample_rate else 0.0

    def is_format(self, response_format: str) -> bool:
        """Whether the container and codec are those of ``response_format`` (pcm: raw samples, no container)."""
        if response_format == "pcm":
            return self.container == "pcm"
        containers, codecs = _CONTAINERS.get(response_format, (frozenset(), frozenset()))
        return self.container in containers and self.codec in codecs


def decode_audio(data: bytes, response_format: str) -> DecodedAudio:
    """Decode ``data``; ``pcm`` is read as raw 24 kHz 16-bit mono samples, anything else by FFmpeg (PyAV).

    Every frame is decoded, so ``samples`` counts what a player would play; an FFmpeg error, or no audio at
    all, is the ``problem``.
    """
    import av  # FFmpeg: imported on first use, so importing the family stays light

    if response_format == "pcm":
        decoded = DecodedAudio(container="pcm", codec="pcm_s16le", sample_rate=PCM_SAMPLE_RATE, channels=1)
        decoded.samples = len(data) // 2
        if not data:
            decoded.problem = "the body is empty"
        elif len(data) % 2:
            decoded.problem = f"{len(data)} bytes is not a whole number of 16-bit samples"
        return decoded
    decoded = DecodedAudio()
    if not data:
        decoded.problem = "the body is empty"
        return decoded
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            decoded.container = container.format.name
            if not container.streams.audio:
                decoded.problem = f"the {container.format.name} container has no audio stream"
                return decoded
            stream = container.streams.audio[0]
            decoded.codec = stream.codec_context.name
            decoded.sample_rate = stream.codec_context.sample_rate or None
            decoded.channels = stream.codec_context.channels or None
            for frame in container.decode(stream):
                decoded.samples += frame.samples
                decoded.sample_rate = decoded.sample_rate or frame.sample_rate
    except av.FFmpegError as exc:
        decoded.problem = f"FFmpeg cannot decode it: {exc.strerror or exc}"
        return decoded
    if decoded.samples == 0:
        decoded.problem = f"no audio samples decode from the {decoded.container} {decoded.codec or ''} stream"
    return decoded


def plausible_speech_seconds(text: str, speed: float) -> tuple[float, float]:
    """(shortest, longest) seconds a spoken ``text`` may last at ``speed``.

    Counted both in words (1 to 5 a second) and in characters without spaces (5 to 30 a second, for
    scripts that do not separate words), the larger count wins; up to 2 s of silence may surround it.
    """
    words = len(text.split())
    chars = len("".join(text.split()))
    shortest = max(words / _MAX_WPS, chars / _MAX_CPS) / speed - 0.5
    longest = max(words / _MIN_WPS, chars / _MIN_CPS) / speed + _SILENCE_S
    return max(shortest, 0.0), longest


# ---------------------------------------------------------------------------------------- the views


@dataclass(slots=True)
class SpeechView:
    """Everything checks need to know about one speech answer."""

    response_format: Any = DEFAULT_SPEECH_FORMAT
    media_type: str = ""
    decoded: DecodedAudio = field(default_factory=DecodedAudio)


def speech_view(exchange: Exchange) -> SpeechView:
    """Decode (once, cached on the exchange) a speech answer into a SpeechView."""
    return cached_view(exchange, "speech_view", SpeechView, _speech_view)


def _speech_view(exchange: Exchange) -> SpeechView:
    view = SpeechView(response_format=requested_speech_format(exchange), media_type=exchange.content_type)
    asked = view.response_format if view.response_format in SPEECH_FORMATS else DEFAULT_SPEECH_FORMAT
    view.decoded = decode_audio(exchange.body, asked)
    return view


@dataclass(frozen=True, slots=True)
class Cue:
    """One subtitle cue: its times in seconds and its text."""

    start_s: float
    end_s: float
    text: str


@dataclass(slots=True)
class TranslationView:
    """Everything checks need to know about one translation answer."""

    response_format: Any = DEFAULT_TRANSLATION_FORMAT
    payload: Any = None
    text: str | None = None
    cues: list[Cue] | None = None
    problems: list[str] = field(default_factory=list)


def translation_view(exchange: Exchange) -> TranslationView:
    """Parse (once, cached on the exchange) a translation answer as the format its request asked for."""
    return cached_view(exchange, "translation_view", TranslationView, _translation_view)


def _translation_view(exchange: Exchange) -> TranslationView:
    view = TranslationView(response_format=requested_translation_format(exchange))
    if view.response_format in ("json", "verbose_json"):
        view.payload, payload = read_json_object(exchange, view.problems)
        if payload is not None:
            text = payload.get("text")
            view.text = text if isinstance(text, str) else None
        return view
    try:
        body = exchange.body.decode("utf-8")
    except UnicodeDecodeError as exc:
        view.problems.append(f"the body is not UTF-8 text ({exc})")
        return view
    view.text = body
    if view.response_format == "srt":
        view.cues = parse_srt(body, view.problems)
    elif view.response_format == "vtt":
        view.cues = parse_vtt(body, view.problems)
    return view


# Subtitle timestamps: SubRip "00:00:01,500", WebVTT "00:00:01.500" or "00:01.500". Read with a regular
# expression: no well-kept library is needed for two fixed-format lines.
_SRT_TIME = re.compile(r"^(\d{2,}):(\d{2}):(\d{2}),(\d{3})$")
_VTT_TIME = re.compile(r"^(?:(\d{2,}):)?(\d{2}):(\d{2})\.(\d{3})$")
_ARROW = re.compile(r"^(\S+)\s+-->\s+(\S+)(?:\s.*)?$")


def _seconds(match: re.Match[str] | None) -> float | None:
    if match is None:
        return None
    hours, minutes, seconds, millis = match.groups()
    return int(hours or 0) * 3600 + int(minutes) * 60 + int(seconds) + int(millis) / 1000


def _cue(lines: list[str], at: int, pattern: re.Pattern[str], where: str, problems: list[str]) -> Cue | None:
    """The cue whose timing line is ``lines[at]`` (its text the lines after it), or None and a problem."""
    arrow = _ARROW.match(lines[at].strip())
    start = _seconds(pattern.match(arrow.group(1))) if arrow else None
    end = _seconds(pattern.match(arrow.group(2))) if arrow else None
    if start is None or end is None:
        problems.append(f"{where}: {lines[at].strip()!r:.60} is not a 'start --> end' timing line")
        return None
    if end < start:
        problems.append(f"{where}: ends ({end:.3f} s) before it starts ({start:.3f} s)")
    return Cue(start, end, "\n".join(line for line in lines[at + 1 :] if line.strip()))


def parse_srt(text: str, problems: list[str]) -> list[Cue]:
    """The cues of a SubRip document (blocks of: a number, a timing line, text), problems appended."""
    cues: list[Cue] = []
    blocks = [block.splitlines() for block in re.split(r"\n\s*\n", text.replace("\r\n", "\n").strip()) if block]
    for number, lines in enumerate(blocks, start=1):
        if len(lines) < 2 or not lines[0].strip().isdigit():
            problems.append(f"cue {number}: expected a number then a timing line, got {lines[0].strip()!r:.60}")
            continue
        cue = _cue(lines, 1, _SRT_TIME, f"cue {number}", problems)
        if cue is not None:
            cues.append(cue)
    if not cues and not problems:
        problems.append("no cues")
    return cues


def parse_vtt(text: str, problems: list[str]) -> list[Cue]:
    """The cues of a WebVTT document (a "WEBVTT" line, then blocks with a timing line), problems appended."""
    body = text.replace("\r\n", "\n").lstrip("\ufeff")
    if not body.startswith("WEBVTT"):
        problems.append(f"the document does not start with 'WEBVTT' (starts {body[:20]!r})")
        return []
    cues: list[Cue] = []
    blocks = [block.splitlines() for block in re.split(r"\n\s*\n", body.strip())[1:] if block]
    for number, lines in enumerate(blocks, start=1):
        timing = next((i for i, line in enumerate(lines[:2]) if "-->" in line), None)
        if timing is None:
            if lines[0].startswith(("NOTE", "STYLE", "REGION")):
                continue
            problems.append(f"block {number}: no 'start --> end' timing line")
            continue
        cue = _cue(lines, timing, _VTT_TIME, f"cue {number}", problems)
        if cue is not None:
            cues.append(cue)
    if not cues and not problems:
        problems.append("no cues")
    return cues


# ---------------------------------------------------------------------- the shared family interface


def request_headers(api_key: str | None) -> dict[str, str]:
    """The headers every request of this family carries: the key as ``Authorization: Bearer``."""
    return {"authorization": f"Bearer {api_key}"} if api_key else {}


def _text(messages: list[dict[str, Any]]) -> str:
    parts: list[str] = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts.extend(p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return " ".join(parts).strip()


def build_request(
    model: str, messages: list[dict[str, Any]], *, max_tokens: int | None, stream: bool, **params: Any
) -> tuple[str, str, str, dict[str, Any]]:
    """(method, path, operation, body) of a speech request speaking the messages' text.

    The text is cut to its first ``max_tokens`` words when a limit is given (a load run's output length
    bounds how much audio each request makes), and to 4096 characters; ``stream`` is ignored (the answer is
    one body of audio). Of ``params`` only the speech parameters are sent.
    """
    words = _text(messages).split()
    if max_tokens is not None:
        words = words[: max(max_tokens, 1)]
    text = " ".join(words)[:MAX_SPEECH_INPUT] or "Hello."
    body = speech_request(model, text)
    body.update({k: v for k, v in params.items() if k in _SPEECH_PARAMS})
    return "POST", SPEECH_PATH, SPEECH_OPERATION, body


def read_answer(exchange: Exchange) -> Answer | None:
    """A 2xx audio answer as an :class:`Answer`: no text and no tokens (the format reports none), and the first
    byte's arrival as its first event (the load report's TTFT slot for media), else None."""
    if not (is_audio(exchange) and received_2xx(exchange)):
        return None
    return Answer(stream=False, first_byte_s=exchange.ttfb_s)
