"""The mock's images endpoints: ``POST /v1/images/generations``, ``POST /v1/images/edits`` (JSON or
multipart/form-data) and ``GET /v1/images/content/{name}``, where the images of ``url`` answers live.

A request goes through, in order: faults in force, auth (401), body size (413), the body (400: JSON that
the contract's schema accepts, or for an edit a multipart form whose fields it accepts; numbers of a form
are read from their text), the model (404; a request without one gets the first configured model), what a
schema cannot say (400: a size the mock does not draw, an input that is not a PNG, JPEG or WebP image, a
mask that is not a PNG as large as the first image, more than 16 input images), then the answer.

Answers: ``n`` real images (Pillow, :mod:`llmconform.mock.media`) of the asked size (``auto``: 1024x1024,
or an edit's first input size when the mock could read it) in the asked ``output_format`` (png by
default), inline as ``b64_json`` (the default, as GPT image models answer) or as ``url`` when
``response_format: url`` asks; the URL names the image's parameters, so ``GET`` draws it again (nothing
is stored). The colours come from the prompt (one of 16 palettes, so a load run's images are drawn once
and then come from the media cache). The answer echoes ``size``, ``quality``, ``output_format`` and
``background`` and carries GPT image usage: input text tokens (``tokenizer.count_tokens`` of the prompt),
input image tokens (85 + 170 per 512x512 tile of each input image read, 765 for one that was only
referenced), and output tokens per image from OpenAI's table for 1024x1024 (low 272, medium 1056 (also
auto), high 4160) scaled by the pixel count.

Timing: the status and headers go out once ``ttft_ms`` has passed (the answer's first byte), then the body in
one piece per image, ``itl_ms`` apart, so load sees a first byte before the completion.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import logging
import math
import re
import time
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from llmconform.families.images import (
    DEFAULT_OUTPUT_FORMAT,
    EDITS_PATH,
    GENERATIONS_PATH,
    ImageFacts,
    decode_image,
    field_int,
    parse_size,
)
from llmconform.mock import openai_steps
from llmconform.mock.common import MockContext, RequestGuard, new_request_id, paced
from llmconform.mock.errors import ApiError
from llmconform.mock.media import IMAGE_MEDIA_TYPES, image_bytes
from llmconform.mock.tokenizer import count_tokens
from llmconform.mock.validation import BodyValidator

__all__ = [
    "CONTENT_PATH",
    "PATH_PREFIXES",
    "Drawing",
    "ImagesEndpoints",
    "error_response",
    "input_image_tokens",
    "output_tokens_per_image",
    "routes",
    "routing_error",
]

logger = logging.getLogger(__name__)

# Paths this family serves: routing errors (404, 405) under them get this family's error shape.
PATH_PREFIXES: tuple[str, ...] = ("/v1/images",)
# Where the images of url answers are served (GET; no key, as a signed URL needs none).
CONTENT_PATH = "/v1/images/content"
DOCUMENT = "images"
GENERATE_SCHEMA = "CreateImageRequest"
EDIT_JSON_SCHEMA = "CreateImageEditJsonRequest"
EDIT_FORM_SCHEMA = "CreateImageEditRequest"
# The most input images of one edit (GPT image models: up to 16).
MAX_INPUT_IMAGES = 16
# Sizes the mock draws: the standard ones, or WIDTHxHEIGHT with sides multiples of 16 in 16..3840, aspect at most
# 3:1 and at most 3840x2160 pixels (what gpt-image-2 takes).
STANDARD_SIZES = frozenset({"1024x1024", "1536x1024", "1024x1536", "256x256", "512x512", "1792x1024", "1024x1792"})
_MAX_SIDE = 3840
_MAX_PIXELS = 3840 * 2160
_AUTO_SIZE = (1024, 1024)
# Output tokens of one 1024x1024 image per quality (OpenAI image generation guide, cost and latency table).
_TOKENS_1024 = {"low": 272, "medium": 1056, "high": 4160}
_QUALITY_TIER = {"auto": "medium", "standard": "medium", "hd": "high", "xhigh": "high", "max": "high"}
_UNREAD_IMAGE_TOKENS = 765
_PALETTES = 16
_JSON = "application/json"
_NAME = re.compile(r"^([0-9a-f]{2})-([0-9]{1,4})x([0-9]{1,4})-q([0-9]{1,3})\.(png|jpeg|webp)$")
_FORM_INTEGERS = ("n", "output_compression", "partial_images")


def routes(context: MockContext) -> list[BaseRoute]:
    """The family's routes, bound to the mock's context."""
    endpoints = ImagesEndpoints(context)
    return [
        Route(GENERATIONS_PATH, endpoints.generate, methods=["POST"]),
        Route(EDITS_PATH, endpoints.edit, methods=["POST"]),
        Route(CONTENT_PATH + "/{name}", endpoints.content, methods=["GET"]),
    ]


def routing_error(
    status: int, where: str, headers: Mapping[str, str], faults: frozenset[str], request_id: str
) -> Response:
    """A routing error (unknown path 404, wrong method 405) under this family's paths, in its error shape."""
    allow = headers.get("Allow") or headers.get("allow")
    if status == 405 and allow:
        error = ApiError(
            405, f"Method not allowed: {where}; use {allow}.", code="method_not_allowed", headers={"Allow": allow}
        )
    else:
        error = ApiError(
            status,
            f"Cannot route {where}; the images routes are POST {GENERATIONS_PATH} and POST {EDITS_PATH}.",
        )
    return error_response(error, faults, request_id)


