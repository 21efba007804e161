"""The SSE decoder follows the WHATWG event-stream rules, whatever the network chunking."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmconform.sse import SSEDecoder, SSEError, SSEEvent, decode_all

LINE_ENDS = st.sampled_from(["\n", "\r\n", "\r"])
SAFE_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"), max_size=30)


@st.composite
def streams(draw: st.DrawFn) -> tuple[bytes, list[SSEEvent]]:
    """A valid stream written with arbitrary legal variations, and the events it must decode to."""
    end = draw(LINE_ENDS)
    parts: list[str] = []
    expected: list[SSEEvent] = []
    if draw(st.booleans()):
        parts.append("\ufeff")
    for _ in range(draw(st.integers(min_value=0, max_value=6))):
        if draw(st.booleans()):
            parts.append(":" + draw(SAFE_TEXT) + end)  # a comment
        event_type = draw(st.sampled_from([None, "message", "delta", "x"]))
        if event_type is not None:
            parts.append(f"event: {event_type}{end}")
        lines = draw(st.lists(SAFE_TEXT, min_size=1, max_size=3))
        for line in lines:
            space = " " if draw(st.booleans()) or line.startswith(" ") else ""
            parts.append(f"data:{space}{line}{end}")
        parts.append(end)
        expected.append(SSEEvent(data="\n".join(lines), event=event_type or "message"))
    return "".join(parts).encode("utf-8"), expected


def _feed_in_pieces(payload: bytes, cuts: list[int]) -> list[SSEEvent]:
    decoder = SSEDecoder()
    events: list[SSEEvent] = []
    points = sorted({min(c, len(payload)) for c in cuts})
    start = 0
    for point in [*points, len(payload)]:
        events.extend(decoder.feed(payload[start:point]))
        start = point
    tail, _ = decoder.close()
    return events + tail


@settings(max_examples=300, deadline=None)
@given(stream=streams(), cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=12))
def test_any_split_of_a_valid_stream_decodes_the_same(stream: tuple[bytes, list[SSEEvent]], cuts: list[int]) -> None:
    payload, expected = stream
    whole = decode_all(payload)
    assert [(e.data, e.event) for e in whole] == [(e.data, e.event) for e in expected]
    assert _feed_in_pieces(payload, cuts) == whole


@given(stream=streams())
def test_byte_by_byte_feeding_decodes_the_same(stream: tuple[bytes, list[SSEEvent]]) -> None:
    payload, _ = stream
    assert _feed_in_pieces(payload, list(range(len(payload)))) == decode_all(payload)


def test_crlf_split_across_reads_is_one_line_end() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\r") == []
    assert decoder.feed(b"\n\r") == [SSEEvent(data="a")]
    assert decoder.feed(b"\n") == []  # the \r was already the blank line; \n completes that CRLF


def test_multiline_data_comments_and_fields() -> None:
    payload = b': keep-alive\nid: 7\nretry: 1000\nevent: chunk\ndata: {"a":\ndata: 1}\n\n'
    (event,) = decode_all(payload)
    assert event == SSEEvent(data='{"a":\n1}', event="chunk", id="7", retry=1000)


def test_field_without_colon_and_empty_data() -> None:
    assert decode_all(b"data\n\n") == [SSEEvent(data="")]
    assert decode_all(b"event: x\n\n") == []  # no data: nothing dispatched


def test_unterminated_final_event_is_discarded_and_reported() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: 1\n\ndata: [DONE]\n") == [SSEEvent(data="1")]
    tail, closed = decoder.close()
    assert tail == []
    assert closed.incomplete_event


def test_invalid_utf8_is_replaced_and_flagged() -> None:
    decoder = SSEDecoder()
    events = decoder.feed(b"data: \xff\xfe\n\n")
    assert events[0].data == "\ufffd\ufffd"
    assert decoder.invalid_utf8


def test_utf8_split_inside_a_character_is_not_invalid() -> None:
    payload = "data: héllo ✓\n\n".encode()
    decoder = SSEDecoder()
    events = [e for i in range(len(payload)) for e in decoder.feed(payload[i : i + 1])]
    assert events == [SSEEvent(data="héllo ✓")]
    assert not decoder.invalid_utf8


def test_a_line_over_the_limit_is_an_error() -> None:
    decoder = SSEDecoder(max_line_bytes=10)
    with pytest.raises(SSEError, match="max_line_bytes"):
        decoder.feed(b"data: " + b"x" * 20)
