"""Faults of the embeddings family: each name is the id of the rule that must fire when it is on."""

from __future__ import annotations

FAULTS: dict[str, str] = {
    # shape
    "embeddings_response_matches_schema": 'The `data` items lack `object: "embedding"`.',
    "embeddings_content_type_declared": "200 answers carry Content-Type text/plain.",
    "embeddings_error_body_shape": 'Embeddings error responses are {"error": "<message string>"}.',
    # usage
    "embeddings_usage_present": "Answers omit `usage`.",
    "embeddings_usage_total_equals_prompt": "usage.total_tokens is prompt_tokens + 1.",
    "embeddings_usage_nonzero": "usage.prompt_tokens and total_tokens are 0.",
    "embeddings_usage_additive": "Every request counts one prompt token more (a batch is no longer the sum).",
    # data and vectors
    "embeddings_data_count": "The last embedding is left out of `data`.",
    "embeddings_data_order": "data[i].index is i + 1 (off by one).",
    "embeddings_dimensions_consistent": "The second vector of an answer is one component shorter.",
    "embeddings_dimensions_honoured": "`dimensions` is ignored: vectors keep the model's default length.",
    "embeddings_values_finite": "Float answers are written by Python's json with NaN as the first component.",
    "embeddings_base64_well_formed": "Base64 vectors lose their last byte (not a whole number of float32s).",
    "embeddings_base64_matches_float": "Base64 vectors are big-endian float32 (the SDK reads little-endian).",
    "embeddings_encoding_format_honoured": "`encoding_format: base64` is ignored: vectors are JSON floats.",
    "embeddings_vectors_normalized": "Vectors are not normalized (their norm is 2).",
    "embeddings_deterministic": "Each vector is seeded with random bytes too, so identical inputs differ.",
    # errors, auth, limits
    "embeddings_auth_required": "Any key, or none, is accepted on /v1/embeddings.",
    "embeddings_unknown_model_rejected": "Unknown models are answered 200 like a known one.",
    "embeddings_invalid_request_rejected": "Invalid embeddings bodies get 500 (with an error body) instead of 400.",
    "embeddings_input_limits_enforced": "Empty input strings, empty input arrays and > 2048 inputs are answered 200.",
}
