"""Which models a load run names when none is given: the first chat model the target lists, and for
embeddings requests (scenarios embeddings and mixed) the first listed embeddings model."""

from __future__ import annotations

from llmconform.load.engine import resolve_model
from llmconform.mock import DEFAULT_API_KEY, MockConfig, MockServer


def test_chat_and_embeddings_models_are_resolved_from_the_list() -> None:
    models = ("text-embedding-3-small", "chat-a", "chat-b")
    with MockServer(MockConfig(models=models)) as server:
        assert resolve_model(server.base_url, DEFAULT_API_KEY, 5.0) == "chat-a"
        assert resolve_model(server.base_url, DEFAULT_API_KEY, 5.0, embeddings=True) == "text-embedding-3-small"


def test_without_a_listed_embeddings_model_the_chat_model_is_used() -> None:
    with MockServer(MockConfig(models=("chat-a",))) as server:
        assert resolve_model(server.base_url, DEFAULT_API_KEY, 5.0, embeddings=True) == "chat-a"
