"""The mock's Gemini API (v1beta) endpoints: generateContent, streamGenerateContent and the model list.

Routes: ``GET /v1beta/models``, and ``/v1beta/models/{rest:path}`` parsed as ``<model>:<action>``
(``GET`` without an action describes the model; ``POST`` with ``generateContent`` or
``streamGenerateContent`` generates). A leading ``models/`` in the rest is tolerated.

A generation request goes through, in order: faults in force, auth (403 PERMISSION_DENIED without
a credential, 401 UNAUTHENTICATED with a wrong one; ``x-goog-api-key``, ``Authorization: Bearer``
and ``?key=`` are all accepted, and any one valid credential is enough), body size (413), JSON
parse (400), the contract's request schema (400 INVALID_ARGUMENT naming the field), ``alt`` (400),
the model (404 NOT_FOUND), then generation. Every failure is Google's error body
``{"error": {"code", "message", "status"}}``.

Generation translates the request into a chat-completions body (system instruction -> a system
message, ``user``/``model`` turns -> user/assistant messages with the same text, function declarations
-> tools, functionCallingConfig -> tool_choice, generationConfig -> max_tokens, stop, n, temperature,
top_p, seed, response_format) and answers it with the chat generator (``content.generate``), so one
prompt gets the same text and token counts through every format. Thinking (thinkingBudget other
than 0, or a thinkingLevel) adds hidden thought tokens per candidate, counted in thoughtsTokenCount
and in the total, shown as ``thought: true`` parts only with includeThoughts; they do not use up
maxOutputTokens. Streams are paced like chat's: one round of frames per ``tokens_per_chunk`` pieces.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import logging
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from llmconform.json_numbers import as_int
from llmconform.mock.common import (
    SERVER_FAILURE_MESSAGE,
    MockContext,
    RequestGuard,
    body_too_large_message,
    mask_key,
    new_request_id,
)
from llmconform.mock.content import Choice, Completion, generate
from llmconform.mock.delivery import Overload, deliver
from llmconform.mock.gemini_media import CandidateMedia, candidate_media, usage_details
from llmconform.mock.load_faults import GEMINI_ARRAY, GEMINI_SSE
from llmconform.mock.request import ChatRequest
from llmconform.mock.validation import BodyValidator

__all__ = ["PATH_PREFIXES", "GoogleError", "chat_body", "error_response", "routes", "routing_error"]

logger = logging.getLogger(__name__)

# Paths this family serves: routing errors (404, 405) under them get this family's error shape.
PATH_PREFIXES: tuple[str, ...] = ("/v1beta/",)

REQUEST_SCHEMA = "GenerateContentRequest"
DOCUMENT = "gemini"
MODELS_PREFIX = "/v1beta/models"
GENERATE = "generateContent"
STREAM = "streamGenerateContent"
_JSON = "application/json"
_FAULTY_MODEL = "other-model-1"
_SSE_HEADERS = {"cache-control": "no-cache"}
_DEFAULT_PAGE = 50
_MAX_PAGE = 1000
_FINISH = {"stop": "STOP", "length": "MAX_TOKENS", "tool_calls": "STOP"}
# Gemini faults that the chat generator commits (its own fault names), so the content stays one generator's.
_GENERATOR_FAULTS = {
    "gemini_candidate_count": "n_choices_count",
    "gemini_candidate_indices_distinct": "choice_indices_permutation",
    "gemini_output_within_max_tokens": "completion_within_max_tokens",
    "gemini_truncation_finish_max_tokens": "truncation_finish_reason_length",
    "gemini_stop_sequence_excluded": "stop_sequence_excluded",
    "gemini_stop_sequence_ends_answer": "stop_sequence_ends_answer",
    "gemini_function_calling_mode_honoured": "tool_choice_honoured",
    "gemini_stream_matches_unary": "stream_matches_unary",
}
_THOUGHT_WORDS = (
    "consider", "the", "question", "first", "then", "weigh", "each", "option", "and", "check",
    "what", "follows", "from", "it", "before", "answering", "briefly", "plan", "steps", "carefully",
)  # fmt: skip


# -------------------------------------------------------------------------------- errors


@dataclass(frozen=True, slots=True)
class GoogleError:
    """One error answer: HTTP status, message, google.rpc.Code name, optional ErrorInfo reason, headers."""

    status: int
    message: str
    grpc: str = "INVALID_ARGUMENT"
    reason: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)

    def body(self, faults: frozenset[str]) -> bytes:
        """Google's error body; OpenAI's shape under the ``gemini_error_body_shape`` fault."""
        if "gemini_error_body_shape" in faults:
            return orjson.dumps({"error": {"message": self.message, "type": "invalid_request_error", "code": None}})
        error: dict[str, Any] = {"code": self.status, "message": self.message, "status": self.grpc}
        if self.reason is not None:
            error["details"] = [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": self.reason,
                    "domain": "googleapis.com",
                    "metadata": {"service": "generativelanguage.googleapis.com"},
                }
            ]
        return orjson.dumps({"error": error})


# The 500 answered when a handler raised.
_SERVER_FAILURE = GoogleError(500, SERVER_FAILURE_MESSAGE, "INTERNAL")


def error_response(error: GoogleError, faults: frozenset[str], request_id: str) -> Response:
    """Render ``error`` as a JSON response carrying ``x-request-id``."""
    headers = {**error.headers, "x-request-id": request_id}
    return Response(error.body(faults), status_code=error.status, headers=headers, media_type=_JSON)


def routing_error(
    status: int, where: str, headers: Mapping[str, str], faults: frozenset[str], request_id: str
) -> Response:
    """A routing error (unknown path 404, wrong method 405) under this family's paths, in its error shape."""
    if status == 404:
        error = GoogleError(
            404,
            f"Unknown request URL: {where}. The mock's Gemini routes are GET /v1beta/models, "
            "GET /v1beta/models/{model}, POST /v1beta/models/{model}:generateContent and "
            "POST /v1beta/models/{model}:streamGenerateContent.",
            "NOT_FOUND",
        )
    elif status == 405:
        allow = headers.get("Allow") or headers.get("allow", "")
        error = GoogleError(
            405, f"Method not allowed: {where}; use {allow or 'another method'}.", "UNIMPLEMENTED", headers=headers
        )
    else:
        error = GoogleError(status, f"Cannot route {where}.", "UNKNOWN", headers=headers)
    return error_response(error, faults, request_id)


