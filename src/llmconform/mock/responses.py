"""The mock's ``POST /v1/responses`` (OpenAI Responses API): a unary ``response`` object or a typed SSE stream.

A request goes through the same steps as a chat request: faults in force (config plus the
``x-llmconform-fault`` header), auth (401), body size (413), JSON parse (400), the contract's request
schema (``CreateResponseRequest`` in openapi/responses.yaml; 400 naming the field), the model (404), an
unknown ``previous_response_id`` (400: the mock stores nothing), then generation. Errors are OpenAI
error bodies, as for chat completions.

Generation goes through the chat generator: the request is translated into a chat-completions body
(:func:`chat_body`: ``instructions`` becomes a leading system message, a string ``input`` a user
message, input items the matching chat messages, function tools and ``tool_choice`` their chat forms,
``text.format`` the ``response_format``, ``max_output_tokens`` the token limit) and answered by
``content.generate``. So one prompt gets the same text and the same token counts through every format.
The first choice is encoded as output items: an optional reasoning item (when ``reasoning.effort`` asks
for reasoning; it costs 0 tokens), then one message or one function call per tool call. A token-limit
cut makes the response ``incomplete`` with ``incomplete_details.reason`` ``max_output_tokens``.

Streams are built as rounds like chat's (see ``mock.wire``): round 0 holds ``response.created``,
``response.in_progress``, the first item's ``output_item.added`` (and ``content_part.added``) and its
first delta; each later round one more delta; the ``.done`` events and the terminal event ride with the
last delta. Every event is framed ``event: <type>`` + ``data: <json>`` and numbered by
``sequence_number`` from 0.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from llmconform.mock import openai_steps
from llmconform.mock.common import MockContext, RequestGuard
from llmconform.mock.content import Completion, generate
from llmconform.mock.delivery import deliver, openai_error
from llmconform.mock.errors import ApiError, error_response
from llmconform.mock.load_faults import RESPONSES_SSE
from llmconform.mock.request import ChatRequest
from llmconform.mock.tokenizer import tokenize
from llmconform.mock.validation import BodyValidator
from llmconform.mock.wire import content_rounds

__all__ = ["PATH_PREFIXES", "REQUEST_SCHEMA", "ResponsesEndpoints", "chat_body", "routes", "routing_error"]

logger = logging.getLogger(__name__)

# Paths this family serves: routing errors (404, 405) under them get this family's error shape.
PATH_PREFIXES: tuple[str, ...] = ("/v1/responses",)
REQUEST_SCHEMA = "CreateResponseRequest"
DOCUMENT = "responses"
_JSON = "application/json"
_SSE_HEADERS = {"cache-control": "no-cache"}
BROKEN_FRAME = b'event: response.output_text.delta\ndata: {"type": \n\n'
# Faults of this family that reuse a behaviour of the chat generator (content.generate).
_GENERATOR_FAULTS = {
    "responses_output_within_max_tokens": "completion_within_max_tokens",
    "responses_truncation_incomplete": "truncation_finish_reason_length",
    "responses_tool_choice_honoured": "tool_choice_honoured",
    "responses_stream_matches_unary": "stream_matches_unary",
}


def _error_faults(faults: frozenset[str]) -> frozenset[str]:
    """The faults ``errors.ApiError.body`` understands, from this family's."""
    return frozenset({"error_body_shape"}) if "responses_error_body_shape" in faults else frozenset()


def _error_response(error: ApiError, faults: frozenset[str], request_id: str) -> Response:
    """``error`` as an OpenAI error body, with this family's error-shape fault applied."""
    return error_response(error, _error_faults(faults), request_id)


def routes(context: MockContext) -> list[BaseRoute]:
    """The family's routes, bound to the mock's context."""
    from llmconform.spec import component_schema, validator_for

    validator = BodyValidator(validator_for(REQUEST_SCHEMA, DOCUMENT), component_schema(REQUEST_SCHEMA, DOCUMENT))
    endpoints = ResponsesEndpoints(context, validator)
    return [Route("/v1/responses", endpoints.create, methods=["POST"])]


def routing_error(
    status: int, where: str, headers: Mapping[str, str], faults: frozenset[str], request_id: str
) -> Response:
    """A routing error (unknown path 404, wrong method 405) under this family's paths, in its error shape."""
    if status == 405:
        allow = headers.get("Allow") or headers.get("allow", "POST")
        error = ApiError(
            405,
            f"Method not allowed: {where}. Use POST /v1/responses.",
            code="method_not_allowed",
            headers={"Allow": allow},
        )
    else:
        error = ApiError(status, f"Cannot route {where}; the Responses API is POST /v1/responses.", headers=headers)
    return _error_response(error, faults, request_id)


