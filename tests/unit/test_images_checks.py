"""Images rules and Gemini inline-media rules on hand-made exchanges: each holds on a correct answer and fires on a
broken one; the family helpers (multipart encoding, request readers, the load answer), the media generators and
the schemathesis pinning."""

from __future__ import annotations

import base64
import io
import json
import wave
from collections.abc import Callable
from typing import Any

import pytest
from PIL import Image

from llmconform.checks import REGISTRY, Results, check_exchange
from llmconform.checks import images as rules
from llmconform.conformance.images_probes import GENERATED_SIZE, pin_generated_body
from llmconform.exchange import Exchange
from llmconform.families import build_request, read_answer
from llmconform.families import images as family
from llmconform.families.gemini import GENERATE_OPERATION as GEMINI_GENERATE
from llmconform.families.gemini_media import inline_media, parse_mime_type
from llmconform.load.measure import Timing, measure
from llmconform.mock.faults.gemini import FAULTS as GEMINI_FAULTS
from llmconform.mock.faults.images import FAULTS
from llmconform.mock.media import image_bytes, pcm16, wav

MODEL = "img-1"
PCM_TYPE = "audio/L16;codec=pcm;rate=24000"

# ----------------------------------------------------------------------------------- builders


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def png(width: int = 32, height: int = 32, image_format: str = "png") -> bytes:
    return image_bytes(width, height, image_format, seed=b"test")


def usage(text: int = 5, image: int = 0, output: int = 272) -> dict[str, Any]:
    return {
        "input_tokens": text + image,
        "input_tokens_details": {"text_tokens": text, "image_tokens": image},
        "output_tokens": output,
        "output_tokens_details": {"text_tokens": 0, "image_tokens": output},
        "total_tokens": text + image + output,
    }


def answer(*images: bytes, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"created": 1700000000, "data": [{"b64_json": b64(i)} for i in images], "usage": usage()}
    body.update(extra)
    return body


def exchange(
    request: dict[str, Any] | None = None,
    body: Any = None,
    *,
    status: int = 200,
    content_type: str = "application/json",
    operation: str = family.GENERATE_OPERATION,
    raw: bytes | None = None,
) -> Exchange:
    return Exchange(
        family="images",
        operation=operation,
        method="POST",
        url="http://127.0.0.1/v1/images/generations",
        request_headers={},
        request_json={"model": MODEL, "prompt": "a lighthouse", **(request or {})},
        status=status,
        response_headers={"content-type": content_type},
        body=raw if raw is not None else json.dumps(body).encode(),
    )


def fetch(data: bytes, *, status: int = 200, content_type: str = "image/png") -> Exchange:
    return Exchange(
        family="images",
        operation=family.IMAGE_URL_OPERATION,
        method="GET",
        url="http://127.0.0.1/v1/images/content/x.png",
        request_headers={},
        status=status,
        response_headers={"content-type": content_type},
        body=data,
    )


def findings(ex: Exchange) -> dict[str, list[str]]:
    results = Results()
    check_exchange(ex, results)
    found: dict[str, list[str]] = {}
    for f in results.findings:
        found.setdefault(f.rule, []).append(f.message)
    return found


def fired(ex: Exchange) -> set[str]:
    return set(findings(ex))


def severities(ex: Exchange, rule: str) -> list[str]:
    results = Results()
    check_exchange(ex, results)
    return [f.severity.value for f in results.findings if f.rule == rule]


# ----------------------------------------------------------------------------- correct answers


@pytest.mark.parametrize(
    ("request_fields", "body"),
    [
        ({}, answer(png(1024, 1024))),
        ({"n": 2, "size": "32x32", "output_format": "png"}, answer(png(), png(), size="32x32", output_format="png")),
        ({"size": "48x32", "output_format": "jpeg"}, answer(png(48, 32, "jpeg"), size="48x32", output_format="jpeg")),
        ({"output_format": "webp", "response_format": "b64_json"}, answer(png(16, 16, "webp"))),
        ({"response_format": "url"}, {"created": 1, "data": [{"url": "https://cdn.example/a.png"}], "usage": usage()}),
        ({"quality": "low", "n": "2"}, answer(png(), png(), quality="low")),
        ({}, {"created": 1, "data": [{"b64_json": b64(png())}]} | {"vendor": {"x": 1}, "usage": usage(3, 765, 1056)}),
    ],
    ids=["default", "n2-size", "jpeg", "webp", "url", "form-n-text", "vendor-field"],
)
def test_a_correct_answer_is_silent(request_fields: dict[str, Any], body: dict[str, Any]) -> None:
    assert findings(exchange(request_fields, body)) == {}


