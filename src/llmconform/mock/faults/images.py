"""Faults of the images family: each name is the id of the rule that must fire when it is on."""

from __future__ import annotations

FAULTS: dict[str, str] = {
    # shape
    "images_response_matches_schema": "`created` is a string of digits, not an integer.",
    "images_content_type_declared": "200 answers carry Content-Type text/plain.",
    "images_error_body_shape": 'Images error responses are {"error": "<message string>"}.',
    # the images
    "images_data_count": "The last image is left out of `data` (n=1 answers have none).",
    "images_response_format_honoured": "`response_format: url` is ignored: images always come as b64_json.",
    "images_b64_decodes": "b64_json holds the image without its first 16 bytes (no longer decodable).",
    "images_output_format_honoured": "`output_format` is ignored: jpeg is drawn for png, png for anything else.",
    "images_size_honoured": "Images are drawn half as wide as asked.",
    "images_echo_matches_request": "The answer's `output_format` names another encoding than the one asked.",
    "images_url_fetchable": "The image URL of a url answer serves application/octet-stream.",
    # usage
    "images_usage_present": "Answers omit `usage`.",
    "images_usage_total_is_sum": "usage.total_tokens is input_tokens + output_tokens + 1.",
    "images_usage_details_sum": "usage.input_tokens_details.text_tokens is one more than counted.",
    # edits
    "images_edit_forms_accepted": "Multipart edits are refused with 400 (only the JSON form is served).",
    "images_edit_inputs_checked": "An input that is not an image, and a mask of another size, are accepted.",
    # errors and auth
    "images_auth_required": "Any key, or none, is accepted on the images routes.",
    "images_unknown_model_rejected": "Unknown models are answered 200 like a known one.",
    "images_invalid_request_rejected": "Invalid images bodies get 500 (with an error body) instead of 400.",
}
