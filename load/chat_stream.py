"""Streamed chat completions: TTFT, ITL, TPOT and E2E of every answer, each answer checked.

Run it with `llmconform load --scenario chat-stream` (it writes the plan locust needs), and extend
it like any locustfile: subclass ChatStreamUser, add tasks, change the weight.
"""

from llmconform.load.users import ChatStreamUser

__all__ = ["ChatStreamUser"]
