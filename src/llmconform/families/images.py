"""The OpenAI images family: paths, request builders (JSON and multipart) and a parsed view of any answer.

:func:`images_view` turns an Exchange of ``POST /v1/images/generations`` or ``POST /v1/images/edits``
into one :class:`ImagesView`: each ``data`` item with the form it came in (``b64_json`` or ``url``) and,
for base64 items, what the bytes decode to (format and size, read by Pillow), plus the usage. Like the
other family views it never raises on a malformed answer: what it could not read is recorded for the
checks to judge.

A multipart request has no JSON body; the exchange records a JSON view of its form instead (text fields
as sent, numbers read as numbers, each file as ``"<file NAME: N bytes TYPE>"``), so the rules read ``n``,
``size`` and ``response_format`` the same way for both forms.

Images generate no text: the shared family interface reads an answer as input tokens only, with the
time of the first byte as its "first token" (what load reports in the TTFT slot for media).
"""

from __future__ import annotations

import base64
import binascii
import io
import re
import warnings
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx
from PIL import Image, UnidentifiedImageError

from llmconform.exchange import Exchange
from llmconform.families.answer import Answer
from llmconform.families.reading import AnswerPredicates, cached_view, read_data_list, received_2xx
from llmconform.json_numbers import as_int

__all__ = [
    "DEFAULT_OUTPUT_FORMAT",
    "EDITS_PATH",
    "EDIT_OPERATION",
    "FAMILY",
    "FORMAT_MEDIA_TYPES",
    "GENERATE_OPERATION",
    "GENERATIONS_PATH",
    "IMAGE_URL_OPERATION",
    "MAX_IMAGES",
    "ImageFacts",
    "ImageItemView",
    "ImagesView",
    "MultipartBody",
    "build_request",
    "data_url",
    "decode_image",
    "edit_json_request",
    "edit_multipart",
    "field_int",
    "generation_request",
    "images_view",
    "is_images",
    "is_images_answer",
    "parse_size",
    "read_answer",
    "request_headers",
    "requested_count",
    "requested_output_format",
    "requested_response_format",
    "requested_size",
    "usage_counts",
]

FAMILY = "images"
GENERATIONS_PATH = "/v1/images/generations"
EDITS_PATH = "/v1/images/edits"
GENERATE_OPERATION = f"POST {GENERATIONS_PATH}"
EDIT_OPERATION = f"POST {EDITS_PATH}"
# A GET of an image URL an answer gave (the URL is the target's, so it is no operation of the contract).
IMAGE_URL_OPERATION = "GET {image url}"
# At most this many images per request (upstream n: 1 to 10).
MAX_IMAGES = 10
# The encoding an answer has when the request names none (upstream output_format default png).
DEFAULT_OUTPUT_FORMAT = "png"
FORMAT_MEDIA_TYPES: dict[str, str] = {
    "png": "image/png",
    "jpeg": "image/jpeg",
    "webp": "image/webp",
    "gif": "image/gif",
}
_PIL_FORMATS = {"PNG": "png", "JPEG": "jpeg", "WEBP": "webp", "GIF": "gif"}
# WIDTHxHEIGHT as the contract's ImageSize pattern writes it.
_SIZE = re.compile(r"^([1-9][0-9]{0,3})x([1-9][0-9]{0,3})$")
# Parameters of this format that build_request passes through (the rest of the chat vocabulary means nothing).
_IMAGE_PARAMS = ("n", "size", "quality", "response_format", "output_format", "output_compression", "background")
# What build_request asks for when the caller does not say: the cheapest standard image of GPT image models.
_DEFAULT_SIZE = "1024x1024"
_DEFAULT_QUALITY = "low"

Form = Literal["b64_json", "url", "both", "none"]


@dataclass(frozen=True, slots=True)
class ImageFacts:
    """What an image's bytes decode to: its format (png, jpeg, webp, gif) and its size in pixels."""

    format: str
    width: int
    height: int

    @property
    def media_type(self) -> str:
        return FORMAT_MEDIA_TYPES.get(self.format, f"image/{self.format}")


@dataclass(slots=True)
class ImageItemView:
    """One ``data`` item: the form it came in, and for base64 what it decodes to."""

    position: int
    form: Form = "none"
    url: Any = None
    # The decoded bytes' facts, or why they could not be read (b64_json items only).
    facts: ImageFacts | None = None
    problem: str | None = None
    byte_length: int | None = None


@dataclass(slots=True)
class ImagesView:
    """Everything checks need to know about one images answer."""

    payload: Any = None
    items: list[ImageItemView] = field(default_factory=list)
    usage: Any = None
    has_usage_key: bool = False
    problems: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class MultipartBody:
    """An encoded multipart/form-data body, its Content-Type (with the boundary) and its JSON view."""

    content: bytes
    content_type: str
    view: dict[str, Any]


