"""The mock's Claude-format endpoint: ``POST /v1/messages``, unary and streamed (Anthropic Messages API).

A request goes through, in order: faults in force, auth (``x-api-key`` or ``Authorization: Bearer``;
401 ``authentication_error``), body size (413 ``request_too_large``), JSON parse (400), the contract's
``CreateMessageRequest`` schema (400 naming the field), the model (404 ``not_found_error``), then
generation. Every failure is an Anthropic error body ``{"type": "error", "error": {"type", "message"},
"request_id"}``; an unexpected exception is logged and answered 500 ``api_error``.

Generation translates the request into a chat-completions body and runs the chat generator
(``ChatRequest.from_body`` + ``content.generate``), so one prompt gets the same text and token counts
through every format:

* ``system`` (a string, or one system message per text block), then the turns: text blocks become
  text parts, images ``image_url`` parts, ``tool_use`` blocks the assistant's ``tool_calls``, and each
  ``tool_result`` a ``tool`` message (placed before the rest of its user turn); thinking blocks are
  left out. ``tools`` become function tools; ``tool_choice`` auto / any / tool / none becomes
  "auto" / "required" / a named function / "none". ``max_tokens``, ``stop_sequences`` (as ``stop``),
  ``temperature``, ``top_p`` and the vLLM-style extensions ``ignore_eos`` and ``seed`` carry over. A
  tool_choice of type any or tool without tools, or naming a tool not offered, is refused with 400.
* The stop reason: a max_tokens cut is "max_tokens", a tool call "tool_use", an answer ended by one of
  ``stop_sequences`` "stop_sequence" (with that sequence echoed), any other end "end_turn".
* Usage is exact. Without a ``cache_control`` marker the cache counts are 0 and ``input_tokens`` is the
  chat prompt-token count. With markers on system or message blocks, the prompt up to and including
  the last marked block (tokens counted by the chat formula on that prefix of the conversation) is
  reported as ``cache_read_input_tokens`` and the rest as ``input_tokens``, as if the cache were warm;
  so input + cache_read + cache_creation always equals the chat format's prompt_tokens.

A stream is sent as rounds like chat's: round 0 holds message_start, a ping, the first block's start
and first delta (after the time to first token); each later round one more delta (one inter-token
latency later); the last round also closes the block(s) and carries message_delta (cumulative usage,
stop reason) and message_stop. ``metadata.user_id`` equal to :data:`FAIL_MID_STREAM` makes the mock
fail on purpose: a stream stops after round 0 with ``event: error`` (``overloaded_error``), a unary
request gets 529 ``overloaded_error``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from llmconform.mock.common import SERVER_FAILURE_MESSAGE, MockContext, RequestGuard, mask_key
from llmconform.mock.content import Choice, Completion, generate
from llmconform.mock.delivery import Overload, deliver
from llmconform.mock.load_faults import MESSAGES_SSE
from llmconform.mock.request import ChatRequest
from llmconform.mock.tokenizer import count_prompt_tokens, tokenize
from llmconform.mock.validation import BodyValidator

__all__ = ["FAIL_MID_STREAM", "PATH_PREFIXES", "ClaudeError", "chat_body", "error_response", "routes", "routing_error"]

logger = logging.getLogger(__name__)

# Paths this family serves: routing errors (404, 405) under them get this family's error shape.
PATH_PREFIXES: tuple[str, ...] = ("/v1/messages",)
REQUEST_SCHEMA = "CreateMessageRequest"
DOCUMENT = "messages"
# metadata.user_id that makes the mock fail on purpose (see the module docstring).
FAIL_MID_STREAM = "llmconform-mock:fail-mid-stream"

_JSON = "application/json"
_TYPE_BY_STATUS = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}
# Chat-generator faults that produce a messages fault's content-level break.
_CONTENT_FAULTS = {
    "messages_max_tokens_respected": "completion_within_max_tokens",
    "messages_stop_sequence_ends_answer": "stop_sequence_ends_answer",
    "messages_tool_choice_honoured": "tool_choice_honoured",
    "messages_stream_matches_unary": "stream_matches_unary",
}
# Top-level keys the chat generator reads that are not Claude keys (vLLM-style extensions).
_PASSED_THROUGH = ("ignore_eos", "seed")


# ---------------------------------------------------------------------- errors


@dataclass(frozen=True, slots=True)
class ClaudeError:
    """One error answer: HTTP status, Anthropic's error type (from the status by default), message, headers."""

    status: int
    message: str
    type: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def error_type(self) -> str:
        return self.type or _TYPE_BY_STATUS.get(
            self.status, "api_error" if self.status >= 500 else "invalid_request_error"
        )

    def body(self, faults: frozenset[str], request_id: str) -> bytes:
        """Encode the body, with the error-shape faults applied."""
        kind = "api_error" if "messages_error_type_matches_status" in faults else self.error_type
        if "messages_error_body_shape" in faults:
            return orjson.dumps({"error": {"message": self.message, "type": kind, "param": None, "code": None}})
        return orjson.dumps(
            {"type": "error", "error": {"type": kind, "message": self.message}, "request_id": request_id}
        )


