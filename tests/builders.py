"""Small builders several test modules share."""

from __future__ import annotations

from typing import Any

from llmconform.load.plan import LoadPlan


def load_plan(**fields: Any) -> LoadPlan:
    """A valid LoadPlan for a target that is never contacted, with ``fields`` changed."""
    values: dict[str, Any] = {
        "scenario": "chat-stream",
        "locustfile": "chat_stream.py",
        "base_url": "http://127.0.0.1:9",
        "model": "m",
        "report_dir": "/tmp/llmconform-test-report",
    }
    values.update(fields)
    return LoadPlan(**values)
