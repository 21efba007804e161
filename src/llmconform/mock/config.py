"""Configuration of the embedded mock server: one frozen model, built once and passed down."""

from __future__ import annotations

from pydantic import BaseModel, Field, field_validator

from llmconform.mock.capacity import CapacityConfig
from llmconform.mock.faults import FAULTS
from llmconform.mock.load_faults import DEFAULT_STALL_S, check_rates

__all__ = ["DEFAULT_API_KEY", "DEFAULT_MAX_BODY_BYTES", "DEFAULT_MODELS", "MockConfig"]

DEFAULT_API_KEY = "sk-llmconform-mock"
DEFAULT_MODELS: tuple[str, ...] = ("llmconform-mock-small", "llmconform-mock-large")
DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024


class MockConfig(BaseModel, frozen=True):
    """How the mock listens, whom it lets in, how fast it answers and what it gets wrong."""

    host: str = Field(default="127.0.0.1", description="Interface to bind, e.g. 127.0.0.1 or 0.0.0.0.")
    port: int = Field(default=0, ge=0, le=65535, description="TCP port to bind; 0 picks a free ephemeral port.")
    api_key: str = Field(
        default=DEFAULT_API_KEY,
        min_length=1,
        description="The only key accepted in `Authorization: Bearer <key>`.",
    )
    models: tuple[str, ...] = Field(
        default=DEFAULT_MODELS,
        min_length=1,
        description="Model ids the mock serves and lists at GET /v1/models; others get 404.",
    )
    ttft_ms: float = Field(
        default=0.0,
        ge=0.0,
        description="Time to first token in milliseconds (0 means as fast as it can).",
    )
    itl_ms: float = Field(
        default=0.0,
        ge=0.0,
        description="Inter-token latency: milliseconds between streamed content chunks (0 means as fast as it can).",
    )
    tokens_per_chunk: int = Field(
        default=1, ge=1, description="How many generated tokens one streamed content chunk carries."
    )
    video_stage_ms: float = Field(
        default=250.0,
        ge=0.0,
        description="How long a video task stays queued, then running, before it ends (milliseconds per stage).",
    )
    faults: frozenset[str] = Field(
        default=frozenset(),
        description="Fault names (harness rule ids, see llmconform.mock.FAULTS) active on every request.",
    )
    allow_fault_header: bool = Field(
        default=True,
        description="Let a request switch faults on with the `x-llmconform-fault: a,b` header.",
    )
    max_body_bytes: int = Field(
        default=DEFAULT_MAX_BODY_BYTES,
        ge=1,
        description="Largest request body accepted; larger bodies get 413.",
    )
    capacity: CapacityConfig | None = Field(
        default=None,
        description="The capacity model (queue, running cap, step loop; docs/mock-capacity.md); None: fixed TTFT/ITL.",
    )
    load_faults: dict[str, float] = Field(
        default_factory=dict,
        description="Faults under load by rate: kind (see llmconform.mock.load_faults.LOAD_FAULTS) -> probability.",
    )
    load_fault_stall_s: float = Field(
        default=DEFAULT_STALL_S, ge=0.0, description="How long the `stall` load fault pauses an answer (seconds)."
    )
    seed: int = Field(default=0, description="Seed of the load-fault draws.")
    record_path: str | None = Field(
        default=None,
        description="Append one JSON line per finished request to this file (see llmconform.mock.record).",
    )

    @field_validator("faults", mode="after")
    @classmethod
    def _known_faults(cls, value: frozenset[str]) -> frozenset[str]:
        unknown = sorted(value - FAULTS.keys())
        if unknown:
            raise ValueError(
                f"unknown fault name(s) {', '.join(map(repr, unknown))}; valid names are: {', '.join(sorted(FAULTS))}"
            )
        return value

    @field_validator("load_faults", mode="after")
    @classmethod
    def _known_load_faults(cls, value: dict[str, float]) -> dict[str, float]:
        return check_rates(value)