# The 500 answered when a handler raised.
_SERVER_FAILURE = ClaudeError(500, SERVER_FAILURE_MESSAGE)


def error_response(error: ClaudeError, faults: frozenset[str], request_id: str) -> Response:
    """Render ``error`` as a JSON response carrying Anthropic's ``request-id`` header."""
    headers = {**error.headers, "request-id": request_id}
    return Response(error.body(faults, request_id), status_code=error.status, headers=headers, media_type=_JSON)


def routing_error(
    status: int, where: str, headers: Mapping[str, str], faults: frozenset[str], request_id: str
) -> Response:
    """A routing error (unknown path 404, wrong method 405) under this family's paths, in its error shape."""
    if status == 405:
        message = f"Method not allowed: {where}. The mock serves POST /v1/messages."
    else:
        message = f"Not found: {where}. The mock serves POST /v1/messages; check the base URL and path."
    return error_response(ClaudeError(status, message, headers=headers), faults, request_id)


# ---------------------------------------------------------------------- request translation


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _marked(block: Any) -> bool:
    return isinstance(block, dict) and isinstance(block.get("cache_control"), dict)


def _text_parts(content: Any) -> str | list[dict[str, Any]]:
    if isinstance(content, str):
        return content
    return [
        {"type": "text", "text": b["text"]}
        for b in _as_list(content)
        if isinstance(b, dict) and b.get("type") == "text" and isinstance(b.get("text"), str)
    ]


def _image_part(block: dict[str, Any]) -> dict[str, Any]:
    source = block.get("source")
    source = source if isinstance(source, dict) else {}
    if source.get("type") == "base64":
        url = f"data:{source.get('media_type')};base64,{source.get('data')}"
    else:
        url = str(source.get("url", ""))
    return {"type": "image_url", "image_url": {"url": url}}


def _user_turn(content: Any) -> list[dict[str, Any]]:
    if not isinstance(content, list):
        return [{"role": "user", "content": content}]
    tool_messages: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for block in content:
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            parts.append({"type": "text", "text": block.get("text")})
        elif kind == "image":
            parts.append(_image_part(block))
        elif kind == "tool_result":
            tool_messages.append(
                {
                    "role": "tool",
                    "tool_call_id": block.get("tool_use_id"),
                    "content": _text_parts(block.get("content", "")),
                }
            )
    return tool_messages + ([{"role": "user", "content": parts}] if parts else [])


def _assistant_turn(content: Any) -> dict[str, Any]:
    if not isinstance(content, list):
        return {"role": "assistant", "content": content}
    parts: list[dict[str, Any]] = []
    calls: list[dict[str, Any]] = []
    for block in content:
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            parts.append({"type": "text", "text": block.get("text")})
        elif kind == "tool_use":
            arguments = orjson.dumps(block.get("input", {})).decode()
            calls.append(
                {
                    "id": block.get("id"),
                    "type": "function",
                    "function": {"name": block.get("name"), "arguments": arguments},
                }
            )
    message: dict[str, Any] = {"role": "assistant", "content": parts or None}
    if calls:
        message["tool_calls"] = calls
    return message


def _chat_messages(system: Any, turns: list[Any]) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    if isinstance(system, str):
        messages.append({"role": "system", "content": system})
    else:
        for block in _as_list(system):
            if isinstance(block, dict) and isinstance(block.get("text"), str):
                messages.append({"role": "system", "content": block["text"]})
    for turn in turns:
        if not isinstance(turn, dict):
            continue
        if turn.get("role") == "assistant":
            messages.append(_assistant_turn(turn.get("content")))
        else:
            messages.extend(_user_turn(turn.get("content")))
    return messages