def error_response(error: ApiError, faults: frozenset[str], request_id: str) -> Response:
    """``error`` as an OpenAI error body (a bare string under the ``images_error_body_shape`` fault)."""
    body = orjson.dumps({"error": error.message}) if "images_error_body_shape" in faults else error.body(frozenset())
    headers = {**error.headers, "x-request-id": request_id}
    return Response(body, status_code=error.status, headers=headers, media_type=_JSON)


# ------------------------------------------------------------------------------------ drawing


@dataclass(frozen=True, slots=True)
class Drawing:
    """What every image of one answer looks like: palette, size, encoding and compression."""

    palette: int
    width: int
    height: int
    image_format: str
    quality: int

    @property
    def name(self) -> str:
        """The content route's name for this image (it says everything needed to draw it again)."""
        return f"{self.palette:02x}-{self.width}x{self.height}-q{self.quality}.{self.image_format}"

    def encode(self) -> bytes:
        return image_bytes(self.width, self.height, self.image_format, seed=bytes([self.palette]), quality=self.quality)

    @classmethod
    def from_name(cls, name: str) -> Drawing | None:
        match = _NAME.match(name)
        if match is None:
            return None
        drawing = cls(int(match[1], 16), int(match[2]), int(match[3]), match[5], int(match[4]))
        return drawing if _drawable(drawing.width, drawing.height) and 1 <= drawing.quality <= 100 else None


def _drawable(width: int, height: int) -> bool:
    return 1 <= width <= _MAX_SIDE and 1 <= height <= _MAX_SIDE and width * height <= _MAX_PIXELS


def _size_error(value: Any) -> ApiError | None:
    """The 400 for a size the mock does not draw (the schema already holds the form WIDTHxHEIGHT)."""
    if value is None or value == "auto" or value in STANDARD_SIZES:
        return None
    size = parse_size(value)
    if size is not None:
        width, height = size
        multiples = width % 16 == 0 and height % 16 == 0
        aspect = min(width, height) >= 16 and max(width, height) <= 3 * min(width, height)
        if multiples and aspect and _drawable(width, height):
            return None
    return ApiError(
        400,
        f"Invalid value for 'size': {value!r}. Use auto, a standard size ({', '.join(sorted(STANDARD_SIZES))}) or "
        "WIDTHxHEIGHT with both sides multiples of 16, an aspect ratio between 1:3 and 3:1 and at most 3840x2160 "
        "pixels.",
        param="size",
        code="invalid_value",
    )


