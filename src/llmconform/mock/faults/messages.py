"""Faults of the messages family (Claude format, POST /v1/messages): each name is the id of the rule
that must fire when it is on (other rules may fire too)."""

from __future__ import annotations

FAULTS: dict[str, str] = {
    # shapes and media types
    "messages_response_matches_schema": "The message `id` is an integer (unary body and message_start).",
    "messages_content_type_declared": "Unary answers carry Content-Type text/plain.",
    # usage (A1)
    "messages_usage_present": "usage lacks input_tokens (unary body and message_start).",
    "messages_usage_counts_non_negative": "usage.cache_creation_input_tokens is -1.",
    "messages_usage_counts_nonzero": "input_tokens and both cache counts are 0 (output_tokens stays right).",
    "messages_cache_tokens_partition_input": (
        "With a cache_control marker, input_tokens still counts the whole prompt, so cached tokens are counted twice."
    ),
    # stop reasons, limits, stop sequences (A2)
    "messages_stop_reason_valid": "A natural end says stop_reason 'stop' (OpenAI's word) instead of 'end_turn'.",
    "messages_stop_sequence_echoed": "stop_sequence is null when a stop sequence ended the answer.",
    "messages_max_tokens_respected": "A max_tokens cut emits k+1 tokens and reports output_tokens k+1.",
    "messages_truncation_stop_reason": "Answers cut by max_tokens say stop_reason 'end_turn' instead of 'max_tokens'.",
    "messages_stop_sequence_ends_answer": "When a stop sequence is hit, the text ends one token before it.",
    # tools
    "messages_tool_use_shape": (
        "tool_use input is a JSON-encoded string (unary), and the streamed input_json_delta fragments spell a "
        "JSON string instead of an object."
    ),
    "messages_tool_use_stop_reason": "Answers that call a tool say stop_reason 'end_turn' instead of 'tool_use'.",
    "messages_tool_choice_honoured": "tool_choice {type: tool, name} is ignored: the answer is text.",
    # stream protocol (A3-A5)
    "messages_stream_event_named": "Stream events are sent without their `event:` line (data only).",
    "messages_stream_event_order": "Content blocks are streamed without their content_block_start event.",
    "messages_stream_usage_cumulative": (
        "message_start reports input_tokens 0; the real count arrives only in message_delta."
    ),
    "messages_stream_error_event": (
        "Streams stop after the first content delta without message_delta, message_stop or an error event."
    ),
    "messages_stream_matches_unary": "Streamed answers carry one extra text token (counted in usage).",
    # errors and auth (E2, E4)
    "messages_error_body_shape": 'Error bodies are OpenAI-shaped: {"error": {"message", "type", "param", "code"}}.',
    "messages_error_type_matches_status": "Every error body says type 'api_error', whatever the status.",
    "messages_auth_required": "Any key, or none, is accepted.",
    "messages_auth_styles_accepted": "Authorization: Bearer is refused with 401; only x-api-key works.",
    "messages_unknown_model_rejected": "Unknown models are answered 200 like a known one.",
    "messages_invalid_request_rejected": "Invalid request bodies get 500 api_error instead of 400.",
}
