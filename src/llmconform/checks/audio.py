"""Rules of the audio family: speech that decodes as the format asked and lasts as long as its text, and
translations in the format asked (rule table F, E1/E4 for errors and refusals).

Exchange rules judge every answer of ``POST /v1/audio/speech`` and ``POST /v1/audio/translations`` (in
``check`` and under load: a speech answer is decoded once, cached on the exchange). Relation rules judge
answers that the audio probes (``llmconform.conformance.audio_probes``) sent on purpose: one text at two
speeds, an input of known length translated, forms without a file, requests that must be refused.
"""

from __future__ import annotations

from collections.abc import Iterator

from llmconform.checks.chat_relations import auth_required, invalid_request_rejected, unknown_model_rejected
from llmconform.checks.errors import error_body_shape
from llmconform.checks.registry import Severity, Violation, Warn, exchange_rule, relation_rule
from llmconform.checks.schema import schema_violations
from llmconform.exchange import Exchange
from llmconform.families.audio import (
    FAMILY,
    SPEECH_FORMATS,
    SPEECH_MEDIA_TYPES,
    is_audio,
    is_speech_answer,
    is_translation_answer,
    plausible_speech_seconds,
    requested_speed,
    speech_view,
    translation_view,
)

DOCUMENT = "audio"
# The first bytes of the containers a raw pcm answer must not be.
_MAGIC = {b"ID3": "an MP3 (ID3 tag)", b"RIFF": "a WAV (RIFF) file", b"OggS": "an Ogg file", b"fLaC": "a FLAC file"}
# How far a translation's timing may stray from the input's duration: half a second, or 5 %.
DURATION_TOLERANCE_S = 0.5
DURATION_TOLERANCE = 0.05
# One text at speed 1.0 and at speed 2.0: the second lasts between 1/2.8 and 1/1.4 as long (ideally 1/2).
SPEED_RATIO_RANGE = (1.4, 2.8)


def _asked_speech(exchange: Exchange) -> bool:
    return is_speech_answer(exchange) and speech_view(exchange).response_format in SPEECH_FORMATS


def _speech_decoded(exchange: Exchange) -> bool:
    return _asked_speech(exchange) and speech_view(exchange).decoded.problem is None


def _speech_as_asked(exchange: Exchange) -> bool:
    if not _speech_decoded(exchange):
        return False
    view = speech_view(exchange)
    return view.decoded.is_format(view.response_format) and _pcm_is_raw(exchange) is None


def _pcm_is_raw(exchange: Exchange) -> str | None:
    """For a pcm answer: which container it is instead of raw samples, if its first bytes name one."""
    if speech_view(exchange).response_format != "pcm":
        return None
    head = exchange.body[:4]
    if head[:2] in (b"\xff\xfb", b"\xff\xf3", b"\xff\xf2"):
        return "an MP3 (frame sync)"
    return next((name for magic, name in _MAGIC.items() if head.startswith(magic)), None)


# ------------------------------------------------------------------------------------ speech


@exchange_rule(
    "audio_speech_content_type_matches_format", family=FAMILY, severity=Severity.ERROR, applies=_asked_speech
)
def audio_speech_content_type_matches_format(exchange: Exchange) -> Iterator[Violation]:
    """A speech answer's Content-Type is the media type of the response_format asked (mp3 -> audio/mpeg, ...).

    Source: openapi/audio.yaml createSpeech 200 (one media type per format); OpenAI serves audio/mpeg, audio/opus,
    audio/aac, audio/flac, audio/wav, audio/pcm; upstream openapi.yaml declares application/octet-stream, which is
    therefore a warning here (players and browsers need the real type).
    """
    view = speech_view(exchange)
    accepted = SPEECH_MEDIA_TYPES[view.response_format]
    if view.media_type in accepted:
        return
    message = (
        f"Expected: Content-Type {accepted[0]} for response_format {view.response_format!r}. "
        f"Received: {view.media_type or 'none'!r}"
    )
    yield Warn(message) if view.media_type == "application/octet-stream" else message


@exchange_rule("audio_speech_decodes", family=FAMILY, severity=Severity.ERROR, applies=_asked_speech)
def audio_speech_decodes(exchange: Exchange) -> Iterator[Violation]:
    """A speech answer is audio a decoder plays: FFmpeg decodes samples from it (pcm: whole 16-bit samples).

    Source: OpenAI createSpeech ("Returns the audio file content"); openai-python HttpxBinaryResponseContent
    (write_to_file saves the bytes as they came); a truncated or empty body plays nothing.
    """
    decoded = speech_view(exchange).decoded
    if decoded.problem is not None:
        yield f"Expected: {speech_view(exchange).response_format} audio that decodes. Received: {decoded.problem}"


