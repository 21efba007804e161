"""Embeddings of the workload's prompts (POST /v1/embeddings): end-to-end latency and input tokens.

Run it with `llmconform load --scenario embeddings`; subclass EmbeddingsUser to change the workload.
"""

from llmconform.load.users import EmbeddingsUser

__all__ = ["EmbeddingsUser"]
