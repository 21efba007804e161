"""llmconform's locust users: each request paced by the plan, timed at full precision, checked.

Scenario files in load/ subclass these (or use them as they are). A user's task calls
``self.chat(stream=...)`` or ``self.list_models()``; pacing, the contract checks, the metrics and
locust's own statistics all happen inside ``send``. Importing this module imports locust, which
patches the standard library for gevent: only locust processes import it.
"""

from __future__ import annotations

from typing import Any

import gevent
from locust import User, constant, task
from locust.exception import StopUser

from llmconform.families.chat import MODELS_OPERATION, MODELS_PATH
from llmconform.load.harness import ProcessHarness
from llmconform.load.http import LoadHttp
from llmconform.load.plugin import harness_for

__all__ = [
    "ChatStreamUser",
    "ChatUnaryUser",
    "EmbeddingsUser",
    "GeminiStreamUser",
    "LLMUser",
    "MessagesStreamUser",
    "MixedUser",
    "ModelsUser",
    "ResponsesStreamUser",
]

CONNECT_FAILURE_PAUSE_S = 0.1


class LLMUser(User):
    """Base class: one keep-alive connection, requests sent when the plan's pacer says."""

    abstract = True
    # The plan's pacer decides when the next request goes (closed loop: at once; open loop: its slot).
    wait_time = constant(0)
    harness: ProcessHarness
    http: LoadHttp

    def on_start(self) -> None:
        self.harness = harness_for(self.environment)
        plan = self.harness.plan
        self.http = LoadHttp(plan.base_url, self.harness.api_key, plan.limits)

    def on_stop(self) -> None:
        http = getattr(self, "http", None)
        if http is not None:
            http.close()

    def send(
        self, name: str, method: str, path: str, *, operation: str, body: Any = None, family: str = "chat"
    ) -> None:
        """Take a slot, send, then check and measure the answer; stop this user when the plan is spent."""
        pacer = self.harness.pacer
        slot = pacer.next_slot()
        if slot is None:
            raise StopUser()
        try:
            exchange, sent = self.http.send(method, path, family=family, operation=operation, json_body=body)
        finally:
            pacer.release()
        record = self.harness.complete(exchange, name, slot, sent)
        if record.error_class == "connect" and not self.harness.plan.open_loop:
            # A closed-loop user would otherwise retry a refused connection thousands of times a second.
            gevent.sleep(CONNECT_FAILURE_PAUSE_S)
        self.environment.events.request.fire(
            request_type=method,
            name=name,
            response_time=record.e2e_ms,
            response_length=exchange.received_bytes,
            exception=None if record.ok else RuntimeError(record.error_class),
            context={},
        )

    def generate(self, family: str, *, stream: bool) -> None:
        """One request of ``family`` (chat, messages, gemini, responses, embeddings) from the workload,
        reported as ``<family>-stream`` / ``<family>-unary`` (embeddings: ``embeddings``)."""
        method, path, operation, body = self.harness.workload.request(family, stream=stream)
        name = family if family == "embeddings" else f"{family}-{'stream' if stream else 'unary'}"
        self.send(name, method, path, operation=operation, body=body, family=family)

    def chat(self, *, stream: bool) -> None:
        """One chat completion from the workload, streamed or not."""
        self.generate("chat", stream=stream)

    def list_models(self) -> None:
        """GET /v1/models."""
        self.send("models", "GET", MODELS_PATH, operation=MODELS_OPERATION, family="models")


class ChatStreamUser(LLMUser):
    """Streamed chat completions (stream_options.include_usage on)."""

    @task
    def chat_stream(self) -> None:
        self.chat(stream=True)


class ChatUnaryUser(LLMUser):
    """Unary chat completions."""

    @task
    def chat_unary(self) -> None:
        self.chat(stream=False)


class ModelsUser(LLMUser):
    """Model lists only (a cheap control: what the gateway adds without a model behind it)."""

    @task
    def models(self) -> None:
        self.list_models()


class MessagesStreamUser(LLMUser):
    """Streamed Claude messages (POST /v1/messages, stream: true)."""

    @task
    def messages_stream(self) -> None:
        self.generate("messages", stream=True)


class GeminiStreamUser(LLMUser):
    """Streamed Gemini generation (:streamGenerateContent?alt=sse)."""

    @task
    def gemini_stream(self) -> None:
        self.generate("gemini", stream=True)


class ResponsesStreamUser(LLMUser):
    """Streamed OpenAI Responses (POST /v1/responses, stream: true)."""

    @task
    def responses_stream(self) -> None:
        self.generate("responses", stream=True)


class EmbeddingsUser(LLMUser):
    """Embeddings of the workload's prompts (POST /v1/embeddings)."""

    @task
    def embeddings(self) -> None:
        self.generate("embeddings", stream=False)


class MixedUser(LLMUser):
    """Every format in one run, weighted per slot: streamed chat 4, unary chat 2, streamed Claude messages 2,
    streamed Gemini 2, streamed Responses 2, embeddings 1, model list 1; reported per operation, so each
    format has its own TTFT (its own "first token": first text delta, first content_block_delta, first
    candidate text, first output_text delta)."""

    @task(4)
    def chat_stream(self) -> None:
        self.chat(stream=True)

    @task(2)
    def chat_unary(self) -> None:
        self.chat(stream=False)

    @task(2)
    def messages_stream(self) -> None:
        self.generate("messages", stream=True)

    @task(2)
    def gemini_stream(self) -> None:
        self.generate("gemini", stream=True)

    @task(2)
    def responses_stream(self) -> None:
        self.generate("responses", stream=True)

    @task(1)
    def embeddings(self) -> None:
        self.generate("embeddings", stream=False)

    @task(1)
    def models(self) -> None:
        self.list_models()
