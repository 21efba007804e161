"""Faults of the audio family (speech and speech translation): each name is the id of the rule that must fire."""

from __future__ import annotations

FAULTS: dict[str, str] = {
    # speech
    "audio_speech_content_type_matches_format": "Speech answers say Content-Type audio/mpeg whatever the format.",
    "audio_speech_format_honoured": (
        "`response_format` is ignored: the bytes are always MP3 (the header still names the format)."
    ),
    "audio_speech_decodes": "Speech answers are cut after their first 64 bytes.",
    "audio_speech_duration_plausible": "Speech lasts four times as long as the text takes to say.",
    "audio_speech_speed_honoured": "`speed` is ignored: speech always comes at speed 1.0.",
    # translation
    "audio_translation_response_matches_schema": "JSON translations carry `translation` instead of `text`.",
    "audio_translation_content_type_matches_format": "Every translation answer says Content-Type text/plain.",
    "audio_translation_format_honoured": (
        "`response_format` is ignored: translations are always JSON (the header follows the format)."
    ),
    "audio_translation_duration_matches_input": "verbose_json and subtitle timings run twice as long as the input.",
    "audio_translation_language_english": "verbose_json says the output language is french.",
    "audio_translation_file_required": "A form without a file, or whose file is not audio, gets an empty translation.",
    # errors, auth
    "audio_error_body_shape": 'Audio error responses are {"error": "<message string>"}.',
    "audio_auth_required": "Any key, or none, is accepted on /v1/audio/*.",
    "audio_unknown_model_rejected": "Unknown models are answered 200 like a known one.",
    "audio_invalid_request_rejected": "Invalid speech bodies and translation forms get 500 instead of 400.",
}
