"""The Google Gemini API family (v1beta): paths, request builders and a parsed view of any answer.

:func:`gemini_view` turns an Exchange of ``generateContent`` (one JSON answer) or
``streamGenerateContent`` (server-sent events with ``?alt=sse``, else one JSON array of partial
answers) into one :class:`GeminiView`, so that checks and metrics read candidates, text, thoughts,
function calls, finish reasons and usage the same way whatever the wire form was. Like
:mod:`llmconform.families.chat` it never raises on a malformed answer: what it could not read is
listed in ``problems`` and left for the checks to judge.

Google's JSON leaves out zero values (proto3 JSON), so a candidate without ``index`` is candidate 0
and a missing token count is 0.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qs, quote, urlsplit

import orjson

from llmconform.exchange import Exchange
from llmconform.families.answer import Answer
from llmconform.families.reading import (
    TextJoiner,
    cached_view,
    parse_json,
    read_json_array,
    read_json_object,
    received_2xx,
)
from llmconform.json_numbers import as_int

FAMILY = "gemini"
API_PREFIX = "/v1beta"
MODELS_PATH = f"{API_PREFIX}/models"
LIST_MODELS_OPERATION = f"GET {MODELS_PATH}"
GET_MODEL_OPERATION = f"GET {MODELS_PATH}/{{model}}"
GENERATE_OPERATION = f"POST {MODELS_PATH}/{{model}}:generateContent"
STREAM_OPERATION = f"POST {MODELS_PATH}/{{model}}:streamGenerateContent"
OPERATIONS = (LIST_MODELS_OPERATION, GET_MODEL_OPERATION, GENERATE_OPERATION, STREAM_OPERATION)
GENERATE_ACTION = "generateContent"
STREAM_ACTION = "streamGenerateContent"
DONE = "[DONE]"
MODEL_PREFIX = "models/"
# The usage counts that add up to totalTokenCount (python-genai types.py UsageMetadata.total_token_count).
TOTAL_PARTS = ("promptTokenCount", "candidatesTokenCount", "thoughtsTokenCount", "toolUsePromptTokenCount")

ViewKind = Literal["unary", "sse", "array"]


@dataclass(slots=True)
class FunctionCallView:
    """One functionCall part."""

    name: Any
    args: Any
    id: Any = None


@dataclass(slots=True)
class InlineDataView:
    """One inlineData part of an answer (an image or audio): its declared mimeType and its base64 data as sent."""

    mime_type: Any
    data: Any
    thought: bool = False


@dataclass(slots=True)
class CandidateView:
    """One candidate, assembled from its partial answers when streamed."""

    index: Any
    text: str | None = None
    thought_text: str = ""
    thought_parts: int = 0
    function_calls: list[FunctionCallView] = field(default_factory=list)
    inline_data: list[InlineDataView] = field(default_factory=list)
    role: Any = None
    finish_reason: Any = None
    finish_count: int = 0
    content_after_finish: bool = False

    @property
    def has_output(self) -> bool:
        return bool(self.text) or bool(self.function_calls) or bool(self.inline_data)


@dataclass(slots=True)
class FrameView:
    """One partial answer of a stream: an SSE event, or an element of the JSON array."""

    position: int
    at_s: float
    data: str
    payload: Any = None
    error: str | None = None
    # The generated text this frame carries (thoughts and function-call arguments included).
    text: str = ""

    @property
    def is_done(self) -> bool:
        return self.data.strip() == DONE


@dataclass(slots=True)
class GeminiView:
    """Everything checks need to know about one Gemini answer."""

    kind: ViewKind
    payload: Any = None
    frames: list[FrameView] = field(default_factory=list)
    candidates: list[CandidateView] = field(default_factory=list)
    # The answer's usage: the unary body's, or the last one a stream carried.
    usage: Any = None
    usage_frames: list[int] = field(default_factory=list)
    done_frames: list[int] = field(default_factory=list)
    # (where, index) of a candidate index given twice in one (partial) answer.
    duplicate_indices: list[tuple[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    _json_frames: list[FrameView] | None = field(default=None, repr=False, compare=False)

    @property
    def stream(self) -> bool:
        return self.kind != "unary"

    @property
    def json_frames(self) -> list[FrameView]:
        """Frames whose data parsed as a JSON object (computed once: the view is complete when returned)."""
        if self._json_frames is None:
            self._json_frames = [f for f in self.frames if isinstance(f.payload, dict)]
        return self._json_frames

    def candidate(self, index: int) -> CandidateView | None:
        for candidate in self.candidates:
            if candidate.index == index:
                return candidate
        return None


# --------------------------------------------------------------------------------- requests


def model_id(model: str) -> str:
    """The model id as the path carries it (``models/x`` -> ``x``)."""
    return model.removeprefix(MODEL_PREFIX)


def listed_model_ids(exchange: Exchange) -> list[str]:
    """The model ids (``models/`` prefix removed) of a GET /v1beta/models page, in order ([] when it is not one)."""
    try:
        models = exchange.json().get("models")
        names = [m["name"] for m in models if isinstance(m, dict) and isinstance(m.get("name"), str)]
    except (ValueError, AttributeError, TypeError):
        return []
    return [model_id(name) for name in names if model_id(name)]


def generate_path(model: str, *, stream: bool, sse: bool = True) -> str:
    """The path (and query) of a generation request for ``model``."""
    quoted = quote(model_id(model), safe="")
    if not stream:
        return f"{MODELS_PATH}/{quoted}:{GENERATE_ACTION}"
    return f"{MODELS_PATH}/{quoted}:{STREAM_ACTION}" + ("?alt=sse" if sse else "")


def model_path(model: str) -> str:
    """The path of GET /v1beta/models/{model}."""
    return f"{MODELS_PATH}/{quote(model_id(model), safe='')}"


def _parts_of(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"text": content}]
    if isinstance(content, list):
        return [
            {"text": part["text"]}
            for part in content
            if isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str)
        ]
    return []


# Chat-completion parameters that have a generationConfig counterpart.
_CONFIG_PARAMS = {
    "temperature": "temperature",
    "top_p": "topP",
    "seed": "seed",
    "n": "candidateCount",
    "presence_penalty": "presencePenalty",
    "frequency_penalty": "frequencyPenalty",
}


def gemini_body(messages: list[dict[str, Any]], *, max_tokens: int | None = None, **params: Any) -> dict[str, Any]:
    """A generateContent body for chat-format ``messages``: system messages become systemInstruction
    (one part each), user turns ``user`` and assistant turns ``model``. ``stop`` becomes stopSequences,
    the parameters in ``_CONFIG_PARAMS`` their generationConfig names; any other parameter (``ignore_eos``)
    is passed through as a top-level key."""
    system: list[dict[str, Any]] = []
    contents: list[dict[str, Any]] = []
    for message in messages:
        role = message.get("role")
        parts = _parts_of(message.get("content"))
        if role in ("system", "developer"):
            system.extend(parts)
        elif parts:
            contents.append({"role": "model" if role == "assistant" else "user", "parts": parts})
    body: dict[str, Any] = {"contents": contents}
    if system:
        body["systemInstruction"] = {"parts": system}
    config: dict[str, Any] = {}
    if max_tokens is not None:
        config["maxOutputTokens"] = max_tokens
    for key, value in params.items():
        if key == "stop":
            stops = [value] if isinstance(value, str) else list(value or [])
            if stops:
                config["stopSequences"] = stops
        elif key in _CONFIG_PARAMS:
            if value is not None:
                config[_CONFIG_PARAMS[key]] = value
        else:
            body[key] = value
    if config:
        body["generationConfig"] = config
    return body


def query_value(exchange: Exchange, name: str) -> str | None:
    """The first value of query parameter ``name`` in the request URL."""
    values = parse_qs(urlsplit(exchange.url).query).get(name)
    return values[0] if values else None


def requested_sse(exchange: Exchange) -> bool:
    """True when a streamGenerateContent request asked for server-sent events (``alt=sse``)."""
    return exchange.operation == STREAM_OPERATION and query_value(exchange, "alt") == "sse"


def generation_config(exchange: Exchange) -> dict[str, Any]:
    config = exchange.request_body.get("generationConfig")
    return config if isinstance(config, dict) else {}


def requested_candidates(exchange: Exchange) -> int:
    """generationConfig.candidateCount (1 when absent)."""
    count = as_int(generation_config(exchange).get("candidateCount"))
    return 1 if count is None else count


def max_output_tokens(exchange: Exchange) -> int | None:
    return as_int(generation_config(exchange).get("maxOutputTokens"))


def stop_sequences(exchange: Exchange) -> list[str]:
    stops = generation_config(exchange).get("stopSequences")
    return [s for s in stops if isinstance(s, str) and s] if isinstance(stops, list) else []


def proto_field(message: Any, camel: str, snake: str) -> Any:
    """A field of a JSON-encoded protocol-buffer message, by either spelling: parsers accept the
    lowerCamelCase and the original snake_case name alike (google-genai sends thinkingConfig in snake_case)."""
    if not isinstance(message, dict):
        return None
    return message[camel] if camel in message else message.get(snake)


def thinking_config(exchange: Exchange) -> dict[str, Any]:
    config = proto_field(generation_config(exchange), "thinkingConfig", "thinking_config")
    return config if isinstance(config, dict) else {}


def thinking_budget(exchange: Exchange) -> int | None:
    return as_int(proto_field(thinking_config(exchange), "thinkingBudget", "thinking_budget"))


def thinking_disabled(exchange: Exchange) -> bool:
    """True when the request turned thinking off (thinkingBudget 0)."""
    return thinking_budget(exchange) == 0


def include_thoughts(exchange: Exchange) -> bool:
    return proto_field(thinking_config(exchange), "includeThoughts", "include_thoughts") is True


def response_modalities(exchange: Exchange) -> frozenset[str]:
    """generationConfig.responseModalities, upper-cased (Google takes any case); empty when not asked."""
    modalities = proto_field(generation_config(exchange), "responseModalities", "response_modalities")
    if not isinstance(modalities, list):
        return frozenset()
    return frozenset(m.upper() for m in modalities if isinstance(m, str))


def image_config(exchange: Exchange) -> dict[str, Any]:
    """generationConfig.imageConfig (an empty dict when absent)."""
    config = proto_field(generation_config(exchange), "imageConfig", "image_config")
    return config if isinstance(config, dict) else {}


def declared_functions(exchange: Exchange) -> list[str]:
    """The names of the function declarations the request offers, in order."""
    names: list[str] = []
    tools = exchange.request_body.get("tools")
    for tool in tools if isinstance(tools, list) else []:
        declarations = tool.get("functionDeclarations") if isinstance(tool, dict) else None
        for declaration in declarations if isinstance(declarations, list) else []:
            if isinstance(declaration, dict) and isinstance(declaration.get("name"), str):
                names.append(declaration["name"])
    return names


def function_calling(exchange: Exchange) -> tuple[str | None, list[str]]:
    """(toolConfig.functionCallingConfig.mode, allowedFunctionNames)."""
    tool_config = exchange.request_body.get("toolConfig")
    config = tool_config.get("functionCallingConfig") if isinstance(tool_config, dict) else None
    if not isinstance(config, dict):
        return None, []
    mode = config.get("mode")
    allowed = config.get("allowedFunctionNames")
    names = [n for n in allowed if isinstance(n, str)] if isinstance(allowed, list) else []
    return (mode if isinstance(mode, str) else None), names


# ------------------------------------------------------------------------------- predicates


def is_generation_answer(exchange: Exchange) -> bool:
    """A completed 2xx generateContent or streamGenerateContent answer."""
    return exchange.ok and exchange.operation in (GENERATE_OPERATION, STREAM_OPERATION)


def is_unary_answer(exchange: Exchange) -> bool:
    return exchange.ok and exchange.operation == GENERATE_OPERATION


def is_stream_answer(exchange: Exchange) -> bool:
    return exchange.ok and exchange.operation == STREAM_OPERATION


# ------------------------------------------------------------------------------------ views


def gemini_view(exchange: Exchange) -> GeminiView:
    """Parse (once, cached on the exchange) a Gemini generation answer into a GeminiView."""
    return cached_view(exchange, "gemini_view", GeminiView, _read_view)


def _read_view(exchange: Exchange) -> GeminiView:
    if exchange.is_stream:
        return _sse_view(exchange)
    if exchange.operation == STREAM_OPERATION:
        return _array_view(exchange)
    return _unary_view(exchange)


def _unary_view(exchange: Exchange) -> GeminiView:
    view = GeminiView(kind="unary")
    view.payload, payload = read_json_object(exchange, view.problems)
    if payload is None:
        return view
    view.usage = payload.get("usageMetadata")
    merger = _Merger()
    merger.take(payload, "body")
    view.candidates = merger.candidates()
    view.duplicate_indices = merger.duplicates
    return view


def _array_view(exchange: Exchange) -> GeminiView:
    view = GeminiView(kind="array")
    view.payload, payload = read_json_array(exchange, view.problems, "an array of partial answers")
    if payload is None:
        return view
    elements: list[tuple[float, str, Any]] = [(exchange.elapsed_s, "", element) for element in payload]
    _fill_frames(view, elements, parsed=True)
    return view


def _sse_view(exchange: Exchange) -> GeminiView:
    view = GeminiView(kind="sse")
    _fill_frames(view, [(e.at_s, e.data, None) for e in exchange.events or []], parsed=False)
    return view


def _fill_frames(view: GeminiView, items: list[tuple[float, str, Any]], *, parsed: bool) -> None:
    merger = _Merger()
    for position, (at_s, data, element) in enumerate(items):
        frame = FrameView(position=position, at_s=at_s, data=data)
        view.frames.append(frame)
        if parsed:
            frame.payload = element
        elif frame.is_done:
            view.done_frames.append(position)
            frame.error = f"event #{position} is the OpenAI terminator [DONE], not a partial answer"
            continue
        else:
            try:
                frame.payload = parse_json(data)
            except ValueError as exc:
                frame.error = f"event #{position} data is not JSON: {exc}"
                continue
        if not isinstance(frame.payload, dict):
            where = f"element #{position}" if parsed else f"event #{position} data"
            frame.error = f"{where} is JSON {type(frame.payload).__name__}, expected an object"
            continue
        if frame.payload.get("usageMetadata") is not None:
            view.usage = frame.payload["usageMetadata"]
            view.usage_frames.append(position)
        frame.text = merger.take(frame.payload, f"element #{position}" if parsed else f"event #{position}")
    view.candidates = merger.candidates()
    view.duplicate_indices = merger.duplicates


class _Merger:
    """Joins the candidates of one or more (partial) answers by index."""

    def __init__(self) -> None:
        self._by_index: dict[Any, CandidateView] = {}
        self.duplicates: list[tuple[str, Any]] = []
        self._joiner = TextJoiner()

    def candidates(self) -> list[CandidateView]:
        """The merged candidates, their texts joined (call once every answer has been taken)."""
        self._joiner.join()
        return list(self._by_index.values())

    def take(self, payload: dict[str, Any], where: str) -> str:
        """Merge one answer's candidates; return the generated text it carries."""
        carried = ""
        seen: set[Any] = set()
        raw_candidates = payload.get("candidates")
        for raw in raw_candidates if isinstance(raw_candidates, list) else []:
            if not isinstance(raw, dict):
                continue
            index = raw.get("index", 0)
            key = index if isinstance(index, int) else repr(index)
            if key in seen:
                self.duplicates.append((where, index))
            seen.add(key)
            candidate = self._by_index.get(key)
            if candidate is None:
                candidate = self._by_index[key] = CandidateView(index=index)
            carried += _merge_candidate(candidate, raw, self._joiner)
        return carried


