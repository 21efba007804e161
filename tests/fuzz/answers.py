"""Answers of every format, as the fuzzers start from them, and how an answer is read and judged.

Shared by the hypothesis fuzz tests (tests/unit/test_fuzz_parsers.py) and the atheris harnesses in this folder:
one valid template per format and operation (unary bodies, SSE events, the Gemini JSON array, model lists,
error bodies), the requests that bring each family's rules into play, and the two steps every fuzzer ends with:
record the bytes through the client's StreamRecorder, then read and judge the Exchange.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from llmconform.checks import REGISTRY, Results, Warn
from llmconform.checks.registry import Rule
from llmconform.client import ReadAborted, StreamRecorder
from llmconform.exchange import Exchange
from llmconform.families import build_request, chat, embeddings, gemini, messages, read_answer, responses
from llmconform.redact import Redactor

MODEL = "m"

USAGE = {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8, "completion_tokens_details": {}}
TOOL_CALL = {"index": 0, "id": "call_1", "type": "function", "function": {"name": "f", "arguments": '{"a"'}}
CHAT_STREAM: list[tuple[str | None, Any]] = [
    (None, {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": MODEL,
            "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]}),
    (None, {"id": "c", "choices": [{"index": 0, "delta": {"content": "Hi"}, "logprobs": None,
                                    "finish_reason": None}]}),
    (None, {"id": "c", "choices": [{"index": 1, "delta": {"reasoning_content": "hm", "tool_calls": [TOOL_CALL]}}]}),
    (None, {"id": "c", "choices": [{"index": 1, "delta": {"tool_calls": [
        {"index": 0, "function": {"arguments": ": 1}"}}]}}]}),
    (None, {"id": "c", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop", "logprobs": {
        "content": [{"token": "Hi", "logprob": -0.1, "bytes": [72, 105], "top_logprobs": []}]}}]}),
    (None, {"id": "c", "choices": [], "usage": USAGE}),
    (None, "[DONE]"),
]  # fmt: skip
CHAT_UNARY = {
    "id": "c", "object": "chat.completion", "created": 1, "model": MODEL, "usage": USAGE,
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "Hi", "tool_calls": [TOOL_CALL]},
         "finish_reason": "tool_calls", "logprobs": {"content": [{"token": "Hi", "logprob": -0.1}]}},
    ],
}  # fmt: skip
MODELS_LIST = {"object": "list", "data": [{"id": MODEL, "object": "model", "created": 1, "owned_by": "x"}]}
OPENAI_ERROR = {"error": {"message": "bad", "type": "invalid_request_error", "param": None, "code": None}}

CLAUDE_USAGE = {"input_tokens": 5, "output_tokens": 1, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
MESSAGES_STREAM: list[tuple[str | None, Any]] = [
    ("message_start", {"type": "message_start", "message": {
        "id": "msg", "type": "message", "role": "assistant", "content": [], "model": MODEL, "stop_reason": None,
        "stop_sequence": None, "usage": CLAUDE_USAGE}}),
    ("content_block_start", {"type": "content_block_start", "index": 0,
                             "content_block": {"type": "thinking", "thinking": ""}}),
    ("content_block_delta", {"type": "content_block_delta", "index": 0,
                             "delta": {"type": "thinking_delta", "thinking": "hm"}}),
    ("content_block_stop", {"type": "content_block_stop", "index": 0}),
    ("ping", {"type": "ping"}),
    ("content_block_start", {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}}),
    ("content_block_delta", {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "Hi"}}),
    ("content_block_stop", {"type": "content_block_stop", "index": 1}),
    ("content_block_start", {"type": "content_block_start", "index": 2,
                             "content_block": {"type": "tool_use", "id": "t", "name": "f", "input": {}}}),
    ("content_block_delta", {"type": "content_block_delta", "index": 2,
                             "delta": {"type": "input_json_delta", "partial_json": '{"a": 1}'}}),
    ("content_block_stop", {"type": "content_block_stop", "index": 2}),
    ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": None},
                       "usage": {"output_tokens": 3}}),
    ("message_stop", {"type": "message_stop"}),
    ("error", {"type": "error", "error": {"type": "overloaded_error", "message": "busy"}}),
]  # fmt: skip
MESSAGES_UNARY = {
    "id": "msg", "type": "message", "role": "assistant", "model": MODEL, "stop_reason": "end_turn",
    "stop_sequence": None, "usage": CLAUDE_USAGE,
    "content": [{"type": "text", "text": "Hi"}, {"type": "tool_use", "id": "t", "name": "f", "input": {"a": 1}}],
}  # fmt: skip
CLAUDE_ERROR = {"type": "error", "error": {"type": "invalid_request_error", "message": "bad"}}

GEMINI_USAGE = {"promptTokenCount": 5, "candidatesTokenCount": 2, "thoughtsTokenCount": 1, "totalTokenCount": 8}
GEMINI_FRAMES: list[Any] = [
    {"candidates": [{"content": {"role": "model", "parts": [{"text": "hm", "thought": True}]}, "index": 0}],
     "usageMetadata": {"promptTokenCount": 5}, "modelVersion": MODEL, "responseId": "r"},
    {"candidates": [{"content": {"role": "model", "parts": [{"text": "Hi"}]}, "index": 0},
                    {"content": {"parts": [{"functionCall": {"name": "f", "args": {"a": [1, {"b": None}]}}}]},
                     "index": 1}]},
    {"candidates": [{"content": {"role": "model", "parts": [{"text": "!"}]}, "finishReason": "STOP", "index": 0}],
     "usageMetadata": GEMINI_USAGE, "modelVersion": MODEL},
]  # fmt: skip
GEMINI_MODEL = {
    "name": "models/m", "displayName": "M", "supportedGenerationMethods": ["generateContent"],
    "inputTokenLimit": 8, "outputTokenLimit": 8,
}  # fmt: skip
GEMINI_MODELS = {"models": [GEMINI_MODEL], "nextPageToken": "next"}
GOOGLE_ERROR = {"error": {"code": 400, "message": "bad", "status": "INVALID_ARGUMENT"}}

RESPONSE_USAGE = {"input_tokens": 5, "output_tokens": 2, "total_tokens": 7, "output_tokens_details": {}}
MESSAGE_ITEM = {"id": "msg", "type": "message", "status": "completed", "role": "assistant",
                "content": [{"type": "output_text", "text": "Hi", "annotations": []}]}  # fmt: skip
CALL_ITEM = {"id": "fc", "type": "function_call", "call_id": "call", "name": "f", "arguments": "{}",
             "status": "completed"}  # fmt: skip
RESPONSE = {"id": "resp", "object": "response", "created_at": 1, "status": "completed", "model": MODEL,
            "output": [MESSAGE_ITEM, CALL_ITEM], "usage": RESPONSE_USAGE, "incomplete_details": None}  # fmt: skip
_RESPONSE_EVENTS: list[dict[str, Any]] = [
    {"type": "response.created", "response": {**RESPONSE, "status": "in_progress", "output": [], "usage": None}},
    {"type": "response.in_progress", "response": {**RESPONSE, "status": "in_progress", "output": [], "usage": None}},
    {"type": "response.output_item.added", "output_index": 0, "item": {**MESSAGE_ITEM, "content": []}},
    {"type": "response.content_part.added", "output_index": 0, "content_index": 0, "item_id": "msg",
     "part": {"type": "output_text", "text": "", "annotations": []}},
    {"type": "response.output_text.delta", "output_index": 0, "content_index": 0, "item_id": "msg", "delta": "Hi"},
    {"type": "response.output_text.done", "output_index": 0, "content_index": 0, "item_id": "msg", "text": "Hi"},
    {"type": "response.content_part.done", "output_index": 0, "content_index": 0, "item_id": "msg",
     "part": {"type": "output_text", "text": "Hi", "annotations": []}},
    {"type": "response.output_item.done", "output_index": 0, "item": MESSAGE_ITEM},
    {"type": "response.output_item.added", "output_index": 1, "item": {**CALL_ITEM, "arguments": ""}},
    {"type": "response.function_call_arguments.delta", "output_index": 1, "item_id": "fc", "delta": "{}"},
    {"type": "response.function_call_arguments.done", "output_index": 1, "item_id": "fc", "arguments": "{}"},
    {"type": "response.output_item.done", "output_index": 1, "item": CALL_ITEM},
    {"type": "response.completed", "response": RESPONSE},
    {"type": "error", "code": "server_error", "message": "boom", "param": None},
]  # fmt: skip
RESPONSES_STREAM: list[tuple[str | None, Any]] = [
    (event["type"], {**event, "sequence_number": number}) for number, event in enumerate(_RESPONSE_EVENTS)
]
EMBEDDINGS = {
    "object": "list", "model": MODEL, "usage": {"prompt_tokens": 3, "total_tokens": 3},
    "data": [{"object": "embedding", "index": 0, "embedding": [0.5, -0.25, 0.0]},
             {"object": "embedding", "index": 1, "embedding": "AAAAPwAAgL4AAAAA"}],
}  # fmt: skip

PROMPT = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello"}]
SCHEMA = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}
CHAT_TOOLS = [{"type": "function", "function": {"name": "f", "parameters": SCHEMA}}]
# Request options that bring more rules into play (each rule reads what the request asked for).
REQUEST_OPTIONS: dict[str, list[dict[str, Any]]] = {
    "chat": [
        {"stop": ["."], "n": 2, "temperature": 0},
        {"tools": CHAT_TOOLS, "tool_choice": "required"},
        {"tools": CHAT_TOOLS, "tool_choice": {"type": "function", "function": {"name": "f"}}},
        {"logprobs": True, "top_logprobs": 2},
        {"response_format": {"type": "json_object"}},
        {"response_format": {"type": "json_schema", "json_schema": {"name": "s", "schema": SCHEMA, "strict": True}}},
    ],
    "messages": [
        {"stop": ["."], "temperature": 0},
        {"tools": CHAT_TOOLS, "tool_choice": "required"},
        {"tools": CHAT_TOOLS, "tool_choice": {"type": "function", "function": {"name": "f"}}},
    ],
    "gemini": [
        {"stop": ["."], "n": 2, "temperature": 0},
        {"tools": [{"functionDeclarations": [{"name": "f", "parameters": SCHEMA}]}],
         "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["f"]}}},
        {"generationConfig": {"thinkingConfig": {"includeThoughts": True, "thinkingBudget": 0}}},
    ],
    "responses": [
        {"temperature": 0},
        {"tools": [{"type": "function", "name": "f", "parameters": SCHEMA}], "tool_choice": "required"},
        {"tools": [{"type": "function", "name": "f", "parameters": SCHEMA}], "tool_choice": "none"},
    ],
}  # fmt: skip
EMBEDDING_REQUESTS = [
    {"model": MODEL, "input": ["a", "b"]},
    {"model": MODEL, "input": "a", "encoding_format": "base64", "dimensions": 3},
    {"model": MODEL, "input": [[1, 2], [3]], "encoding_format": "float", "dimensions": 2},
]


def requests_of(family: str, stream: bool) -> list[Any]:
    """The request bodies of ``family`` sent with each of its request options."""
    bodies = []
    for options in REQUEST_OPTIONS[family]:
        _, _, _, body = build_request(family, MODEL, PROMPT, max_tokens=8, stream=stream, **copy.deepcopy(options))
        bodies.append(body)
    return bodies


# One row per kind of answer: (family, operation, URL path, request bodies, SSE events or None, unary answer).
Shape = tuple[str, str, str, list[Any], list[tuple[str | None, Any]] | None, Any]
SHAPES: list[Shape] = [
    ("chat", chat.CHAT_OPERATION, chat.CHAT_PATH, requests_of("chat", True), CHAT_STREAM, CHAT_UNARY),
    ("chat", chat.CHAT_OPERATION, chat.CHAT_PATH, requests_of("chat", False), None, CHAT_UNARY),
    ("models", chat.MODELS_OPERATION, chat.MODELS_PATH, [None], None, MODELS_LIST),
    ("messages", messages.MESSAGES_OPERATION, messages.MESSAGES_PATH, requests_of("messages", True),
     MESSAGES_STREAM, MESSAGES_UNARY),
    ("messages", messages.MESSAGES_OPERATION, messages.MESSAGES_PATH, requests_of("messages", False),
     None, MESSAGES_UNARY),
    ("gemini", gemini.STREAM_OPERATION, gemini.generate_path(MODEL, stream=True),
     requests_of("gemini", True), [(None, frame) for frame in GEMINI_FRAMES], GEMINI_FRAMES[0]),
    # streamGenerateContent without ?alt=sse: one JSON array of partial answers.
    ("gemini", gemini.STREAM_OPERATION, gemini.generate_path(MODEL, stream=True, sse=False),
     requests_of("gemini", True), None, GEMINI_FRAMES),
    ("gemini", gemini.GENERATE_OPERATION, gemini.generate_path(MODEL, stream=False),
     requests_of("gemini", False), None, GEMINI_FRAMES[-1]),
    ("gemini", gemini.LIST_MODELS_OPERATION, gemini.MODELS_PATH, [None], None, GEMINI_MODELS),
    ("gemini", gemini.GET_MODEL_OPERATION, gemini.model_path(MODEL), [None], None, GEMINI_MODEL),
    ("responses", responses.RESPONSES_OPERATION, responses.RESPONSES_PATH, requests_of("responses", True),
     RESPONSES_STREAM, RESPONSE),
    ("responses", responses.RESPONSES_OPERATION, responses.RESPONSES_PATH, requests_of("responses", False),
     None, RESPONSE),
    ("embeddings", embeddings.EMBEDDINGS_OPERATION, embeddings.EMBEDDINGS_PATH, EMBEDDING_REQUESTS, None, EMBEDDINGS),
]  # fmt: skip
ERROR_BODIES = {"chat": OPENAI_ERROR, "models": OPENAI_ERROR, "responses": OPENAI_ERROR, "embeddings": OPENAI_ERROR,
                "messages": CLAUDE_ERROR, "gemini": GOOGLE_ERROR}  # fmt: skip


def record_stream(exchange: Exchange, wire: bytes, cuts: list[int], max_line_bytes: int) -> None:
    """Feed ``wire`` through the client's StreamRecorder in the pieces ``cuts`` makes, as the client does."""
    recorder = StreamRecorder(exchange, 0.0, max_body_bytes=1 << 20, max_line_bytes=max_line_bytes)
    points = sorted({min(c, len(wire)) for c in cuts})
    try:
        start = 0
        for point in [*points, len(wire)]:
            recorder.feed(wire[start:point])
            start = point
        recorder.close()
    except ReadAborted as abort:
        exchange.error, exchange.error_kind = abort.message, abort.kind
    finally:
        recorder.finish()