def _chat_tools(tools: Any) -> list[dict[str, Any]]:
    converted = []
    for tool in _as_list(tools):
        if isinstance(tool, dict):
            function: dict[str, Any] = {"name": tool.get("name"), "parameters": tool.get("input_schema")}
            if "description" in tool:
                function = {"name": tool.get("name"), "description": tool["description"], **function}
            converted.append({"type": "function", "function": function})
    return converted


def _chat_tool_choice(choice: Any) -> Any:
    kind = choice.get("type") if isinstance(choice, dict) else None
    if kind == "tool":
        return {"type": "function", "function": {"name": choice.get("name")}}
    return {"auto": "auto", "any": "required", "none": "none"}.get(str(kind))


def chat_body(body: Mapping[str, Any], *, stream: bool = False) -> dict[str, Any]:
    """The chat-completions body that asks the chat generator for this Claude-format request's answer."""
    chat: dict[str, Any] = {
        "model": body.get("model"),
        "messages": _chat_messages(body.get("system"), _as_list(body.get("messages"))),
        "max_tokens": body.get("max_tokens"),
    }
    if isinstance(body.get("stop_sequences"), list):
        chat["stop"] = body["stop_sequences"]
    for key in ("temperature", "top_p", *_PASSED_THROUGH):
        if key in body:
            chat[key] = body[key]
    if body.get("tools"):
        chat["tools"] = _chat_tools(body["tools"])
    choice = _chat_tool_choice(body.get("tool_choice"))
    if choice is not None:
        chat["tool_choice"] = choice
    if stream:
        chat["stream"] = True
    return chat


def cached_prefix_tokens(body: Mapping[str, Any], chat: Mapping[str, Any]) -> int | None:
    """Prompt tokens (chat formula) up to and including the last block with a cache_control marker, or None.

    Anthropic caches tools, then system, then messages, up to a breakpoint; the tools count toward the
    prefix whenever there is a marker.
    """
    system = body.get("system")
    turns = _as_list(body.get("messages"))
    cut: tuple[Any, list[Any]] | None = None
    if isinstance(system, list):
        for position, block in enumerate(system):
            if _marked(block):
                cut = (system[: position + 1], [])
    for number, turn in enumerate(turns):
        content = _as_list(turn.get("content")) if isinstance(turn, dict) else []
        for position, block in enumerate(content):
            if _marked(block):
                cut = (system, [*turns[:number], {**turn, "content": content[: position + 1]}])
    if cut is None:
        return None
    return count_prompt_tokens(_chat_messages(*cut), chat.get("tools"))


# ---------------------------------------------------------------------- the answer


@dataclass(slots=True)
class _Block:
    """One content block to send: its unary JSON, its start JSON and its delta fragments."""

    unary: dict[str, Any]
    start: dict[str, Any]
    delta_type: str
    delta_key: str
    pieces: list[str]


@dataclass(slots=True)
class _Answer:
    blocks: list[_Block]
    stop_reason: str
    stop_sequence: str | None
    input_tokens: int
    cache_read: int
    output_tokens: int
    chat: ChatRequest | None = None


def _tool_id(call_id: str) -> str:
    return "toolu_" + call_id.removeprefix("call_")


def _tool_blocks(choice: Choice, truncated: bool, faults: frozenset[str]) -> tuple[list[_Block], int]:
    blocks: list[_Block] = []
    adjust = 0
    for call in choice.tool_calls:
        pieces = list(call.pieces)
        try:
            arguments: Any = orjson.loads(call.arguments)
        except orjson.JSONDecodeError:
            arguments = None
        if not isinstance(arguments, dict):
            if truncated:
                arguments = {}  # a cut call: the unary input holds what parsed (nothing); the stream its fragments
            else:
                arguments, pieces = {}, tokenize("{}")  # a tool schema whose instance is not an object
                adjust += len(pieces) - len(call.pieces)
        unary_input: Any = arguments
        if "messages_tool_use_shape" in faults:
            unary_input = orjson.dumps(arguments).decode()
            pieces = tokenize(orjson.dumps("".join(pieces)).decode())
        start = {"type": "tool_use", "id": _tool_id(call.id), "name": call.name, "input": {}}
        unary = {"type": "tool_use", "id": _tool_id(call.id), "name": call.name, "input": unary_input}
        blocks.append(_Block(unary, start, "input_json_delta", "partial_json", pieces))
    return blocks, adjust