@exchange_rule("audio_speech_format_honoured", family=FAMILY, severity=Severity.ERROR, applies=_speech_decoded)
def audio_speech_format_honoured(exchange: Exchange) -> Iterator[Violation]:
    """The bytes are the response_format asked: MP3, Ogg Opus, AAC, FLAC, WAV, or raw pcm without a container.

    Source: OpenAI openapi.yaml CreateSpeechRequest.response_format (mp3, opus, aac, flac, wav, pcm; default
    mp3; pcm "similar to wav but without a header ... 24kHz ... 16-bit ... signed little-endian").
    """
    view = speech_view(exchange)
    container = _pcm_is_raw(exchange)
    if container is not None:
        yield f"Expected: raw 16-bit samples (response_format 'pcm'). Received: {container}"
    elif not view.decoded.is_format(view.response_format):
        yield (
            f"Expected: {view.response_format} audio. Received: a {view.decoded.container} container with "
            f"{view.decoded.codec} audio"
        )


def _speech_timed(exchange: Exchange) -> bool:
    return (
        _speech_as_asked(exchange)
        and isinstance(exchange.request_body.get("input"), str)
        and requested_speed(exchange) is not None
    )


@exchange_rule("audio_speech_duration_plausible", family=FAMILY, severity=Severity.ERROR, applies=_speech_timed)
def audio_speech_duration_plausible(exchange: Exchange) -> Iterator[Violation]:
    """Speech lasts as long as its text takes to say at the speed asked: 1 to 5 words a second (or 5 to 30
    characters) at speed 1.0, divided by speed, give or take 2 s of silence.

    Source: OpenAI CreateSpeechRequest.input ("The text to generate audio for") and speed ("The speed of the
    generated audio"); speaking rates of 2-3 words a second (people) bound the range generously on both sides.
    """
    text = str(exchange.request_body["input"])
    speed = requested_speed(exchange)
    assert speed is not None
    shortest, longest = plausible_speech_seconds(text, speed)
    seconds = speech_view(exchange).decoded.duration_s
    if not shortest <= seconds <= longest:
        yield (
            f"Expected: {shortest:.1f} to {longest:.1f} s of speech for {len(text.split())} words at speed {speed:g}. "
            f"Received: {seconds:.2f} s"
        )


@relation_rule("audio_speech_speed_honoured", family=FAMILY, severity=Severity.ERROR)
def audio_speech_speed_honoured(normal: Exchange, faster: Exchange, speed: float) -> Iterator[Violation]:
    """The same text at a higher speed is shorter in proportion (speed 2.0: about half as long as at 1.0).

    Source: OpenAI CreateSpeechRequest.speed ("The speed of the generated audio. Select a value from 0.25 to
    4.0. 1.0 is the default"); a ratio between 1.4 and 2.8 for speed 2.0 leaves room for pauses that do not scale.
    """
    slow, fast = speech_view(normal).decoded, speech_view(faster).decoded
    if slow.problem is not None or fast.problem is not None or fast.duration_s <= 0:
        yield f"Expected: two decodable answers. Received: {slow.problem or fast.problem or 'an empty fast answer'}"
        return
    ratio = slow.duration_s / fast.duration_s
    low, high = (bound * speed / 2.0 for bound in SPEED_RATIO_RANGE)
    if not low <= ratio <= high:
        yield (
            f"Expected: speed {speed:g} to shorten the speech {low:.1f}x to {high:.1f}x. Received: "
            f"{slow.duration_s:.2f} s at speed 1.0 and {fast.duration_s:.2f} s at speed {speed:g} ({ratio:.2f}x)"
        )


# ------------------------------------------------------------------------------- translation


def _translation_json(exchange: Exchange) -> bool:
    return is_translation_answer(exchange) and translation_view(exchange).response_format in ("json", "verbose_json")


