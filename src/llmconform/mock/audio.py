"""The mock's ``POST /v1/audio/speech`` and ``POST /v1/audio/translations``: real audio, English text, OpenAI errors.

Speech: a request goes through faults in force, auth (401), body size (413), JSON (400), the contract's
``CreateSpeechRequest`` schema (400 naming the field: a missing voice, an input over 4096 characters, a speed
outside 0.25..4, an unknown format), ``stream_format: sse`` (400: the mock does not stream speech), an unknown
voice (400), the model (404); then the answer after ``MockConfig.ttft_ms``. The audio is a sine tone (pitch
from the voice) lasting as long as the text takes to say at 2.5 words a second, or at 15 characters a second
when that is longer (long words, text without spaces between words), divided by ``speed``, at least 0.3 s. It
is encoded as ``response_format`` asks: MP3, Ogg Opus, ADTS AAC and FLAC by FFmpeg (PyAV), WAV by ``wave``, and
``pcm`` as raw 24 kHz 16-bit mono samples, each with its own media type
(``llmconform.families.audio.SPEECH_MEDIA_TYPES``).

Translation: a ``multipart/form-data`` form (parsed by Starlette's parser) needs ``model`` and a ``file`` that
FFmpeg decodes as audio (else 400 naming ``file``, as OpenAI's "Invalid file format"); ``response_format``
must be one of json, text, srt, verbose_json, vtt and ``temperature`` a number in 0..1. The answer is English:
one sentence per started 5 s of input ("Part 1 of 2 of the translated speech."), as JSON, verbose JSON (with
the input's duration, ``language: english`` and one segment per sentence), plain text, SubRip or WebVTT cues
timed on the input.

Encoding and decoding run in a worker thread, so the event loop keeps serving other requests meanwhile.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Mapping
from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from llmconform.families.audio import (
    PCM_SAMPLE_RATE,
    SPEECH_MEDIA_TYPES,
    SPEECH_PATH,
    TRANSLATION_FORMATS,
    TRANSLATION_PATH,
    decode_audio,
)
from llmconform.mock import media, openai_steps
from llmconform.mock.common import MockContext, RequestGuard
from llmconform.mock.errors import ApiError
from llmconform.mock.validation import BodyValidator

__all__ = [
    "PATH_PREFIXES",
    "SEGMENT_S",
    "VOICES",
    "WORDS_PER_SECOND",
    "AudioEndpoints",
    "routes",
    "routing_error",
    "speech_seconds",
]

logger = logging.getLogger(__name__)

# Paths this family serves: routing errors (404, 405) under them get this family's error shape.
PATH_PREFIXES: tuple[str, ...] = ("/v1/audio/",)
# OpenAI's built-in voices (openai-python types/audio/speech_create_params.py); others are a 400.
VOICES = frozenset(
    {"alloy", "ash", "ballad", "coral", "echo", "fable", "onyx", "nova", "sage", "shimmer", "verse", "marin", "cedar"}
)
# The mock's speaking rate at speed 1.0: 2.5 words a second (people speak 2-3), at most 15 characters a second.
WORDS_PER_SECOND = 2.5
CHARACTERS_PER_SECOND = 15.0
MIN_SPEECH_S = 0.3
# Each translated sentence covers this many seconds of input.
SEGMENT_S = 5.0
_WAV_RATE = 16_000
_FILE_FORMATS = "flac, mp3, mp4, mpeg, mpga, m4a, ogg, wav, webm"
REQUEST_SCHEMA = "CreateSpeechRequest"
DOCUMENT = "audio"
_JSON = "application/json"
_TEXT = "text/plain; charset=utf-8"


def routes(context: MockContext) -> list[BaseRoute]:
    """The family's routes, bound to the mock's context."""
    endpoints = AudioEndpoints(context)
    return [
        Route(SPEECH_PATH, endpoints.speech, methods=["POST"]),
        Route(TRANSLATION_PATH, endpoints.translation, methods=["POST"]),
    ]


def routing_error(
    status: int, where: str, headers: Mapping[str, str], faults: frozenset[str], request_id: str
) -> Response:
    """A routing error (unknown path 404, wrong method 405) under this family's paths, in its error shape."""
    allow = headers.get("Allow") or headers.get("allow")
    if status == 405 and allow:
        error = ApiError(405, f"Method not allowed: {where}. This route takes {allow}.", code="method_not_allowed",
                         headers={"Allow": allow})  # fmt: skip
    else:
        error = ApiError(
            status, f"Cannot route {where}; the audio routes are POST {SPEECH_PATH} and POST {TRANSLATION_PATH}."
        )
    return error_response(error, faults, request_id)