def output_tokens_per_image(quality: str, width: int, height: int) -> int:
    """Output tokens of one image: OpenAI's 1024x1024 count for the quality, scaled by the pixel count."""
    tier = _QUALITY_TIER.get(quality, quality if quality in _TOKENS_1024 else "medium")
    return max(1, round(_TOKENS_1024[tier] * width * height / (1024 * 1024)))


def input_image_tokens(facts: ImageFacts | None) -> int:
    """Input tokens of one image: 85 + 170 per 512x512 tile (765 for an image the mock could not read)."""
    if facts is None:
        return _UNREAD_IMAGE_TOKENS
    return 85 + 170 * math.ceil(facts.width / 512) * math.ceil(facts.height / 512)


# ------------------------------------------------------------------------------------ inputs


@dataclass(slots=True)
class EditInputs:
    """An edit's input images as the mock read them (None where only referenced) and the mask."""

    images: list[ImageFacts | None] = field(default_factory=list)
    mask: ImageFacts | None = None
    has_mask: bool = False


def _image_error(what: str, param: str, problem: str) -> ApiError:
    return ApiError(
        400,
        f"Invalid input image: {what} {problem}. Send a PNG, JPEG or WebP file (the mask: a PNG).",
        param=param,
        code="invalid_image",
    )


def _read_input(data: bytes, what: str, param: str) -> ImageFacts | ApiError:
    facts, problem = decode_image(data)
    if facts is None:
        return _image_error(what, param, f"has bytes that {problem}")
    if facts.format not in ("png", "jpeg", "webp"):
        return _image_error(what, param, f"is {facts.format}, not PNG, JPEG or WebP")
    return facts


def _read_reference(reference: Any, what: str, param: str) -> ImageFacts | ApiError | None:
    """A JSON edit's image reference: a data: URL is decoded; a URL or a file id is taken as it is (the mock
    fetches nothing and has no files)."""
    url = reference.get("image_url") if isinstance(reference, dict) else None
    if not isinstance(url, str) or not url.startswith("data:"):
        return None
    header, comma, payload = url.partition(",")
    if not comma or not header.endswith(";base64"):
        return _image_error(what, param, "is a data: URL without ';base64,'")
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        return _image_error(what, param, "is a data: URL whose payload is not base64")
    return _read_input(data, what, param)


def _check_mask(inputs: EditInputs) -> ApiError | None:
    mask, first = inputs.mask, inputs.images[0] if inputs.images else None
    if mask is None:
        return None
    if mask.format != "png":
        return _image_error("the mask", "mask", f"is {mask.format}, not a PNG")
    if first is not None and (mask.width, mask.height) != (first.width, first.height):
        return ApiError(
            400,
            f"Invalid mask: it is {mask.width}x{mask.height} but the image is {first.width}x{first.height}. "
            "Send a mask of the same size as the (first) image.",
            param="mask",
            code="invalid_image",
        )
    return None


async def _bytes_stream(raw: bytes) -> AsyncGenerator[bytes, None]:
    yield raw


# ------------------------------------------------------------------------------------ endpoints