@exchange_rule(
    "audio_translation_response_matches_schema", family=FAMILY, severity=Severity.ERROR, applies=_translation_json
)
def audio_translation_response_matches_schema(exchange: Exchange) -> Iterator[Violation]:
    """A json or verbose_json translation validates against CreateTranslationResponse in openapi/audio.yaml.

    Source: openapi/audio.yaml CreateTranslationResponse, TranslationSegment, built from OpenAI openapi.yaml's
    CreateTranslationResponseJson / CreateTranslationResponseVerboseJson and openai-python types/audio
    (Translation.text, TranslationVerbose, TranscriptionSegment).
    """
    view = translation_view(exchange)
    if view.payload is None:
        yield f"Expected: a JSON body. Received: {'; '.join(view.problems)}"
        return
    yield from schema_violations("CreateTranslationResponse", DOCUMENT, view.payload, "body")


def _translation_status(exchange: Exchange) -> bool:
    return is_translation_answer(exchange) and translation_view(exchange).response_format in (
        "json",
        "verbose_json",
        "text",
        "srt",
        "vtt",
    )


@exchange_rule(
    "audio_translation_content_type_matches_format", family=FAMILY, severity=Severity.ERROR, applies=_translation_status
)
def audio_translation_content_type_matches_format(exchange: Exchange) -> Iterator[Violation]:
    """A translation is application/json for json and verbose_json, text/plain for text, srt and vtt.

    Source: openapi/audio.yaml createTranslation 200; openai-python resources/audio/translations.py (json and
    verbose_json are parsed as JSON, text, srt and vtt handed back as a str); OpenAI serves text/plain for those.
    """
    wanted = translation_view(exchange).response_format
    expected = "application/json" if wanted in ("json", "verbose_json") else "text/plain"
    media = exchange.content_type
    if media == expected:
        return
    message = f"Expected: Content-Type {expected} for response_format {wanted!r}. Received: {media or 'none'!r}"
    # A subtitle media type for subtitles is the right content under another name.
    subtitles = {"srt": ("application/x-subrip", "text/srt"), "vtt": ("text/vtt",)}
    yield Warn(message) if media in subtitles.get(wanted, ()) else message


@exchange_rule("audio_translation_format_honoured", family=FAMILY, severity=Severity.ERROR, applies=_translation_status)
def audio_translation_format_honoured(exchange: Exchange) -> Iterator[Violation]:
    """A translation is in the response_format asked: {text}; {text, language, duration}; plain text (not JSON);
    SubRip cues (number, "00:00:01,000 --> 00:00:02,000", text); a "WEBVTT" document of cues.

    Source: OpenAI openapi.yaml AudioResponseFormat (json, text, srt, verbose_json, vtt) and
    CreateTranslationResponseVerboseJson (language, duration, text required); SubRip and WebVTT (W3C WebVTT
    section 4) cue syntax.
    """
    view = translation_view(exchange)
    wanted = view.response_format
    if wanted in ("json", "verbose_json"):
        if not isinstance(view.payload, dict):
            yield f"Expected: a JSON object ({wanted}). Received: {'; '.join(view.problems) or type(view.payload)}"
            return
        required = ("text", "language", "duration") if wanted == "verbose_json" else ("text",)
        missing = [key for key in required if key not in view.payload]
        if missing:
            yield f"Expected: {', '.join(required)} in a {wanted} answer. Received: keys {sorted(view.payload)[:10]}"
        return
    if view.text is None:
        yield f"Expected: {wanted} text. Received: {'; '.join(view.problems)}"
        return
    if wanted == "text" and view.text.lstrip().startswith('{"'):
        yield f"Expected: plain text, not JSON. Received: {view.text[:60]!r}"
    elif wanted in ("srt", "vtt") and view.problems:
        yield f"Expected: {wanted} cues. Received: {'; '.join(view.problems[:3])}"


def _verbose(exchange: Exchange) -> bool:
    view = translation_view(exchange)
    return (
        is_translation_answer(exchange)
        and view.response_format == "verbose_json"
        and isinstance(view.payload, dict)
        and "language" in view.payload
    )


@exchange_rule("audio_translation_language_english", family=FAMILY, severity=Severity.WARNING, applies=_verbose)
def audio_translation_language_english(exchange: Exchange) -> Iterator[Violation]:
    """A verbose_json translation says its language is english: translations are always into English.

    Source: OpenAI createTranslation ("Translates audio into English"); openai-python TranslationVerbose.language
    ("The language of the output translation (always `english`)"). A warning: the field is a label.
    """
    language = translation_view(exchange).payload["language"]
    if not isinstance(language, str) or language.strip().lower() not in ("english", "en"):
        yield f"Expected: language 'english'. Received: {language!r:.40}"


