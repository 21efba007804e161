"""Probes of the images family: requests sent on purpose to test request -> response relations, each judged by
a relation rule in :mod:`llmconform.checks.images`; every answer is also judged by every exchange rule (count,
response_format, size, encoding, decoding, echo, usage, shape).

Two generations ask for base64 images (two square PNGs; one landscape JPEG), one asks for URLs and the images
are fetched from them (at most :data:`MAX_FETCHES`, each a request of the budget, sent without the key: an
image URL is the target's to serve, often from another host). One small image is edited in both forms (JSON
with data: URLs, multipart with files), each with a mask; then inputs and requests that must be refused.
Every image asked for is of quality low, the cheapest of GPT image models.
"""

from __future__ import annotations

import io
from functools import partial
from typing import Any

from PIL import Image, ImageDraw

from llmconform.checks.images import (
    images_auth_required,
    images_edit_forms_accepted,
    images_edit_inputs_checked,
    images_invalid_request_rejected,
    images_unknown_model_rejected,
    images_url_fetchable,
)
from llmconform.conformance.probe_steps import InvalidRequest, KeyRefused, judge_invalid_requests, probe_bearer_auth
from llmconform.conformance.session import Session
from llmconform.exchange import Exchange
from llmconform.families.images import (
    EDIT_OPERATION,
    EDITS_PATH,
    FAMILY,
    GENERATE_OPERATION,
    GENERATIONS_PATH,
    IMAGE_URL_OPERATION,
    MAX_IMAGES,
    data_url,
    edit_json_request,
    edit_multipart,
    field_int,
    generation_request,
    images_view,
    parse_size,
)

PROMPT = "A small red lighthouse on a rocky island at dusk, flat colours."
EDIT_PROMPT = "Add a white sailing boat to the left of the lighthouse."
SQUARE = "1024x1024"
# Not square, so an answer with width and height swapped is caught.
LANDSCAPE = "1536x1024"
QUALITY = "low"
# Image URLs fetched per url answer (each one request of the budget).
MAX_FETCHES = 2
# The side of the input images of the edit probes (a mask must be as large as the image).
INPUT_SIDE = 64

# Requests each probe sends at most, so the run can state its plan before it starts.
PLANNED: dict[str, int] = {
    "base64": 2,
    "url": 1 + MAX_FETCHES,
    "edits": 2,
    "edit_inputs": 3,
    "auth": 2,
    "unknown_model": 1,
    "invalid": 6,
}
# Upper bound of the requests run_images_probes sends, so a run can state its plan up front.
PLANNED_REQUESTS = sum(PLANNED.values())
# schemathesis: top-level request properties bounded for cheap generation (value = maximum).
GENERATION_BOUNDS: dict[str, int] = {"n": 2}
# schemathesis: at most this many (positive, negative) cases per operation. Each answer is encoded and decoded
# images, and a live target bills every generated image; the probes judge the relations.
EXAMPLES_CAP = (30, 20)
# The size a generated case asks for instead of a larger valid one (pin_generated_body), and its input images.
GENERATED_SIZE = "256x256"
_GENERATED_SIDE = 16


