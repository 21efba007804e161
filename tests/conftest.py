"""Shared fixtures: the embedded mock on 127.0.0.1:0, in-process."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from llmconform.mock import DEFAULT_API_KEY, MockConfig, MockServer


@pytest.fixture(scope="session")
def mock_url() -> Iterator[str]:
    """A clean mock shared by the session (faults only by request header)."""
    with MockServer(MockConfig()) as server:
        yield server.base_url


@pytest.fixture(scope="session")
def mock_key() -> str:
    return DEFAULT_API_KEY