# ---------------------------------------------------------------------- request translation


def _chat_content(content: Any) -> Any:
    """Responses message content in chat terms: text parts become chat text parts, images image_url parts."""
    if not isinstance(content, list):
        return content if isinstance(content, str) else ""
    parts: list[dict[str, Any]] = []
    for part in content:
        if not isinstance(part, Mapping):
            continue
        kind = part.get("type")
        if kind in ("input_text", "output_text"):
            parts.append({"type": "text", "text": part.get("text") if isinstance(part.get("text"), str) else ""})
        elif kind == "refusal":
            parts.append({"type": "refusal", "refusal": part.get("refusal")})
        elif kind == "input_image":
            url = part.get("image_url") or part.get("file_id") or ""
            parts.append({"type": "image_url", "image_url": {"url": url}})
    return parts if parts else ""


def _tool_output_text(output: Any) -> str:
    if isinstance(output, str):
        return output
    texts = [p.get("text") for p in output if isinstance(p, Mapping)] if isinstance(output, list) else []
    return "".join(t for t in texts if isinstance(t, str))


def _add_item(messages: list[dict[str, Any]], item: Any) -> None:
    if not isinstance(item, Mapping):
        return
    kind = item.get("type")
    if kind in (None, "message"):
        messages.append({"role": item.get("role"), "content": _chat_content(item.get("content"))})
    elif kind == "function_call":
        call = {
            "id": item.get("call_id"),
            "type": "function",
            "function": {"name": item.get("name"), "arguments": item.get("arguments")},
        }
        last = messages[-1] if messages else None
        if (
            last is not None
            and last.get("role") == "assistant"
            and last.get("content") is None
            and "tool_calls" in last
        ):
            last["tool_calls"].append(call)
        else:
            messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
    elif kind == "function_call_output":
        messages.append(
            {"role": "tool", "tool_call_id": item.get("call_id"), "content": _tool_output_text(item.get("output"))}
        )
    # reasoning items (and any other kind) carry no prompt text for the mock


def _chat_tool(tool: Mapping[str, Any]) -> dict[str, Any]:
    function = {k: tool[k] for k in ("name", "description", "parameters", "strict") if tool.get(k) is not None}
    return {"type": "function", "function": function}


def _chat_tool_choice(choice: Any) -> Any:
    if isinstance(choice, str):
        return choice
    if not isinstance(choice, Mapping):
        return None
    if choice.get("type") == "function":
        return {"type": "function", "function": {"name": choice.get("name")}}
    if choice.get("type") == "allowed_tools":
        return choice.get("mode") if choice.get("mode") in ("auto", "required") else "auto"
    return "auto"  # a hosted tool: the mock runs none, so the model chooses as with "auto"


def _chat_format(text: Any) -> dict[str, Any] | None:
    fmt = text.get("format") if isinstance(text, Mapping) else None
    if not isinstance(fmt, Mapping):
        return None
    if fmt.get("type") == "json_object":
        return {"type": "json_object"}
    if fmt.get("type") == "json_schema":
        spec = {k: fmt[k] for k in ("name", "description", "schema", "strict") if k in fmt}
        return {"type": "json_schema", "json_schema": spec}
    return None


def chat_body(body: Mapping[str, Any]) -> dict[str, Any]:
    """The chat-completions body that asks the generator for the same answer as the Responses ``body``.

    A chat-format ``[system?, user]`` conversation sent through ``families.responses.build_request``
    comes back here as the same chat messages, so both formats seed and count alike (rules X1, X2).
    """
    messages: list[dict[str, Any]] = []
    if isinstance(body.get("instructions"), str):
        messages.append({"role": "system", "content": body["instructions"]})
    source = body.get("input")
    if isinstance(source, str):
        messages.append({"role": "user", "content": source})
    elif isinstance(source, list):
        for item in source:
            _add_item(messages, item)
    chat: dict[str, Any] = {"model": body.get("model"), "messages": messages}
    raw_tools = body.get("tools")
    tools = (
        [_chat_tool(t) for t in raw_tools if isinstance(t, Mapping) and t.get("type") == "function"]
        if isinstance(raw_tools, list)
        else []
    )
    if tools:
        chat["tools"] = tools
    choice = _chat_tool_choice(body.get("tool_choice"))
    if choice is not None:
        chat["tool_choice"] = choice
    response_format = _chat_format(body.get("text"))
    if response_format is not None:
        chat["response_format"] = response_format
    for key in ("temperature", "top_p"):
        if key in body:
            chat[key] = body[key]
    if body.get("max_output_tokens") is not None:
        chat["max_tokens"] = body["max_output_tokens"]
    if body.get("ignore_eos") is True:
        chat["ignore_eos"] = True
    return chat


