"""Audio rules on hand-made exchanges carrying real media: each holds on a correct answer and fires on a broken
one; the decoders, subtitle parsers, request builders and the schemathesis pinning of the family."""

from __future__ import annotations

import json
from typing import Any, cast

import click
import pytest

from llmconform.checks import REGISTRY, Results, check_exchange
from llmconform.checks import audio as rules
from llmconform.cli import _media_models
from llmconform.conformance.audio_probes import PLANNED_REQUESTS, pin_generated_body
from llmconform.conformance.session import Budget, Session
from llmconform.exchange import Exchange
from llmconform.families import audio as family
from llmconform.families import build_request, read_answer
from llmconform.mock.faults.audio import FAULTS
from llmconform.mock.media import encoded_audio, pcm16, wav

MODEL = "tts-1"
TEXT = "The lighthouse keeper lit the lamp at dusk and watched the boats."  # 12 words
SECONDS = 4.8  # 12 words at 2.5 words a second


def speech(
    body: bytes,
    *,
    response_format: str | None = None,
    speed: float | None = None,
    content_type: str | None = None,
    status: int = 200,
    text: str = TEXT,
) -> Exchange:
    request: dict[str, Any] = {"model": MODEL, "input": text, "voice": "alloy"}
    if response_format is not None:
        request["response_format"] = response_format
    if speed is not None:
        request["speed"] = speed
    asked = response_format or "mp3"
    media = content_type if content_type is not None else family.SPEECH_MEDIA_TYPES[asked][0]
    return Exchange(
        family="audio",
        operation=family.SPEECH_OPERATION,
        method="POST",
        url="http://127.0.0.1/v1/audio/speech",
        request_headers={},
        request_json=request,
        status=status,
        response_headers={"content-type": media},
        body=body,
    )


def audio_bytes(response_format: str, seconds: float = SECONDS) -> bytes:
    if response_format == "pcm":
        return pcm16(seconds, family.PCM_SAMPLE_RATE)
    if response_format == "wav":
        return wav(seconds, 16_000)
    return encoded_audio(response_format, seconds)


def translation(
    body: bytes | dict[str, Any], *, response_format: str | None = None, content_type: str | None = None
) -> Exchange:
    raw = json.dumps(body).encode() if isinstance(body, dict) else body
    described: dict[str, Any] = {"model": "whisper-1", "file": {"filename": "a.wav", "bytes": 10}}
    if response_format is not None:
        described["response_format"] = response_format
    json_formats = (None, "json", "verbose_json")
    media = content_type or ("application/json" if response_format in json_formats else "text/plain; charset=utf-8")
    return Exchange(
        family="audio",
        operation=family.TRANSLATION_OPERATION,
        method="POST",
        url="http://127.0.0.1/v1/audio/translations",
        request_headers={},
        request_json=described,
        status=200,
        response_headers={"content-type": media},
        body=raw,
    )


def fired(ex: Exchange) -> set[str]:
    results = Results()
    check_exchange(ex, results)
    return {f.rule for f in results.findings}


def severities(ex: Exchange, rule: str) -> list[str]:
    results = Results()
    check_exchange(ex, results)
    return [f.severity for f in results.findings if f.rule == rule]


SRT = "1\n00:00:00,000 --> 00:00:02,500\nHello there.\n\n2\n00:00:02,500 --> 00:00:04,000\nGood night.\n"
VTT = "WEBVTT\n\n00:00.000 --> 00:02.500\nHello there.\n\n00:00:02.500 --> 00:00:04.000 align:start\nGood night.\n"
VERBOSE = {
    "task": "translate",
    "language": "english",
    "duration": 4.0,
    "text": "Hello there. Good night.",
    "segments": [
        {"id": 0, "seek": 0, "start": 0.0, "end": 2.5, "text": " Hello there.", "tokens": [1], "temperature": 0.0,
         "avg_logprob": -0.2, "compression_ratio": 1.1, "no_speech_prob": 0.01},
    ],
}  # fmt: skip


# ---------------------------------------------------------------------------- correct answers


@pytest.mark.parametrize("response_format", [None, *family.SPEECH_FORMATS])
def test_speech_in_every_format_is_silent(response_format: str | None) -> None:
    assert fired(speech(audio_bytes(response_format or "mp3"), response_format=response_format)) == set()


def test_speech_at_speed_and_with_an_alias_media_type_is_silent() -> None:
    assert fired(speech(audio_bytes("wav", SECONDS / 2), response_format="wav", speed=2.0)) == set()
    assert fired(speech(audio_bytes("wav"), response_format="wav", content_type="audio/x-wav")) == set()


@pytest.mark.parametrize(
    ("response_format", "body"),
    [
        (None, {"text": "Hello there."}),
        ("json", {"text": ""}),
        ("verbose_json", VERBOSE),
        ("text", b"Hello there.\n"),
        ("srt", SRT.encode()),
        ("vtt", VTT.encode()),
    ],
)
def test_translations_in_every_format_are_silent(response_format: str | None, body: Any) -> None:
    assert fired(translation(body, response_format=response_format)) == set()


