"""One typed configuration for a run, built once in the CLI and passed down (no globals).

Precedence: defaults < environment (``LLMCONFORM_API_KEY``) < flags the user passed.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from llmconform.mock.config import MockConfig
from llmconform.sse import DEFAULT_MAX_LINE_BYTES

API_KEY_ENV = "LLMCONFORM_API_KEY"
FAMILIES: tuple[str, ...] = (
    "models", "chat", "messages", "gemini", "responses", "embeddings", "images", "audio", "video", "consistency",
)  # fmt: skip
# A live URL costs money: without --max-requests a check run sends at most this many requests.
LIVE_DEFAULT_MAX_REQUESTS = 400


class TargetConfig(BaseModel):
    """Where the target is and how to authenticate. ``base_url`` None means the embedded mock."""

    model_config = ConfigDict(frozen=True)

    base_url: str | None = Field(
        default=None, description="Server root, e.g. https://api.aboai.ai (a trailing /v1 is accepted and dropped)"
    )
    api_key: SecretStr | None = Field(default=None, description="API key sent as Authorization: Bearer")
    model: str | None = Field(default=None, description="Model id to check; None: the first one listed")
    embedding_model: str | None = Field(
        default=None,
        description="Model id the embeddings family is checked with; None: the first listed id naming an "
        "embeddings model, else the model under test",
    )
    media_models: dict[str, str] = Field(
        default_factory=dict,
        description="Model ids of the media requests, by kind: speech, translation, video (e.g. tts-1, whisper-1, "
        "doubao-seedance-2-0-260128); a kind not given uses the model under test",
    )

    @field_validator("base_url")
    @classmethod
    def _base_url_is_http(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"must start with http:// or https:// (got {value!r}), e.g. https://api.aboai.ai")
        value = value.rstrip("/")
        # OpenAI SDKs take the base URL with /v1; the contract's paths carry it, so accept both forms.
        return value.removesuffix("/v1")

    @property
    def embedded(self) -> bool:
        return self.base_url is None

    def key(self) -> str | None:
        return self.api_key.get_secret_value() if self.api_key is not None else None


class LimitsConfig(BaseModel):
    """Per-request time and size limits (a hanging target becomes findings, never a hang); docs/limits.md."""

    model_config = ConfigDict(frozen=True)

    connect_timeout_s: Annotated[float, Field(gt=0)] = 10.0
    # No byte received for this long ends the request (--read-timeout).
    read_timeout_s: Annotated[float, Field(gt=0)] = 30.0
    # The whole request, streams included, ends by then however the bytes arrive (--timeout).
    deadline_s: Annotated[float, Field(gt=0)] = 60.0
    # The largest response body or stream, counted after content decoding (--max-body-mb).
    max_body_bytes: Annotated[int, Field(gt=0)] = 32 * 1024 * 1024
    # The longest SSE line (a stream's line larger than this ends the request as undecodable).
    max_line_bytes: Annotated[int, Field(gt=0)] = DEFAULT_MAX_LINE_BYTES


class TaskPollingConfig(BaseModel):
    """How ``check`` and ``load`` wait for an asynchronous task (video generation) to end: polls until
    ``deadline_s`` after its creation, the waits growing from 1 s to ``interval_s`` (at most 30 polls a task:
    a longer deadline spaces them out; ``families.video.poll_gaps``), every poll a request of the budget. None
    picks the default for the target: the embedded mock's tasks end in about a second, a live Seedance task
    takes minutes."""

    model_config = ConfigDict(frozen=True)

    interval_s: Annotated[float, Field(gt=0)] | None = None
    deadline_s: Annotated[float, Field(gt=0)] | None = None

    def resolved(self, mock_stage_s: float | None) -> tuple[float, float]:
        """(interval, deadline) in seconds: the configured values, else, for the embedded mock whose tasks take
        ``mock_stage_s`` per stage, five polls a stage and eight stages' time (at least 2 s); for a URL
        (``mock_stage_s`` None) one poll every 5 s for up to 10 minutes."""
        if mock_stage_s is None:
            interval, deadline = 5.0, 600.0
        else:
            interval, deadline = max(mock_stage_s / 5, 0.01), max(8 * mock_stage_s, 2.0)
        return self.interval_s or interval, self.deadline_s or deadline


class CheckConfig(BaseModel):
    """Everything ``llmconform check`` needs."""

    model_config = ConfigDict(frozen=True)

    target: TargetConfig = TargetConfig()
    families: tuple[str, ...] = FAMILIES
    report_dir: Path = Path("reports/latest")
    max_requests: Annotated[int, Field(gt=0)] | None = None
    positive_examples: Annotated[int, Field(ge=0)] = 100
    negative_examples: Annotated[int, Field(ge=0)] = 60
    property_examples: Annotated[int, Field(ge=0)] = 25
    seed: int = 0
    limits: LimitsConfig = LimitsConfig()
    task_polling: TaskPollingConfig = TaskPollingConfig()
    mock: MockConfig = MockConfig()

    @field_validator("families")
    @classmethod
    def _known_families(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("at least one family is needed")
        expanded: list[str] = []
        for family in value:
            names = FAMILIES if family == "all" else (family,)
            for name in names:
                if name not in FAMILIES:
                    raise ValueError(f"unknown family {name!r}; choose from: all, {', '.join(FAMILIES)}")
                if name not in expanded:
                    expanded.append(name)
        # Always in FAMILIES order: the model list first, the cross-format comparison last.
        return tuple(name for name in FAMILIES if name in expanded)

    @property
    def budget(self) -> int | None:
        """The request cap: --max-requests, or the live default for a real URL, or none for the mock."""
        if self.max_requests is not None:
            return self.max_requests
        return None if self.target.embedded else LIVE_DEFAULT_MAX_REQUESTS


def is_loopback_url(url: str) -> bool:
    """Whether ``url`` names this machine (localhost, 127.0.0.0/8, ::1): traffic that costs nothing.

    Anything else (another host, a hostname that merely resolves to loopback through DNS) is treated
    as a live target, whose runs must be bounded up front.
    """
    host = urlsplit(url).hostname or ""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def api_key_from_env() -> str | None:
    """The API key from the environment, if set and non-empty."""
    value = os.environ.get(API_KEY_ENV, "").strip()
    return value or None