def render_sse(events: list[tuple[str | None, str]], line_end: str) -> bytes:
    """An SSE stream of (event name or None, data) pairs, each data line its own ``data:`` field."""
    parts: list[str] = []
    for name, data in events:
        if name is not None:
            parts.append(f"event: {name}{line_end}")
        parts.extend(f"data: {line}{line_end}" for line in data.split("\n"))
        parts.append(line_end)
    return "".join(parts).encode("utf-8", errors="surrogatepass")


EXCHANGE_RULES: list[Rule] = REGISTRY.of_kind("exchange")
RELATION_RULES: list[Rule] = REGISTRY.of_kind("relation")
# What reads an answer of each family, besides read_answer.
VIEWS: dict[str, list[Callable[[Exchange], object]]] = {
    "chat": [chat.chat_view, chat.listed_model_ids],
    "models": [chat.listed_model_ids],
    "messages": [messages.messages_view],
    "gemini": [gemini.gemini_view, gemini.listed_model_ids],
    "responses": [responses.responses_view],
    "embeddings": [embeddings.embeddings_view, embeddings.vectors_of],
}


def judge_every_rule(exchange: Exchange) -> Results:
    """Run every exchange rule that applies on ``exchange`` directly (no safety net), and keep the findings."""
    results = Results()
    for rule in EXCHANGE_RULES:
        assert rule.applies is not None and rule.function is not None
        if rule.applies(exchange):
            violations = list(rule.function(exchange))
            assert all(isinstance(v, str | Warn) for v in violations), (rule.id, violations)
            results.judge(rule, violations, exchange)
    return results


def read_and_judge(exchange: Exchange) -> Results:
    """Everything the harness does with an answer: read it (read_answer and the family's views), judge it with
    every exchange rule, and render it for a report."""
    read_answer(exchange)
    for view in VIEWS.get(exchange.family, []):
        view(exchange)
    results = judge_every_rule(exchange)
    exchange.to_report(Redactor(["sk-secret-key"]))
    return results
