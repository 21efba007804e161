"""Probes of the audio family: requests sent on purpose to test request -> response relations, each judged by a
relation rule in :mod:`llmconform.checks.audio`; every answer is also judged by every exchange rule (media type,
decoding, format, duration, translation shape).

One sentence is spoken in every format (mp3 by default, then opus, aac, flac, wav, pcm), and again at speed 2.0;
the WAV answer is then translated in every response format (on a real server it is real speech, so the
translation has something to say; when there is none, a tone stands in). Then forms without a usable file and
requests that must be refused.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from llmconform.checks.audio import (
    audio_auth_required,
    audio_invalid_request_rejected,
    audio_speech_speed_honoured,
    audio_translation_duration_matches_input,
    audio_translation_file_required,
    audio_unknown_model_rejected,
)
from llmconform.conformance.probe_steps import InvalidRequest, KeyRefused, judge_invalid_requests, probe_bearer_auth
from llmconform.conformance.session import Session
from llmconform.exchange import Exchange
from llmconform.families.audio import (
    FAMILY,
    MAX_SPEECH_INPUT,
    SPEECH_OPERATION,
    SPEECH_PATH,
    TRANSLATION_FORMATS,
    TRANSLATION_OPERATION,
    TRANSLATION_PATH,
    decode_audio,
    speech_request,
    translation_form,
)
from llmconform.mock.media import wav

SENTENCE = "The lighthouse keeper lit the lamp at dusk and watched the fishing boats come home."
VOICE = "alloy"
FAST = 2.0
# The formats spoken besides the default (mp3, asked by leaving response_format out).
FORMATS = ("opus", "aac", "flac", "wav", "pcm")
# A stand-in input when no WAV speech came back: 3 s of tone.
FALLBACK_SECONDS = 3.0

PLANNED: dict[str, int] = {
    "formats": 1 + len(FORMATS),
    "speed": 1,
    "translations": len(TRANSLATION_FORMATS),
    "files": 2,
    "auth": 2,
    "unknown_model": 2,
    "invalid": 8,
}
# Upper bound of the requests run_audio_probes sends, so a run can state its plan up front.
PLANNED_REQUESTS = sum(PLANNED.values())
# schemathesis: top-level request properties bounded for cheap generation (value = maximum).
GENERATION_BOUNDS: dict[str, int] = {}
# schemathesis: at most (positive, negative) examples per operation (see FamilyCheck.examples_cap).
EXAMPLES_CAP = (20, 20)


def _speech(session: Session, body: Any, label: str, **kwargs: Any) -> Exchange:
    return session.send(
        "POST", SPEECH_PATH, operation=SPEECH_OPERATION, family=FAMILY, label=f"audio {label}", json_body=body, **kwargs
    )


def _translate(session: Session, form: tuple[dict[str, Any], bytes, str], label: str, **kwargs: Any) -> Exchange:
    described, body, content_type = form
    return session.send(
        "POST",
        TRANSLATION_PATH,
        operation=TRANSLATION_OPERATION,
        family=FAMILY,
        label=f"audio translation {label}",
        json_body=described,
        raw_body=body,
        headers={"content-type": content_type},
        **kwargs,
    )


def _model(session: Session) -> str:
    """The speech model (``--media-model speech=M``, else the model under test)."""
    return session.model_for("speech")


def _translation_model(session: Session) -> str:
    """The translation model (``--media-model translation=M``, else the model under test)."""
    return session.model_for("translation")


def run_audio_probes(session: Session) -> None:
    """Send the family's probes through session and judge the relations."""
    spoken = probe_formats(session)
    probe_translations(session, spoken)
    probe_files(session)
    probe_auth(session)
    probe_unknown_model(session)
    probe_invalid_requests(session)


def probe_formats(session: Session) -> bytes | None:
    """The sentence in every format (judged by the exchange rules) and at speed 2.0; the WAV answer's bytes."""
    model = _model(session)
    first = _speech(session, speech_request(model, SENTENCE, voice=VOICE), "speech: mp3 (default)")
    if first.status == 401:
        raise KeyRefused("the speech endpoint answered 401 to the configured key")
    answers = {fmt: _speech(session, speech_request(model, SENTENCE, response_format=fmt), f"speech: {fmt}")
               for fmt in FORMATS}  # fmt: skip
    normal = answers["wav"]
    faster = _speech(
        session, speech_request(model, SENTENCE, response_format="wav", speed=FAST), f"speech: speed {FAST}"
    )
    if normal.ok and faster.ok:
        session.judge("audio_speech_speed_honoured", audio_speech_speed_honoured(normal, faster, FAST), faster, normal)
    else:
        why = f"a wav answer got {normal.status or normal.error} / {faster.status or faster.error}"
        session.skip("audio_speech_speed_honoured", why)
    return normal.body if normal.ok and decode_audio(normal.body, "wav").problem is None else None