def _matched_stop(chat: ChatRequest, faults: frozenset[str], streaming: bool) -> str | None:
    """The stop sequence that ended the answer: the earliest one in the answer generated without stops."""
    uncut = generate(dataclasses.replace(chat, stop=()), faults, streaming=streaming).choices[0]
    text = uncut.content or ""
    hits = [(position, len(stop), stop) for stop in chat.stop if (position := text.find(stop)) >= 0]
    return min(hits)[2] if hits else None


def _answer(body: Mapping[str, Any], faults: frozenset[str], streaming: bool) -> _Answer:
    chat_dict = chat_body(body, stream=streaming)
    chat = ChatRequest.from_body(chat_dict)
    content_faults = frozenset(_CONTENT_FAULTS[f] for f in faults if f in _CONTENT_FAULTS)
    completion: Completion = generate(chat, content_faults, streaming=streaming)
    choice = completion.choices[0]
    truncated = choice.finish_reason == "length"
    output = completion.completion_tokens
    stop_sequence: str | None = None
    if choice.tool_calls:
        blocks, adjust = _tool_blocks(choice, truncated, faults)
        output += adjust
        reason = "max_tokens" if truncated else "tool_use"
        if reason == "tool_use" and "messages_tool_use_stop_reason" in faults:
            reason = "end_turn"
    else:
        text = choice.content or ""
        blocks = []
        if text:
            start = {"type": "text", "text": ""}
            blocks.append(_Block({"type": "text", "text": text}, start, "text_delta", "text", list(choice.pieces)))
        if truncated:
            reason = "max_tokens"
        else:
            stop_sequence = _matched_stop(chat, content_faults, streaming) if chat.stop else None
            reason = "stop_sequence" if stop_sequence is not None else "end_turn"
    if truncated and "messages_truncation_stop_reason" in faults:
        reason = "end_turn"
    if reason == "end_turn" and "messages_stop_reason_valid" in faults:
        reason = "stop"
    if "messages_stop_sequence_echoed" in faults:
        stop_sequence = None
    prompt = chat.prompt_tokens
    prefix = cached_prefix_tokens(body, chat_dict)
    cache_read = min(prefix, prompt) if prefix is not None else 0
    input_tokens = prompt if "messages_cache_tokens_partition_input" in faults else prompt - cache_read
    return _Answer(blocks, reason, stop_sequence, input_tokens, cache_read, output, chat)


def _with_engine_cache(answer: _Answer, cached: int, faults: frozenset[str]) -> _Answer:
    """``answer`` with the capacity model's prefix-cache hit as its cache read when that is larger than the
    cache_control one; input_tokens keeps the partition (input + cache read == the prompt)."""
    if cached <= answer.cache_read:
        return answer
    partition_broken = "messages_cache_tokens_partition_input" in faults
    prompt = answer.input_tokens if partition_broken else answer.input_tokens + answer.cache_read
    cache_read = min(cached, prompt)
    return dataclasses.replace(
        answer, cache_read=cache_read, input_tokens=prompt if partition_broken else prompt - cache_read
    )


def _overload_error(overload: Overload) -> ClaudeError:
    """The capacity model's refusal or an error load fault as a Claude error (429 rate_limit_error, ...)."""
    return ClaudeError(overload.status, overload.message, headers=overload.headers)


def _usage(answer: _Answer, faults: frozenset[str], *, output: int, start: bool = False) -> dict[str, Any]:
    input_tokens, cache_read = answer.input_tokens, answer.cache_read
    if "messages_usage_counts_nonzero" in faults:
        input_tokens = cache_read = 0
    if start and "messages_stream_usage_cumulative" in faults:
        input_tokens = 0
    usage: dict[str, Any] = {
        "input_tokens": input_tokens,
        "cache_creation_input_tokens": -1 if "messages_usage_counts_non_negative" in faults else 0,
        "cache_read_input_tokens": cache_read,
    }
    if "messages_usage_present" in faults:
        del usage["input_tokens"]
    usage["output_tokens"] = output
    return usage


def _message(answer: _Answer, model: str, message_id: str, faults: frozenset[str], *, stream: bool) -> dict[str, Any]:
    usage = _usage(
        answer, faults, output=min(1, answer.output_tokens) if stream else answer.output_tokens, start=stream
    )
    usage["cache_creation"] = {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0}
    usage["service_tier"] = "standard"
    return {
        "id": 4242 if "messages_response_matches_schema" in faults else message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [] if stream else [b.unary for b in answer.blocks],
        "stop_reason": None if stream else answer.stop_reason,
        "stop_sequence": None if stream else answer.stop_sequence,
        "usage": usage,
    }