def test_an_edit_answer_and_an_error_of_the_right_shape_are_silent() -> None:
    edit = exchange({"image": "<file a.png: 100 bytes image/png>"}, answer(png()), operation=family.EDIT_OPERATION)
    assert findings(edit) == {}
    error = {"error": {"message": "no", "type": "invalid_request_error", "param": "prompt", "code": None}}
    assert findings(exchange({}, error, status=400)) == {}


# ----------------------------------------------------------------------------- broken answers

Mutation = Callable[[dict[str, Any]], Any]
BROKEN: list[tuple[str, dict[str, Any], Mutation]] = [
    ("images_response_matches_schema", {}, lambda b: b.update(created="1700000000")),
    ("images_response_matches_schema", {}, lambda b: b["data"][0].pop("b64_json")),
    ("images_data_count", {"n": 2}, lambda b: None),
    ("images_data_count", {}, lambda b: b["data"].append({"b64_json": b64(png())})),
    ("images_response_format_honoured", {"response_format": "url"}, lambda b: None),
    ("images_response_format_honoured", {"response_format": "b64_json"}, lambda b: b.update(data=[{"url": "x"}])),
    ("images_b64_decodes", {}, lambda b: b["data"][0].update(b64_json=b64(png()[16:]))),
    ("images_b64_decodes", {}, lambda b: b["data"][0].update(b64_json="not base64!")),
    ("images_b64_decodes", {}, lambda b: b["data"][0].update(b64_json=b64(png()[:-40]))),
    ("images_output_format_honoured", {"output_format": "jpeg"}, lambda b: None),
    ("images_size_honoured", {"size": "64x32"}, lambda b: None),
    ("images_echo_matches_request", {"size": "32x32"}, lambda b: b.update(size="64x64")),
    ("images_echo_matches_request", {}, lambda b: b.update(output_format="webp")),
    ("images_echo_matches_request", {"quality": "high"}, lambda b: b.update(quality="low")),
    ("images_usage_present", {}, lambda b: b.pop("usage")),
    ("images_usage_total_is_sum", {}, lambda b: b["usage"].update(total_tokens=1)),
    ("images_usage_details_sum", {}, lambda b: b["usage"]["input_tokens_details"].update(text_tokens=99)),
    ("images_usage_details_sum", {}, lambda b: b["usage"]["output_tokens_details"].update(text_tokens=3)),
]


@pytest.mark.parametrize(
    ("rule", "request_fields", "mutate"), BROKEN, ids=[f"{r}-{i}" for i, (r, _, _) in enumerate(BROKEN)]
)
def test_each_rule_fires_on_its_break(rule: str, request_fields: dict[str, Any], mutate: Mutation) -> None:
    body = answer(png())
    mutate(body)
    assert rule in fired(exchange(request_fields, body))


def test_a_default_encoding_other_than_png_is_only_a_warning() -> None:
    body = answer(png(image_format="jpeg"))
    assert severities(exchange({}, body), "images_output_format_honoured") == ["warning"]
    body["output_format"] = "jpeg"  # the answer says what it sent: no finding at all
    assert findings(exchange({}, body)) == {}


def test_content_type_and_error_shape_and_a_body_that_is_not_json() -> None:
    assert fired(exchange({}, answer(png()), content_type="text/plain")) == {"images_content_type_declared"}
    assert fired(exchange({}, {"error": "no"}, status=400)) == {"images_error_body_shape"}
    assert fired(exchange({}, raw=b"<html>oops</html>")) == {"images_response_matches_schema"}


def test_the_usage_rule_is_a_warning() -> None:
    assert REGISTRY.get("images_usage_present").severity == "warning"


# ---------------------------------------------------------------------------------- relations