def input_png(side: int = INPUT_SIDE, *, mask: bool = False) -> bytes:
    """A small PNG to edit (opaque RGB), or its mask: RGBA, opaque except a fully transparent centre (where to
    edit). Drawn by Pillow here so the probes need nothing of the mock."""
    if mask:
        image = Image.new("RGBA", (side, side), (0, 0, 0, 255))
        ImageDraw.Draw(image).rectangle((side // 4, side // 4, 3 * side // 4, 3 * side // 4), fill=(0, 0, 0, 0))
    else:
        image = Image.new("RGB", (side, side), (40, 90, 160))
        ImageDraw.Draw(image).rectangle((side // 3, side // 4, 2 * side // 3, side - 4), fill=(200, 40, 40))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def _send(session: Session, body: Any, label: str, *, edit: bool = False, **kwargs: Any) -> Exchange:
    path, operation = (EDITS_PATH, EDIT_OPERATION) if edit else (GENERATIONS_PATH, GENERATE_OPERATION)
    return session.send(
        "POST", path, operation=operation, family=FAMILY, label=f"images {label}", json_body=body, **kwargs
    )


def _model(session: Session) -> str:
    return session.model_for(FAMILY)


def run_images_probes(session: Session) -> None:
    """Send the family's probes through session and judge the relations."""
    probe_base64(session)
    probe_url(session)
    probe_edit_forms(session)
    probe_edit_inputs(session)
    probe_auth(session)
    probe_unknown_model(session)
    probe_invalid_requests(session)


def probe_base64(session: Session) -> None:
    """Two square PNGs, then one landscape JPEG, as base64 (judged by the exchange rules)."""
    model = _model(session)
    body = generation_request(
        model, PROMPT, n=2, size=SQUARE, quality=QUALITY, output_format="png", response_format="b64_json"
    )
    first = _send(session, body, "n=2 png as b64_json")
    if first.status == 401:
        raise KeyRefused("the images endpoint answered 401 to the configured key")
    body = generation_request(model, PROMPT, size=LANDSCAPE, quality=QUALITY, output_format="jpeg")
    _send(session, body, f"{LANDSCAPE} jpeg")


def probe_url(session: Session) -> None:
    """One image as a URL, then the image fetched from it (no key: the URL alone must be enough)."""
    body = generation_request(_model(session), PROMPT, size=SQUARE, quality=QUALITY, response_format="url")
    answer = _send(session, body, "response_format=url")
    if not answer.ok:
        session.skip("images_url_fetchable", f"the url request got {answer.status or answer.error}")
        return
    urls = [item.url for item in images_view(answer).items if isinstance(item.url, str)]
    fetchable = [url for url in urls if url.startswith(("http://", "https://"))][:MAX_FETCHES]
    if not fetchable:
        session.skip("images_url_fetchable", f"the url answer carried no http(s) URL ({len(urls)} url item(s))")
        return
    fetches = [
        session.send(
            "GET", url, operation=IMAGE_URL_OPERATION, family=FAMILY, label=f"images fetch url #{n}", auth=False
        )
        for n, url in enumerate(fetchable)
    ]
    session.judge("images_url_fetchable", images_url_fetchable(answer, fetches), answer, *fetches)


def _multipart(session: Session, label: str, image: bytes, mask: bytes | None, **params: Any) -> Exchange:
    encoded = edit_multipart(
        _model(session),
        EDIT_PROMPT,
        [("input.png", image, "image/png")],
        mask=("mask.png", mask, "image/png") if mask is not None else None,
        **params,
    )
    return _send(
        session,
        encoded.view,
        label,
        edit=True,
        raw_body=encoded.content,
        headers={"content-type": encoded.content_type},
    )


def probe_edit_forms(session: Session) -> None:
    """The same edit (one image, its mask) as JSON with data: URLs and as multipart/form-data with files."""
    image, mask = input_png(), input_png(mask=True)
    body = edit_json_request(
        _model(session),
        EDIT_PROMPT,
        [data_url(image, "image/png")],
        mask=data_url(mask, "image/png"),
        size=SQUARE,
        quality=QUALITY,
    )
    as_json = _send(session, body, "edit as JSON", edit=True)
    as_form = _multipart(session, "edit as multipart", image, mask, size=SQUARE, quality=QUALITY)
    session.judge("images_edit_forms_accepted", images_edit_forms_accepted(as_json, as_form), as_json, as_form)


def probe_edit_inputs(session: Session) -> None:
    """Inputs an edit must refuse: a file that is not an image, a mask of another size (both multipart), and a
    data: URL whose bytes are not an image (JSON)."""
    image = input_png()
    cases: list[tuple[str, Exchange]] = [
        ("an image file that is not an image", _multipart(session, "edit input: not an image", b"not an image", None)),
        (
            f"a {INPUT_SIDE // 2}px mask for a {INPUT_SIDE}px image",
            _multipart(session, "edit input: mask of another size", image, input_png(INPUT_SIDE // 2, mask=True)),
        ),
    ]
    body = edit_json_request(_model(session), EDIT_PROMPT, [data_url(b"not an image", "image/png")])
    cases.append(
        ("a data: URL whose bytes are not an image", _send(session, body, "edit input: bad data URL", edit=True))
    )
    for what, exchange in cases:
        session.judge("images_edit_inputs_checked", images_edit_inputs_checked(exchange, what), exchange)


def probe_auth(session: Session) -> None:
    body = generation_request(_model(session), PROMPT, size=SQUARE, quality=QUALITY)
    probe_bearer_auth(session, partial(_send, session), body, "images_auth_required", images_auth_required)


def probe_unknown_model(session: Session) -> None:
    model = "llmconform-no-such-image-model-7f3a"
    exchange = _send(session, generation_request(model, PROMPT, size=SQUARE), "unknown model")
    session.judge("images_unknown_model_rejected", images_unknown_model_rejected(exchange, model), exchange)


def probe_invalid_requests(session: Session) -> None:
    model = _model(session)
    cases: list[InvalidRequest] = [
        ("a body without 'prompt'", {"model": model, "size": SQUARE}, None),
        ("n 0", generation_request(model, PROMPT, n=0), None),
        (f"n {MAX_IMAGES + 1} (at most {MAX_IMAGES})", generation_request(model, PROMPT, n=MAX_IMAGES + 1), None),
        ("response_format 'gif'", generation_request(model, PROMPT, response_format="gif"), None),
        ("size 'huge'", generation_request(model, PROMPT, size="huge"), None),
        ("a body that is not JSON", None, b'{"model": "x", "prompt": '),
    ]
    rule = images_invalid_request_rejected
    judge_invalid_requests(session, partial(_send, session), cases, "images_invalid_request_rejected", rule)


# ---------------------------------------------------------------------- schemathesis pinning


def _valid_size(value: Any) -> bool:
    return parse_size(value) is not None


def pin_generated_body(body: dict[str, Any], model: str, positive: bool) -> None:
    """Point a schemathesis-generated body (JSON, or the fields of a multipart form) at model and bound what it
    may cost (in place).

    The model is set when the generated one is a non-empty string (or in positive mode). In both modes only
    valid values are touched (an invalid one may be the point of a negative case): ``n`` above 2 becomes 2, a
    WIDTHxHEIGHT size becomes 256x256. In positive mode the images of an edit become one small PNG each (data:
    URLs in a JSON edit, PNG files in a multipart form: a generated URL names no image and a generated file is
    any bytes), its mask a mask of the same size.
    """
    value = body.get("model")
    if positive or (isinstance(value, str) and value):
        body["model"] = model
    count = field_int(body.get("n"))
    if count is not None and GENERATION_BOUNDS["n"] < count <= MAX_IMAGES:
        body["n"] = GENERATION_BOUNDS["n"]
    if _valid_size(body.get("size")):
        body["size"] = GENERATED_SIZE
    if not positive:
        return
    if isinstance(body.get("images"), list):
        image = data_url(input_png(_GENERATED_SIDE), "image/png")
        body["images"] = [{"image_url": image} for _ in body["images"]] or [{"image_url": image}]
        if body.get("mask") is not None:
            body["mask"] = {"image_url": data_url(input_png(_GENERATED_SIDE, mask=True), "image/png")}
    for name in ("image", "image[]", "mask"):
        files = body.get(name)
        if isinstance(files, tuple) or (isinstance(files, list) and files and isinstance(files[0], tuple)):
            png = input_png(_GENERATED_SIDE, mask=name == "mask")
            replaced = [
                (f"{name.strip('[]')}.png", png, "image/png") for _ in (files if isinstance(files, list) else [files])
            ]
            body[name] = replaced if isinstance(files, list) else replaced[0]