class ImagesEndpoints:
    """The images handlers, bound to one context and the contract's request validators."""

    def __init__(self, context: MockContext) -> None:
        from llmconform.spec import component_schema, validator_for

        self._validators = {
            name: BodyValidator(validator_for(name, DOCUMENT), component_schema(name, DOCUMENT))
            for name in (GENERATE_SCHEMA, EDIT_JSON_SCHEMA, EDIT_FORM_SCHEMA)
        }
        self._context = context
        self._config = context.config
        self._guard = RequestGuard(context, self._auth_error, error_response, openai_steps.SERVER_FAILURE, logger)
        # python-multipart logs a warning for each malformed form before raising; the mock answers those with a
        # 400 that says the same, so the warnings would only clutter the console of `check` (schemathesis sends
        # malformed forms on purpose).
        logging.getLogger("python_multipart").setLevel(logging.ERROR)

    async def generate(self, request: Request) -> Response:
        """``POST /v1/images/generations``."""
        return await self._guard(request, self._generate)

    async def edit(self, request: Request) -> Response:
        """``POST /v1/images/edits`` (JSON or multipart/form-data)."""
        return await self._guard(request, self._edit)

    async def content(self, request: Request) -> Response:
        """``GET /v1/images/content/{name}``: the image a url answer pointed to (no key needed)."""
        faults = self._context.faults_for(request)
        drawing = Drawing.from_name(request.path_params["name"])
        if drawing is None:
            error = ApiError(404, f"No image at {request.url.path}: image URLs come from an images answer.")
            return error_response(error, faults, new_request_id())
        media = (
            "application/octet-stream" if "images_url_fetchable" in faults else IMAGE_MEDIA_TYPES[drawing.image_format]
        )
        return Response(drawing.encode(), media_type=media, headers={"cache-control": "private, max-age=3600"})

    # ------------------------------------------------------------------ shared steps

    def _auth_error(self, request: Request, faults: frozenset[str]) -> ApiError | None:
        return None if "images_auth_required" in faults else openai_steps.bearer_auth_error(self._context, request)

    def _bad_request(self, error: ApiError, faults: frozenset[str]) -> ApiError:
        return openai_steps.bad_request(error, faults, server_error_fault="images_invalid_request_rejected")

    def _json_body(self, raw: bytes, schema: str, faults: frozenset[str]) -> Mapping[str, Any] | ApiError:
        example = '{"model": ..., "prompt": "a lighthouse at dusk"}'
        body = openai_steps.json_object_body(raw, self._validators[schema], faults, example=example)
        return self._bad_request(body, faults) if isinstance(body, ApiError) else body

    def _model_error(self, body: Mapping[str, Any], faults: frozenset[str]) -> ApiError | None:
        model = body.get("model")
        if model is None or model in self._context.models or "images_unknown_model_rejected" in faults:
            return None
        return openai_steps.model_not_found(str(model), self._config.models)

    # ------------------------------------------------------------------ POST /v1/images/generations

    async def _generate(self, request: Request, faults: frozenset[str], request_id: str) -> Response:
        raw = await self._context.read_body(request)
        if raw is None:
            return error_response(openai_steps.body_too_large(self._config.max_body_bytes), faults, request_id)
        body = self._json_body(raw, GENERATE_SCHEMA, faults)
        if isinstance(body, ApiError):
            return error_response(body, faults, request_id)
        refused = self._model_error(body, faults) or _size_error(body.get("size"))
        if refused is not None:
            return error_response(
                self._bad_request(refused, faults) if refused.status == 400 else refused, faults, request_id
            )
        return await self._answer(request, body, EditInputs(), faults, request_id)

    # ------------------------------------------------------------------ POST /v1/images/edits

    async def _edit(self, request: Request, faults: frozenset[str], request_id: str) -> Response:
        raw = await self._context.read_body(request)
        if raw is None:
            return error_response(openai_steps.body_too_large(self._config.max_body_bytes), faults, request_id)
        media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media == "multipart/form-data":
            read = await self._form_edit(request, raw, faults)
        elif media in ("application/json", ""):
            read = self._json_edit(raw, faults)
        else:
            read = ApiError(
                400,
                f"Unsupported Content-Type {media!r} for {EDITS_PATH}: send application/json (image references) "
                "or multipart/form-data (image files).",
                code="unsupported_content_type",
            )
        if isinstance(read, ApiError):
            return error_response(self._bad_request(read, faults) if read.status == 400 else read, faults, request_id)
        body, inputs = read
        refused = self._model_error(body, faults) or _size_error(body.get("size"))
        if refused is None and "images_edit_inputs_checked" not in faults:
            refused = _check_mask(inputs)
        if refused is not None:
            return error_response(
                self._bad_request(refused, faults) if refused.status == 400 else refused, faults, request_id
            )
        return await self._answer(request, body, inputs, faults, request_id)

    def _json_edit(self, raw: bytes, faults: frozenset[str]) -> tuple[Mapping[str, Any], EditInputs] | ApiError:
        body = self._json_body(raw, EDIT_JSON_SCHEMA, faults)
        if isinstance(body, ApiError):
            return body
        checked = "images_edit_inputs_checked" not in faults
        inputs = EditInputs(has_mask=body.get("mask") is not None)
        for position, reference in enumerate(body.get("images") or []):
            read = _read_reference(reference, f"images[{position}]", f"images.{position}.image_url")
            if isinstance(read, ApiError) and checked:
                return read
            inputs.images.append(read if isinstance(read, ImageFacts) else None)
        if inputs.has_mask:
            mask = _read_reference(body.get("mask"), "the mask", "mask.image_url")
            if isinstance(mask, ApiError) and checked:
                return mask
            inputs.mask = mask if isinstance(mask, ImageFacts) else None
        return body, inputs

    async def _form_edit(
        self, request: Request, raw: bytes, faults: frozenset[str]
    ) -> tuple[Mapping[str, Any], EditInputs] | ApiError:
        if "images_edit_forms_accepted" in faults:
            return ApiError(400, "This server takes JSON image edits only.", code="unsupported_content_type")
        parser = MultiPartParser(request.headers, _bytes_stream(raw), max_files=MAX_INPUT_IMAGES + 1, max_fields=64)
        try:
            form = await parser.parse()
        except MultiPartException as exc:
            return ApiError(400, f"Cannot read the multipart/form-data body: {exc.message}", code="invalid_multipart")
        fields: dict[str, Any] = {}
        images: list[UploadFile] = []
        mask: UploadFile | None = None
        for name, value in form.multi_items():
            if isinstance(value, UploadFile):
                if name in ("image", "image[]"):
                    images.append(value)
                elif name == "mask":
                    mask = value
                else:
                    fields[name] = "<binary>"
            else:
                fields[name] = field_int(value) if name in _FORM_INTEGERS and field_int(value) is not None else value
        shown = {**fields, **({"image": "<binary>"} if images else {}), **({"mask": "<binary>"} if mask else {})}
        violation = self._validators[EDIT_FORM_SCHEMA].violation(shown)
        if violation is not None:
            return ApiError(400, violation.message, param=violation.param, code=violation.code)
        if len(images) > MAX_INPUT_IMAGES:
            return ApiError(
                400,
                f"Too many images: {len(images)}; send at most {MAX_INPUT_IMAGES}.",
                param="image",
                code="invalid_value",
            )
        checked = "images_edit_inputs_checked" not in faults
        inputs = EditInputs(has_mask=mask is not None)
        for position, upload in enumerate(images):
            read = _read_input(await upload.read(), f"image file {position} ({upload.filename!r})", "image")
            if isinstance(read, ApiError) and checked:
                return read
            inputs.images.append(read if isinstance(read, ImageFacts) else None)
        if mask is not None:
            read_mask = _read_input(await mask.read(), f"the mask ({mask.filename!r})", "mask")
            if isinstance(read_mask, ApiError) and checked:
                return read_mask
            inputs.mask = read_mask if isinstance(read_mask, ImageFacts) else None
        return fields, inputs

    # ------------------------------------------------------------------ the answer

    async def _answer(
        self, request: Request, body: Mapping[str, Any], inputs: EditInputs, faults: frozenset[str], request_id: str
    ) -> Response:
        prompt = str(body.get("prompt", ""))
        count = field_int(body.get("n")) or 1
        first = inputs.images[0] if inputs.images else None
        width, height = parse_size(body.get("size")) or ((first.width, first.height) if first else _AUTO_SIZE)
        asked_format = body.get("output_format") or DEFAULT_OUTPUT_FORMAT
        if "images_output_format_honoured" in faults:
            asked_format = DEFAULT_OUTPUT_FORMAT if asked_format != DEFAULT_OUTPUT_FORMAT else "jpeg"
        compression = field_int(body.get("output_compression"))
        palette = hashlib.sha256(prompt.encode("utf-8", "surrogatepass")).digest()[0] % _PALETTES
        drawn_width = max(1, width // 2) if "images_size_honoured" in faults else width
        drawing = Drawing(palette, drawn_width, height, str(asked_format), compression or 100)
        quality = str(body.get("quality") or "auto")
        as_url = body.get("response_format") == "url" and "images_response_format_honoured" not in faults
        items = [self._item(request, drawing, as_url, faults) for _ in range(count)]
        if "images_data_count" in faults:
            items.pop()
        echo_format = body.get("output_format") or DEFAULT_OUTPUT_FORMAT
        if "images_echo_matches_request" in faults:
            echo_format = "webp" if echo_format != "webp" else "png"
        answer: dict[str, Any] = {
            "created": str(int(time.time())) if "images_response_matches_schema" in faults else int(time.time()),
            "background": "transparent" if body.get("background") == "transparent" else "opaque",
            "data": items,
            "output_format": echo_format,
            "quality": "medium" if quality == "auto" else quality,
            "size": f"{drawn_width}x{height}",
        }
        if "images_usage_present" not in faults:
            answer["usage"] = _usage(prompt, inputs, count, quality, width, height, faults)
        return await self._paced(orjson.dumps(answer), len(items), faults, request_id)

    def _item(self, request: Request, drawing: Drawing, as_url: bool, faults: frozenset[str]) -> dict[str, Any]:
        if as_url:
            return {"url": f"{str(request.base_url).rstrip('/')}{CONTENT_PATH}/{drawing.name}"}
        data = drawing.encode()
        if "images_b64_decodes" in faults:
            data = data[16:]
        return {"b64_json": base64.b64encode(data).decode("ascii")}

    async def _paced(self, body: bytes, images: int, faults: frozenset[str], request_id: str) -> Response:
        """The answer's status and headers after ``ttft_ms`` (its first byte), its body in one piece per image
        ``itl_ms`` apart."""
        media = "text/plain" if "images_content_type_declared" in faults else _JSON
        headers = {"x-request-id": request_id}
        if self._context.ttft_s > 0:
            await asyncio.sleep(self._context.ttft_s)
        if self._context.itl_s <= 0:
            return Response(body, media_type=media, headers=headers)
        step = math.ceil(len(body) / (max(images, 1) + 1))
        rounds = [body[start : start + step] for start in range(0, len(body), step)]
        return StreamingResponse(paced(rounds, 0.0, self._context.itl_s), media_type=media, headers=headers)


def _usage(
    prompt: str, inputs: EditInputs, count: int, quality: str, width: int, height: int, faults: frozenset[str]
) -> dict[str, Any]:
    text = count_tokens(prompt)
    image = sum(input_image_tokens(facts) for facts in inputs.images)
    if inputs.has_mask:
        image += input_image_tokens(inputs.mask)
    output = count * output_tokens_per_image(quality, width, height)
    total = text + image + output + (1 if "images_usage_total_is_sum" in faults else 0)
    details_text = text + 1 if "images_usage_details_sum" in faults else text
    return {
        "input_tokens": text + image,
        "input_tokens_details": {"image_tokens": image, "text_tokens": details_text},
        "output_tokens": output,
        "output_tokens_details": {"image_tokens": output, "text_tokens": 0},
        "total_tokens": total,
    }
