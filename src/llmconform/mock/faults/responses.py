"""Faults of the responses family (OpenAI Responses API, POST /v1/responses): each name is the id of the
rule that must fire when it is on."""

from __future__ import annotations

FAULTS: dict[str, str] = {
    # shapes and headers
    "responses_matches_schema": "`created_at` is the string 'now' (unary body and every streamed response).",
    "responses_content_type_declared": "Unary JSON answers carry Content-Type text/plain.",
    "responses_error_body_shape": 'Error responses are {"error": "<message string>"}.',
    # usage arithmetic
    "responses_usage_present": "Unary answers omit `usage`; the stream's terminal response has usage null.",
    "responses_usage_total_is_sum": "total_tokens is input_tokens + output_tokens + 1.",
    "responses_usage_counts_non_negative": "output_tokens_details.reasoning_tokens is -1.",
    "responses_usage_details_within_parent": "input_tokens_details.cached_tokens is input_tokens + 5.",
    # status and request -> response relations
    "responses_status_details_consistent": "Completed responses carry incomplete_details {reason: max_output_tokens}.",
    "responses_output_within_max_tokens": "A max_output_tokens cut emits k+1 tokens and reports output_tokens k+1.",
    "responses_truncation_incomplete": "Answers cut by max_output_tokens say status 'completed' (no incomplete).",
    "responses_function_call_shape": "function_call arguments are a JSON array string ('[{...}]'), not an object.",
    "responses_tool_choice_honoured": "A tool_choice naming a function is ignored: the answer is a text message.",
    # stream protocol
    "responses_stream_event_is_json": "A stream event whose data is invalid JSON follows response.in_progress.",
    "responses_stream_event_name_matches_type": "output_text.delta events are named `event: response.text.delta`.",
    "responses_stream_sequence_numbers": "Each output_text.delta repeats the sequence_number of the event before it.",
    "responses_stream_lifecycle": "The stream starts with response.in_progress: no response.created.",
    "responses_stream_item_order": "No response.output_item.done events: items are added but never done.",
    "responses_stream_text_assembles": "response.output_text.done text has an extra ' indeed' the deltas lack.",
    "responses_stream_matches_unary": "Streamed answers carry one extra text token (counted in usage).",
    # errors, auth, models
    "responses_auth_required": "Any key, or none, is accepted on POST /v1/responses.",
    "responses_unknown_model_rejected": "Unknown models are answered 200 like a known one.",
    "responses_invalid_request_rejected": "Invalid request bodies get 500 (with an error body) instead of 400.",
    "responses_unknown_previous_response_rejected": "An unknown previous_response_id is ignored (answered 200).",
}