def test_errors_of_the_right_shape_are_silent() -> None:
    error = {"error": {"message": "no", "type": "invalid_request_error", "param": "voice", "code": None}}
    bad = speech(json.dumps(error).encode(), status=400, content_type="application/json")
    assert fired(bad) == set()


# ----------------------------------------------------------------------------- broken answers


@pytest.mark.parametrize(
    ("exchange", "rule"),
    [
        (lambda: speech(audio_bytes("wav"), response_format="wav", content_type="audio/mpeg"),
         "audio_speech_content_type_matches_format"),
        (lambda: speech(audio_bytes("mp3")[:64]), "audio_speech_decodes"),
        (lambda: speech(b""), "audio_speech_decodes"),
        (lambda: speech(b"\x01\x02\x03", response_format="pcm"), "audio_speech_decodes"),
        (lambda: speech(b'{"error": "oops"}'), "audio_speech_decodes"),
        (lambda: speech(audio_bytes("mp3"), response_format="wav"), "audio_speech_format_honoured"),
        (lambda: speech(audio_bytes("opus"), response_format="aac"), "audio_speech_format_honoured"),
        (lambda: speech(audio_bytes("wav"), response_format="pcm"), "audio_speech_format_honoured"),
        (lambda: speech(audio_bytes("mp3", 0.4)), "audio_speech_duration_plausible"),
        (lambda: speech(audio_bytes("mp3", 20.0)), "audio_speech_duration_plausible"),
        (lambda: speech(audio_bytes("mp3", 8.0), speed=4.0), "audio_speech_duration_plausible"),
        (lambda: translation({"translation": "x"}), "audio_translation_response_matches_schema"),
        (lambda: translation({"text": "x", "segments": [{"id": 0}]}, response_format="verbose_json"),
         "audio_translation_response_matches_schema"),
        (lambda: translation({"text": "x"}, content_type="text/plain"),
         "audio_translation_content_type_matches_format"),
        (lambda: translation(SRT.encode(), response_format="srt", content_type="application/json"),
         "audio_translation_content_type_matches_format"),
        (lambda: translation({"text": "x"}, response_format="verbose_json"), "audio_translation_format_honoured"),
        (lambda: translation({"text": "x"}, response_format="text"), "audio_translation_format_honoured"),
        (lambda: translation(b"Hello there.", response_format="srt"), "audio_translation_format_honoured"),
        (lambda: translation(SRT.encode(), response_format="vtt"), "audio_translation_format_honoured"),
        (lambda: translation(SRT.replace("-->", "->").encode(), response_format="srt"),
         "audio_translation_format_honoured"),
        (lambda: translation({**VERBOSE, "language": "french"}, response_format="verbose_json"),
         "audio_translation_language_english"),
        (lambda: speech(b'{"error": "bad voice"}', status=400, content_type="application/json"),
         "audio_error_body_shape"),
    ],
)  # fmt: skip
def test_each_rule_fires_on_its_break(exchange: Any, rule: str) -> None:
    assert rule in fired(exchange())


def test_generic_and_subtitle_media_types_are_warnings() -> None:
    generic = speech(audio_bytes("mp3"), content_type="application/octet-stream")
    assert severities(generic, "audio_speech_content_type_matches_format") == ["warning"]
    subtitles = translation(VTT.encode(), response_format="vtt", content_type="text/vtt")
    assert severities(subtitles, "audio_translation_content_type_matches_format") == ["warning"]


def test_rules_judge_only_audio_exchanges() -> None:
    other = speech(b"", response_format="wav")
    other.operation = "POST /v1/somewhere/else"
    assert fired(other) == set()


def test_rules_never_raise_on_hostile_answers() -> None:
    for body in (b"\xff" * 100, b"RIFF" + b"\x00" * 40, b"OggS" + b"\x00" * 60, b"\x00"):
        for response_format in family.SPEECH_FORMATS:
            fired(speech(body, response_format=response_format))
    for response_format in family.TRANSLATION_FORMATS:
        fired(translation(b"\xff\xfe not text", response_format=response_format))
        fired(translation(b"[1, 2]", response_format=response_format))


# --------------------------------------------------------------------------------- relations


def test_speed_relation() -> None:
    normal = speech(audio_bytes("wav"), response_format="wav")
    assert list(rules.audio_speech_speed_honoured(normal, speech(audio_bytes("wav", 2.4), speed=2.0), 2.0)) == []
    ignored = list(rules.audio_speech_speed_honoured(normal, speech(audio_bytes("wav"), speed=2.0), 2.0))
    assert ignored and "1.00x" in ignored[0]