def _merge_candidate(candidate: CandidateView, raw: dict[str, Any], joiner: TextJoiner) -> str:
    finished_before = candidate.finish_count > 0
    carried = ""
    content = raw.get("content")
    if isinstance(content, dict):
        if content.get("role") is not None:
            candidate.role = content["role"]
        parts = content.get("parts")
        for part in parts if isinstance(parts, list) else []:
            if not isinstance(part, dict):
                continue
            text = part.get("text")
            call = part.get("functionCall")
            blob = part.get("inlineData")
            if isinstance(text, str):
                if part.get("thought") is True:
                    joiner.append(candidate, "thought_text", text)
                    candidate.thought_parts += 1
                else:
                    joiner.append(candidate, "text", text)
                carried += text
                if finished_before and text:
                    candidate.content_after_finish = True
            elif isinstance(call, dict):
                args = call.get("args")
                candidate.function_calls.append(FunctionCallView(name=call.get("name"), args=args, id=call.get("id")))
                carried += _args_text(args)
                if finished_before:
                    candidate.content_after_finish = True
            elif isinstance(blob, dict):
                candidate.inline_data.append(
                    InlineDataView(blob.get("mimeType"), blob.get("data"), part.get("thought") is True)
                )
                if finished_before:
                    candidate.content_after_finish = True
    if raw.get("finishReason") is not None:
        candidate.finish_count += 1
        candidate.finish_reason = raw["finishReason"]
    return carried


