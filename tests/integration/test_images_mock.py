"""The mock's images routes and Gemini inline media over real HTTP: the official openai SDK generates and edits
(JSON and multipart), google-genai reads image and speech parts, URLs serve their images without a key, errors
have their family's shape, a first byte comes before the completion, and the images probes and schemathesis
(multipart cases included) find nothing on the clean mock while every images rule fires on its fault."""

from __future__ import annotations

import base64
import io
import time
from collections.abc import Iterator

import httpx
import openai
import pytest
from google import genai
from google.genai import types
from PIL import Image

from llmconform.checks import REGISTRY, Results, exchange_rules
from llmconform.client import TargetClient
from llmconform.conformance.images_probes import MAX_FETCHES, PLANNED_REQUESTS, input_png, run_images_probes
from llmconform.conformance.schemathesis_run import run_schemathesis
from llmconform.conformance.session import Budget, Session
from llmconform.exchange import Exchange
from llmconform.families import build_request, read_answer
from llmconform.families.images import FAMILY, images_view
from llmconform.mock import DEFAULT_API_KEY, DEFAULT_MODELS, FAULT_HEADER, MockConfig, MockServer
from llmconform.mock.faults.images import FAULTS
from llmconform.mock.gemini_media import AUDIO_MIME_TYPE, AUDIO_RATE
from llmconform.mock.media import image_bytes

MODEL = DEFAULT_MODELS[0]
AUTH = {"authorization": f"Bearer {DEFAULT_API_KEY}"}


@pytest.fixture(scope="module")
def server() -> Iterator[MockServer]:
    with MockServer(MockConfig()) as mock:
        yield mock


@pytest.fixture(scope="module")
def client(server: MockServer) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(api_key=DEFAULT_API_KEY, base_url=server.base_url + "/v1", max_retries=0, timeout=10) as sdk:
        yield sdk


def decode(b64: str | None) -> Image.Image:
    assert b64 is not None
    image = Image.open(io.BytesIO(base64.b64decode(b64)))
    image.load()
    return image


# ------------------------------------------------------------------------------ the official SDK


def test_sdk_generates_base64_images_of_the_asked_size_format_and_count(client: openai.OpenAI) -> None:
    result = client.images.generate(model=MODEL, prompt="a lighthouse", n=2, size="256x256", output_format="webp")
    assert result.data is not None and len(result.data) == 2
    assert [(decode(d.b64_json).format, decode(d.b64_json).size) for d in result.data] == [("WEBP", (256, 256))] * 2
    assert (result.size, result.output_format) == ("256x256", "webp")
    assert result.usage is not None
    assert result.usage.total_tokens == result.usage.input_tokens + result.usage.output_tokens
    details = result.usage.input_tokens_details
    assert details.text_tokens + details.image_tokens == result.usage.input_tokens


def test_sdk_url_answer_serves_the_image_without_a_key(client: openai.OpenAI) -> None:
    result = client.images.generate(model=MODEL, prompt="a lighthouse", size="512x512", response_format="url")
    assert result.data is not None and result.data[0].url is not None
    fetched = httpx.get(result.data[0].url, timeout=10)
    assert fetched.status_code == 200 and fetched.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(fetched.content)).size == (512, 512)


def test_sdk_edits_one_image_with_a_mask_and_several_images(client: openai.OpenAI) -> None:
    image, mask = input_png(), input_png(mask=True)
    one = client.images.edit(
        model=MODEL, image=("a.png", image, "image/png"), mask=("m.png", mask, "image/png"), prompt="x"
    )
    assert one.data is not None and decode(one.data[0].b64_json).size == (64, 64)
    assert one.usage is not None and one.usage.input_tokens_details.image_tokens > 0
    several = client.images.edit(
        model=MODEL,
        image=[("a.png", image, "image/png"), ("b.png", image, "image/png")],
        prompt="x",
        n=2,
        size="1024x1536",
    )
    assert several.data is not None and [decode(d.b64_json).size for d in several.data] == [(1024, 1536)] * 2


