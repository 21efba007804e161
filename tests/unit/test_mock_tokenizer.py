"""The mock's tokenizer: lossless, deterministic, and the documented prompt-token formula."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from llmconform.mock.tokenizer import count_prompt_tokens, count_tokens, tokenize


@given(st.text())
def test_pieces_join_back_to_the_text(text: str) -> None:
    assert "".join(tokenize(text)) == text


@given(st.text())
def test_count_is_deterministic_and_matches_tokenize(text: str) -> None:
    assert count_tokens(text) == count_tokens(text) == len(tokenize(text))
    assert tokenize(text) == tokenize(text)


@given(st.text(min_size=1))
def test_every_piece_is_non_empty(text: str) -> None:
    assert all(tokenize(text))


def test_pieces_carry_their_leading_whitespace() -> None:
    assert tokenize("Hello, world!  ") == ["Hello", ",", " world", "!", "  "]
    assert tokenize(' {"a": 1}') == [" {", '"', "a", '"', ":", " 1", "}"]
    assert tokenize("") == []


def test_prompt_token_formula() -> None:
    messages = [
        {"role": "system", "content": "Be brief."},  # 3 + 1 + 3
        {
            "role": "user",
            "name": "ann",
            "content": [{"type": "text", "text": "Hi there"}, {"type": "image_url"}],
        },
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "ok"},
    ]
    expected = 3 + (3 + 1 + 3) + (3 + 1 + 2 + 85 + 1) + (3 + 1 + 1 + 2) + (3 + 1 + 1 + 1)
    assert count_prompt_tokens(messages) == expected
    tools = [{"type": "function", "function": {"name": "f"}}]
    fmt = {"type": "json_schema", "json_schema": {"name": "x"}}
    with_extras = count_prompt_tokens(messages, tools, fmt)
    tools_tokens = count_tokens('[{"type":"function","function":{"name":"f"}}]')
    assert with_extras == expected + tools_tokens + count_tokens('{"name":"x"}')
