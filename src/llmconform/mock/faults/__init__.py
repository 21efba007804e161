"""The mock's fault catalogue: one deliberate contract violation per harness rule id.

A fault is active for a request when it is in ``MockConfig.faults`` or, when
``MockConfig.allow_fault_header`` is true, when the request's ``x-llmconform-fault`` header
lists it (comma-separated; unknown names in the header are ignored). Each name is the id of the
check that must fire when the fault is on, so a negative test reads
``fault on -> check fires; fault off -> silence``.

Each API family keeps its faults in its own module here; ``FAULTS_BY_FAMILY`` says which family's
check run exercises a fault, ``FAULTS`` is the union every other part uses.
"""

from __future__ import annotations

from llmconform.mock.faults import audio, chat, consistency, embeddings, gemini, images, messages, responses, video
from llmconform.mock.faults.chat import STALL_S

__all__ = ["FAULTS", "FAULTS_BY_FAMILY", "FAULT_HEADER", "STALL_S", "active_faults", "family_of_fault"]

FAULT_HEADER = "x-llmconform-fault"

FAULTS_BY_FAMILY: dict[str, dict[str, str]] = {
    "chat": chat.FAULTS,
    "messages": messages.FAULTS,
    "gemini": gemini.FAULTS,
    "responses": responses.FAULTS,
    "embeddings": embeddings.FAULTS,
    "images": images.FAULTS,
    "audio": audio.FAULTS,
    "video": video.FAULTS,
    "consistency": consistency.FAULTS,
}


def _union() -> dict[str, str]:
    merged: dict[str, str] = {}
    for family, faults in FAULTS_BY_FAMILY.items():
        for name, description in faults.items():
            if name in merged:
                raise ValueError(f"mock fault {name!r} is declared twice (again by the {family} family)")
            merged[name] = description
    return merged


FAULTS: dict[str, str] = _union()


def family_of_fault(name: str) -> str:
    """The family whose check run exercises fault ``name``."""
    for family, faults in FAULTS_BY_FAMILY.items():
        if name in faults:
            return family
    raise KeyError(name)


def active_faults(configured: frozenset[str], header: str | None, allow_header: bool) -> frozenset[str]:
    """Return the faults in force for one request: the configured ones plus those its header names."""
    if not header or not allow_header:
        return configured
    named = {name.strip() for name in header.split(",")}
    return configured | (named & FAULTS.keys())
