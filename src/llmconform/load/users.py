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

from llmconform.exchange import Exchange
from llmconform.families import video
from llmconform.families.chat import MODELS_OPERATION, MODELS_PATH
from llmconform.load.harness import ProcessHarness
from llmconform.load.http import LoadHttp
from llmconform.load.plugin import harness_for
from llmconform.load.retry import retry_wait_s
from llmconform.mock.config import MockConfig

__all__ = [
    "AudioUser",
    "ChatStreamUser",
    "ChatUnaryUser",
    "EmbeddingsUser",
    "GeminiStreamUser",
    "ImagesUser",
    "LLMUser",
    "MessagesStreamUser",
    "MixedUser",
    "ModelsUser",
    "ResponsesStreamUser",
    "VideoUser",
]

CONNECT_FAILURE_PAUSE_S = 0.1
# How long the embedded mock keeps a video task in each stage (MockConfig.video_stage_ms), for the poll pace.
MOCK_VIDEO_STAGE_S = MockConfig.model_fields["video_stage_ms"].default / 1000


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
            # --respect-retry-after: wait as the target asks and send again, a bounded number of times. The
            # request keeps its intended time, so the wait counts in its latency; retries are tallied apart.
            for _ in range(self.harness.plan.max_retries if self.harness.plan.respect_retry_after else 0):
                wait = retry_wait_s(exchange, self.harness.plan.max_retry_wait_s, pacer.seconds_left())
                if wait is None:
                    break
                self.harness.tally.retry(exchange.status, wait, warmup=slot.warmup)
                gevent.sleep(wait)
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
        """One request of ``family`` (chat, messages, gemini, responses, embeddings, images) from the workload,
        reported as ``<family>-stream`` / ``<family>-unary`` (embeddings, images: the family's name)."""
        method, path, operation, body = self.harness.workload.request(family, stream=stream)
        unary = ("embeddings", "images", "audio")
        name = family if family in unary else f"{family}-{'stream' if stream else 'unary'}"
        self.send(name, method, path, operation=operation, body=body, family=family)

    def video_task(self) -> None:
        """One video task from the workload, reported as ``video``: created, then polled every
        ``plan.task_polling`` interval until it ends or its deadline passes (``families.video.poll_gaps``).
        Its E2E runs from the create's send to the poll that saw the end; its TTFT slot is the create answer's
        first byte. The create and every poll are judged by the rules; the slot is held until the task ends."""
        pacer = self.harness.pacer
        slot = pacer.next_slot()
        if slot is None:
            raise StopUser()
        plan = self.harness.plan
        interval, deadline = plan.task_polling.resolved(MOCK_VIDEO_STAGE_S if plan.embedded else None)
        polls: list[Exchange] = []
        try:
            method, path, operation, body = self.harness.workload.request("video", stream=False)
            create, sent = self.http.send(method, path, family="video", operation=operation, json_body=body)
            task_id = video.created_task_id(create)
            if task_id is not None:
                polls = self._poll_video(task_id, interval, deadline)
        finally:
            pacer.release()
        task, failed = video.task_exchange(create, polls, deadline)
        record = self.harness.complete(task, "video", slot, sent, parts=[create, *polls], failed=failed)
        self.environment.events.request.fire(
            request_type=method,
            name="video",
            response_time=record.e2e_ms,
            response_length=task.received_bytes,
            exception=None if record.ok else RuntimeError(record.error_class),
            context={},
        )

    def _poll_video(self, task_id: str, interval: float, deadline: float) -> list[Exchange]:
        """Poll a video task until it ends, an answer is not 2xx, or ``poll_gaps`` is spent (bounded)."""
        polls: list[Exchange] = []
        for gap in video.poll_gaps(interval, deadline):
            gevent.sleep(gap)
            poll, _ = self.http.send("GET", video.task_path(task_id), family="video", operation=video.QUERY_OPERATION)
            polls.append(poll)
            if not poll.ok or video.task_view(poll).final:
                break
        return polls

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


class ImagesUser(LLMUser):
    """Image generations from the workload's prompts (POST /v1/images/generations): one 1024x1024 image of
    quality low as b64_json per request; TTFT is the first byte of the answer, E2E its completion."""

    @task
    def images(self) -> None:
        self.generate("images", stream=False)


class AudioUser(LLMUser):
    """Speech of the workload's prompts (POST /v1/audio/speech, mp3): TTFT slot = the first byte of the audio."""

    @task
    def audio(self) -> None:
        self.generate("audio", stream=False)


class VideoUser(LLMUser):
    """Video tasks of the workload's prompts (the cheapest upstream makes: 4 s at 480p), each polled until it
    ends; E2E = from the create's send to the poll that saw the end."""

    @task
    def video(self) -> None:
        self.video_task()


class MixedUser(LLMUser):
    """Every format in one run, weighted per slot: streamed chat 4, unary chat 2, streamed Claude messages 2,
    streamed Gemini 2, streamed Responses 2, embeddings 1, images 1, audio 1, video 1, model list 1; reported per
    operation, so each format has its own TTFT (its own "first token": first text delta, first
    content_block_delta, first candidate text, first output_text delta; for images and audio the answer's first
    byte, for a video task the create answer's)."""

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
    def images(self) -> None:
        self.generate("images", stream=False)

    @task(1)
    def audio(self) -> None:
        self.generate("audio", stream=False)

    @task(1)
    def video(self) -> None:
        self.video_task()

    @task(1)
    def models(self) -> None:
        self.list_models()