def test_sdk_sees_refused_inputs_and_unknown_models_as_typed_errors(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as bad:
        client.images.edit(model=MODEL, image=("a.png", b"not an image", "image/png"), prompt="x")
    assert bad.value.param == "image" and "PNG, JPEG or WebP" in bad.value.message
    with pytest.raises(openai.BadRequestError) as mask:
        client.images.edit(
            model=MODEL,
            image=("a.png", input_png(), "image/png"),
            mask=("m.png", input_png(32, mask=True), "image/png"),
            prompt="x",
        )
    assert mask.value.param == "mask"
    with pytest.raises(openai.NotFoundError):
        client.images.generate(model="no-such-model", prompt="x")
    with pytest.raises(openai.BadRequestError) as size:
        client.images.generate(model=MODEL, prompt="x", size="1000x1000")
    assert size.value.param == "size"


def test_json_edit_with_data_urls(server: MockServer) -> None:
    image = "data:image/png;base64," + base64.b64encode(image_bytes(48, 32, "png")).decode()
    body = {
        "model": MODEL,
        "prompt": "x",
        "images": [{"image_url": image}, {"file_id": "file-1"}],
        "output_format": "jpeg",
    }
    answer = httpx.post(f"{server.base_url}/v1/images/edits", json=body, headers=AUTH, timeout=10).json()
    assert decode(answer["data"][0]["b64_json"]).format == "JPEG"
    assert decode(answer["data"][0]["b64_json"]).size == (48, 32)  # size auto: the first input's


# ------------------------------------------------------------------------------- errors, routing


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/v1/images/generations", 405),
        ("POST", "/v1/images/variations", 404),
        ("GET", "/v1/images/content/x", 404),
    ],
)
def test_routing_errors_are_openai_errors(server: MockServer, method: str, path: str, status: int) -> None:
    response = httpx.request(method, server.base_url + path, headers=AUTH, timeout=10)
    assert response.status_code == status and set(response.json()["error"]) >= {"message", "type"}


def test_auth_and_the_error_shape_fault(server: MockServer) -> None:
    missing = httpx.post(f"{server.base_url}/v1/images/generations", json={"prompt": "x"}, timeout=10)
    assert missing.status_code == 401 and missing.json()["error"]["code"] == "invalid_api_key"
    shaped = httpx.post(
        f"{server.base_url}/v1/images/generations",
        json={"prompt": ""},
        headers={**AUTH, FAULT_HEADER: "images_error_body_shape"},
        timeout=10,
    )
    assert shaped.status_code == 400 and isinstance(shaped.json()["error"], str)


def test_first_byte_comes_before_the_completion() -> None:
    with (
        MockServer(MockConfig(ttft_ms=150, itl_ms=100)) as slow,
        TargetClient(slow.base_url, DEFAULT_API_KEY) as target,
    ):
        method, path, operation, body = build_request(
            FAMILY, MODEL, [{"role": "user", "content": "x"}], max_tokens=None, stream=False, n=2
        )
        started = time.perf_counter()
        exchange = target.send(method, path, family=FAMILY, operation=operation, json_body=body)
        assert time.perf_counter() - started < 2.0
    answer = read_answer(exchange)
    assert exchange.ok and answer is not None and answer.first_byte_s is not None
    assert answer.first_byte_s >= 0.15 and exchange.elapsed_s - answer.first_byte_s >= 0.15
    assert len(images_view(exchange).items) == 2


# --------------------------------------------------------------------------------- Gemini media