def _frame(payload: dict[str, Any], faults: frozenset[str]) -> bytes:
    data = b"data: " + orjson.dumps(payload) + b"\n\n"
    if "messages_stream_event_named" in faults:
        return data
    return b"event: " + str(payload["type"]).encode() + b"\n" + data


def _groups(count: int, size: int) -> list[tuple[int, int]]:
    return [(start, min(start + size, count)) for start in range(0, count, size)]


def stream_rounds(
    answer: _Answer, model: str, message_id: str, faults: frozenset[str], tokens_per_chunk: int, fail: bool
) -> list[bytes]:
    """Encode the SSE stream of ``answer`` as rounds of frames (see the module docstring)."""
    steps: list[list[bytes]] = []
    for index, block in enumerate(answer.blocks):
        start = _frame({"type": "content_block_start", "index": index, "content_block": block.start}, faults)
        first = [] if "messages_stream_event_order" in faults else [start]
        spans = _groups(len(block.pieces), tokens_per_chunk) or [(0, 0)]
        for number, (low, high) in enumerate(spans):
            delta = {"type": block.delta_type, block.delta_key: "".join(block.pieces[low:high])}
            frame = _frame({"type": "content_block_delta", "index": index, "delta": delta}, faults)
            steps.append([*first, frame] if number == 0 else [frame])
        steps[-1].append(_frame({"type": "content_block_stop", "index": index}, faults))
    head = [
        _frame({"type": "message_start", "message": _message(answer, model, message_id, faults, stream=True)}, faults),
        _frame({"type": "ping"}, faults),
    ]
    rounds = [head + (steps[0] if steps else []), *steps[1:]]
    if fail or "messages_stream_error_event" in faults:
        opened = [f for f in rounds[0] if b'"content_block_stop"' not in f]
        if fail and "messages_stream_error_event" not in faults:
            error = {
                "type": "overloaded_error",
                "message": "Overloaded (llmconform mock: metadata.user_id asked for a failure).",
            }
            opened.append(_frame({"type": "error", "error": error}, faults))
        return [b"".join(opened)]
    usage = _usage(answer, faults, output=answer.output_tokens)
    closing = {
        "type": "message_delta",
        "delta": {"stop_reason": answer.stop_reason, "stop_sequence": answer.stop_sequence},
    }
    rounds[-1] += [_frame({**closing, "usage": usage}, faults), _frame({"type": "message_stop"}, faults)]
    return [b"".join(frames) for frames in rounds]


def content_rounds(answer: _Answer, tokens_per_chunk: int) -> int:
    """How many content rounds the stream of ``answer`` has (at least 1)."""
    return max(1, sum(math.ceil(len(b.pieces) / tokens_per_chunk) or 1 for b in answer.blocks))


# ---------------------------------------------------------------------- the endpoint


def _tool_choice_problem(body: Mapping[str, Any]) -> str | None:
    """Why a schema-valid tool_choice cannot be honoured (Anthropic refuses it with 400), or None."""
    choice = body.get("tool_choice")
    if not isinstance(choice, dict) or choice.get("type") not in ("any", "tool"):
        return None
    kind = choice["type"]
    names = [t.get("name") for t in _as_list(body.get("tools")) if isinstance(t, dict)]
    if not names:
        return f"tool_choice: type {kind!r} needs tools; send 'tools' or drop tool_choice."
    if kind == "tool" and choice.get("name") not in names:
        return f"tool_choice.name: {choice.get('name')!r} is not one of the tools ({', '.join(map(str, names))})."
    return None