def error_response(error: ApiError, faults: frozenset[str], request_id: str) -> Response:
    """``error`` as an OpenAI error body (a bare string under the ``audio_error_body_shape`` fault)."""
    # The chat family's error_body_shape fault is not ours: error.body is rendered without faults.
    body = orjson.dumps({"error": error.message}) if "audio_error_body_shape" in faults else error.body(frozenset())
    headers = {**error.headers, "x-request-id": request_id}
    return Response(body, status_code=error.status, headers=headers, media_type=_JSON)


def speech_seconds(text: str, speed: float) -> float:
    """How long the mock speaks ``text`` at ``speed`` (see the module docstring), rounded to 50 ms."""
    words = text.split()
    spoken = max(len(words) / WORDS_PER_SECOND, len("".join(words)) / CHARACTERS_PER_SECOND)
    return round(max(spoken / speed, MIN_SPEECH_S) * 20) / 20


def speech_audio(response_format: str, seconds: float, voice: str) -> bytes:
    """The encoded tone of ``seconds`` in ``response_format`` (the pitch from the voice)."""
    seed = hashlib.sha256(voice.encode("utf-8", "surrogatepass")).digest()[:8]
    if response_format == "pcm":
        return media.pcm16(seconds, PCM_SAMPLE_RATE, seed=seed)
    if response_format == "wav":
        return media.wav(seconds, _WAV_RATE, seed=seed)
    return media.encoded_audio(response_format, seconds, seed=seed)