def probe_translations(session: Session, spoken: bytes | None) -> None:
    """The spoken WAV (or a tone) translated in every response format; timings judged against its length."""
    audio = spoken if spoken is not None else wav(FALLBACK_SECONDS, 16_000)
    seconds = decode_audio(audio, "wav").duration_s
    model = _translation_model(session)
    judged = False
    for response_format in TRANSLATION_FORMATS:
        asked = None if response_format == "json" else response_format
        form = translation_form(model, audio, response_format=asked)
        exchange = _translate(session, form, response_format)
        if exchange.ok and response_format in ("verbose_json", "srt", "vtt"):
            rule = audio_translation_duration_matches_input(exchange, seconds)
            session.judge("audio_translation_duration_matches_input", rule, exchange)
            judged = True
    if not judged:
        session.skip("audio_translation_duration_matches_input", "no verbose_json, srt or vtt translation got 2xx")


def probe_files(session: Session) -> None:
    """A form without a file, and one whose file is text named .wav: both must be refused."""
    model = _translation_model(session)
    cases = [
        ("a form without a file", translation_form(model, None)),
        ("a file that is not audio", translation_form(model, b"These bytes are text, not audio.\n" * 8)),
    ]
    for what, form in cases:
        exchange = _translate(session, form, what)
        session.judge("audio_translation_file_required", audio_translation_file_required(exchange, what), exchange)


def probe_auth(session: Session) -> None:
    body = speech_request(_model(session), SENTENCE)
    probe_bearer_auth(session, partial(_speech, session), body, "audio_auth_required", audio_auth_required)


def probe_unknown_model(session: Session) -> None:
    model = "llmconform-no-such-audio-model-7f3a"
    speech = _speech(session, speech_request(model, SENTENCE), "unknown model")
    session.judge("audio_unknown_model_rejected", audio_unknown_model_rejected(speech, model), speech)
    translation = _translate(session, translation_form(model, wav(1.0, 16_000)), "unknown model")
    session.judge("audio_unknown_model_rejected", audio_unknown_model_rejected(translation, model), translation)


def probe_invalid_requests(session: Session) -> None:
    model = _model(session)
    cases: list[InvalidRequest] = [
        ("a body without 'voice'", {"model": model, "input": SENTENCE}, None),
        (f"an input of {MAX_SPEECH_INPUT + 1} characters", speech_request(model, "a" * (MAX_SPEECH_INPUT + 1)), None),
        ("speed 5.0 (at most 4.0)", speech_request(model, SENTENCE, speed=5.0), None),
        ("response_format 'ogg'", speech_request(model, SENTENCE, response_format="ogg"), None),
        ("a body that is not JSON", None, b'{"model": "x", "input": '),
    ]
    rule = audio_invalid_request_rejected
    judge_invalid_requests(session, partial(_speech, session), cases, "audio_invalid_request_rejected", rule)
    audio, translator = wav(1.0, 16_000), _translation_model(session)
    forms = [
        ("a form without 'model'", translation_form(None, audio)),
        ("response_format 'docx'", translation_form(translator, audio, response_format="docx")),
        ("temperature 2 (at most 1)", translation_form(translator, audio, extra={"temperature": "2"})),
    ]
    for what, form in forms:
        exchange = _translate(session, form, f"invalid request: {what}")
        session.judge("audio_invalid_request_rejected", rule(exchange, what), exchange)


# ---------------------------------------------------------------------- schemathesis pinning


def pin_generated_body(body: dict[str, Any], model: str, positive: bool) -> None:
    """Point a schemathesis-generated speech body at model (in place); a positive one also gets a built-in voice
    and the audio stream format (voices and SSE differ between servers; the contract does not fix them)."""
    value = body.get("model")
    if positive or (isinstance(value, str) and value):
        body["model"] = model
    if positive:
        body["voice"] = VOICE
        if "stream_format" in body:
            body["stream_format"] = "audio"