def _args_text(args: Any) -> str:
    if isinstance(args, str):
        return args
    try:
        return orjson.dumps(args).decode()
    except TypeError:
        return json.dumps(args, default=str)


def usage_count(usage: Any, key: str) -> int | None:
    """A count of usageMetadata; a missing one is 0 (proto3 JSON omits zeros), a mistyped one None."""
    if not isinstance(usage, dict):
        return None
    if key not in usage:
        return 0
    return as_int(usage[key])


def answer_text(view: GeminiView) -> str:
    """All generated answer text (every candidate, function-call arguments included, thoughts not)."""
    pieces: list[str] = []
    for candidate in view.candidates:
        pieces.append(candidate.text or "")
        pieces.extend(_args_text(call.args) for call in candidate.function_calls)
    return "".join(pieces)


def text_events(view: GeminiView) -> list[tuple[float, str]]:
    """The stream frames that carry generated text (thought summaries and function calls included), as
    (arrival time, text), in order: Gemini's "first token". Empty for a unary or JSON-array answer."""
    if view.kind != "sse":
        return []
    return [(frame.at_s, frame.text) for frame in view.frames if frame.text]


# Gemini finish reasons that mean a content filter stopped the candidate (X2 maps them to content_filter).
_FILTERED = frozenset(
    {"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY", "IMAGE_PROHIBITED_CONTENT"}
)