def test_url_fetchable() -> None:
    asked = exchange({"response_format": "url", "size": "32x32", "output_format": "png"}, {})
    assert list(rules.images_url_fetchable(asked, [fetch(png())])) == []
    assert "Content-Type image/png" in next(iter(rules.images_url_fetchable(asked, [fetch(png(), content_type="x/y")])))
    assert "200" in next(iter(rules.images_url_fetchable(asked, [fetch(b"", status=404)])))
    assert "64x32" in next(iter(rules.images_url_fetchable(asked, [fetch(png(64, 32))])))
    assert "bytes that" in next(iter(rules.images_url_fetchable(asked, [fetch(b"<html></html>")])))


def test_edit_forms_inputs_and_e4() -> None:
    ok, refused = exchange({}, answer(png())), exchange({}, {"error": {"message": "x", "type": "t"}}, status=400)
    assert list(rules.images_edit_forms_accepted(ok, ok)) == []
    assert len(list(rules.images_edit_forms_accepted(ok, refused))) == 1
    assert list(rules.images_edit_inputs_checked(refused, "not an image")) == []
    assert list(rules.images_edit_inputs_checked(ok, "not an image"))
    assert list(rules.images_invalid_request_rejected(ok, "n 0"))


def test_every_images_fault_names_an_images_rule() -> None:
    assert set(FAULTS) == {rule.id for rule in REGISTRY if rule.family == "images"}


# ------------------------------------------------------------------------------- family helpers


def test_multipart_edit_is_what_the_sdk_sends_and_its_view_reads_like_json() -> None:
    one = family.edit_multipart(MODEL, "add a boat", [("a.png", png(), "image/png")], n=2, size="32x32")
    assert one.content_type.startswith("multipart/form-data; boundary=")
    assert b'name="image"; filename="a.png"' in one.content and b'name="n"\r\n\r\n2' in one.content
    assert one.view["n"] == 2 and one.view["image"].startswith("<file a.png:")
    several = family.edit_multipart(MODEL, "x", [("a.png", png(), "image/png")] * 2, mask=("m.png", png(), "image/png"))
    assert several.content.count(b'name="image[]"') == 2 and b'name="mask"' in several.content
    assert len(several.view["image[]"]) == 2


@pytest.mark.parametrize(
    ("value", "expected"), [(2, 2), (2.0, 2), ("3", 3), (" 4 ", 4), ("x", None), ("³", None), (True, None)]
)
def test_field_int_reads_json_and_form_numbers(value: Any, expected: int | None) -> None:
    assert family.field_int(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"), [("1024x1536", (1024, 1536)), ("auto", None), (None, None), ("0x5", None), ("12345x1", None)]
)
def test_parse_size(value: Any, expected: tuple[int, int] | None) -> None:
    assert family.parse_size(value) == expected


def test_build_request_asks_for_one_cheap_image_and_read_answer_times_the_first_byte() -> None:
    method, path, operation, body = build_request(
        "images", MODEL, [{"role": "user", "content": "a lighthouse"}], max_tokens=8, stream=False, temperature=1
    )
    assert (method, path, operation) == ("POST", family.GENERATIONS_PATH, family.GENERATE_OPERATION)
    assert body == {
        "model": MODEL,
        "prompt": "a lighthouse",
        "n": 1,
        "size": "1024x1024",
        "quality": "low",
        "response_format": "b64_json",
    }
    ex = exchange({}, answer(png()))
    ex.ttfb_s, ex.elapsed_s = 0.25, 0.75
    got = read_answer(ex)
    assert got is not None and got.first_byte_s == 0.25 and got.input_tokens == 5 and got.output_tokens is None
    record = measure(
        ex,
        operation="images",
        timing=Timing(intended=0.0, sent=0.1),
        wall_offset=0.0,
        error_rules=[],
        warning_rules=[],
        tokenizer=len,
    )
    assert record.ttft_ms == pytest.approx(350.0) and record.e2e_ms == pytest.approx(850.0)
    assert record.itl_ms == [] and record.tpot_ms is None


def test_media_generators_make_real_files() -> None:
    for image_format, pil in (("png", "PNG"), ("jpeg", "JPEG"), ("webp", "WEBP")):
        with Image.open(io.BytesIO(png(40, 24, image_format))) as image:
            assert (image.format, image.size) == (pil, (40, 24))
    assert len(pcm16(0.5, 8000)) == 8000
    with wave.open(io.BytesIO(wav(0.25, 16000)), "rb") as reader:
        assert (reader.getnchannels(), reader.getsampwidth(), reader.getframerate(), reader.getnframes()) == (
            1,
            2,
            16000,
            4000,
        )
    with pytest.raises(ValueError, match="image_format"):
        image_bytes(8, 8, "bmp")


