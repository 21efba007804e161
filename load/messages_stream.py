"""Streamed Claude messages (POST /v1/messages): TTFT is the first content_block_delta carrying text.

Run it with `llmconform load --scenario messages-stream`; subclass MessagesStreamUser to change the workload.
"""

from llmconform.load.users import MessagesStreamUser

__all__ = ["MessagesStreamUser"]
