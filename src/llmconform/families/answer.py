"""What every generation format has in common, read the same way for all of them.

Load metrics and the cross-format consistency rules need only a few facts of an answer, whatever
its wire format: when each piece of generated text arrived (a stream's "first token" is defined
per format), all the text, the input and output token counts and the finish reason. Each family
module reads its own format into an :class:`Answer`, in OpenAI chat-completion terms:

* ``input_tokens`` counts the whole prompt (Claude: input + cache read + cache creation; Gemini:
  promptTokenCount, which includes cached tokens; Responses: input_tokens) - rule X1;
* ``output_tokens`` counts everything generated, reasoning included (Gemini: candidates +
  thoughts; Claude and Responses: output_tokens) - rule X1;
* ``finish`` maps the format's stop reason onto chat's ``finish_reason`` values
  (``length`` = Claude max_tokens = Gemini MAX_TOKENS = Responses incomplete/max_output_tokens;
  ``stop`` = end_turn / stop_sequence / STOP / completed; ``tool_calls`` = tool_use /
  function calls) - rule X2; a value with no mapping is passed through as it came.

A reader answers for any 2xx answer of its family, also one the transport cut short (what arrived before
the cut is still measured), and None for anything else.

Source: shared/reference/contract-rules.md section F, rules X1 and X2.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class Answer:
    """One generation answer (unary or streamed) in the terms every format shares."""

    # Stream events that carried generated text, as (seconds after the request was sent, text), in
    # order; empty for a unary answer. The first is the format's "first token" (TTFT).
    text_events: list[tuple[float, str]] = field(default_factory=list)
    text: str = ""
    input_tokens: int | None = None
    output_tokens: int | None = None
    finish: str | None = None
    raw_finish: str | None = None
    stream: bool = False
    # Media answers (images, audio, video), which carry no text: seconds after the request was sent until the
    # first byte of the answer arrived. Load reports it in the TTFT slot.
    first_byte_s: float | None = None
