"""The typed run configuration: defaults, validation messages, the live budget."""

from __future__ import annotations

import pytest
from pydantic import SecretStr, ValidationError

from llmconform.config import FAMILIES, LIVE_DEFAULT_MAX_REQUESTS, CheckConfig, TargetConfig


def test_embedded_mock_has_no_budget_and_a_live_url_has_the_default() -> None:
    assert CheckConfig().budget is None
    live = CheckConfig(target=TargetConfig(base_url="https://api.example.com"))
    assert live.budget == LIVE_DEFAULT_MAX_REQUESTS
    assert CheckConfig(target=TargetConfig(base_url="https://x.example"), max_requests=7).budget == 7


@pytest.mark.parametrize("url", ["https://api.aboai.ai", "https://api.aboai.ai/", "https://api.aboai.ai/v1/"])
def test_base_url_is_the_server_root(url: str) -> None:
    assert TargetConfig(base_url=url).base_url == "https://api.aboai.ai"


def test_base_url_must_be_http() -> None:
    with pytest.raises(ValidationError, match="http:// or https://"):
        TargetConfig(base_url="api.aboai.ai")


def test_families_expand_all_and_reject_unknown_names() -> None:
    assert CheckConfig(families=("all",)).families == FAMILIES
    assert "consistency" in FAMILIES and "gemini" in FAMILIES
    assert CheckConfig(families=("chat", "models")).families == ("models", "chat"), "always in FAMILIES order"
    assert CheckConfig(families=("models", "models")).families == ("models",)
    with pytest.raises(ValidationError, match="unknown family 'imagery'"):
        CheckConfig(families=("imagery",))


def test_the_key_is_a_secret_in_reprs() -> None:
    target = TargetConfig(api_key=SecretStr("sk-very-secret-000"))
    assert "sk-very-secret-000" not in repr(target)
    assert target.key() == "sk-very-secret-000"


def test_without_model_the_first_chat_model_listed_is_picked() -> None:
    from llmconform.families.chat import pick_chat_model

    assert pick_chat_model(["text-embedding-3-small", "whisper-1", "gpt-4o", "o3"]) == "gpt-4o"
    assert pick_chat_model(["text-embedding-3-small"]) == "text-embedding-3-small"
    assert pick_chat_model([]) is None