def reasoning_requested(body: Mapping[str, Any]) -> bool:
    """Whether the request asks for reasoning (``reasoning.effort`` set and not "none")."""
    reasoning = body.get("reasoning")
    return isinstance(reasoning, Mapping) and reasoning.get("effort") not in (None, "none")


# ---------------------------------------------------------------------- encoding


@dataclass(frozen=True, slots=True)
class _Item:
    """One output item to encode; ``pieces`` are the emitted tokens of its text or arguments."""

    kind: str
    id: str
    pieces: tuple[str, ...] = ()
    call_id: str = ""
    name: str = ""

    @property
    def text(self) -> str:
        return "".join(self.pieces)


def _groups(count: int, size: int) -> list[tuple[int, int]]:
    return [(start, min(start + size, count)) for start in range(0, count, size)]


class _Encoder:
    """Encodes one generated answer as a Response object or as the frames of its event stream."""

    def __init__(
        self, body: Mapping[str, Any], chat: ChatRequest, completion: Completion, faults: frozenset[str]
    ) -> None:
        self.body = body
        self.chat = chat
        self.completion = completion
        self.faults = faults
        key = chat.request_key.hex()
        self.response_id = "resp_" + key[:24]
        self.created: int | str = "now" if "responses_matches_schema" in faults else int(time.time())
        choice = completion.choices[0]
        self.incomplete = choice.finish_reason == "length"
        items: list[_Item] = []
        if reasoning_requested(body):
            items.append(_Item("reasoning", "rs_" + key[24:48]))
        if choice.tool_calls:
            for number, call in enumerate(choice.tool_calls):
                pieces = call.pieces
                if "responses_function_call_shape" in faults:
                    pieces = tuple(tokenize("[" + call.arguments + "]"))
                items.append(_Item("function_call", f"fc_{key[24:46]}{number:02d}", pieces, call.id, call.name))
        else:
            items.append(_Item("message", "msg_" + key[24:48], choice.pieces))
        self.items = items
        self.sequence = -1
        self.cached_tokens = 0  # prompt tokens the capacity model's prefix cache served

    # ------------------------------------------------------------------ objects

    def usage(self) -> dict[str, Any]:
        prompt, output = self.chat.prompt_tokens, self.completion.completion_tokens
        faults = self.faults
        return {
            "input_tokens": prompt,
            "input_tokens_details": {
                "cached_tokens": (
                    prompt + 5 if "responses_usage_details_within_parent" in faults else min(self.cached_tokens, prompt)
                ),
                "cache_write_tokens": 0,
            },
            "output_tokens": output,
            "output_tokens_details": {
                "reasoning_tokens": -1 if "responses_usage_counts_non_negative" in faults else 0,
            },
            "total_tokens": prompt + output + (1 if "responses_usage_total_is_sum" in faults else 0),
        }

    def _item_status(self, item: _Item) -> str:
        return "incomplete" if self.incomplete and item is self.items[-1] else "completed"

    def item(self, item: _Item, done: bool) -> dict[str, Any]:
        """The item as ``output_item.added`` (empty, in progress) or ``.done`` and the output list show it."""
        if item.kind == "reasoning":
            return {"id": item.id, "type": "reasoning", "summary": []}
        status = self._item_status(item) if done else "in_progress"
        if item.kind == "function_call":
            return {
                "id": item.id,
                "type": "function_call",
                "status": status,
                "arguments": item.text if done else "",
                "call_id": item.call_id,
                "name": item.name,
            }
        return {
            "id": item.id,
            "type": "message",
            "status": status,
            "content": [self.text_part(item.text)] if done else [],
            "role": "assistant",
        }

    @staticmethod
    def text_part(text: str) -> dict[str, Any]:
        return {"type": "output_text", "annotations": [], "logprobs": [], "text": text}

    def response(self, status: str, output: list[dict[str, Any]], usage: dict[str, Any] | None) -> dict[str, Any]:
        """The Response object, echoing the request's settings like OpenAI does."""
        body = self.body
        raw_reasoning, raw_text = body.get("reasoning"), body.get("text")
        reasoning: Mapping[str, Any] = raw_reasoning if isinstance(raw_reasoning, Mapping) else {}
        text: Mapping[str, Any] = raw_text if isinstance(raw_text, Mapping) else {}
        details = None
        if status == "incomplete" or (status == "completed" and "responses_status_details_consistent" in self.faults):
            details = {"reason": "max_output_tokens"}
        return {
            "id": self.response_id,
            "object": "response",
            "created_at": self.created,
            "status": status,
            "background": False,
            "error": None,
            "incomplete_details": details,
            "instructions": body.get("instructions"),
            "max_output_tokens": body.get("max_output_tokens"),
            "max_tool_calls": body.get("max_tool_calls"),
            "model": self.chat.model,
            "output": output,
            "parallel_tool_calls": body.get("parallel_tool_calls") is not False,
            "previous_response_id": None,
            "reasoning": {"effort": reasoning.get("effort"), "summary": reasoning.get("summary")},
            "service_tier": "default",
            "store": body.get("store") is not False,
            "temperature": body.get("temperature") if body.get("temperature") is not None else 1.0,
            "text": {"format": text.get("format") or {"type": "text"}, "verbosity": text.get("verbosity") or "medium"},
            "tool_choice": body.get("tool_choice") if body.get("tool_choice") is not None else "auto",
            "tools": body.get("tools") or [],
            "top_logprobs": body.get("top_logprobs") or 0,
            "top_p": body.get("top_p") if body.get("top_p") is not None else 1.0,
            "truncation": body.get("truncation") or "disabled",
            "usage": usage,
            "user": None,
            "metadata": body.get("metadata") or {},
        }

    @property
    def status(self) -> str:
        return "incomplete" if self.incomplete else "completed"

    def final_response(self) -> dict[str, Any]:
        usage = None if "responses_usage_present" in self.faults else self.usage()
        return self.response(self.status, [self.item(i, done=True) for i in self.items], usage)

    def unary_body(self) -> bytes:
        body = self.final_response()
        if "responses_usage_present" in self.faults:
            del body["usage"]
        return orjson.dumps(body)

    # ------------------------------------------------------------------ stream

    def _frame(self, kind: str, **fields: Any) -> bytes:
        repeat = kind == "response.output_text.delta" and "responses_stream_sequence_numbers" in self.faults
        if not (repeat and self.sequence >= 0):
            self.sequence += 1
        name = kind
        if kind == "response.output_text.delta" and "responses_stream_event_name_matches_type" in self.faults:
            name = "response.text.delta"
        payload = {"type": kind, "sequence_number": self.sequence, **fields}
        return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"

    def stream_rounds(self, tokens_per_chunk: int) -> list[bytes]:
        """The SSE frames of the answer, grouped into rounds (see the module docstring)."""
        faults = self.faults
        rounds: list[list[bytes]] = [[]]
        first_delta = True
        start = self.response("in_progress", [], None)
        if "responses_stream_lifecycle" not in faults:
            rounds[0].append(self._frame("response.created", response=start))
        rounds[0].append(self._frame("response.in_progress", response=start))
        if "responses_stream_event_is_json" in faults:
            rounds[0].append(BROKEN_FRAME)
        for index, item in enumerate(self.items):
            where = {"item_id": item.id, "output_index": index}
            rounds[-1].append(
                self._frame("response.output_item.added", output_index=index, item=self.item(item, False))
            )
            if item.kind == "message":
                rounds[-1].append(
                    self._frame("response.content_part.added", **where, content_index=0, part=self.text_part(""))
                )
            delta_kind = (
                "response.output_text.delta" if item.kind == "message" else "response.function_call_arguments.delta"
            )
            for begin, end in _groups(len(item.pieces), tokens_per_chunk):
                if not first_delta:
                    rounds.append([])
                first_delta = False
                fields: dict[str, Any] = {**where, "delta": "".join(item.pieces[begin:end])}
                if item.kind == "message":
                    fields = {**where, "content_index": 0, "delta": fields["delta"], "logprobs": []}
                rounds[-1].append(self._frame(delta_kind, **fields))
            text = item.text
            if item.kind == "message":
                done_text = text + " indeed" if "responses_stream_text_assembles" in faults else text
                rounds[-1].append(
                    self._frame("response.output_text.done", **where, content_index=0, text=done_text, logprobs=[])
                )
                rounds[-1].append(
                    self._frame("response.content_part.done", **where, content_index=0, part=self.text_part(text))
                )
            elif item.kind == "function_call":
                rounds[-1].append(
                    self._frame("response.function_call_arguments.done", **where, name=item.name, arguments=text)
                )
            if "responses_stream_item_order" not in faults:
                rounds[-1].append(
                    self._frame("response.output_item.done", output_index=index, item=self.item(item, True))
                )
        terminal = "response.incomplete" if self.incomplete else "response.completed"
        rounds[-1].append(self._frame(terminal, response=self.final_response()))
        return [b"".join(frames) for frames in rounds]


