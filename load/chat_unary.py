"""Unary chat completions: E2E latency and output tokens/s of every answer, each answer checked.

Run it with `llmconform load --scenario chat-unary`.
"""

from llmconform.load.users import ChatUnaryUser

__all__ = ["ChatUnaryUser"]