# --------------------------------------------------------------------------------- requests


def generation_request(model: str | None, prompt: str, **params: Any) -> dict[str, Any]:
    """A POST /v1/images/generations body; ``params`` (n, size, response_format, ...) are sent when not None."""
    body: dict[str, Any] = {"prompt": prompt}
    if model is not None:
        body["model"] = model
    body.update({key: value for key, value in params.items() if value is not None})
    return body


def data_url(data: bytes, media_type: str) -> str:
    """``data`` as a data: URL (how the JSON edit form carries an image itself)."""
    return f"data:{media_type};base64,{base64.b64encode(data).decode('ascii')}"


def edit_json_request(
    model: str | None, prompt: str, images: list[str], *, mask: str | None = None, **params: Any
) -> dict[str, Any]:
    """A JSON POST /v1/images/edits body: ``images`` (and ``mask``) are image URLs or data: URLs."""
    body = generation_request(model, prompt, **params)
    body["images"] = [{"image_url": url} for url in images]
    if mask is not None:
        body["mask"] = {"image_url": mask}
    return body


def _file_label(filename: str, content: bytes, media_type: str) -> str:
    return f"<file {filename}: {len(content)} bytes {media_type}>"


def edit_multipart(
    model: str | None,
    prompt: str,
    images: list[tuple[str, bytes, str]],
    *,
    mask: tuple[str, bytes, str] | None = None,
    **params: Any,
) -> MultipartBody:
    """A multipart POST /v1/images/edits body, encoded by httpx as the openai SDK sends it: one image under
    ``image``, several under ``image[]``; ``images`` and ``mask`` are (filename, bytes, media type)."""
    fields: dict[str, str] = {"prompt": prompt}
    if model is not None:
        fields["model"] = model
    fields.update({key: str(value) for key, value in params.items() if value is not None})
    name = "image" if len(images) == 1 else "image[]"
    files: list[tuple[str, tuple[str, bytes, str]]] = [(name, image) for image in images]
    view: dict[str, Any] = {key: params.get(key, value) for key, value in fields.items()}
    view[name] = [_file_label(*image) for image in images] if name == "image[]" else _file_label(*images[0])
    if mask is not None:
        files.append(("mask", mask))
        view["mask"] = _file_label(*mask)
    request = httpx.Request("POST", "http://multipart.invalid/", data=fields, files=files)
    return MultipartBody(request.read(), request.headers["content-type"], view)


def field_int(value: Any) -> int | None:
    """An integer field of either form: a JSON integer, or the ASCII digits a multipart form sends."""
    if isinstance(value, str):
        text = value.strip()
        return int(text) if text.isascii() and text.isdigit() and len(text) < 10 else None
    return as_int(value)


def parse_size(value: Any) -> tuple[int, int] | None:
    """(width, height) of a ``WIDTHxHEIGHT`` string; None for ``auto``, null or anything else."""
    match = _SIZE.match(value) if isinstance(value, str) else None
    return (int(match[1]), int(match[2])) if match else None


def requested_count(exchange: Exchange) -> int | None:
    """How many images the request asked for: ``n`` (1 when absent or null), None when ``n`` is not a count."""
    value = exchange.request_body.get("n")
    return 1 if value is None else field_int(value)


def requested_size(exchange: Exchange) -> tuple[int, int] | None:
    """The asked size as (width, height); None when the request left it to the server (absent or auto)."""
    return parse_size(exchange.request_body.get("size"))


def requested_response_format(exchange: Exchange) -> str | None:
    """``response_format`` when the request named one (url or b64_json), else None (the server's default)."""
    value = exchange.request_body.get("response_format")
    return value if value in ("url", "b64_json") else None


def requested_output_format(exchange: Exchange) -> str | None:
    """The encoding asked for: ``output_format`` (png when absent or null), None when it is not a known one."""
    value = exchange.request_body.get("output_format")
    if value is None:
        return DEFAULT_OUTPUT_FORMAT
    return value if value in FORMAT_MEDIA_TYPES else None


_IMAGES_ANSWERS = AnswerPredicates(GENERATE_OPERATION)
_EDIT_ANSWERS = AnswerPredicates(EDIT_OPERATION)


def is_images(exchange: Exchange) -> bool:
    """An exchange of either images operation, answered or not."""
    return _IMAGES_ANSWERS.is_operation(exchange) or _EDIT_ANSWERS.is_operation(exchange)


def is_images_answer(exchange: Exchange) -> bool:
    """A completed 2xx answer of either images operation."""
    return _IMAGES_ANSWERS.is_answer(exchange) or _EDIT_ANSWERS.is_answer(exchange)


# ------------------------------------------------------------------------------------ views