class MessagesEndpoint:
    """``POST /v1/messages``, bound to one mock context and the contract's request validator."""

    def __init__(self, context: MockContext, validator: BodyValidator) -> None:
        self._context = context
        self._config = context.config
        self._validator = validator
        self._guard = RequestGuard(context, self._auth_error, error_response, _SERVER_FAILURE, logger)

    async def create_message(self, request: Request) -> Response:
        return await self._guard(request, self._create)

    def _auth_error(self, request: Request, faults: frozenset[str]) -> ClaudeError | None:
        if "messages_auth_required" in faults:
            return None
        api_key = request.headers.get("x-api-key")
        bearer = None if "messages_auth_styles_accepted" in faults else self._context.bearer_key(request)
        key = api_key if api_key is not None else bearer
        if key is None:
            return ClaudeError(
                401,
                "x-api-key header is required. Send the key as 'x-api-key: <key>' or 'Authorization: Bearer <key>'.",
            )
        if not self._context.key_accepted(key):
            return ClaudeError(
                401,
                f"invalid x-api-key: {mask_key(key)}. Send the key the mock was started with (MockConfig.api_key).",
            )
        return None

    def _bad_request(self, message: str, faults: frozenset[str]) -> ClaudeError:
        if "messages_invalid_request_rejected" in faults:
            return ClaudeError(500, message)
        return ClaudeError(400, message)

    def _check_body(self, raw: bytes, faults: frozenset[str]) -> Mapping[str, Any] | ClaudeError:
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            return self._bad_request(f"The request body is not valid JSON ({exc}). Send a JSON object.", faults)
        if not isinstance(body, dict):
            kind = "an array" if isinstance(body, list) else "a JSON scalar"
            return self._bad_request(
                f"The request body must be a JSON object, but it is {kind}. "
                'Send an object such as {"model": ..., "max_tokens": ..., "messages": [...]}.',
                faults,
            )
        violation = self._validator.violation(body)
        if violation is not None:
            where = f"{violation.param}: " if violation.param else ""
            return self._bad_request(where + violation.message, faults)
        refused = _tool_choice_problem(body)
        if refused is not None:
            return self._bad_request(refused, faults)
        return body

    async def _create(self, request: Request, faults: frozenset[str], request_id: str) -> Response:
        raw = await self._context.read_body(request)
        if raw is None:
            error = ClaudeError(
                413,
                f"Request exceeds the maximum size ({self._config.max_body_bytes} bytes, MockConfig.max_body_bytes).",
            )
            return error_response(error, faults, request_id)
        checked = self._check_body(raw, faults)
        if isinstance(checked, ClaudeError):
            return error_response(checked, faults, request_id)
        model = str(checked.get("model"))
        if model not in self._context.models and "messages_unknown_model_rejected" not in faults:
            message = f"model: {model} (available: {', '.join(self._config.models)})"
            return error_response(ClaudeError(404, message), faults, request_id)
        metadata = checked.get("metadata")
        fail = isinstance(metadata, dict) and metadata.get("user_id") == FAIL_MID_STREAM
        stream = checked.get("stream") is True
        if fail and not stream:
            error = ClaudeError(529, "Overloaded (llmconform mock: metadata.user_id asked for a failure).")
            return error_response(dataclasses.replace(error, headers={"retry-after": "1"}), faults, request_id)
        answer = _answer(checked, faults, streaming=stream)
        prompt = answer.chat if answer.chat is not None else answer.input_tokens + answer.cache_read
        delivery = deliver(
            self._context,
            request,
            prompt,
            stream=stream,
            output_tokens=answer.output_tokens,
            steps=content_rounds(answer, 1),
        )
        if delivery.refusal is not None:
            return error_response(_overload_error(delivery.refusal), faults, request_id)
        answer = _with_engine_cache(answer, delivery.cached_tokens, faults)
        message_id = "msg_" + hashlib.sha256(orjson.dumps(checked, option=orjson.OPT_SORT_KEYS)).hexdigest()[:24]
        cfg = self._config
        headers = {"request-id": request_id}
        if stream:
            rounds = stream_rounds(answer, model, message_id, faults, cfg.tokens_per_chunk, fail)
            return delivery.streaming_response(
                rounds, MESSAGES_SSE, media_type="text/event-stream", headers={"cache-control": "no-cache", **headers}
            )
        await delivery.wait_unary(content_rounds(answer, cfg.tokens_per_chunk))
        media = "text/plain" if "messages_content_type_declared" in faults else _JSON
        body = orjson.dumps(_message(answer, model, message_id, faults, stream=False))
        return delivery.unary(Response(body, media_type=media, headers=headers))


def routes(context: MockContext) -> list[BaseRoute]:
    """The family's routes, bound to the mock's context."""
    from llmconform.spec import component_schema, validator_for

    validator = BodyValidator(validator_for(REQUEST_SCHEMA, DOCUMENT), component_schema(REQUEST_SCHEMA, DOCUMENT))
    endpoint = MessagesEndpoint(context, validator)
    return [Route("/v1/messages", endpoint.create_message, methods=["POST"])]
