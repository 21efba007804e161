"""Faults of the gemini family: each name is the id of the rule that must fire when it is on."""

from __future__ import annotations

FAULTS: dict[str, str] = {
    # shapes and media types
    "gemini_response_matches_schema": (
        "modelVersion is the integer 0; model list entries give inputTokenLimit as a string."
    ),
    "gemini_content_type_declared": "Unary generateContent answers carry Content-Type text/plain.",
    "gemini_error_body_shape": 'Error bodies are OpenAI-shaped {"error": {"message", "type", "code": null}}.',
    # usage arithmetic
    "gemini_usage_present": "Unary answers omit usageMetadata.",
    "gemini_usage_total_is_sum": "totalTokenCount leaves out thoughtsTokenCount (prompt + candidates only).",
    "gemini_usage_cached_within_prompt": "cachedContentTokenCount is promptTokenCount + 5.",
    # request -> response
    "gemini_candidate_count": "Always one candidate, whatever candidateCount asks for.",
    "gemini_candidate_indices_distinct": "Every candidate has index 0.",
    "gemini_output_within_max_tokens": "A maxOutputTokens cut emits k+1 tokens and counts them.",
    "gemini_truncation_finish_max_tokens": "Answers cut by maxOutputTokens say STOP instead of MAX_TOKENS.",
    "gemini_stop_sequence_excluded": "When a stop sequence is hit, the text includes the stop string.",
    "gemini_stop_sequence_ends_answer": "When a stop sequence is hit, the answer ends one token before it.",
    "gemini_function_call_shape": "functionCall.args is a JSON-encoded string instead of an object.",
    "gemini_function_calling_mode_honoured": "functionCallingConfig mode ANY is ignored: the answer is text.",
    "gemini_thoughts_only_when_requested": "With thinkingBudget 0 the model thinks anyway (thoughtsTokenCount > 0).",
    # streams
    "gemini_stream_frames_are_json": "An SSE stream ends with an OpenAI-style `data: [DONE]` event.",
    "gemini_stream_final_frame": "The stream's usageMetadata rides on its first frame, not its last.",
    "gemini_stream_matches_unary": "Streamed answers carry one extra text token (counted in the usage).",
    # inline media (responseModalities IMAGE, AUDIO)
    "gemini_inline_data_mime_type": "Images are declared image/jpeg although their bytes are a PNG.",
    "gemini_inline_data_decodes": "inlineData holds the medium without its first 16 bytes (no longer decodable).",
    "gemini_response_modalities_honoured": "responseModalities is ignored: the answer is text only, finishReason STOP.",
    "gemini_image_config_honoured": "imageConfig.aspectRatio is ignored: images are square.",
    "gemini_usage_modality_details": "candidatesTokensDetails leaves out the IMAGE and AUDIO tokens (TEXT only).",
    # auth, errors, models
    "gemini_auth_required": "Any key, or none, is accepted.",
    "gemini_auth_styles_accepted": "The ?key= query parameter is ignored (only the headers authenticate).",
    "gemini_unknown_model_rejected": "Unknown models are answered 200 like a known one.",
    "gemini_invalid_request_rejected": "Invalid request bodies get 500 INTERNAL instead of 400 INVALID_ARGUMENT.",
    "gemini_model_listed": "GET /v1beta/models lists none of the configured models (only models/other-model-1).",
}