def test_google_genai_reads_image_and_speech_parts(server: MockServer) -> None:
    sdk = genai.Client(
        api_key=DEFAULT_API_KEY,
        http_options=types.HttpOptions(base_url=server.base_url, api_version="v1beta", timeout=10_000),
    )
    config = types.GenerateContentConfig(
        response_modalities=["Text", "Image"], image_config=types.ImageConfig(aspect_ratio="16:9")
    )
    drawn = sdk.models.generate_content(model=MODEL, contents="Draw a lighthouse", config=config)
    parts = drawn.candidates[0].content.parts if drawn.candidates and drawn.candidates[0].content else None
    assert parts is not None and parts[0].text
    blob = parts[1].inline_data
    assert blob is not None and blob.mime_type == "image/png" and blob.data is not None
    assert Image.open(io.BytesIO(blob.data)).size == (64, 36)
    details = drawn.usage_metadata.candidates_tokens_details if drawn.usage_metadata else None
    assert details is not None and {d.modality.value for d in details if d.modality} == {"TEXT", "IMAGE"}
    voice = types.SpeechConfig(
        voice_config=types.VoiceConfig(prebuilt_voice_config=types.PrebuiltVoiceConfig(voice_name="Kore"))
    )
    spoken = sdk.models.generate_content(
        model=MODEL,
        contents="Say: have a nice day",
        config=types.GenerateContentConfig(response_modalities=["AUDIO"], speech_config=voice),
    )
    audio = (
        spoken.candidates[0].content.parts[0].inline_data
        if spoken.candidates and spoken.candidates[0].content
        else None
    )
    assert audio is not None and audio.mime_type == AUDIO_MIME_TYPE and audio.data is not None
    assert 0.2 <= len(audio.data) / 2 / AUDIO_RATE <= 1.0 and len(audio.data) % 2 == 0


def test_gemini_media_that_do_not_fit_max_output_tokens_are_left_out(server: MockServer) -> None:
    body = {
        "contents": [{"parts": [{"text": "Say hello"}]}],
        "generationConfig": {"responseModalities": ["audio", "IMAGE"], "maxOutputTokens": 16.0},
    }
    url = f"{server.base_url}/v1beta/models/{MODEL}:generateContent"
    answer = httpx.post(url, json=body, headers={"x-goog-api-key": DEFAULT_API_KEY}, timeout=10).json()
    [candidate] = answer["candidates"]
    assert candidate["finishReason"] == "MAX_TOKENS"  # the image (258 tokens) does not fit, the speech does
    assert [p["inlineData"]["mimeType"] for p in candidate["content"]["parts"]] == [AUDIO_MIME_TYPE]
    assert answer["usageMetadata"]["candidatesTokenCount"] <= 16


# ------------------------------------------------------------------------- rules through probes


def probe(faults: frozenset[str] = frozenset()) -> tuple[Results, int]:
    with MockServer(MockConfig(faults=faults)) as mock, TargetClient(mock.base_url, DEFAULT_API_KEY) as target:
        results = Results()
        session = Session(target, results, Budget(PLANNED_REQUESTS), MODEL, exchange_rules())
        run_images_probes(session)
        return results, session.exchanges_sent


def test_clean_mock_is_silent_and_every_rule_is_judged() -> None:
    results, sent = probe()
    assert [(f.rule, f.message) for f in results.findings] == []
    assert sent == PLANNED_REQUESTS - (MAX_FETCHES - 1)  # the url answer has one image: one fetch
    ids = [rule.id for rule in REGISTRY if rule.family == FAMILY]
    assert [rule_id for rule_id in ids if results.count(rule_id).judged == 0] == []


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_rule_fires_on_its_fault(fault: str) -> None:
    results, _ = probe(frozenset({fault}))
    fired = {f.rule for f in results.findings}
    assert fault in fired, f"{fault}: fired {sorted(fired)}"
    assert all(rule.startswith("images_") for rule in fired)


def test_schemathesis_multipart_and_json_cases_pass_on_the_clean_mock(server: MockServer) -> None:
    """Positive and negative cases of both operations, forms included, through the harness's own driver."""
    sent: list[Exchange] = []
    with TargetClient(server.base_url, DEFAULT_API_KEY) as target:
        results = Results()
        session = Session(target, results, Budget(None), MODEL, exchange_rules(), on_sent=sent.append)
        run_schemathesis(session, cases={FAMILY: (12, 8)}, seed=3)
    assert [(f.rule, f.message[:200]) for f in results.findings] == []
    forms = [e for e in sent if e.request_headers.get("content-type", "").startswith("multipart/form-data")]
    assert any(e.status == 200 for e in forms) and any(e.status == 400 for e in forms)
    positive = [e for e in sent if "positive" in e.label]
    assert positive and all(e.status == 200 for e in positive)