class AudioEndpoints:
    """The audio handlers, bound to one context and one request validator."""

    def __init__(self, context: MockContext, validator: BodyValidator | None = None) -> None:
        if validator is None:
            from llmconform.spec import component_schema, validator_for

            validator = BodyValidator(
                validator_for(REQUEST_SCHEMA, DOCUMENT), component_schema(REQUEST_SCHEMA, DOCUMENT)
            )
        self._context = context
        self._config = context.config
        self._validator = validator
        self._guard = RequestGuard(context, self._auth_error, error_response, openai_steps.SERVER_FAILURE, logger)

    async def speech(self, request: Request) -> Response:
        """``POST /v1/audio/speech``."""
        return await self._guard(request, self._speech)

    async def translation(self, request: Request) -> Response:
        """``POST /v1/audio/translations``."""
        return await self._guard(request, self._translation)

    # ------------------------------------------------------------------ shared steps

    def _auth_error(self, request: Request, faults: frozenset[str]) -> ApiError | None:
        return None if "audio_auth_required" in faults else openai_steps.bearer_auth_error(self._context, request)

    def _bad_request(self, error: ApiError, faults: frozenset[str]) -> ApiError:
        return openai_steps.bad_request(error, faults, server_error_fault="audio_invalid_request_rejected")

    def _unknown_model(self, model: str, faults: frozenset[str]) -> ApiError | None:
        if model in self._context.models or "audio_unknown_model_rejected" in faults:
            return None
        return openai_steps.model_not_found(model, self._config.models)

    # ------------------------------------------------------------------ POST /v1/audio/speech

    def _check_speech(self, raw: bytes, faults: frozenset[str]) -> Mapping[str, Any] | ApiError:
        example = '{"model": ..., "input": "Hello there.", "voice": "alloy"}'
        body = openai_steps.json_object_body(
            raw, self._validator, faults, example=example, parse=openai_steps.lenient_json
        )
        if isinstance(body, ApiError):
            return self._bad_request(body, faults)
        if body.get("stream_format") == "sse":
            return self._bad_request(
                ApiError(
                    400,
                    "The mock does not stream speech as server-sent events: send stream_format 'audio' (or "
                    "leave it out) to get the audio bytes.",
                    param="stream_format",
                    code="unsupported_value",
                ),
                faults,
            )
        voice = body.get("voice")
        if isinstance(voice, str) and voice not in VOICES:
            return self._bad_request(
                ApiError(
                    400,
                    f"Invalid value for 'voice': {voice!r:.60} is not a voice of this server. Use one of "
                    f"{', '.join(sorted(VOICES))}.",
                    param="voice",
                    code="invalid_value",
                ),
                faults,
            )
        return body

    async def _speech(self, request: Request, faults: frozenset[str], request_id: str) -> Response:
        raw = await self._context.read_body(request)
        if raw is None:
            return error_response(openai_steps.body_too_large(self._config.max_body_bytes), faults, request_id)
        checked = self._check_speech(raw, faults)
        if isinstance(checked, ApiError):
            return error_response(checked, faults, request_id)
        refused = self._unknown_model(str(checked.get("model", "")), faults)
        if refused is not None:
            return error_response(refused, faults, request_id)
        asked = str(checked.get("response_format") or "mp3")
        speed = 1.0 if "audio_speech_speed_honoured" in faults else float(checked.get("speed") or 1.0)
        seconds = speech_seconds(str(checked.get("input", "")), speed)
        if "audio_speech_duration_plausible" in faults:
            seconds *= 4
        encoded = "mp3" if "audio_speech_format_honoured" in faults else asked
        voice = checked.get("voice")
        body = await run_in_threadpool(speech_audio, encoded, seconds, voice if isinstance(voice, str) else "custom")
        if "audio_speech_decodes" in faults:
            body = body[:64]
        await self._context.unary_delay(1)
        media_type = SPEECH_MEDIA_TYPES[asked][0]
        if "audio_speech_content_type_matches_format" in faults:
            media_type = "audio/mpeg"
        return Response(body, media_type=media_type, headers={"x-request-id": request_id})

    # ------------------------------------------------------------------ POST /v1/audio/translations

    async def _form(self, request: Request, raw: bytes) -> dict[str, str | UploadFile] | ApiError:
        """The multipart form of ``raw``, parsed by Starlette's parser, or the 400 that says why it is not one."""
        media_type = request.headers.get("content-type", "")
        if not media_type.lower().startswith("multipart/form-data"):
            return ApiError(
                400,
                f"This endpoint takes multipart/form-data (a 'file' part and form fields), not "
                f"{media_type.split(';')[0] or 'a body without Content-Type'}.",
                code="invalid_request",
            )

        async def replay() -> Any:
            yield raw

        try:
            form = await MultiPartParser(request.headers, replay(), max_files=4, max_fields=32).parse()
        except MultiPartException as exc:
            return ApiError(400, f"Could not parse the multipart form: {exc.message}.", code="invalid_request")
        return dict(form.multi_items())

    async def _check_translation(
        self, form: dict[str, str | UploadFile], faults: frozenset[str]
    ) -> tuple[str, str, float, dict[str, Any]] | ApiError:
        """(model, response_format, input seconds, the form's fields) of a valid form, or the 400 why not."""
        model = form.get("model")
        if not isinstance(model, str) or not model:
            return ApiError(
                400, "Missing required parameter: 'model'.", param="model", code="missing_required_parameter"
            )
        response_format = form.get("response_format", "json")
        if response_format not in TRANSLATION_FORMATS:
            return ApiError(
                400,
                f"Invalid value for 'response_format': {response_format!r:.40}. Use one of "
                f"{', '.join(TRANSLATION_FORMATS)}.",
                param="response_format",
                code="invalid_value",
            )
        temperature = form.get("temperature")
        if temperature is not None:
            try:
                value = float(str(temperature))
            except ValueError:
                value = math.nan
            if not 0 <= value <= 1:
                return ApiError(
                    400, f"Invalid value for 'temperature': {temperature!r:.40}; use a number between 0 and 1.",
                    param="temperature", code="invalid_value",
                )  # fmt: skip
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            if "audio_translation_file_required" in faults:
                return model, str(response_format), 0.0, form
            return ApiError(
                400, "Missing required parameter: 'file' (the audio to translate, as a file part).",
                param="file", code="missing_required_parameter",
            )  # fmt: skip
        data = await upload.read()
        decoded = await run_in_threadpool(decode_audio, data, "wav")
        if decoded.problem is not None:
            if "audio_translation_file_required" in faults:
                return model, str(response_format), 0.0, form
            return ApiError(
                400,
                f"Invalid file format: {upload.filename or 'the file'} is not audio FFmpeg can decode "
                f"({decoded.problem}). Supported formats: {_FILE_FORMATS}.",
                param="file",
                code="invalid_value",
            )
        return model, str(response_format), decoded.duration_s, form

    async def _translation(self, request: Request, faults: frozenset[str], request_id: str) -> Response:
        raw = await self._context.read_body(request)
        if raw is None:
            return error_response(openai_steps.body_too_large(self._config.max_body_bytes), faults, request_id)
        form = await self._form(request, raw)
        if isinstance(form, ApiError):
            return error_response(self._bad_request(form, faults), faults, request_id)
        checked = await self._check_translation(form, faults)
        if isinstance(checked, ApiError):
            return error_response(self._bad_request(checked, faults), faults, request_id)
        model, response_format, seconds, _ = checked
        refused = self._unknown_model(model, faults)
        if refused is not None:
            return error_response(refused, faults, request_id)
        body, media_type = _translation_answer(response_format, seconds, faults)
        await self._context.unary_delay(1)
        return Response(body, media_type=media_type, headers={"x-request-id": request_id})


