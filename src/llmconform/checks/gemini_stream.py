"""The Gemini stream state machine (rule table F, G3): framing and the final frame of
streamGenerateContent, with ``?alt=sse`` (server-sent events) and without (one JSON array).

The SSE bytes are read per the standard by :mod:`llmconform.sse`; these rules judge the partial answers
that came out of it, through :func:`llmconform.families.gemini.gemini_view`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from llmconform.checks.registry import Severity, Violation, Warn, exchange_rule
from llmconform.exchange import Exchange
from llmconform.families.gemini import FAMILY, gemini_view, is_stream_answer

# A data line without the space after the colon: legal SSE, but google-genai reads only "data: " lines.
_DATA_WITHOUT_SPACE = re.compile(rb"(?:^|[\r\n])data:(?! )")


def _has_frames(exchange: Exchange) -> bool:
    return is_stream_answer(exchange) and bool(gemini_view(exchange).json_frames)


@exchange_rule("gemini_stream_frames_are_json", family=FAMILY, severity=Severity.ERROR, applies=is_stream_answer)
def gemini_stream_frames_are_json(exchange: Exchange) -> Iterator[Violation]:
    """Every partial answer is a JSON object: with alt=sse each event's data (and no [DONE] terminator),
    without it the elements of one JSON array.

    Source: contract-rules.md F G3 and C.3 (alt=sse frames are GenerateContentResponses with no [DONE]; otherwise
    a JSON array); python-genai _api_client.py (json-decodes every `data: ` line, so a [DONE] event raises, and
    reads only lines starting "data: " with the space: a data line without it is a warning).
    """
    view = gemini_view(exchange)
    if view.kind == "array":
        if not isinstance(view.payload, list):
            problem = "; ".join(view.problems) or f"JSON {type(view.payload).__name__}"
            yield f"Expected: a JSON array of partial answers (no alt=sse). Received: {problem}"
            return
        if not view.frames:
            yield "Expected: at least one partial answer. Received: an empty array"
    elif not view.frames:
        yield "Expected: at least one event. Received: an empty event stream"
    for frame in view.frames:
        if frame.error is not None:
            yield f"{frame.error}: {frame.data!r:.120}" if frame.data else frame.error
    if exchange.invalid_utf8:
        yield "Expected: UTF-8 text. Received: bytes that are not valid UTF-8 in the stream"
    if view.kind == "sse" and exchange.incomplete_trailing_event:
        yield "Expected: every event ended by a blank line. Received: a last event without one (it is discarded)"
    if view.kind == "sse" and _DATA_WITHOUT_SPACE.search(exchange.body):
        yield Warn("a 'data:' line without a space after the colon: legal SSE, but google-genai cannot read it")


@exchange_rule("gemini_stream_final_frame", family=FAMILY, severity=Severity.ERROR, applies=_has_frames)
def gemini_stream_final_frame(exchange: Exchange) -> Iterator[Violation]:
    """The last partial answer carries a finishReason and the whole request's usageMetadata; each candidate
    gets exactly one finishReason, and nothing after it.

    Source: contract-rules.md F G3 and C.3 ("the final frame carries finishReason and the complete
    usageMetadata"); shared/reference/aboai-api.md section 3 (no [DONE]: the stream just ends and the last
    chunk has a finishReason; AboAI bills from usageMetadata, rule X3).
    """
    view = gemini_view(exchange)
    last = view.json_frames[-1]
    where = f"{'event' if view.kind == 'sse' else 'element'} #{last.position}"
    usage = last.payload.get("usageMetadata")
    if not isinstance(usage, dict):
        elsewhere = f" (usage came in frame(s) {view.usage_frames[:5]})" if view.usage_frames else ""
        yield f"Expected: usageMetadata on the last partial answer ({where}). Received: {usage!r:.60}{elsewhere}"
    else:
        wanted = ["promptTokenCount", "totalTokenCount"]
        if any(c.has_output for c in view.candidates):
            wanted.append("candidatesTokenCount")
        missing = [key for key in wanted if not usage.get(key)]
        if missing:
            yield f"Expected: the whole request's usage on {where}. Received: no (or zero) {', '.join(missing)}"
    candidates = last.payload.get("candidates")
    if not (
        isinstance(candidates, list)
        and any(isinstance(c, dict) and c.get("finishReason") is not None for c in candidates)
    ):
        yield f"Expected: a finishReason on the last partial answer ({where}). Received: none"
    for candidate in view.candidates:
        if candidate.finish_count == 0:
            yield f"candidate {candidate.index}: Expected: a finishReason before the stream ends. Received: none"
        elif candidate.finish_count > 1:
            yield f"candidate {candidate.index}: Expected: one finishReason. Received: {candidate.finish_count}"
        if candidate.content_after_finish:
            yield f"candidate {candidate.index}: Expected: no content after finishReason. Received: more parts"