def decode_image(data: bytes) -> tuple[ImageFacts | None, str | None]:
    """(facts, None) when Pillow decodes ``data`` as a whole image, else (None, why it could not).

    The pixels are decoded, not only the header, so a truncated or corrupt file is found out.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a hostile server's huge image warns (DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                kind = image.format or ""
                width, height = image.size
                image.load()
    except UnidentifiedImageError:
        head = data[:8].hex(" ")
        return None, f"are no image file Pillow knows (PNG, JPEG, WebP, GIF, ...; first bytes {head or 'none'})"
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        return None, f"do not decode as an image ({type(exc).__name__}: {str(exc)[:120]})"
    return ImageFacts(_PIL_FORMATS.get(kind, kind.lower()), width, height), None


def images_view(exchange: Exchange) -> ImagesView:
    """Parse (once, cached on the exchange) an images answer into an ImagesView."""
    return cached_view(exchange, "images_view", ImagesView, _view)


def _view(exchange: Exchange) -> ImagesView:
    view = ImagesView()
    data = read_data_list(exchange, view)
    if data is None:
        return view
    for position, entry in enumerate(data):
        item = ImageItemView(position=position)
        view.items.append(item)
        if not isinstance(entry, dict):
            item.problem = f"data[{position}] is {type(entry).__name__}, not an object"
            continue
        b64, url = entry.get("b64_json"), entry.get("url")
        has_b64, has_url = isinstance(b64, str) and bool(b64), isinstance(url, str) and bool(url)
        item.form = "both" if has_b64 and has_url else "b64_json" if has_b64 else "url" if has_url else "none"
        item.url = url if has_url else None
        if isinstance(b64, str) and b64:
            _read_b64(item, b64)
    return view


def _read_b64(item: ImageItemView, text: str) -> None:
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        item.problem = f"b64_json is not valid base64 ({exc})"
        return
    item.byte_length = len(raw)
    item.facts, problem = decode_image(raw)
    if problem is not None:
        item.problem = f"b64_json: {len(raw)} bytes that {problem}"


def usage_counts(exchange: Exchange) -> dict[str, int] | None:
    """The usage counts of an answer (input, output, total and the input details) when all are integers."""
    usage = images_view(exchange).usage
    if not isinstance(usage, dict):
        return None
    details = usage.get("input_tokens_details")
    details = details if isinstance(details, dict) else {}
    counts = {
        "input_tokens": as_int(usage.get("input_tokens")),
        "output_tokens": as_int(usage.get("output_tokens")),
        "total_tokens": as_int(usage.get("total_tokens")),
        "text_tokens": as_int(details.get("text_tokens")),
        "image_tokens": as_int(details.get("image_tokens")),
    }
    if any(value is None for value in counts.values()):
        return None
    return {key: value for key, value in counts.items() if value is not None}


# ---------------------------------------------------------------------- the shared family interface


def request_headers(api_key: str | None) -> dict[str, str]:
    """The headers every request of this family carries: the key as ``Authorization: Bearer``."""
    return {"authorization": f"Bearer {api_key}"} if api_key else {}


def _prompt_of(messages: list[dict[str, Any]]) -> str:
    texts: list[str] = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, str):
            texts.append(content)
        elif isinstance(content, list):
            texts.extend(p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return "\n".join(text for text in texts if text) or "A lighthouse at dusk."


def build_request(
    model: str, messages: list[dict[str, Any]], *, max_tokens: int | None, stream: bool, **params: Any
) -> tuple[str, str, str, dict[str, Any]]:
    """(method, path, operation, body) of one image generation whose prompt is the messages' text.

    ``max_tokens`` and ``stream`` are ignored (nothing streams; the image's size sets its cost). Unless
    ``params`` say otherwise it asks for one 1024x1024 image of quality low (the cheapest standard image of
    GPT image models) as base64; of ``params`` only the image parameters are sent.
    """
    chosen = {"n": 1, "size": _DEFAULT_SIZE, "quality": _DEFAULT_QUALITY, "response_format": "b64_json"}
    chosen.update({key: value for key, value in params.items() if key in _IMAGE_PARAMS})
    body = generation_request(model, _prompt_of(messages), **chosen)
    return "POST", GENERATIONS_PATH, GENERATE_OPERATION, body


def read_answer(exchange: Exchange) -> Answer | None:
    """A 2xx images answer as an :class:`Answer`: input tokens from usage, no text and no output tokens (the
    tally's output-token figures are about generated text), and the first byte's arrival as its first event."""
    if not (received_2xx(exchange) and is_images(exchange)):
        return None
    counts = usage_counts(exchange) if exchange.ok else None
    return Answer(
        input_tokens=counts["input_tokens"] if counts is not None else None,
        output_tokens=None,
        finish=None,
        raw_finish=None,
        stream=False,
        first_byte_s=exchange.ttfb_s,
    )