# ---------------------------------------------------------------------- endpoint


class ResponsesEndpoints:
    """The ``POST /v1/responses`` handler, bound to one mock context and one request validator."""

    def __init__(self, context: MockContext, validator: BodyValidator) -> None:
        self._context = context
        self._config = context.config
        self._validator = validator
        self._guard = RequestGuard(context, self._auth_error, _error_response, openai_steps.SERVER_FAILURE, logger)

    def _auth_error(self, request: Request, faults: frozenset[str]) -> ApiError | None:
        return None if "responses_auth_required" in faults else openai_steps.bearer_auth_error(self._context, request)

    async def create(self, request: Request) -> Response:
        """``POST /v1/responses``: a unary ``response`` object or an SSE stream of typed events."""
        return await self._guard(request, self._create)

    def _check_body(self, raw: bytes, faults: frozenset[str]) -> Mapping[str, Any] | ApiError:
        checked = openai_steps.json_object_body(raw, self._validator, faults, example='{"model": ..., "input": "..."}')
        if isinstance(checked, ApiError):
            return openai_steps.bad_request(checked, faults, server_error_fault="responses_invalid_request_rejected")
        return checked

    async def _create(self, request: Request, faults: frozenset[str], request_id: str) -> Response:
        raw = await self._context.read_body(request)
        if raw is None:
            return _error_response(openai_steps.body_too_large(self._config.max_body_bytes), faults, request_id)
        checked = self._check_body(raw, faults)
        if isinstance(checked, ApiError):
            return _error_response(checked, faults, request_id)
        model = str(checked.get("model", ""))
        if model not in self._context.models and "responses_unknown_model_rejected" not in faults:
            return _error_response(openai_steps.model_not_found(model, self._config.models), faults, request_id)
        previous = checked.get("previous_response_id")
        if previous is not None and "responses_unknown_previous_response_rejected" not in faults:
            error = ApiError(
                400,
                f"Previous response with id '{previous}' not found. The mock stores no responses: send the "
                "whole conversation as input items instead of previous_response_id.",
                param="previous_response_id",
                code="previous_response_not_found",
            )
            return _error_response(error, faults, request_id)
        return await self._answer(request, checked, faults, request_id)

    async def _answer(
        self, request: Request, body: Mapping[str, Any], faults: frozenset[str], request_id: str
    ) -> Response:
        cfg = self._config
        stream = body.get("stream") is True
        chat = ChatRequest.from_body(chat_body(body))
        generator_faults = frozenset(_GENERATOR_FAULTS[f] for f in faults if f in _GENERATOR_FAULTS)
        completion = generate(chat, generator_faults, streaming=stream)
        delivery = deliver(
            self._context,
            request,
            chat,
            stream=stream,
            output_tokens=completion.completion_tokens,
            steps=content_rounds(completion, 1),
        )
        if delivery.refusal is not None:
            return _error_response(openai_error(delivery.refusal), faults, request_id)
        encoder = _Encoder(body, chat, completion, faults)
        encoder.cached_tokens = delivery.cached_tokens
        if stream:
            rounds = encoder.stream_rounds(cfg.tokens_per_chunk)
            return delivery.streaming_response(
                rounds,
                RESPONSES_SSE,
                media_type="text/event-stream",
                headers={**_SSE_HEADERS, "x-request-id": request_id},
            )
        await delivery.wait_unary(content_rounds(completion, cfg.tokens_per_chunk))
        media = "text/plain" if "responses_content_type_declared" in faults else _JSON
        return delivery.unary(Response(encoder.unary_body(), media_type=media, headers={"x-request-id": request_id}))