def test_translation_duration_relation() -> None:
    judge = rules.audio_translation_duration_matches_input
    assert list(judge(translation(VERBOSE, response_format="verbose_json"), 4.0)) == []
    assert list(judge(translation(SRT.encode(), response_format="srt"), 4.0)) == []
    doubled = translation({**VERBOSE, "duration": 8.0}, response_format="verbose_json")
    assert len(list(rules.audio_translation_duration_matches_input(doubled, 4.0))) == 1
    late = translation(VTT.encode(), response_format="vtt")
    assert list(rules.audio_translation_duration_matches_input(late, 2.0))  # a cue ends at 4 s


def test_refusal_relations() -> None:
    refused = speech(b"{}", status=400, content_type="application/json")
    accepted = speech(audio_bytes("mp3"))
    assert list(rules.audio_translation_file_required(refused, "no file")) == []
    assert list(rules.audio_translation_file_required(accepted, "no file"))
    assert list(rules.audio_invalid_request_rejected(accepted, "speed 5"))
    unauthorized = speech(b"{}", status=401, content_type="application/json")
    assert list(rules.audio_auth_required(unauthorized, unauthorized)) == []
    assert list(rules.audio_auth_required(accepted, unauthorized))


def test_every_rule_is_prefixed_and_has_a_fault_of_its_name() -> None:
    ids = {rule.id for rule in REGISTRY if rule.family == "audio"}
    assert all(rule_id.startswith("audio_") for rule_id in ids)
    assert ids == set(FAULTS)


# ------------------------------------------------------------------------------ the family


def test_decode_audio_measures_every_format() -> None:
    for response_format in family.SPEECH_FORMATS:
        decoded = family.decode_audio(audio_bytes(response_format, 1.0), response_format)
        assert decoded.problem is None and decoded.is_format(response_format), (response_format, decoded)
        assert decoded.duration_s == pytest.approx(1.0, abs=0.1)
    assert family.decode_audio(b"not audio", "mp3").problem is not None


def test_plausible_speech_seconds() -> None:
    shortest, longest = family.plausible_speech_seconds(TEXT, 1.0)
    assert shortest < SECONDS < longest
    assert family.plausible_speech_seconds(TEXT, 2.0)[1] < longest
    assert family.plausible_speech_seconds("你好世界今天天气很好", 1.0)[1] >= 2.0  # counted in characters


def test_subtitle_parsers() -> None:
    problems: list[str] = []
    assert [c.end_s for c in family.parse_srt(SRT, problems)] == [2.5, 4.0] and problems == []
    assert [c.start_s for c in family.parse_vtt(VTT, problems)] == [0.0, 2.5] and problems == []
    family.parse_vtt("WEBVTT\n\n00:03.000 --> 00:01.000\nbackwards\n", problems)
    assert problems and "ends" in problems[0]


def test_requests_and_the_shared_interface() -> None:
    method, path, operation, body = build_request(
        "audio", MODEL, [{"role": "user", "content": "one two three four"}], max_tokens=2, stream=True, speed=1.5
    )
    assert (method, path, operation) == ("POST", family.SPEECH_PATH, family.SPEECH_OPERATION)
    assert body == {"model": MODEL, "input": "one two", "voice": "alloy", "speed": 1.5}
    described, raw, content_type = family.translation_form(MODEL, b"RIFF....", response_format="srt")
    assert content_type.startswith("multipart/form-data; boundary=")
    assert b'name="response_format"' in raw and b'filename="speech.wav"' in raw
    assert described == {"model": MODEL, "response_format": "srt", "file": {"filename": "speech.wav",
                         "content_type": "audio/wav", "bytes": 8}}  # fmt: skip
    answered = speech(audio_bytes("mp3"))
    answered.ttfb_s = 0.25
    answer = read_answer(answered)
    assert answer is not None and answer.first_byte_s == 0.25 and answer.output_tokens is None


def test_pin_generated_body_and_plan() -> None:
    body: dict[str, Any] = {"model": "x", "input": "hi", "voice": "zz", "stream_format": "sse"}
    pin_generated_body(body, MODEL, positive=True)
    assert body == {"model": MODEL, "input": "hi", "voice": "alloy", "stream_format": "audio"}
    negative: dict[str, Any] = {"model": "", "voice": 3}
    pin_generated_body(negative, MODEL, positive=False)
    assert negative == {"model": "", "voice": 3}
    assert PLANNED_REQUESTS >= 25


def test_media_models_name_the_model_of_each_kind() -> None:
    media = _media_models(("speech=tts-1", "translation = whisper-1"))
    assert media == {"speech": "tts-1", "translation": "whisper-1"}
    session = Session(cast(Any, None), Results(), Budget(None), "chat-model", [], media_models=media)
    assert (session.model_for("audio"), session.model_for("translation")) == ("tts-1", "whisper-1")
    assert session.model_for("video") == session.model_for("chat") == "chat-model"
    for bad in ("tts-1", "voice=x", "speech="):
        with pytest.raises(click.BadParameter, match="KIND=MODEL"):
            _media_models((bad,))