# ------------------------------------------------------------------- request translation


def _lower_types(schema: Any) -> Any:
    """An OpenAPI 3.0 Schema (Gemini's ``parameters``, types like ``OBJECT``) as JSON Schema (``object``)."""
    if isinstance(schema, dict):
        out = {k: _lower_types(v) for k, v in schema.items()}
        kind = out.get("type")
        if isinstance(kind, str):
            out["type"] = kind.lower()
        elif isinstance(kind, list):
            out["type"] = [k.lower() if isinstance(k, str) else k for k in kind]
        return out
    if isinstance(schema, list):
        return [_lower_types(v) for v in schema]
    return schema


def _texts(parts: Any) -> list[str]:
    return [p["text"] for p in parts if isinstance(p, dict) and isinstance(p.get("text"), str)] if parts else []


def _json_text(value: Any) -> str:
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return "{}"


def _content_value(texts: list[str], images: list[str]) -> Any:
    if not images:
        return texts[0] if len(texts) == 1 else "".join(texts)
    parts: list[dict[str, Any]] = [{"type": "text", "text": t} for t in texts]
    parts += [{"type": "image_url", "image_url": {"url": url}} for url in images]
    return parts


def _messages(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The chat messages that say what the Gemini conversation says (same roles and text)."""
    messages: list[dict[str, Any]] = []
    instruction = body.get("systemInstruction")
    if isinstance(instruction, dict):
        lines = _texts(instruction.get("parts"))
        if lines:
            content: Any = lines[0] if len(lines) == 1 else [{"type": "text", "text": t} for t in lines]
            messages.append({"role": "system", "content": content})
    calls = 0
    for turn in body.get("contents") or []:
        if not isinstance(turn, dict):
            continue
        raw_parts = turn.get("parts")
        parts: list[Any] = raw_parts if isinstance(raw_parts, list) else []
        texts: list[str] = []
        images: list[str] = []
        tool_calls: list[dict[str, Any]] = []
        results: list[dict[str, Any]] = []
        for part in parts:
            if not isinstance(part, dict) or part.get("thought") is True:
                continue
            if isinstance(part.get("text"), str):
                texts.append(part["text"])
            elif isinstance(part.get("inlineData"), dict):
                blob = part["inlineData"]
                images.append(f"data:{blob.get('mimeType', '')};base64,{blob.get('data', '')}")
            elif isinstance(part.get("fileData"), dict):
                images.append(str(part["fileData"].get("fileUri", "")))
            elif isinstance(part.get("functionCall"), dict):
                call = part["functionCall"]
                calls += 1
                tool_calls.append(
                    {
                        "id": str(call.get("id") or f"call_{calls}"),
                        "type": "function",
                        "function": {"name": str(call.get("name", "")), "arguments": _json_text(call.get("args", {}))},
                    }
                )
            elif isinstance(part.get("functionResponse"), dict):
                result = part["functionResponse"]
                results.append(
                    {
                        "role": "tool",
                        "tool_call_id": str(result.get("id") or result.get("name", "")),
                        "content": _json_text(result.get("response", {})),
                    }
                )
        if turn.get("role") == "model":
            message: dict[str, Any] = {"role": "assistant", "content": _content_value(texts, images) or None}
            if tool_calls:
                message["tool_calls"] = tool_calls
            messages.append(message)
        else:
            if texts or images or not results:
                messages.append({"role": "user", "content": _content_value(texts, images)})
            messages.extend(results)
    return messages


def _tools(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    tools: list[dict[str, Any]] = []
    for tool in body.get("tools") or []:
        declarations = tool.get("functionDeclarations") if isinstance(tool, dict) else None
        for declaration in declarations if isinstance(declarations, list) else []:
            if not isinstance(declaration, dict) or not isinstance(declaration.get("name"), str):
                continue
            function: dict[str, Any] = {"name": declaration["name"]}
            if isinstance(declaration.get("description"), str):
                function["description"] = declaration["description"]
            parameters = declaration.get("parametersJsonSchema", declaration.get("parameters"))
            if isinstance(parameters, dict):
                function["parameters"] = _lower_types(parameters)
            tools.append({"type": "function", "function": function})
    return tools


def _tool_choice(body: Mapping[str, Any], tools: list[dict[str, Any]]) -> Any:
    tool_config = body.get("toolConfig")
    config = tool_config.get("functionCallingConfig") if isinstance(tool_config, dict) else None
    mode = config.get("mode") if isinstance(config, dict) else None
    if mode == "NONE":
        return "none"
    if mode != "ANY" or not tools:
        return None
    offered = [t["function"]["name"] for t in tools]
    allowed = config.get("allowedFunctionNames") if isinstance(config, dict) else None
    wanted = [n for n in allowed if n in offered] if isinstance(allowed, list) else []
    # A forced call always names its function, so that one generator fault ignores every forced call.
    return {"type": "function", "function": {"name": (wanted or offered)[0]}}


def chat_body(model: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """The chat-completions body that asks the generator what the Gemini ``body`` asks (see the module
    docstring); chat-format [system?, user] messages sent through the gemini family come back unchanged."""
    chat: dict[str, Any] = {"model": model, "messages": _messages(body)}
    tools = _tools(body)
    if tools:
        chat["tools"] = tools
        choice = _tool_choice(body, tools)
        if choice is not None:
            chat["tool_choice"] = choice
    config = body.get("generationConfig")
    config = config if isinstance(config, dict) else {}
    for source, target in (
        ("maxOutputTokens", "max_tokens"),
        ("candidateCount", "n"),
        ("temperature", "temperature"),
        ("topP", "top_p"),
        ("seed", "seed"),
        ("presencePenalty", "presence_penalty"),
        ("frequencyPenalty", "frequency_penalty"),
    ):
        if config.get(source) is not None:
            chat[target] = config[source]
    stops = config.get("stopSequences")
    if isinstance(stops, list) and stops:
        chat["stop"] = stops
    if config.get("responseMimeType") == "application/json":
        schema = config.get("responseJsonSchema", config.get("responseSchema"))
        if isinstance(schema, dict):
            chat["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "response", "schema": _lower_types(schema)},
            }
        else:
            chat["response_format"] = {"type": "json_object"}
    if body.get("ignore_eos") is True:
        chat["ignore_eos"] = True
    return chat


# ------------------------------------------------------------------------------- thinking


def proto_field(message: Any, camel: str, snake: str) -> Any:
    """A field by either spelling: protocol-buffer JSON parsers accept the lowerCamelCase and the original
    snake_case name alike, and google-genai sends thinkingConfig in snake_case."""
    if not isinstance(message, dict):
        return None
    return message[camel] if camel in message else message.get(snake)


@dataclass(frozen=True, slots=True)
class Thinking:
    """Whether the request thinks, how many thought tokens it may use, and whether they are shown."""

    on: bool
    budget: int | None
    shown: bool

    @classmethod
    def of(cls, body: Mapping[str, Any], faults: frozenset[str]) -> Thinking:
        thinking = proto_field(body.get("generationConfig"), "thinkingConfig", "thinking_config")
        if not isinstance(thinking, dict):
            return cls(False, None, False)
        budget = as_int(proto_field(thinking, "thinkingBudget", "thinking_budget"))
        level = proto_field(thinking, "thinkingLevel", "thinking_level")
        on = (budget is not None and budget != 0) or (level is not None and level != "THINKING_LEVEL_UNSPECIFIED")
        if budget == 0 and "gemini_thoughts_only_when_requested" in faults:
            on, budget = True, None
        shown = proto_field(thinking, "includeThoughts", "include_thoughts") is True
        return cls(on, budget if budget is not None and budget > 0 else None, shown)


def _thought_pieces(request: ChatRequest, index: int, thinking: Thinking) -> tuple[str, ...]:
    if not thinking.on:
        return ()
    digest = hashlib.sha256(request.content_seed + index.to_bytes(4, "big") + b"thoughts").digest()
    rng = random.Random(int.from_bytes(digest, "big"))
    count = rng.randint(12, 40)
    if thinking.budget is not None:
        count = min(count, thinking.budget)
    words = [rng.choice(_THOUGHT_WORDS) for _ in range(count)]
    return tuple(w.capitalize() if i == 0 else " " + w for i, w in enumerate(words))


# --------------------------------------------------------------------------------- answers


@dataclass(frozen=True, slots=True)
class GeminiAnswer:
    """A generated completion with its thoughts, ready to encode."""

    model: str
    response_id: str
    completion: Completion
    thoughts: tuple[tuple[str, ...], ...]
    show_thoughts: bool
    cached_tokens: int = 0
    # Per candidate, its inline media (responseModalities IMAGE, AUDIO); empty or None: text only.
    media: tuple[CandidateMedia | None, ...] = ()

    def media_of(self) -> tuple[CandidateMedia | None, ...]:
        return self.media or (None,) * len(self.completion.choices)


def _usage(answer: GeminiAnswer, faults: frozenset[str]) -> dict[str, Any]:
    prompt = answer.completion.prompt_tokens
    media = [m for m in answer.media_of() if m is not None]
    shown = [c for c, m in zip(answer.completion.choices, answer.media_of(), strict=True) if m is None or m.show_text]
    text_tokens = sum(c.completion_tokens for c in shown)
    candidates = text_tokens + sum(m.token_count for m in media)
    thoughts = sum(len(t) for t in answer.thoughts)
    total = prompt + candidates + (0 if "gemini_usage_total_is_sum" in faults else thoughts)
    cached = prompt + 5 if "gemini_usage_cached_within_prompt" in faults else min(answer.cached_tokens, prompt)
    return {
        "promptTokenCount": prompt,
        "candidatesTokenCount": candidates,
        "totalTokenCount": total,
        "thoughtsTokenCount": thoughts,
        "cachedContentTokenCount": cached,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt}],
        "candidatesTokensDetails": usage_details(text_tokens, media, faults),
    }


def _call_parts(choice: Choice, faults: frozenset[str]) -> list[dict[str, Any]]:
    if choice.finish_reason == "length":
        return []  # arguments cut by maxOutputTokens are no JSON object: Google sends no functionCall part
    parts = []
    for call in choice.tool_calls:
        try:
            args: Any = orjson.loads(call.arguments)
        except orjson.JSONDecodeError:
            continue
        if "gemini_function_call_shape" in faults:
            args = call.arguments
        parts.append({"functionCall": {"name": call.name, "args": args}})
    return parts


def _answer_parts(choice: Choice, faults: frozenset[str]) -> list[dict[str, Any]]:
    return _call_parts(choice, faults) if choice.tool_calls else [{"text": choice.content or ""}]


def _envelope(answer: GeminiAnswer, faults: frozenset[str]) -> dict[str, Any]:
    version: Any = 0 if "gemini_response_matches_schema" in faults else answer.model
    return {"modelVersion": version, "responseId": answer.response_id}


def _candidate(index: int, parts: list[dict[str, Any]], finish: str | None) -> dict[str, Any]:
    content: dict[str, Any] = {"role": "model"}
    if parts:
        content["parts"] = parts
    candidate: dict[str, Any] = {"content": content}
    if finish is not None:
        candidate["finishReason"] = finish
    candidate["index"] = index
    return candidate


def unary_body(answer: GeminiAnswer, faults: frozenset[str]) -> bytes:
    """Encode the whole GenerateContentResponse."""
    candidates = []
    for choice, thoughts, media in zip(answer.completion.choices, answer.thoughts, answer.media_of(), strict=True):
        parts = [{"text": "".join(thoughts), "thought": True}] if thoughts and answer.show_thoughts else []
        if media is None or media.show_text or choice.tool_calls:
            parts += _answer_parts(choice, faults)
        parts += media.parts if media is not None else ()
        candidates.append(_candidate(choice.index, parts, _finish(choice, media)))
    body: dict[str, Any] = {"candidates": candidates}
    if "gemini_usage_present" not in faults:
        body["usageMetadata"] = _usage(answer, faults)
    body.update(_envelope(answer, faults))
    return orjson.dumps(body)


def _groups(pieces: tuple[str, ...], size: int) -> list[str]:
    return ["".join(pieces[start : start + size]) for start in range(0, len(pieces), size)]


def _finish(choice: Choice, media: CandidateMedia | None) -> str:
    """The candidate's finishReason: its media's when they set one (MAX_TOKENS, or STOP without text)."""
    if media is not None and media.finish is not None:
        return media.finish
    return _FINISH.get(choice.finish_reason, "OTHER")


def _steps(
    choice: Choice,
    thoughts: tuple[str, ...],
    show: bool,
    tpc: int,
    faults: frozenset[str],
    media: CandidateMedia | None = None,
) -> list[Any]:
    """The parts of each round of one candidate's stream (inline media come whole, in a round of their own)."""
    steps: list[list[dict[str, Any]]] = []
    if show:
        steps += [[{"text": text, "thought": True}] for text in _groups(thoughts, tpc)]
    if choice.tool_calls:
        steps.append(_call_parts(choice, faults))  # Gemini streams a function call whole
    elif media is None or media.show_text:
        steps += [[{"text": text}] for text in _groups(choice.pieces, tpc)] or [[{"text": ""}]]
    if media is not None and (media.parts or not steps):
        steps.append(list(media.parts))
    return steps


def _candidate_steps(answer: GeminiAnswer, tokens_per_chunk: int, faults: frozenset[str]) -> list[list[Any]]:
    return [
        _steps(choice, thoughts, answer.show_thoughts, tokens_per_chunk, faults, media)
        for choice, thoughts, media in zip(answer.completion.choices, answer.thoughts, answer.media_of(), strict=True)
    ]


def round_count(answer: GeminiAnswer, tokens_per_chunk: int) -> int:
    """How many rounds (frames) the stream of ``answer`` has: a unary answer waits as long."""
    return max((len(steps) for steps in _candidate_steps(answer, tokens_per_chunk, frozenset())), default=1)


def stream_frames(answer: GeminiAnswer, tokens_per_chunk: int, faults: frozenset[str]) -> list[dict[str, Any]]:
    """The partial answers of a stream, one per round: each candidate's parts of that round, its finish
    reason on its last round, and the whole request's usageMetadata on the last frame."""
    per_candidate = _candidate_steps(answer, tokens_per_chunk, faults)
    rounds = max((len(steps) for steps in per_candidate), default=1)
    frames: list[dict[str, Any]] = []
    for r in range(rounds):
        candidates = []
        for choice, steps, media in zip(answer.completion.choices, per_candidate, answer.media_of(), strict=True):
            if r < len(steps):
                finish = _finish(choice, media) if r == len(steps) - 1 else None
                candidates.append(_candidate(choice.index, steps[r], finish))
        frames.append({"candidates": candidates, **_envelope(answer, faults)})
    where = 0 if "gemini_stream_final_frame" in faults else -1
    frames[where]["usageMetadata"] = _usage(answer, faults)
    return frames


def sse_rounds(frames: list[dict[str, Any]], faults: frozenset[str]) -> list[bytes]:
    """``data: <frame>`` events, CRLF-terminated as Google sends them, with no terminator."""
    rounds = [b"data: " + orjson.dumps(frame) + b"\r\n\r\n" for frame in frames]
    if "gemini_stream_frames_are_json" in faults:
        rounds[-1] += b"data: [DONE]\r\n\r\n"
    return rounds


def array_rounds(frames: list[dict[str, Any]]) -> list[bytes]:
    """The frames as one JSON array, sent element by element."""
    rounds = [(b"[" if i == 0 else b",\r\n") + orjson.dumps(frame) for i, frame in enumerate(frames)]
    rounds[-1] += b"]"
    return rounds


# ------------------------------------------------------------------------------- endpoints


def _whole_number(text: str) -> int | None:
    """``text`` as a whole number >= 0 in ASCII digits (``str.isdigit`` also takes "³"), capped at 10**18."""
    digits = text.strip()
    if not re.fullmatch(r"[0-9]+", digits):
        return None
    return int(digits) if len(digits) <= 18 else 10**18


class GeminiEndpoints:
    """The mock's Gemini handlers, bound to one context and one request validator."""

    def __init__(self, context: MockContext, validator: BodyValidator) -> None:
        self._context = context
        self._config = context.config
        self._validator = validator
        self._guard = RequestGuard(context, self._auth_error, error_response, _SERVER_FAILURE, logger)

    # ------------------------------------------------------------------ shared steps

    def _credentials(self, request: Request, faults: frozenset[str]) -> list[str]:
        found = [request.headers.get("x-goog-api-key"), self._context.bearer_key(request)]
        if "gemini_auth_styles_accepted" not in faults:
            found.append(request.query_params.get("key"))
        return [key for key in found if key]

    def _auth_error(self, request: Request, faults: frozenset[str]) -> GoogleError | None:
        if "gemini_auth_required" in faults:
            return None
        keys = self._credentials(request, faults)
        if not keys:
            return GoogleError(
                403,
                "Method doesn't allow unregistered callers (callers without established identity). Please use API "
                "Key or other form of API consumer identity to call this API: send x-goog-api-key: <key>, "
                "Authorization: Bearer <key> or ?key=<key>.",
                "PERMISSION_DENIED",
            )
        if any(self._context.key_accepted(key) for key in keys):
            return None
        return GoogleError(
            401,
            f"API key not valid ({mask_key(keys[0])}). Please pass a valid API key: the key the mock was started "
            "with (MockConfig.api_key).",
            "UNAUTHENTICATED",
            reason="API_KEY_INVALID",
        )

    # ------------------------------------------------------------------ models

    def _model_entry(self, model: str, faults: frozenset[str]) -> dict[str, Any]:
        limit: Any = "1048576" if "gemini_response_matches_schema" in faults else 1048576
        return {
            "name": f"models/{model}",
            "baseModelId": model,
            "version": "001",
            "displayName": model,
            "description": "A deterministic llmconform mock model.",
            "inputTokenLimit": limit,
            "outputTokenLimit": 65536,
            "supportedGenerationMethods": [GENERATE, STREAM],
            "temperature": 1.0,
            "maxTemperature": 2.0,
            "topP": 0.95,
            "topK": 64,
            "thinking": True,
        }

    async def list_models(self, request: Request) -> Response:
        """``GET /v1beta/models``: the configured models, ``pageSize`` at a time."""
        return await self._guard(request, self._list_models)

    async def _list_models(self, request: Request, faults: frozenset[str], request_id: str) -> Response:
        raw_size = request.query_params.get("pageSize")
        size = _DEFAULT_PAGE
        if raw_size is not None:
            parsed = _whole_number(raw_size)
            if parsed is None:
                error = GoogleError(
                    400,
                    f"Invalid value at 'page_size' (TYPE_INT32), {raw_size!r}: send a whole number >= 0.",
                    "INVALID_ARGUMENT",
                )
                return error_response(error, faults, request_id)
            size = min(parsed or _DEFAULT_PAGE, _MAX_PAGE)
        token = request.query_params.get("pageToken", "")
        start = _whole_number(token) or 0  # an unknown token starts over
        ids = self._config.models if "gemini_model_listed" not in faults else (_FAULTY_MODEL,)
        page = ids[start : start + size]
        body: dict[str, Any] = {"models": [self._model_entry(m, faults) for m in page]}
        if start + size < len(ids):
            body["nextPageToken"] = str(start + size)
        return Response(orjson.dumps(body), media_type=_JSON, headers={"x-request-id": request_id})

    # ------------------------------------------------------------------ /v1beta/models/{rest}

    async def model_route(self, request: Request) -> Response:
        """``GET /v1beta/models/{model}`` and ``POST /v1beta/models/{model}:<action>``."""
        rest = request.path_params["rest"].removeprefix("models/")
        model, colon, action = rest.rpartition(":") if ":" in rest else (rest, "", "")
        where = f"{request.method} {request.url.path}"
        if not colon and request.method == "GET":
            return await self._guard(request, lambda r, f, i: self._get_model(model, f, i))
        if action in (GENERATE, STREAM) and request.method == "POST":
            return await self._guard(request, lambda r, f, i: self._generate(r, model, action == STREAM, f, i))
        faults = self._context.faults_for(request)
        if colon and action in (GENERATE, STREAM):
            return routing_error(405, where, {"Allow": "POST"}, faults, new_request_id())
        if not colon:
            return routing_error(405, where, {"Allow": "GET"}, faults, new_request_id())
        error = GoogleError(
            404,
            f"Unknown method {action!r} in {where}: the mock serves {GENERATE} and {STREAM}.",
            "NOT_FOUND",
        )
        return error_response(error, faults, new_request_id())

    def _not_found(self, model: str, action: str) -> GoogleError:
        return GoogleError(
            404,
            f"models/{model} is not found for API version v1beta, or is not supported for {action}. Call "
            f"ListModels to see the list of available models: {', '.join(self._config.models)}.",
            "NOT_FOUND",
        )

    async def _get_model(self, model: str, faults: frozenset[str], request_id: str) -> Response:
        if model not in self._context.models:
            return error_response(self._not_found(model, "get"), faults, request_id)
        body = orjson.dumps(self._model_entry(model, faults))
        return Response(body, media_type=_JSON, headers={"x-request-id": request_id})

    def _bad_request(self, message: str, faults: frozenset[str]) -> GoogleError:
        if "gemini_invalid_request_rejected" in faults:
            return GoogleError(500, message, "INTERNAL")
        return GoogleError(400, message, "INVALID_ARGUMENT")

    def _check_body(self, raw: bytes, faults: frozenset[str]) -> Mapping[str, Any] | GoogleError:
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            return self._bad_request(
                f"Invalid JSON payload received ({exc}). Send a JSON object with Content-Type: application/json.",
                faults,
            )
        if not isinstance(body, dict):
            kind = "an array" if isinstance(body, list) else "a JSON scalar"
            return self._bad_request(
                f'Invalid JSON payload received: the body is {kind}; send an object such as {{"contents": [...]}}.',
                faults,
            )
        violation = self._validator.violation(body)
        if violation is not None:
            return self._bad_request(violation.message, faults)
        return body

    async def _generate(
        self, request: Request, model: str, stream: bool, faults: frozenset[str], request_id: str
    ) -> Response:
        raw = await self._context.read_body(request)
        if raw is None:
            error = GoogleError(413, body_too_large_message(self._config.max_body_bytes), "INVALID_ARGUMENT")
            return error_response(error, faults, request_id)
        checked = self._check_body(raw, faults)
        if isinstance(checked, GoogleError):
            return error_response(checked, faults, request_id)
        alt = request.query_params.get("alt") if stream else None
        if alt not in (None, "sse", "json"):
            error = GoogleError(
                400, f"Invalid value for alt: {alt!r}; use alt=sse or leave it out.", "INVALID_ARGUMENT"
            )
            return error_response(error, faults, request_id)
        if model not in self._context.models and "gemini_unknown_model_rejected" not in faults:
            return error_response(self._not_found(model, STREAM if stream else GENERATE), faults, request_id)
        return await self._answer(request, model, checked, stream, alt == "sse", faults, request_id)

    async def _answer(
        self,
        request: Request,
        model: str,
        body: Mapping[str, Any],
        stream: bool,
        sse: bool,
        faults: frozenset[str],
        request_id: str,
    ) -> Response:
        chat = ChatRequest.from_body(chat_body(model, body))
        generator_faults = frozenset(_GENERATOR_FAULTS[f] for f in faults if f in _GENERATOR_FAULTS)
        completion = generate(chat, generator_faults, streaming=stream)
        thinking = Thinking.of(body, faults)
        answer = GeminiAnswer(
            model=model,
            response_id=base64.urlsafe_b64encode(chat.request_key[:15]).decode(),
            completion=completion,
            thoughts=tuple(_thought_pieces(chat, c.index, thinking) for c in completion.choices),
            show_thoughts=thinking.shown,
            media=candidate_media(body, chat.content_seed, completion.choices, faults),
        )
        hidden = 0 if thinking.shown else max((len(t) for t in answer.thoughts), default=0)
        delivery = deliver(
            self._context,
            request,
            chat,
            stream=stream,
            output_tokens=_output_tokens(answer),
            steps=round_count(answer, 1) + hidden,
        )
        if delivery.refusal is not None:
            return error_response(_overload_error(delivery.refusal), faults, request_id)
        answer = dataclasses.replace(answer, cached_tokens=delivery.cached_tokens)
        cfg = self._config
        headers = {"x-request-id": request_id}
        if stream:
            frames = stream_frames(answer, cfg.tokens_per_chunk, faults)
            rounds = sse_rounds(frames, faults) if sse else array_rounds(frames)
            media = "text/event-stream" if sse else _JSON
            return delivery.streaming_response(
                rounds,
                GEMINI_SSE if sse else GEMINI_ARRAY,
                media_type=media,
                headers={**_SSE_HEADERS, **headers} if sse else headers,
            )
        await delivery.wait_unary(round_count(answer, cfg.tokens_per_chunk))
        media = "text/plain" if "gemini_content_type_declared" in faults else _JSON
        return delivery.unary(Response(unary_body(answer, faults), media_type=media, headers=headers))


_OVERLOAD_STATUS = {429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}


def _output_tokens(answer: GeminiAnswer) -> int:
    """The output tokens the answer's usageMetadata reports (candidates and thoughts)."""
    usage = _usage(answer, frozenset())
    return int(usage["candidatesTokenCount"]) + int(usage["thoughtsTokenCount"])


def _overload_error(overload: Overload) -> GoogleError:
    """The capacity model's refusal or an error load fault as a Google error (429 RESOURCE_EXHAUSTED, ...)."""
    return GoogleError(
        overload.status, overload.message, _OVERLOAD_STATUS.get(overload.status, "UNKNOWN"), headers=overload.headers
    )


def routes(context: MockContext) -> list[BaseRoute]:
    """The family's routes, bound to the mock's context."""
    from llmconform.spec import component_schema, validator_for

    validator = BodyValidator(validator_for(REQUEST_SCHEMA, DOCUMENT), component_schema(REQUEST_SCHEMA, DOCUMENT))
    endpoints = GeminiEndpoints(context, validator)
    return [
        Route(MODELS_PREFIX, endpoints.list_models, methods=["GET"]),
        Route(MODELS_PREFIX + "/{rest:path}", endpoints.model_route, methods=["GET", "POST"]),
    ]
