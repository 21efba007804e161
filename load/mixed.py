"""Every format in one run, per request slot: streamed chat 4, unary chat 2, streamed Claude messages 2,
streamed Gemini 2, streamed Responses 2, embeddings 1, images 1, audio 1, video 1, GET /v1/models 1, reported
per operation (each format's TTFT by its own "first token"; for images and audio the first byte of the answer,
for a video task the create answer's, its E2E running to the poll that saw it end).

Run it with `llmconform load --scenario mixed`; change the @task weights in a subclass of MixedUser.
"""

from llmconform.load.users import MixedUser

__all__ = ["MixedUser"]
