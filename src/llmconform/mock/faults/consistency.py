"""Faults of the cross-format consistency rules: one format (chat completions) drifts from the others,
while staying consistent with itself, the way a translating gateway goes wrong."""

from __future__ import annotations

FAULTS: dict[str, str] = {
    "cross_format_usage_consistent": (
        "Chat completions report prompt_tokens 2 higher than the other formats do (total still the sum)."
    ),
    "cross_format_finish_consistent": (
        "Chat completions cut by max_tokens say finish_reason 'stop' where the other formats say they were cut."
    ),
}
