"""The embedded mock of an OpenAI-compatible chat API: exact usage, latency model, fault injection.

Start it in-process with ``MockServer`` (tests, ``llmconform check`` without a URL) or in the
foreground with ``serve`` (``llmconform mock``). Every answer is deterministic for a given
request; ``FAULTS`` lists the contract violations it can be told to commit.
"""

from llmconform.mock.app import create_app
from llmconform.mock.config import DEFAULT_API_KEY, DEFAULT_MODELS, MockConfig
from llmconform.mock.faults import FAULT_HEADER, FAULTS
from llmconform.mock.server import MockError, MockServer, serve

__all__ = [
    "DEFAULT_API_KEY",
    "DEFAULT_MODELS",
    "FAULTS",
    "FAULT_HEADER",
    "MockConfig",
    "MockError",
    "MockServer",
    "create_app",
    "serve",
]