# --------------------------------------------------------------------------- schemathesis pinning


def test_pin_bounds_positive_cases_and_makes_their_images_real() -> None:
    body: dict[str, Any] = {
        "model": "random",
        "n": 9,
        "size": "1x1",
        "images": [{"file_id": "f"}, {"image_url": "http://x"}],
        "mask": {"file_id": "m"},
    }
    pin_generated_body(body, MODEL, positive=True)
    assert body["model"] == MODEL and body["n"] == 2 and body["size"] == GENERATED_SIZE
    assert all(i["image_url"].startswith("data:image/png;base64,") for i in body["images"])
    form: dict[str, Any] = {"n": "7", "image": ("image", b"junk", "image/png"), "mask": ("mask", b"", "image/png")}
    pin_generated_body(form, MODEL, positive=True)
    assert form["n"] == 2 and form["image"][1].startswith(b"\x89PNG") and form["mask"][1].startswith(b"\x89PNG")


def test_pin_leaves_what_a_negative_case_may_be_about() -> None:
    body: dict[str, Any] = {"model": "", "n": 11, "size": "12345x1", "images": [{"file_id": ""}]}
    pin_generated_body(body, MODEL, positive=False)
    assert body == {"model": "", "n": 11, "size": "12345x1", "images": [{"file_id": ""}]}


# ------------------------------------------------------------------------------- Gemini media


def gemini(
    parts: list[dict[str, Any]],
    *,
    modalities: list[str] | None = None,
    finish: str = "STOP",
    details: list[dict[str, Any]] | None = None,
    candidates_tokens: int = 258,
    **config: Any,
) -> Exchange:
    generation: dict[str, Any] = dict(config)
    if modalities is not None:
        generation["responseModalities"] = modalities
    usage_metadata = {
        "promptTokenCount": 4,
        "candidatesTokenCount": candidates_tokens,
        "totalTokenCount": 4 + candidates_tokens,
        "candidatesTokensDetails": details
        if details is not None
        else [{"modality": "IMAGE", "tokenCount": candidates_tokens}],
    }
    body = {
        "candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": finish, "index": 0}],
        "usageMetadata": usage_metadata,
    }
    return Exchange(
        family="gemini",
        operation=GEMINI_GENERATE,
        method="POST",
        url="http://127.0.0.1/v1beta/models/m:generateContent",
        request_headers={},
        request_json={"contents": [{"parts": [{"text": "draw"}]}], "generationConfig": generation},
        status=200,
        response_headers={"content-type": "application/json"},
        body=json.dumps(body).encode(),
    )


def blob(mime: str, data: bytes) -> dict[str, Any]:
    return {"inlineData": {"mimeType": mime, "data": b64(data)}}


AUDIO_DETAILS = [{"modality": "AUDIO", "tokenCount": 16}]


@pytest.mark.parametrize(
    "ex",
    [
        gemini([blob("image/png", png(64, 36))], modalities=["IMAGE"], imageConfig={"aspectRatio": "16:9"}),
        gemini(
            [{"text": "Here"}, blob("image/png", png())],
            modalities=["Text", "Image"],
            details=[{"modality": "TEXT", "tokenCount": 1}, {"modality": "IMAGE", "tokenCount": 257}],
        ),
        gemini([blob(PCM_TYPE, pcm16(0.5, 24000))], modalities=["AUDIO"], details=AUDIO_DETAILS, candidates_tokens=16),
        gemini([blob("audio/wav", wav(0.5, 16000))], modalities=["AUDIO"], details=AUDIO_DETAILS, candidates_tokens=16),
        gemini([{"text": "Only text"}], modalities=["TEXT", "IMAGE"], details=[], candidates_tokens=0),
        gemini([{"functionCall": {"name": "f", "args": {}}}], modalities=["IMAGE"], details=[], candidates_tokens=0),
    ],
    ids=["image-16:9", "text-and-image", "pcm", "wav", "image-not-drawn", "function-call-turn"],
)
def test_gemini_media_correct_answers_are_silent(ex: Exchange) -> None:
    found = findings(ex)
    # TEXT+IMAGE answered with text only: a warning from the modalities rule, nothing else
    allowed = {"gemini_response_modalities_honoured"} if "Only text" in ex.body.decode() else set()
    assert set(found) <= allowed