@relation_rule("audio_translation_duration_matches_input", family=FAMILY, severity=Severity.ERROR)
def audio_translation_duration_matches_input(exchange: Exchange, input_seconds: float) -> Iterator[Violation]:
    """A translation's timing fits its input: verbose_json duration is the input's length (within 0.5 s or 5 %),
    and no segment or subtitle cue ends after the input does.

    Source: openai-python TranslationVerbose.duration ("The duration of the input audio") and
    TranscriptionSegment.end ("End time of the segment in seconds"); SubRip/WebVTT cue end times.
    """
    view = translation_view(exchange)
    slack = max(DURATION_TOLERANCE_S, DURATION_TOLERANCE * input_seconds)
    ends: list[float] = [cue.end_s for cue in view.cues or []]
    if isinstance(view.payload, dict):
        duration = view.payload.get("duration")
        if not isinstance(duration, int | float) or isinstance(duration, bool):
            duration = None
        if duration is not None and abs(duration - input_seconds) > slack:
            yield f"Expected: duration {input_seconds:.2f} s (the input's). Received: {duration!r}"
        segments = view.payload.get("segments")
        for segment in segments if isinstance(segments, list) else []:
            end = segment.get("end") if isinstance(segment, dict) else None
            if isinstance(end, int | float) and not isinstance(end, bool):
                ends.append(float(end))
    late = [end for end in ends if end > input_seconds + slack]
    if late:
        yield f"Expected: timings within the input's {input_seconds:.2f} s. Received: an end at {max(late):.2f} s"


@relation_rule("audio_translation_file_required", family=FAMILY, severity=Severity.ERROR)
def audio_translation_file_required(exchange: Exchange, what: str) -> Iterator[Violation]:
    """A translation form without a file, or whose file is not audio, is refused with 400 (another 4xx is a warning).

    Source: OpenAI CreateTranslationRequest (file required: "The audio file object ... in one of these formats:
    flac, mp3, mp4, mpeg, mpga, m4a, ogg, wav, or webm"); OpenAI answers 400 "Invalid file format".
    """
    yield from invalid_request_rejected(exchange, what)


# ------------------------------------------------------------------------------- errors, refusals


def _is_error(exchange: Exchange) -> bool:
    return is_audio(exchange) and exchange.error is None and exchange.status is not None and exchange.status >= 400


@exchange_rule("audio_error_body_shape", family=FAMILY, severity=Severity.ERROR, applies=_is_error)
def audio_error_body_shape(exchange: Exchange) -> Iterator[Violation]:
    """A non-2xx audio answer is JSON {"error": {"message": str, "type": str, "param", "code"}}.

    Source: contract-rules.md F E1; OpenAI openapi.yaml ErrorResponse / Error; openai-python raises its typed
    errors from this body. A missing param or code is a warning, as for chat (error_body_shape).
    """
    yield from error_body_shape(exchange)


@relation_rule("audio_auth_required", family=FAMILY, severity=Severity.ERROR)
def audio_auth_required(without_key: Exchange, wrong_key: Exchange) -> Iterator[Violation]:
    """An audio request without a key, or with a wrong key, is refused with 401.

    Source: contract-rules.md F E4; OpenAI error codes guide (401 invalid authentication / incorrect API key);
    AboAI Bearer auth (shared/reference/aboai-api.md section 1). Another 4xx is a warning.
    """
    yield from auth_required(without_key, wrong_key)


@relation_rule("audio_unknown_model_rejected", family=FAMILY, severity=Severity.ERROR)
def audio_unknown_model_rejected(exchange: Exchange, model: str) -> Iterator[Violation]:
    """An audio request naming a model that does not exist is refused with 404 (another 4xx is a warning).

    Source: contract-rules.md F E4; OpenAI error codes guide (404 "The model does not exist").
    """
    yield from unknown_model_rejected(exchange, model)


@relation_rule("audio_invalid_request_rejected", family=FAMILY, severity=Severity.ERROR)
def audio_invalid_request_rejected(exchange: Exchange, what: str) -> Iterator[Violation]:
    """A malformed speech body or translation form is refused with 400 (422 tolerated), never accepted, never a 5xx.

    Source: contract-rules.md F E4; OpenAI openapi.yaml CreateSpeechRequest (model, input, voice required; input at
    most 4096 characters; speed 0.25 to 4.0; response_format one of six) and CreateTranslationRequest
    (response_format one of five, temperature 0 to 1).
    """
    yield from invalid_request_rejected(exchange, what)
