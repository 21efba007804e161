"""Faults of the chat and models families (OpenAI chat completions, GET /v1/models)."""

from __future__ import annotations

# How long the request_completes fault stalls an answer: longer than a test's client deadline.
STALL_S = 5.0

FAULTS: dict[str, str] = {
    # usage arithmetic
    "usage_total_is_sum": "total_tokens is prompt + completion + 1 (unary usage and the stream usage chunk).",
    "usage_counts_non_negative": "completion_tokens_details.reasoning_tokens is -1.",
    "usage_details_within_parent": "prompt_tokens_details.cached_tokens is prompt_tokens + 5.",
    "usage_present": "Unary responses omit `usage`.",
    "usage_counts_nonzero": "prompt_tokens is 0 (total_tokens still equals the sum).",
    # choices, truncation, stop
    "n_choices_count": "Always one choice, whatever `n` asks for.",
    "choice_indices_permutation": "Every choice has index 0.",
    "completion_within_max_tokens": "A max_tokens cut emits k+1 tokens and reports completion_tokens k+1.",
    "truncation_finish_reason_length": "Truncated answers say finish_reason 'stop' instead of 'length'.",
    "stop_sequence_excluded": "When a stop sequence is hit, the content includes the stop string.",
    "stop_sequence_ends_answer": "When a stop sequence is hit, the answer ends one token before it.",
    # logprobs
    "logprobs_absent_unless_requested": "Logprobs are returned even when not requested.",
    "top_logprobs_count": "top_logprobs lists have one entry more than requested.",
    "logprob_values_valid": "Logprob values are +0.5.",
    "logprobs_token_count": "The last logprobs entry is dropped.",
    # tools and structured output
    "tool_call_shape": "function.arguments is a JSON object instead of a JSON-encoded string.",
    "tool_calls_finish_reason": "finish_reason 'tool_calls' on a plain text answer without tool_calls.",
    "tool_choice_honoured": "A named tool_choice is ignored: the answer is text with finish 'stop'.",
    "json_mode_content_parses": "json_object / json_schema answers are plain words, not JSON.",
    "json_schema_content_valid": "json_schema answers are `{}`, violating the schema's required/type.",
    # shapes and headers
    "stream_chunk_is_json": 'The 2nd stream event\'s data is invalid JSON (`{"id": `).',
    "response_matches_schema": "`created` is the string 'now'; model list entries lack `owned_by`.",
    "content_type_declared": "Unary JSON answers carry Content-Type text/plain.",
    # stream protocol
    "stream_constant_identity": "Each chunk gets a different id.",
    "stream_single_finish_reason": "The finish chunk is sent twice.",
    "stream_role_first": "No `role` in the first delta.",
    "stream_done_last": "No `data: [DONE]` at the end of the stream.",
    "stream_usage_only_if_requested": "A usage chunk is sent even without stream_options.include_usage.",
    "stream_usage_chunk_final": "With include_usage, the usage chunk is omitted (usage stays null).",
    "stream_tool_call_deltas": "Streamed tool_call deltas lack `index`.",
    "stream_sdk_compatible": "An `event: ping` block without data after the first chunk (legal; breaks openai-python).",
    "stream_matches_unary": "Streamed answers carry one extra content token (counted in usage).",
    # errors, auth, models
    "error_body_shape": 'Error responses are {"error": "<message string>"}.',
    "auth_required": "Any key, or none, is accepted.",
    "unknown_model_rejected": "Unknown models are answered 200 like a known one.",
    "invalid_request_rejected": "Invalid request bodies get 500 (with an error body) instead of 400.",
    "model_listed": "GET /v1/models lists none of the configured models (only 'other-model-1').",
    "server_error": "About one in three valid chat requests (by request hash) gets 500 with an error body.",
    "undocumented_status": "Invalid request bodies get 418 (with a correct error body) instead of 400.",
    "accept_invalid": "Range / enum violations (temperature 3, top_logprobs 25, n 0) are answered 200.",
    "parameter_limits_enforced": "More than 4 stop sequences and top_logprobs above 20 are accepted (answered 200).",
    "reject_valid": "About one in three valid chat requests (by request hash) gets 400 with an error body.",
    "bad_retry_after": "About one in three valid chat requests gets 429 with the header `Retry-After: soon`.",
    # transport
    "request_completes": f"Every chat answer stalls for {STALL_S:g} s before its first byte.",
}
