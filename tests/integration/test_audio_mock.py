"""The mock's /v1/audio routes over real HTTP: the official openai SDK speaks and translates through them, every
speech format decodes to the duration the text takes, translations come in every response format, and errors,
auth and refusals have OpenAI's shape; the audio probes run clean against it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from llmconform.checks import Results, exchange_rules
from llmconform.client import TargetClient
from llmconform.conformance.audio_probes import PLANNED_REQUESTS, run_audio_probes
from llmconform.conformance.session import Budget, Session
from llmconform.families import audio as family
from llmconform.mock import DEFAULT_API_KEY, DEFAULT_MODELS, FAULT_HEADER, MockConfig, MockServer
from llmconform.mock.audio import WORDS_PER_SECOND
from llmconform.mock.media import wav

MODEL = DEFAULT_MODELS[0]
TEXT = "The lighthouse keeper lit the lamp at dusk and watched the boats."  # 12 words
AUTH = {"authorization": f"Bearer {DEFAULT_API_KEY}"}


@pytest.fixture(scope="module")
def server() -> Iterator[MockServer]:
    with MockServer(MockConfig()) as mock:
        yield mock


@pytest.fixture(scope="module")
def client(server: MockServer) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(api_key=DEFAULT_API_KEY, base_url=server.base_url + "/v1", max_retries=0, timeout=10) as sdk:
        yield sdk


def speak(server: MockServer, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(f"{server.base_url}{family.SPEECH_PATH}", json=body, headers={**AUTH, **(headers or {})})


def translate(server: MockServer, form: tuple[dict[str, Any], bytes, str]) -> httpx.Response:
    _, body, content_type = form
    headers = {**AUTH, "content-type": content_type}
    return httpx.post(f"{server.base_url}{family.TRANSLATION_PATH}", content=body, headers=headers)


# ------------------------------------------------------------------------------ the official SDK


def test_sdk_speech_in_mp3_and_wav(client: openai.OpenAI) -> None:
    mp3 = client.audio.speech.create(model=MODEL, voice="alloy", input=TEXT)
    decoded = family.decode_audio(mp3.content, "mp3")
    assert mp3.response.headers["content-type"] == "audio/mpeg" and decoded.is_format("mp3")
    assert decoded.duration_s == pytest.approx(12 / WORDS_PER_SECOND, abs=0.1)
    fast = client.audio.speech.create(model=MODEL, voice="nova", input=TEXT, response_format="wav", speed=2.0)
    assert family.decode_audio(fast.content, "wav").duration_s == pytest.approx(12 / WORDS_PER_SECOND / 2, abs=0.1)


@pytest.mark.filterwarnings("ignore:deprecated:DeprecationWarning")  # the SDK marks translations.create deprecated
def test_sdk_translation_in_each_format(client: openai.OpenAI) -> None:
    audio = ("speech.wav", wav(7.0, 16_000), "audio/wav")
    plain = client.audio.translations.create(model=MODEL, file=audio)
    assert plain.text == "Part 1 of 2 of the translated speech. Part 2 of 2 of the translated speech."
    verbose = client.audio.translations.create(model=MODEL, file=audio, response_format="verbose_json")
    assert verbose.language == "english" and verbose.duration == pytest.approx(7.0)
    assert [(s.start, s.end) for s in verbose.segments or []] == [(0.0, 5.0), (5.0, 7.0)]
    srt = client.audio.translations.create(model=MODEL, file=audio, response_format="srt")
    assert isinstance(srt, str) and [c.end_s for c in family.parse_srt(srt, [])] == [5.0, 7.0]
    text = client.audio.translations.create(model=MODEL, file=audio, response_format="text")
    assert text.strip() == plain.text


def test_sdk_raises_typed_errors(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        client.audio.speech.create(model=MODEL, voice="no-such-voice", input=TEXT)
    assert refused.value.body["param"] == "voice"  # type: ignore[index]
    with pytest.raises(openai.NotFoundError):
        client.audio.speech.create(model="no-such-model", voice="alloy", input=TEXT)


# ----------------------------------------------------------------------------- over plain HTTP


@pytest.mark.parametrize("response_format", family.SPEECH_FORMATS)
def test_every_format_decodes_with_its_media_type(server: MockServer, response_format: str) -> None:
    response = speak(server, family.speech_request(MODEL, TEXT, response_format=response_format, speed=0.5))
    assert response.status_code == 200
    assert response.headers["content-type"] == family.SPEECH_MEDIA_TYPES[response_format][0]
    decoded = family.decode_audio(response.content, response_format)
    assert decoded.problem is None and decoded.is_format(response_format)
    assert decoded.duration_s == pytest.approx(12 / WORDS_PER_SECOND / 0.5, abs=0.1)


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": MODEL, "input": TEXT}, "voice"),
        (family.speech_request(MODEL, "x" * 4097), "input"),
        (family.speech_request(MODEL, TEXT, speed=4.5), "speed"),
        (family.speech_request(MODEL, TEXT, response_format="ogg"), "response_format"),
        ({**family.speech_request(MODEL, TEXT), "stream_format": "sse"}, "stream_format"),
    ],
)
def test_invalid_speech_is_a_400_naming_the_field(server: MockServer, body: dict[str, Any], param: str) -> None:
    response = speak(server, body)
    assert response.status_code == 400 and response.headers["content-type"] == "application/json"
    assert response.json()["error"]["param"] == param


def test_translation_forms_that_must_be_refused(server: MockServer) -> None:
    cases = [
        (family.translation_form(MODEL, None), "file"),
        (family.translation_form(MODEL, b"plain text, not audio"), "file"),
        (family.translation_form(None, wav(1.0, 16_000)), "model"),
        (family.translation_form(MODEL, wav(1.0, 16_000), response_format="docx"), "response_format"),
        (family.translation_form(MODEL, wav(1.0, 16_000), extra={"temperature": "1.5"}), "temperature"),
    ]
    for form, param in cases:
        response = translate(server, form)
        assert response.status_code == 400 and response.json()["error"]["param"] == param, response.text
    as_json = httpx.post(f"{server.base_url}{family.TRANSLATION_PATH}", json={"model": MODEL}, headers=AUTH)
    assert as_json.status_code == 400 and "multipart/form-data" in as_json.json()["error"]["message"]


def test_auth_routes_and_faults(server: MockServer) -> None:
    body = family.speech_request(MODEL, TEXT)
    assert httpx.post(f"{server.base_url}{family.SPEECH_PATH}", json=body).status_code == 401
    assert speak(server, body, {"authorization": "Bearer sk-wrong"}).status_code == 401
    missing = httpx.get(f"{server.base_url}/v1/audio/transcriptionz", headers=AUTH)
    assert missing.status_code == 404 and "POST /v1/audio/speech" in missing.json()["error"]["message"]
    shaped = speak(server, {"model": MODEL}, {FAULT_HEADER: "audio_error_body_shape"})
    assert shaped.status_code == 400 and isinstance(shaped.json()["error"], str)
    typed = speak(server, family.speech_request(MODEL, TEXT, response_format="wav"),
                  {FAULT_HEADER: "audio_speech_content_type_matches_format"})  # fmt: skip
    assert typed.headers["content-type"] == "audio/mpeg"


def test_latency_is_one_round_of_ttft() -> None:
    with MockServer(MockConfig(ttft_ms=150)) as slow:
        started = time.perf_counter()
        response = speak(slow, family.speech_request(MODEL, "Hello there."))
        assert response.status_code == 200 and time.perf_counter() - started >= 0.15


# --------------------------------------------------------------------------------- the probes


def test_the_probes_run_clean_within_their_plan(server: MockServer) -> None:
    results = Results()
    with TargetClient(server.base_url, DEFAULT_API_KEY) as target:
        session = Session(target, results, Budget(None), MODEL, exchange_rules())
        run_audio_probes(session)
    assert [(f.rule, f.message) for f in results.findings] == []
    assert session.exchanges_sent == PLANNED_REQUESTS