def chat_finish(candidate: CandidateView) -> Any:
    """The candidate's finishReason in chat-completion terms (rule X2); unmapped values pass through."""
    reason = candidate.finish_reason
    if reason == "STOP":
        return "tool_calls" if candidate.function_calls else "stop"
    if reason == "MAX_TOKENS":
        return "length"
    if isinstance(reason, str) and reason in _FILTERED:  # any JSON value may come: a list is not hashable
        return "content_filter"
    return reason


# ---------------------------------------------------------------------- the shared family interface


def request_headers(api_key: str | None) -> dict[str, str]:
    """The headers every request of this family carries: the key as ``x-goog-api-key`` (what google-genai
    sends)."""
    return {"x-goog-api-key": api_key} if api_key else {}


def build_request(
    model: str, messages: list[dict[str, Any]], *, max_tokens: int | None, stream: bool, **params: Any
) -> tuple[str, str, str, dict[str, Any]]:
    """(method, path, operation, body) of a generation request for chat-format ``messages``; a stream is
    requested as server-sent events (``?alt=sse``), as google-genai does."""
    body = gemini_body(messages, max_tokens=max_tokens, **params)
    operation = STREAM_OPERATION if stream else GENERATE_OPERATION
    return "POST", generate_path(model, stream=stream), operation, body


