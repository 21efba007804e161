"""One module per API family: paths, request builders, response views and the family's "first token".

Every family module offers the same three functions, so load, the consistency probes and the client
can treat formats alike: ``request_headers(api_key)`` (the family's native auth and version headers),
``build_request(model, messages, max_tokens=, stream=)`` (a request for chat-format messages) and
``read_answer(exchange)`` (an :class:`~llmconform.families.answer.Answer` or None). No reader raises on
what a server sends: what it cannot read is a problem on the family's view (tests/unit/test_fuzz_parsers.py).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from llmconform.exchange import Exchange
from llmconform.families import audio, chat, embeddings, gemini, images, messages, responses, video
from llmconform.families.answer import Answer

__all__ = ["GENERATION_FAMILIES", "Answer", "build_request", "family_module", "read_answer", "request_headers"]

_MODULES: dict[str, ModuleType] = {
    "chat": chat,
    "models": chat,
    "messages": messages,
    "gemini": gemini,
    "responses": responses,
    "embeddings": embeddings,
    "images": images,
    "audio": audio,
    "video": video,
}
# The chat-like formats: one prompt can be sent through each and the answers compared (rules X1, X2).
GENERATION_FAMILIES: tuple[str, ...] = ("chat", "messages", "gemini", "responses")


def family_module(family: str) -> ModuleType:
    """The module of ``family``; KeyError names the known families."""
    try:
        return _MODULES[family]
    except KeyError:
        raise KeyError(f"unknown family {family!r}; known: {', '.join(_MODULES)}") from None


def request_headers(family: str, api_key: str | None) -> dict[str, str]:
    """The headers a request of ``family`` carries (auth in the family's native style; Bearer otherwise)."""
    headers: dict[str, str] = _MODULES.get(family, chat).request_headers(api_key)
    return headers


def build_request(
    family: str, model: str, messages: list[dict[str, Any]], *, max_tokens: int | None, stream: bool, **params: Any
) -> tuple[str, str, str, dict[str, Any]]:
    """(method, path, operation, body) of a ``family`` request for chat-format ``messages``."""
    built: tuple[str, str, str, dict[str, Any]] = family_module(family).build_request(
        model, messages, max_tokens=max_tokens, stream=stream, **params
    )
    return built


def read_answer(exchange: Exchange) -> Answer | None:
    """The exchange's generation answer in shared terms, or None (not a 2xx generation answer)."""
    module = _MODULES.get(exchange.family)
    if module is None:
        return None
    answer: Answer | None = module.read_answer(exchange)
    return answer
