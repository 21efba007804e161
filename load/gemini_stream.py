"""Streamed Gemini generation (:streamGenerateContent?alt=sse): TTFT is the first frame whose candidate carries text.

Run it with `llmconform load --scenario gemini-stream`; subclass GeminiStreamUser to change the workload.
"""

from llmconform.load.users import GeminiStreamUser

__all__ = ["GeminiStreamUser"]
