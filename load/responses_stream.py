"""Streamed OpenAI Responses (POST /v1/responses): TTFT is the first response.output_text.delta.

Run it with `llmconform load --scenario responses-stream`; subclass ResponsesStreamUser to change the workload.
"""

from llmconform.load.users import ResponsesStreamUser

__all__ = ["ResponsesStreamUser"]
