"""TextJoiner: streamed text fields are built in linear time with the same result as concatenation."""

from __future__ import annotations

from dataclasses import dataclass

from llmconform.families.reading import TextJoiner


@dataclass
class Item:
    text: str | None = None
    arguments: object = None


def test_pieces_are_joined_onto_what_the_field_held() -> None:
    joiner, item, deltas = TextJoiner(), Item(text="Hel"), {}
    joiner.append(item, "text", "lo")
    joiner.append(deltas, (0, 0), "a")
    joiner.append(item, "text", " world")
    joiner.append(deltas, (0, 0), "b")
    assert item.text == "Hel"  # read while streaming: what it held before
    joiner.join()
    assert item.text == "Hello world" and deltas == {(0, 0): "ab"}


def test_a_field_that_was_none_reads_empty_once_text_began() -> None:
    joiner, item = TextJoiner(), Item()
    joiner.append(item, "text", "x")
    assert item.text == ""  # "has text begun?" checks keep working while the stream is read
    joiner.join()
    assert item.text == "x"


def test_flush_joins_early_so_a_later_value_may_replace_it() -> None:
    joiner, item = TextJoiner(), Item()
    joiner.append(item, "arguments", '{"a"')
    joiner.flush(item, "arguments")
    item.arguments = {"a": 1}  # e.g. the done event's complete value
    joiner.join()
    assert item.arguments == {"a": 1}