def _sentences(seconds: float) -> list[tuple[float, float, str]]:
    """(start, end, text) of each translated sentence: one per started SEGMENT_S seconds of input."""
    if seconds <= 0:
        return []
    count = max(1, math.ceil(seconds / SEGMENT_S - 1e-9))
    return [
        (n * SEGMENT_S, min((n + 1) * SEGMENT_S, seconds), f"Part {n + 1} of {count} of the translated speech.")
        for n in range(count)
    ]


def _timestamp(seconds: float, separator: str) -> str:
    millis = round(seconds * 1000)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    return f"{hours:02d}:{minutes:02d}:{rest // 1000:02d}{separator}{rest % 1000:03d}"


def _translation_answer(response_format: str, seconds: float, faults: frozenset[str]) -> tuple[bytes, str]:
    """The body and media type of a translation of ``seconds`` of audio in ``response_format``."""
    timing = 2.0 if "audio_translation_duration_matches_input" in faults else 1.0
    sentences = [(start * timing, end * timing, text) for start, end, text in _sentences(seconds)]
    text = " ".join(sentence for _, _, sentence in sentences)
    media_type = _JSON if response_format in ("json", "verbose_json") else _TEXT
    if "audio_translation_content_type_matches_format" in faults:
        media_type = _TEXT
    written = "json" if "audio_translation_format_honoured" in faults else response_format
    key = "translation" if "audio_translation_response_matches_schema" in faults else "text"
    if written == "json":
        return orjson.dumps({key: text}), media_type
    if written == "verbose_json":
        segments = [
            {
                "id": n, "seek": round(start * 100), "start": start, "end": end, "text": " " + sentence,
                "tokens": [50_364 + n], "temperature": 0.0, "avg_logprob": -0.2, "compression_ratio": 1.1,
                "no_speech_prob": 0.01,
            }
            for n, (start, end, sentence) in enumerate(sentences)
        ]  # fmt: skip
        language = "french" if "audio_translation_language_english" in faults else "english"
        answer = {"task": "translate", "language": language, "duration": seconds * timing, key: text}
        return orjson.dumps({**answer, "segments": segments}), media_type
    if written == "text":
        return (text + "\n").encode(), media_type
    separator = "," if written == "srt" else "."
    blocks = [
        f"{n + 1}\n{_timestamp(start, separator)} --> {_timestamp(end, separator)}\n{sentence}"
        if written == "srt"
        else f"{_timestamp(start, separator)} --> {_timestamp(end, separator)}\n{sentence}"
        for n, (start, end, sentence) in enumerate(sentences)
    ]
    document = "\n\n".join(blocks) + "\n"
    return (document if written == "srt" else "WEBVTT\n\n" + document).encode(), media_type
