"""Rules of the images family (generation and editing): one image per ``n``, the asked ``response_format``,
size and encoding, images that really decode, what the answer echoes, usage arithmetic, URLs that serve the
image, both edit forms served, and the E1/E4 error rules.

Exchange rules judge every answer of ``POST /v1/images/generations`` and ``POST /v1/images/edits`` (in
``check`` and under load; each base64 image is decoded once per answer, by the family view). Relation rules
judge what the images probes (``llmconform.conformance.images_probes``) sent on purpose: the GET of an image
URL, the two edit forms, inputs and requests that must be refused.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from llmconform.checks.chat_relations import auth_required, invalid_request_rejected, unknown_model_rejected
from llmconform.checks.common import status_text
from llmconform.checks.errors import error_body_shape
from llmconform.checks.registry import Severity, Violation, Warn, exchange_rule, relation_rule
from llmconform.checks.schema import schema_violations
from llmconform.exchange import Exchange
from llmconform.families.images import (
    DEFAULT_OUTPUT_FORMAT,
    FAMILY,
    FORMAT_MEDIA_TYPES,
    ImageItemView,
    decode_image,
    images_view,
    is_images,
    is_images_answer,
    parse_size,
    requested_count,
    requested_output_format,
    requested_response_format,
    requested_size,
    usage_counts,
)
from llmconform.json_numbers import as_int

DOCUMENT = "images"
_MAX_ERRORS = 3


def _payload_is_object(exchange: Exchange) -> bool:
    return is_images_answer(exchange) and isinstance(images_view(exchange).payload, dict)


def _has_items(exchange: Exchange) -> bool:
    return is_images_answer(exchange) and bool(images_view(exchange).items)


def _decoded(exchange: Exchange) -> list[ImageItemView]:
    return [item for item in images_view(exchange).items if item.facts is not None]


def _has_decoded(exchange: Exchange) -> bool:
    return is_images_answer(exchange) and bool(_decoded(exchange))


def _usage(exchange: Exchange) -> dict[str, Any] | None:
    usage = images_view(exchange).usage
    return usage if isinstance(usage, dict) else None


def _shown(sizes: list[tuple[int, int]]) -> str:
    return ", ".join(f"{w}x{h}" for w, h in sizes[:5]) + ("..." if len(sizes) > 5 else "")


# ------------------------------------------------------------------------------------- shape


@exchange_rule("images_response_matches_schema", family=FAMILY, severity=Severity.ERROR, applies=is_images_answer)
def images_response_matches_schema(exchange: Exchange) -> Iterator[Violation]:
    """A 2xx images body validates against ImagesResponse in openapi/images.yaml.

    Source: openapi/images.yaml ImagesResponse, Image, ImageUsage, built from OpenAI openapi.yaml's ImagesResponse
    (created required; data items with b64_json or url; usage of GPT image models) and openai-python
    types/images_response.py.
    """
    view = images_view(exchange)
    if view.payload is None:
        yield f"Expected: a JSON body. Received: {'; '.join(view.problems)}"
        return
    yield from schema_violations("ImagesResponse", DOCUMENT, view.payload, "body")


def _has_status(exchange: Exchange) -> bool:
    return is_images(exchange) and exchange.status is not None


@exchange_rule("images_content_type_declared", family=FAMILY, severity=Severity.ERROR, applies=_has_status)
def images_content_type_declared(exchange: Exchange) -> Iterator[Violation]:
    """Every images answer, success or error, is application/json.

    Source: openapi/images.yaml responses (application/json for every status); OpenAI openapi.yaml createImage and
    createImageEdit (200 application/json for a unary answer); contract-rules.md F E1 (errors are JSON).
    """
    media = exchange.content_type
    if media != "application/json" and not media.endswith("+json"):
        yield f"Expected: Content-Type application/json (status {exchange.status}). Received: {media or 'none'!r}"


def _is_error(exchange: Exchange) -> bool:
    return is_images(exchange) and exchange.error is None and exchange.status is not None and exchange.status >= 400


@exchange_rule("images_error_body_shape", family=FAMILY, severity=Severity.ERROR, applies=_is_error)
def images_error_body_shape(exchange: Exchange) -> Iterator[Violation]:
    """A non-2xx images answer is JSON {"error": {"message": str, "type": str, "param", "code"}}.

    Source: contract-rules.md F E1; OpenAI openapi.yaml ErrorResponse / Error; openai-python raises its typed errors
    from this body. A missing param or code is a warning, as for chat (error_body_shape).
    """
    yield from error_body_shape(exchange)


# ------------------------------------------------------------------------------------ images


@exchange_rule(
    "images_data_count",
    family=FAMILY,
    severity=Severity.ERROR,
    applies=lambda ex: _payload_is_object(ex) and requested_count(ex) is not None,
)
def images_data_count(exchange: Exchange) -> Iterator[Violation]:
    """data holds exactly n images (1 when n is absent).

    Source: OpenAI openapi.yaml CreateImageRequest.n and CreateImageEditRequest.n ("The number of images to
    generate. Must be between 1 and 10."); openai-python types/image_generate_params.py (the same).
    """
    wanted = requested_count(exchange)
    view = images_view(exchange)
    if view.problems:
        yield f"Expected: a 'data' array of {wanted} image(s). Received: {'; '.join(view.problems)}"
    elif len(view.items) != wanted:
        yield f"Expected: {wanted} image(s) (n={wanted}). Received: {len(view.items)}"


@exchange_rule(
    "images_response_format_honoured",
    family=FAMILY,
    severity=Severity.ERROR,
    applies=lambda ex: _has_items(ex) and requested_response_format(ex) is not None,
)
def images_response_format_honoured(exchange: Exchange) -> Iterator[Violation]:
    """With response_format b64_json every image comes as b64_json; with url every image comes as a url.

    Source: OpenAI openapi.yaml CreateImageRequest.response_format ("The format in which generated images ... are
    returned. Must be one of url or b64_json"); shared/reference/aboai-api.md section 8 (AboAI clients read
    b64_json, else fetch url: either may come back when none is asked, so only an explicit ask is judged).
    """
    wanted = requested_response_format(exchange)
    other = [item.position for item in images_view(exchange).items if item.form not in (wanted, "both", "none")]
    if other:
        yield f"Expected: every image as {wanted} (response_format={wanted!r}). Received: another form at {other[:10]}"


@exchange_rule(
    "images_b64_decodes",
    family=FAMILY,
    severity=Severity.ERROR,
    applies=lambda ex: is_images_answer(ex) and any(i.form in ("b64_json", "both") for i in images_view(ex).items),
)
def images_b64_decodes(exchange: Exchange) -> Iterator[Violation]:
    """Every b64_json is base64 of a whole image file that decodes (PNG, JPEG, WebP or GIF).

    Source: OpenAI openapi.yaml Image.b64_json ("The base64-encoded JSON of the generated image"); openai-python
    types/image.py; clients write the decoded bytes to an image file (OpenAI image generation guide).
    """
    reported = 0
    for item in images_view(exchange).items:
        if item.form in ("b64_json", "both") and item.problem is not None:
            yield f"data[{item.position}]: Expected: a decodable image. Received: {item.problem}"
            reported += 1
            if reported >= _MAX_ERRORS:
                return


def _expected_format(exchange: Exchange) -> tuple[str, bool] | None:
    """(the encoding the images must have, whether the request named it), or None when nothing can be said."""
    if exchange.request_body.get("output_format") is not None:
        asked = requested_output_format(exchange)
        return (asked, True) if asked is not None else None
    echoed = images_view(exchange).payload.get("output_format")
    if echoed in FORMAT_MEDIA_TYPES:
        return echoed, True
    return DEFAULT_OUTPUT_FORMAT, False


@exchange_rule("images_output_format_honoured", family=FAMILY, severity=Severity.ERROR, applies=_has_decoded)
def images_output_format_honoured(exchange: Exchange) -> Iterator[Violation]:
    """The images are encoded as output_format asks (png when absent; a warning then, since only GPT image
    models default to png).

    Source: OpenAI openapi.yaml CreateImageRequest.output_format ("The format in which the generated images are
    returned ... png, jpeg, or webp", default png); openai-python types/image_generate_params.py.
    """
    expected = _expected_format(exchange)
    if expected is None:
        return
    wanted, asked = expected
    wrong = [
        (item.position, item.facts.format) for item in _decoded(exchange) if item.facts and item.facts.format != wanted
    ]
    if wrong:
        message = f"Expected: {wanted} images{' (output_format)' if asked else ' (the default)'}. Received: {wrong[:5]}"
        yield message if asked else Warn(message)


@exchange_rule(
    "images_size_honoured",
    family=FAMILY,
    severity=Severity.ERROR,
    applies=lambda ex: _has_decoded(ex) and requested_size(ex) is not None,
)
def images_size_honoured(exchange: Exchange) -> Iterator[Violation]:
    """With size WIDTHxHEIGHT every image decodes to exactly that many pixels.

    Source: OpenAI openapi.yaml CreateImageRequest.size ("The size of the generated images"); openai-python
    types/image_generate_params.py (standard sizes, or WIDTHxHEIGHT for gpt-image-2 and later).
    """
    wanted = requested_size(exchange)
    got = [(item.facts.width, item.facts.height) for item in _decoded(exchange) if item.facts is not None]
    wrong = sorted({size for size in got if size != wanted})
    if wanted is not None and wrong:
        yield f"Expected: {wanted[0]}x{wanted[1]} images (size). Received: {_shown(wrong)}"


def _echoes(exchange: Exchange) -> bool:
    payload = images_view(exchange).payload
    return _payload_is_object(exchange) and any(key in payload for key in ("size", "output_format", "quality"))


@exchange_rule("images_echo_matches_request", family=FAMILY, severity=Severity.ERROR, applies=_echoes)
def images_echo_matches_request(exchange: Exchange) -> Iterator[Violation]:
    """The answer's size, output_format and quality (when present) describe the images: the size and encoding
    they decode to, and what the request asked for when it named one (auto excepted).

    Source: openai-python types/images_response.py (size "The size of the image generated", output_format "The
    output format of the image generation", quality "The quality of the image generated"); OpenAI openapi.yaml
    ImagesResponse.
    """
    payload = images_view(exchange).payload
    decoded = [item.facts for item in _decoded(exchange) if item.facts is not None]
    body = exchange.request_body
    if "size" in payload:
        echoed = parse_size(payload["size"])
        asked = requested_size(exchange)
        if echoed is None:
            yield f"Expected: size as WIDTHxHEIGHT. Received: {payload['size']!r:.40}"
        elif asked is not None and echoed != asked:
            yield f"Expected: size {asked[0]}x{asked[1]} (asked). Received: {payload['size']!r}"
        elif any((facts.width, facts.height) != echoed for facts in decoded):
            sizes = sorted({(facts.width, facts.height) for facts in decoded})
            yield f"Expected: size {payload['size']!r} to be the images' size. Received: images of {_shown(sizes)}"
    if "output_format" in payload:
        echoed_format = payload["output_format"]
        if body.get("output_format") is not None and echoed_format != body["output_format"]:
            yield f"Expected: output_format {body['output_format']!r} (asked). Received: {echoed_format!r}"
        elif any(facts.format != echoed_format for facts in decoded):
            formats = sorted({facts.format for facts in decoded})
            yield f"Expected: output_format {echoed_format!r} to be the images' encoding. Received: {formats}"
    asked_quality = body.get("quality")
    if "quality" in payload and asked_quality not in (None, "auto") and payload["quality"] != asked_quality:
        yield f"Expected: quality {asked_quality!r} (asked). Received: {payload['quality']!r}"


# ------------------------------------------------------------------------------------- usage


@exchange_rule("images_usage_present", family=FAMILY, severity=Severity.WARNING, applies=_payload_is_object)
def images_usage_present(exchange: Exchange) -> Iterator[Violation]:
    """An images answer carries usage (input_tokens, output_tokens, total_tokens, input_tokens_details).

    Source: OpenAI openapi.yaml ImagesResponse.usage ("For gpt-image-1 only, the token usage information");
    openai-python types/images_response.py Usage. A warning: DALL·E models (retired) and some gateways send none,
    but AboAI bills images, so a missing usage hides what was spent (contract-rules.md F X3).
    """
    view = images_view(exchange)
    if not isinstance(view.usage, dict):
        yield f"Expected: a 'usage' object. Received: {'no usage key' if not view.has_usage_key else view.usage!r:.60}"


@exchange_rule(
    "images_usage_total_is_sum",
    family=FAMILY,
    severity=Severity.ERROR,
    applies=lambda ex: _payload_is_object(ex) and usage_counts(ex) is not None,
)
def images_usage_total_is_sum(exchange: Exchange) -> Iterator[Violation]:
    """usage.total_tokens == input_tokens + output_tokens.

    Source: OpenAI openapi.yaml ImageGenUsage / ImagesResponse.usage (total_tokens "The total number of tokens
    (images and text) used for the image generation"); contract-rules.md C.1 (ImageGenUsage) and F X3.
    """
    counts = usage_counts(exchange)
    assert counts is not None
    expected = counts["input_tokens"] + counts["output_tokens"]
    if counts["total_tokens"] != expected:
        yield (
            f"Expected: total_tokens == input_tokens {counts['input_tokens']} + output_tokens "
            f"{counts['output_tokens']} == {expected}. Received: {counts['total_tokens']}"
        )


@exchange_rule(
    "images_usage_details_sum",
    family=FAMILY,
    severity=Severity.ERROR,
    applies=lambda ex: _payload_is_object(ex) and usage_counts(ex) is not None,
)
def images_usage_details_sum(exchange: Exchange) -> Iterator[Violation]:
    """input_tokens_details.text_tokens + image_tokens == input_tokens, and the same for output_tokens_details
    when the answer has it.

    Source: openai-python types/images_response.py (input_tokens "The number of tokens (images and text) in the
    input prompt", UsageInputTokensDetails text_tokens and image_tokens; UsageOutputTokensDetails likewise).
    """
    counts = usage_counts(exchange)
    assert counts is not None
    parts = counts["text_tokens"] + counts["image_tokens"]
    if parts != counts["input_tokens"]:
        yield (
            f"Expected: input_tokens_details text_tokens {counts['text_tokens']} + image_tokens "
            f"{counts['image_tokens']} == input_tokens {counts['input_tokens']}. Received: {parts}"
        )
    usage = _usage(exchange) or {}
    details = usage.get("output_tokens_details")
    if isinstance(details, dict):
        text, image = as_int(details.get("text_tokens", 0)), as_int(details.get("image_tokens", 0))
        if text is not None and image is not None and text + image != counts["output_tokens"]:
            yield (
                f"Expected: output_tokens_details text_tokens {text} + image_tokens {image} == output_tokens "
                f"{counts['output_tokens']}. Received: {text + image}"
            )


# --------------------------------------------------------------------------------- relations


@relation_rule("images_url_fetchable", family=FAMILY, severity=Severity.ERROR)
def images_url_fetchable(answer: Exchange, fetches: list[Exchange]) -> Iterator[Violation]:
    """Each url of a url answer serves the image: 200, an image/* Content-Type naming the encoding it decodes to,
    and the asked size and output_format.

    Source: OpenAI openapi.yaml Image.url ("When using dall-e-2 or dall-e-3, the URL of the generated image if
    response_format is set to url"); shared/reference/aboai-api.md section 8 (AboAI clients download data[0].url);
    RFC 9110 section 8.3 (Content-Type names the representation's media type).
    """
    wanted_size = requested_size(answer)
    explicit = answer.request_body.get("output_format") is not None
    wanted_format = requested_output_format(answer) if explicit else None
    for number, fetch in enumerate(fetches):
        where = f"url #{number}"
        if fetch.status != 200 or fetch.error is not None:
            yield f"{where}: Expected: 200 with the image. Received: {status_text(fetch)}"
            continue
        facts, problem = decode_image(fetch.body)
        if facts is None:
            yield f"{where}: Expected: the bytes of an image. Received: {len(fetch.body)} bytes that {problem}"
            continue
        if fetch.content_type != facts.media_type:
            yield f"{where}: Expected: Content-Type {facts.media_type} (the bytes are {facts.format}). " + (
                f"Received: {fetch.content_type or 'none'!r}"
            )
        if wanted_size is not None and (facts.width, facts.height) != wanted_size:
            yield f"{where}: Expected: {wanted_size[0]}x{wanted_size[1]} (size). Received: {facts.width}x{facts.height}"
        if wanted_format is not None and facts.format != wanted_format:
            yield f"{where}: Expected: {wanted_format} (output_format). Received: {facts.format}"


@relation_rule("images_edit_forms_accepted", family=FAMILY, severity=Severity.ERROR)
def images_edit_forms_accepted(json_edit: Exchange, form_edit: Exchange) -> Iterator[Violation]:
    """An edit of one valid image is answered 2xx both as a JSON body (image references) and as
    multipart/form-data (image files).

    Source: shared/reference/aboai-api.md sections 1 and 10 (AboAI documents "Image Editing (JSON)" and "Image
    Editing (Multipart)" as two pages of one endpoint); OpenAI openapi.yaml createImageEdit (requestBody
    application/json EditImageBodyJsonParam and multipart/form-data CreateImageEditRequest).
    """
    for form, exchange in (("JSON", json_edit), ("multipart/form-data", form_edit)):
        if not exchange.ok:
            yield f"Expected: a 2xx answer to a valid {form} edit. Received: {status_text(exchange)}"


@relation_rule("images_edit_inputs_checked", family=FAMILY, severity=Severity.ERROR)
def images_edit_inputs_checked(exchange: Exchange, what: str) -> Iterator[Violation]:
    """An edit whose input is not a PNG, JPEG or WebP image, or whose mask is not as large as the image, is
    refused with 400 (422 tolerated; another 4xx is a warning).

    Source: OpenAI openapi.yaml CreateImageEditRequest.image ("each image should be a png, webp, or jpg file") and
    .mask ("Must be a valid PNG file ... and have the same dimensions as image"); openai-python
    types/image_edit_params.py; contract-rules.md F E4.
    """
    yield from invalid_request_rejected(exchange, what)


@relation_rule("images_auth_required", family=FAMILY, severity=Severity.ERROR)
def images_auth_required(without_key: Exchange, wrong_key: Exchange) -> Iterator[Violation]:
    """An images request without a key, or with a wrong key, is refused with 401.

    Source: contract-rules.md F E4; OpenAI error codes guide (401 invalid authentication / incorrect API key);
    AboAI Bearer auth (shared/reference/aboai-api.md section 1). Another 4xx is a warning.
    """
    yield from auth_required(without_key, wrong_key)


@relation_rule("images_unknown_model_rejected", family=FAMILY, severity=Severity.ERROR)
def images_unknown_model_rejected(exchange: Exchange, model: str) -> Iterator[Violation]:
    """An images request naming a model that does not exist is refused with 404 (another 4xx is a warning).

    Source: contract-rules.md F E4; OpenAI error codes guide (404 "The model does not exist").
    """
    yield from unknown_model_rejected(exchange, model)


@relation_rule("images_invalid_request_rejected", family=FAMILY, severity=Severity.ERROR)
def images_invalid_request_rejected(exchange: Exchange, what: str) -> Iterator[Violation]:
    """A malformed images request is refused with 400 (422 tolerated), never accepted and never a 5xx.

    Source: contract-rules.md F E4; OpenAI openapi.yaml CreateImageRequest and CreateImageEditRequest (prompt
    required; n 1 to 10; response_format url or b64_json); OpenAI error codes guide (400 invalid request).
    """
    yield from invalid_request_rejected(exchange, what)