def read_answer(exchange: Exchange) -> Answer | None:
    """A 2xx generation answer as an :class:`Answer` (its first candidate's finish), else None; a stream the
    transport cut short gives what arrived before the cut.

    ``input_tokens`` is promptTokenCount (cached tokens included); ``output_tokens`` is candidatesTokenCount
    + thoughtsTokenCount (rule X1)."""
    if not (received_2xx(exchange) and exchange.operation in (GENERATE_OPERATION, STREAM_OPERATION)):
        return None
    view = gemini_view(exchange)
    usage = view.usage if isinstance(view.usage, dict) else None
    output: int | None = None
    if usage is not None:
        candidates, thoughts = usage_count(usage, "candidatesTokenCount"), usage_count(usage, "thoughtsTokenCount")
        output = candidates + thoughts if candidates is not None and thoughts is not None else None
    first = view.candidate(0) or (view.candidates[0] if view.candidates else None)
    raw = first.finish_reason if first is not None else None
    # Strings, as chat's reader gives them, whatever JSON value the finishReason was (rule X2 compares them).
    finish = str(chat_finish(first)) if first is not None and raw is not None else None
    return Answer(
        text_events=text_events(view),
        text=answer_text(view),
        input_tokens=as_int(usage.get("promptTokenCount")) if usage is not None else None,
        output_tokens=output,
        finish=finish,
        raw_finish=None if raw is None else str(raw),
        stream=view.stream,
    )
