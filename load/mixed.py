"""A mix per request slot: streamed chat 6, unary chat 3, GET /v1/models 1, reported per operation.

Run it with `llmconform load --scenario mixed`; change the @task weights in a subclass of MixedUser.
"""

from llmconform.load.users import MixedUser

__all__ = ["MixedUser"]