GEMINI_BROKEN: list[tuple[str, Exchange]] = [
    ("gemini_inline_data_mime_type", gemini([blob("image/jpeg", png())], modalities=["IMAGE"])),
    ("gemini_inline_data_mime_type", gemini([blob("audio/L16;rate=24000", png())], modalities=["IMAGE"])),
    ("gemini_inline_data_mime_type", gemini([blob("audio/L16;codec=pcm", pcm16(0.1, 24000))], modalities=["AUDIO"])),
    ("gemini_inline_data_mime_type", gemini([blob(PCM_TYPE, wav(0.1, 24000))], modalities=["AUDIO"])),
    ("gemini_inline_data_mime_type", gemini([blob("png", png())], modalities=["IMAGE"])),
    ("gemini_inline_data_decodes", gemini([blob("image/png", png()[16:])], modalities=["IMAGE"])),
    ("gemini_inline_data_decodes", gemini([{"inlineData": {"mimeType": "image/png", "data": "%%"}}])),
    ("gemini_inline_data_decodes", gemini([blob(PCM_TYPE, b"\x00\x01\x02")], modalities=["AUDIO"])),
    ("gemini_inline_data_decodes", gemini([blob("audio/wav", b"RIFF0000WAVEjunk")], modalities=["AUDIO"])),
    ("gemini_response_modalities_honoured", gemini([{"text": "no picture"}], modalities=["IMAGE"])),
    ("gemini_response_modalities_honoured", gemini([{"text": "x"}, blob("image/png", png())], modalities=["IMAGE"])),
    ("gemini_response_modalities_honoured", gemini([{"text": "no sound"}], modalities=["AUDIO"])),
    (
        "gemini_image_config_honoured",
        gemini([blob("image/png", png(64, 64))], modalities=["IMAGE"], imageConfig={"aspectRatio": "16:9"}),
    ),
    ("gemini_usage_modality_details", gemini([blob("image/png", png())], modalities=["IMAGE"], details=[])),
    (
        "gemini_usage_modality_details",
        gemini([blob("image/png", png())], modalities=["IMAGE"], details=[{"modality": "IMAGE", "tokenCount": 1}]),
    ),
]


@pytest.mark.parametrize(("rule", "ex"), GEMINI_BROKEN, ids=[f"{r}-{i}" for i, (r, _) in enumerate(GEMINI_BROKEN)])
def test_each_gemini_media_rule_fires_on_its_break(rule: str, ex: Exchange) -> None:
    assert rule in fired(ex)


def test_modalities_severity_image_with_text_is_a_warning_audio_is_an_error() -> None:
    text_and_image = gemini([{"text": "x"}], modalities=["TEXT", "IMAGE"], details=[], candidates_tokens=0)
    assert severities(text_and_image, "gemini_response_modalities_honoured") == ["warning"]
    no_sound = gemini([{"text": "x"}], modalities=["AUDIO"])  # no audio, and text that was not asked for
    assert severities(no_sound, "gemini_response_modalities_honoured") == ["error", "error"]
    truncated = gemini([], modalities=["IMAGE"], finish="MAX_TOKENS", details=[], candidates_tokens=0)
    assert "gemini_response_modalities_honoured" not in fired(truncated)


def test_inline_media_reads_each_part_once_and_parse_mime_type() -> None:
    ex = gemini([blob("image/png", png(20, 10)), blob(PCM_TYPE, pcm16(0.5, 24000))], modalities=["IMAGE", "AUDIO"])
    items = inline_media(ex).items
    assert [i.image.width if i.image else None for i in items] == [20, None]
    assert items[1].audio is not None and items[1].audio.seconds == pytest.approx(0.5)
    assert inline_media(ex) is inline_media(ex)
    assert parse_mime_type("audio/L16; codec=pcm; rate=24000") == ("audio/l16", {"codec": "pcm", "rate": "24000"})
    assert parse_mime_type("png") is None and parse_mime_type(None) is None


def test_every_gemini_media_rule_has_a_fault() -> None:
    media_rules = {r.id for r in REGISTRY if r.id.startswith(("gemini_inline", "gemini_response_mod", "gemini_image"))}
    assert media_rules | {"gemini_usage_modality_details"} <= set(GEMINI_FAULTS)
