"""A second, independent OpenAI-compatible chat server that is conformant in *unusual* ways.

Written from the contract only (``openapi/chat.yaml``, ``openapi/README.md``, contract-rules §F and
the OpenAI / WHATWG specifications), never from ``llmconform.mock``. It exists to find false
positives in ``llmconform check``: every behaviour below is legal, but few servers do it.

Generation is deterministic and unrelated to the mock: words drawn from a fixed lexicon by a
BLAKE2b counter stream seeded with the model, the canonical messages and the choice index. The
tokenizer is "a run of non-space characters plus the whitespace after it" (leading whitespace is
a token of its own), so usage is exact by that count.

Unusual but legal behaviours (each one can be switched off in :class:`Quirks` to isolate it):

SSE (WHATWG HTML "server-sent events" §9.2.6): a leading U+FEFF BOM; CRLF line endings, with some
events ended by a bare LF or a bare CR; ``: keep-alive`` comment blocks between events and comment
lines inside events; an ``event: ping`` block with no data (never dispatched); ``event: message``
and ``event:message`` on some events; ``id:`` on every event, ``[DONE]`` included; ``retry: 3000``;
JSON pretty-printed across several ``data:`` lines, with and without the optional space after the
colon; an empty trailing ``data:`` line on some events (JSON followed by a newline); U+2028 LINE
SEPARATOR raw inside a JSON string (not an SSE line end); the body gzip-encoded and written a few
bytes at a time so that UTF-8 sequences and CR LF pairs are split across writes; a comment after
``data: [DONE]``.

Chunks: first delta ``{"role": "assistant", "content": ""}``; several tokens per chunk; several
choices in one chunk, in descending index order; the finish chunk also carries the last text
piece; ``finish_reason`` key omitted (not null) on intermediate chunks; ``role`` repeated on every
delta; a heartbeat chunk with ``delta: {}`` mid-stream; a tool call sent as one
fragment with id, name and the whole arguments, in the same chunk as the role and the
finish_reason; ``usage`` key absent unless ``include_usage``, then ``"usage": null`` on every chunk
and a last ``{"choices": [], "usage": {...}}``; vendor fields (``x_vendor``, ``system_fingerprint:
null``, ``service_tier: "default"``); non-ASCII text (é, ✓, emoji); a dated model name in the
body (as OpenAI answers ``gpt-4o`` with ``gpt-4o-2024-08-06``).

Unary: choices listed in descending index order; ``logprobs`` key absent unless requested;
``prompt_tokens_details: null`` and no ``completion_tokens_details``; ``reasoning_content: null``
and ``refusal: null`` in the message; ``application/json; charset=utf-8``; gzip; chunked transfer
encoding (no Content-Length); a JSON text starting with a newline and pretty-printed; keys in odd order;
named ``tool_choice`` answered with ``finish_reason: "stop"``; top-logprob alternatives that rank
the sampled token below another one; JSON-mode content pretty-printed over several lines.

Errors: ``{"error": {"code", "param", "type", "message"}}`` in that order plus a vendor field;
422 (not 400) for wrongly-typed values and malformed messages; ``WWW-Authenticate`` on 401;
JSON bodies for 404/405 on unknown routes; the ``Bearer`` scheme matched case-insensitively
(RFC 9110 §11.1); integral floats (``"n": 2.0``) accepted as integers (JSON Schema 2020-12).
Headers: ``x-ratelimit-*`` with Go-style reset durations (``1m30.5s``, ``250ms``), ``x-request-id``.
Tools: with ``tool_choice: "auto"`` a call that cannot fit ``max_tokens`` becomes a text answer; on
``required``/named it is cut off with ``finish_reason: "length"``.

Breakages: :class:`Breakage` lists deliberate contract violations, each one a bug that real servers
and gateways have shipped (contract-rules §D.2 cites most of them). ``Quirks.breakages`` is empty by
default, so the server stays conformant; ``tests/integration/test_broken_servers.py`` turns them on
one at a time and proves that ``llmconform check`` fails the server for each.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import math
import re
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

API_KEY = "uk-live-7f3a9c-unusual"
MODELS: dict[str, dict[str, Any]] = {
    "unusual/lexicon-7b": {"created": 1_700_000_123, "max_model_len": 8192, "dated": "unusual/lexicon-7b-2024-06-01"},
    "unusual/lexicon-70b:fp8": {
        "created": 1_712_345_678,
        "max_model_len": 32768,
        "dated": "unusual/lexicon-70b:fp8-0613",
    },
}
DEFAULT_MODEL = "unusual/lexicon-7b"
MAX_BODY = 2 * 1024 * 1024

# The lexicon: ASCII and non-ASCII words, symbols and emoji (4-byte UTF-8).
# fmt: off
LEXICON = (
    "amber", "brisk", "café", "naïve", "✓", "Zürich", "🦊", "façade", "über", "smörgåsbord", "piñata", "déjà",
    "vu", "résumé", "coöperate", "jalapeño", "crème", "brûlée", "fjord", "kettle", "lantern", "meadow", "nimbus",
    "orchard", "pebble", "quartz", "ribbon", "saffron", "thistle", "umber", "velvet", "willow", "xylem", "yonder",
    "zephyr", "東京", "straße", "Ωmega", "🌈", "☕", "señor", "élan",
)
# fmt: on


class Breakage(StrEnum):
    """A deliberate contract violation, modelled on a bug a real server or gateway shipped."""

    # usage
    USAGE_TOTAL_NOT_SUM = "usage_total_not_sum"  # total omits the completion (WordPress/ai-provider-for-google#22)
    PROMPT_TOKENS_ZERO = "prompt_tokens_zero"  # a gateway that loses the prompt count reports 0 (§D.2)
    UNARY_USAGE_MISSING = "unary_usage_missing"  # no usage object in a unary answer
    CACHED_OVER_PROMPT = "cached_over_prompt"  # cached_tokens counted on top of prompt_tokens (new-api#4395)
    # usage in streams
    STREAM_USAGE_NULL = "stream_usage_null"  # include_usage honoured with usage null only (sglang#954)
    UNREQUESTED_USAGE_CHUNK = "unrequested_usage_chunk"  # usage chunk without the opt-in (apfel#100)
    USAGE_CHUNK_WITHOUT_CHOICES = "usage_chunk_without_choices"  # no choices key on it (ROCm/ATOM#1711)
    USAGE_ON_FINISH_CHUNK = "usage_on_finish_chunk"  # usage rides the finish chunk, choices not empty
    PARTIAL_USAGE_ON_EVERY_CHUNK = "partial_usage_on_every_chunk"  # no completion_tokens (vercel/ai#2763)
    USAGE_CHUNK_EMPTY_IDENTITY = "usage_chunk_empty_identity"  # usage chunk with id "" and model "" (opencode#42918)
    # max_tokens, stop, n
    STOP_WHEN_TRUNCATED = "stop_when_truncated"  # "stop" though cut by max_tokens (LocalAI#3533, llama.cpp#7198)
    OVER_MAX_TOKENS = "over_max_tokens"  # off by one: max_tokens + 1 tokens generated
    STOP_SEQUENCE_INCLUDED = "stop_sequence_included"  # the matched stop string is left in the text
    N_IGNORED = "n_ignored"  # one choice whatever n says (llama-cpp-python#1906, lmdeploy#1787)
    DUPLICATE_CHOICE_INDICES = "duplicate_choice_indices"  # a fan-out gateway that leaves every index at 0
    # logprobs
    LOGPROBS_NULL = "logprobs_null"  # logprobs=true answered with "logprobs": null
    TOP_LOGPROBS_OFF_BY_ONE = "top_logprobs_off_by_one"  # top_logprobs + 1 alternatives
    POSITIVE_LOGPROB = "positive_logprob"  # the negative log-likelihood sent as the logprob (sign flipped)
    LOGPROB_TOKENS_STRIPPED = (
        "logprob_tokens_stripped"  # tokens without their whitespace: they no longer spell the text
    )
    # tools and structured output
    TOOL_ARGUMENTS_OBJECT = "tool_arguments_object"  # arguments as a JSON object, not a string (TGI#2136)
    TOOL_DELTA_WITHOUT_INDEX = "tool_delta_without_index"  # streamed tool-call fragments lack index (ollama#7881)
    PARALLEL_CALLS_SAME_INDEX = "parallel_calls_same_index"  # two streamed calls both at index 0 (sglang#6310)
    TOOL_CALLS_FINISH_WITHOUT_CALLS = "tool_calls_finish_without_calls"  # "tool_calls" whenever tools were sent
    NAMED_TOOL_CHOICE_IGNORED = "named_tool_choice_ignored"  # a named tool_choice answered in prose
    TOOL_CHOICE_NONE_IGNORED = "tool_choice_none_ignored"  # tool_choice "none" still calls a tool
    JSON_MODE_PROSE = "json_mode_prose"  # json_object mode answered with prose around the JSON
    JSON_SCHEMA_IGNORED = "json_schema_ignored"  # strict json_schema treated as plain json_object mode
    # stream framing
    MISSING_DONE = "missing_done"  # the stream ends without data: [DONE]
    DATA_AFTER_DONE = "data_after_done"  # a gateway appends its own chunk after the upstream [DONE]
    CHUNK_ID_CHANGES = "chunk_id_changes"  # a new id once the role chunk is out
    TWO_FINISH_REASONS = "two_finish_reasons"  # a trailing chunk repeats the finish_reason
    STREAM_DROPS_LAST_TOKEN = "stream_drops_last_token"  # the detokenizer never flushes: stream != unary
    STREAM_AS_JSON = "stream_as_json"  # a stream sent with Content-Type application/json
    NDJSON_STREAM = "ndjson_stream"  # ollama-style "{...}\n" lines instead of SSE events
    # shape and media types
    OBJECT_MISSING = "object_missing"  # no "object" field (async-openai#352)
    CREATED_AS_STRING = "created_as_string"  # "created": "1718000000"
    UNARY_TEXT_PLAIN = "unary_text_plain"  # unary JSON sent as text/plain
    MODEL_NOT_LISTED = "model_not_listed"  # /v1/models drops the ":tag" of the ids the chat route accepts
    # errors
    ERROR_AS_STRING = "error_as_string"  # {"error": "..."} (autogen#757)
    HTML_404 = "html_404"  # a proxy's HTML page for every 404
    NO_KEY_ACCEPTED = "no_key_accepted"  # a request without Authorization is served (a dev-mode default)
    UNKNOWN_MODEL_ACCEPTED = "unknown_model_accepted"  # an unknown model silently falls back to the default
    MALFORMED_BODY_500 = "malformed_body_500"  # validation errors surface as 500 internal errors
    ERRORS_WITH_STATUS_200 = "errors_with_status_200"  # the error object sent with HTTP 200
    OUT_OF_RANGE_ACCEPTED = "out_of_range_accepted"  # top_logprobs > 20 and more than 4 stop sequences served
    # only the streaming path is broken (gateways and servers often implement it separately)
    STREAM_STOP_WHEN_TRUNCATED = "stream_stop_when_truncated"  # "stop" on streams cut by max_tokens
    STREAM_N_IGNORED = "stream_n_ignored"  # streams carry choice 0 only, whatever n says
    STREAM_LOGPROBS_MISSING = "stream_logprobs_missing"  # logprobs=true streams send "logprobs": null
    STREAM_STOP_INCLUDED = "stream_stop_included"  # text is sent before the stop string is recognised
    STREAM_USAGE_TOTAL_NOT_SUM = "stream_usage_total_not_sum"  # the usage chunk's total omits the prompt
    STREAM_TOOL_ARGUMENTS_LOST = "stream_tool_arguments_lost"  # the streaming tool parser sends arguments "{}"


@dataclass(frozen=True)
class Quirks:
    """Every unusual-but-legal behaviour, on by default."""

    bom: bool = True
    mixed_line_endings: bool = True  # some events end with bare LF or bare CR instead of CRLF
    comments: bool = True  # comment lines: one before the first event, and inside some events
    keepalive_blocks: bool = True  # ": keep-alive" blocks (comment + blank line) between events
    event_names: bool = True
    ids: bool = True
    retry: bool = True
    multiline_data: bool = True
    trailing_blank_data: bool = True
    tiny_writes: bool = True
    comment_after_done: bool = True
    omit_intermediate_finish_reason: bool = True
    tool_call_in_one_chunk: bool = True
    reverse_choices: bool = True
    dated_model: bool = True
    named_tool_finish_stop: bool = True
    pretty_json_content: bool = True
    sampled_token_not_top: bool = True
    status_422_for_types: bool = True
    unicode_line_separator: bool = True  # U+2028 inside the text: not an SSE line break, but str.splitlines() splits it
    dataless_event: bool = True  # an "event: ping" block without data, which SSE parsers must not dispatch
    gzip: bool = True  # Content-Encoding: gzip on every response when the client accepts it, streams included
    chunked_unary: bool = True  # unary JSON sent with Transfer-Encoding: chunked (no Content-Length)
    leading_whitespace_json: bool = True  # unary JSON text starts with a newline (RFC 8259: ws value ws)
    rate_limit_headers: bool = True  # x-ratelimit-* with Go-style durations such as "1m30.5s" and "250ms"
    role_on_every_delta: bool = True  # "role": "assistant" repeated on every text delta (as some servers do)
    empty_delta_chunks: bool = True  # a chunk whose delta is {} in the middle of a stream
    # "n": 2.0 honoured as n=2: JSON Schema 2020-12 counts a number with a zero fraction as an integer.
    # Off: such values are refused with 422 instead (stricter than the contract; llmconform only warns).
    integral_floats_as_ints: bool = True

    # Deliberate contract violations; none by default, so the server is conformant.
    breakages: frozenset[Breakage] = frozenset()

    def without(self, *names: str) -> Quirks:
        return dataclasses.replace(self, **dict.fromkeys(names, False))

    def broken(self, breakage: Breakage) -> bool:
        return breakage in self.breakages


# --------------------------------------------------------------------------------- errors


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        type_: str = "invalid_request_error",
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.code, self.type = status, message, param, code, type_


def _json_bytes(obj: Any, indent: int | None = None) -> bytes:
    return json.dumps(obj, ensure_ascii=False, indent=indent, allow_nan=False).encode("utf-8")


def _json_response(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        _json_bytes(obj) + b"\n", status_code=status, headers=headers, media_type="application/json; charset=utf-8"
    )


_HTML_404 = """<html>
<head><title>404 Not Found</title></head>
<body>
<center><h1>404 Not Found</h1></center>
<hr><center>nginx</center>
</body>
</html>
"""


def _error_response(err: ApiError, headers: dict[str, str] | None = None, quirks: Quirks | None = None) -> Response:
    quirks = quirks or Quirks()
    status = 200 if quirks.broken(Breakage.ERRORS_WITH_STATUS_200) else err.status
    if err.status == 404 and quirks.broken(Breakage.HTML_404):
        return Response(_HTML_404, status_code=404, headers=headers, media_type="text/html")
    body: dict[str, Any] = {
        "error": {"code": err.code, "param": err.param, "type": err.type, "message": err.message},
        "x_vendor": {"trace": uuid.uuid4().hex[:12]},
    }
    if quirks.broken(Breakage.ERROR_AS_STRING):
        body = {"error": err.message}
    return _json_response(body, status, headers)


# ----------------------------------------------------------------------------- validation


def _is_int(v: Any) -> bool:
    """JSON Schema 2020-12: an integer is any number with a zero fractional part (so 2.0 counts)."""
    if isinstance(v, bool):
        return False
    return isinstance(v, int) or (isinstance(v, float) and math.isfinite(v) and v.is_integer())


def _is_num(v: Any) -> bool:
    return not isinstance(v, bool) and isinstance(v, (int, float)) and (not isinstance(v, float) or math.isfinite(v))


class _Validator:
    NAME_RE = re.compile(r"[a-zA-Z0-9_-]{1,64}")

    def __init__(self, quirks: Quirks) -> None:
        self.type_status = 422 if quirks.status_422_for_types else 400
        self.integral_floats = quirks.integral_floats_as_ints
        out_of_range = quirks.broken(Breakage.OUT_OF_RANGE_ACCEPTED)
        self.top_logprobs_max, self.stop_max = (None, 1000) if out_of_range else (20, 4)

    def type_error(self, param: str, expected: str) -> ApiError:
        return ApiError(
            self.type_status, f"Invalid type for '{param}': expected {expected}.", param=param, code="invalid_type"
        )

    @staticmethod
    def value_error(param: str, message: str) -> ApiError:
        return ApiError(400, f"Invalid value for '{param}': {message}", param=param, code="invalid_value")

    @staticmethod
    def missing(param: str) -> ApiError:
        return ApiError(400, f"Missing required parameter: '{param}'.", param=param, code="missing_required_parameter")

    # -- primitives
    def string(self, obj: dict[str, Any], key: str, p: str, *, required: bool = False, nullable: bool = False) -> None:
        if key not in obj:
            if required:
                raise self.missing(p)
            return
        v = obj[key]
        if v is None and nullable:
            return
        if not isinstance(v, str):
            raise self.type_error(p, "a string" + (" or null" if nullable else ""))

    def boolean(self, obj: dict[str, Any], key: str, p: str, *, nullable: bool = True) -> None:
        if key in obj and not (isinstance(obj[key], bool) or (nullable and obj[key] is None)):
            raise self.type_error(p, "a boolean")

    def number(
        self, obj: dict[str, Any], key: str, lo: float | None, hi: float | None, *, integer: bool = False
    ) -> None:
        if key not in obj or obj[key] is None:
            return
        v = obj[key]
        if integer and isinstance(v, float) and not self.integral_floats:
            raise self.type_error(key, "an integer written without a fraction")
        if not (_is_int(v) if integer else _is_num(v)):
            raise self.type_error(key, "an integer" if integer else "a number")
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            raise self.value_error(key, f"{v!r} is outside [{lo}, {hi}].")

    def const(self, obj: dict[str, Any], key: str, value: str, p: str) -> None:
        if key not in obj:
            raise self.missing(p)
        if obj[key] != value:
            raise self.value_error(p, f"expected {value!r}.")

    def obj(self, v: Any, p: str) -> dict[str, Any]:
        if not isinstance(v, dict):
            raise self.type_error(p, "an object")
        return v

    # -- content
    def parts(self, v: Any, p: str, allowed: tuple[str, ...]) -> None:
        if not isinstance(v, list):
            raise self.type_error(p, "a string or an array of content parts")
        if not v:
            raise self.value_error(p, "a content array must not be empty.")
        for j, part in enumerate(v):
            q = f"{p}[{j}]"
            part = self.obj(part, q)
            kind = part.get("type")
            if kind not in allowed:
                message = f"Invalid content part type at '{q}.type': {kind!r}."
                raise ApiError(self.type_status, message, param=f"{q}.type")
            if kind == "text":
                self.string(part, "text", f"{q}.text", required=True)
            elif kind == "refusal":
                self.string(part, "refusal", f"{q}.refusal", required=True)
            else:  # image_url
                img = part.get("image_url")
                if img is None and "image_url" not in part:
                    raise self.missing(f"{q}.image_url")
                img = self.obj(img, f"{q}.image_url")
                self.string(img, "url", f"{q}.image_url.url", required=True)
                if "detail" in img and img["detail"] not in ("auto", "low", "high"):
                    raise self.value_error(f"{q}.image_url.detail", "expected auto, low or high.")

    def text_only(self, v: Any, p: str) -> None:
        if not isinstance(v, str):
            self.parts(v, p, ("text",))

    def tool_call(self, v: Any, p: str) -> None:
        tc = self.obj(v, p)
        self.string(tc, "id", f"{p}.id", required=True)
        self.const(tc, "type", "function", f"{p}.type")
        if "function" not in tc:
            raise self.missing(f"{p}.function")
        fn = self.obj(tc["function"], f"{p}.function")
        self.string(fn, "name", f"{p}.function.name", required=True)
        self.string(fn, "arguments", f"{p}.function.arguments", required=True)

    def message(self, v: Any, i: int) -> None:
        p = f"messages[{i}]"
        m = self.obj(v, p)
        role = m.get("role")
        if role not in ("system", "developer", "user", "assistant", "tool"):
            raise ApiError(
                self.type_status,
                f"Invalid value for '{p}.role': {role!r} is not a known role.",
                param=f"{p}.role",
                code="invalid_value",
            )
        if role != "tool":
            self.string(m, "name", f"{p}.name")
        if role in ("system", "developer", "tool"):
            if "content" not in m:
                raise self.missing(f"{p}.content")
            self.text_only(m["content"], f"{p}.content")
            if role == "tool":
                self.string(m, "tool_call_id", f"{p}.tool_call_id", required=True)
        elif role == "user":
            if "content" not in m:
                raise self.missing(f"{p}.content")
            if not isinstance(m["content"], str):
                self.parts(m["content"], f"{p}.content", ("text", "image_url"))
        else:  # assistant
            c = m.get("content")
            if c is not None and not isinstance(c, str):
                self.parts(c, f"{p}.content", ("text", "refusal"))
            self.string(m, "refusal", f"{p}.refusal", nullable=True)
            if "tool_calls" in m:
                if not isinstance(m["tool_calls"], list):
                    raise self.type_error(f"{p}.tool_calls", "an array")
                for j, tc in enumerate(m["tool_calls"]):
                    self.tool_call(tc, f"{p}.tool_calls[{j}]")

    # -- the whole body
    def body(self, b: Any) -> dict[str, Any]:
        if not isinstance(b, dict):
            raise ApiError(400, "The request body must be a JSON object.", code="invalid_body")
        if "model" not in b:
            raise self.missing("model")
        self.string(b, "model", "model", required=True)
        if not b["model"]:
            raise self.value_error("model", "must not be empty.")
        if "messages" not in b:
            raise self.missing("messages")
        if not isinstance(b["messages"], list):
            message = "Invalid type for 'messages': expected an array."
            raise ApiError(400, message, param="messages", code="invalid_type")
        if not b["messages"]:
            raise self.value_error("messages", "expected at least one message.")
        for i, m in enumerate(b["messages"]):
            self.message(m, i)
        self.number(b, "max_tokens", 1, None, integer=True)
        self.number(b, "max_completion_tokens", 1, None, integer=True)
        self.number(b, "n", 1, 128, integer=True)
        self.number(b, "temperature", 0, 2)
        self.number(b, "top_p", 0, 1)
        self.number(b, "seed", None, None, integer=True)
        self.number(b, "presence_penalty", -2, 2)
        self.number(b, "frequency_penalty", -2, 2)
        self.number(b, "top_logprobs", 0, self.top_logprobs_max, integer=True)
        self.boolean(b, "logprobs", "logprobs")
        self.boolean(b, "stream", "stream")
        self.string(b, "user", "user")
        if "stop" in b and b["stop"] is not None and not isinstance(b["stop"], str):
            stop = b["stop"]
            if not isinstance(stop, list):
                raise self.type_error("stop", "a string, an array of strings or null")
            if not 1 <= len(stop) <= self.stop_max:
                raise self.value_error("stop", "expected between 1 and 4 stop sequences.")
            if not all(isinstance(s, str) for s in stop):
                raise self.type_error("stop", "an array of strings")
        if "tools" in b:
            if not isinstance(b["tools"], list):
                raise self.type_error("tools", "an array")
            for j, t in enumerate(b["tools"]):
                q = f"tools[{j}]"
                t = self.obj(t, q)
                self.const(t, "type", "function", f"{q}.type")
                if "function" not in t:
                    raise self.missing(f"{q}.function")
                fn = self.obj(t["function"], f"{q}.function")
                self.string(fn, "name", f"{q}.function.name", required=True)
                if not self.NAME_RE.fullmatch(fn["name"]):
                    raise self.value_error(f"{q}.function.name", "must match ^[a-zA-Z0-9_-]{1,64}$.")
                self.string(fn, "description", f"{q}.function.description")
                if "parameters" in fn:
                    self.obj(fn["parameters"], f"{q}.function.parameters")
                self.boolean(fn, "strict", f"{q}.function.strict")
        if "tool_choice" in b:
            tc = b["tool_choice"]
            if isinstance(tc, dict):
                self.const(tc, "type", "function", "tool_choice.type")
                if "function" not in tc:
                    raise self.missing("tool_choice.function")
                self.string(
                    self.obj(tc["function"], "tool_choice.function"), "name", "tool_choice.function.name", required=True
                )
            elif tc not in ("none", "auto", "required"):
                raise self.value_error("tool_choice", "expected none, auto, required or a named function.")
        if "response_format" in b:
            rf = self.obj(b["response_format"], "response_format")
            kind = rf.get("type")
            if kind not in ("text", "json_object", "json_schema"):
                raise self.value_error("response_format.type", "expected text, json_object or json_schema.")
            if kind == "json_schema":
                if "json_schema" not in rf:
                    raise self.missing("response_format.json_schema")
                js = self.obj(rf["json_schema"], "response_format.json_schema")
                self.string(js, "name", "response_format.json_schema.name", required=True)
                if not self.NAME_RE.fullmatch(js["name"]):
                    raise self.value_error("response_format.json_schema.name", "must match ^[a-zA-Z0-9_-]{1,64}$.")
                self.string(js, "description", "response_format.json_schema.description")
                if "schema" in js:
                    self.obj(js["schema"], "response_format.json_schema.schema")
                self.boolean(js, "strict", "response_format.json_schema.strict")
        if b.get("stream_options") is not None:
            so = self.obj(b["stream_options"], "stream_options")
            self.boolean(so, "include_usage", "stream_options.include_usage", nullable=False)
            self.boolean(so, "include_obfuscation", "stream_options.include_obfuscation", nullable=False)
        return b


# ------------------------------------------------------------------------ tokens and text

_TOKEN_RE = re.compile(r"^\s+|\S+\s*")


def tokenize(text: str) -> list[str]:
    """Own tokenizer: leading whitespace, then each non-space run with the whitespace after it."""
    return _TOKEN_RE.findall(text)


class _Stream:
    """A deterministic integer stream: BLAKE2b over (seed, counter)."""

    def __init__(self, *parts: str) -> None:
        self.seed = hashlib.blake2b("\x1f".join(parts).encode("utf-8"), digest_size=32).digest()
        self.counter = 0

    def next(self, bound: int) -> int:
        self.counter += 1
        h = hashlib.blake2b(self.counter.to_bytes(8, "little"), key=self.seed, digest_size=8).digest()
        return int.from_bytes(h, "little") % bound

    def word(self) -> str:
        return LEXICON[self.next(len(LEXICON))]


def _message_text(m: dict[str, Any]) -> list[str]:
    c = m.get("content")
    out: list[str] = []
    if isinstance(c, str):
        out.append(c)
    elif isinstance(c, list):
        for part in c:
            out.append(part.get("text") or part.get("refusal") or "")
            if part.get("type") == "image_url":
                out.append(" ".join(["img"] * 85))  # an image costs 85 tokens, like OpenAI's low detail
    for tc in m.get("tool_calls") or []:
        out.append(tc["function"]["name"] + " " + tc["function"]["arguments"])
    if m.get("name"):
        out.append(m["name"])
    return out


def count_prompt_tokens(body: dict[str, Any]) -> int:
    n = 3  # priming
    for m in body["messages"]:
        n += 2 + sum(len(tokenize(t)) for t in _message_text(m))
    if body.get("tools"):
        n += len(tokenize(json.dumps(body["tools"], ensure_ascii=False, sort_keys=True)))
    return n


def _prose(rng: _Stream, odd_separator: bool = False) -> list[str]:
    count = 9 + rng.next(14)
    words = [rng.word() for _ in range(count)]
    words[0] = words[0][:1].upper() + words[0][1:]
    tokens: list[str] = []
    for i, w in enumerate(words):
        if i == count - 1:
            tokens.append(w + ("." if rng.next(2) else " ✓"))
        elif i == count // 2:
            tokens.append(w + ",\n\n")  # a paragraph break inside a token
        elif odd_separator and i == 2:
            tokens.append(w + "\u2028")  # LINE SEPARATOR: whitespace to str.split, not a line end in SSE
        else:
            tokens.append(w + ("," if rng.next(6) == 0 else "") + " ")
    return tokenize("".join(tokens))


# -------------------------------------------------------------------- schema → instance


def _resolve(ref: str, root: Any) -> Any:
    if not ref.startswith("#"):
        return {}
    node = root
    for part in [p for p in ref[1:].split("/") if p]:
        part = part.replace("~1", "/").replace("~0", "~")
        node = node[int(part)] if isinstance(node, list) else node.get(part, {})
    return node


def _merge_all_of(s: dict[str, Any], root: Any) -> dict[str, Any]:
    merged = {k: v for k, v in s.items() if k != "allOf"}
    for sub in s["allOf"]:
        sub = _resolve(sub["$ref"], root) if isinstance(sub, dict) and "$ref" in sub else sub
        if not isinstance(sub, dict):
            continue
        for k, v in sub.items():
            if k == "properties":
                merged["properties"] = {**merged.get("properties", {}), **v}
            elif k == "required":
                merged["required"] = [*merged.get("required", []), *v]
            else:
                merged.setdefault(k, v)
    return merged


def instance_for(schema: Any, rng: _Stream, root: Any = None, depth: int = 0) -> Any:
    """A JSON value valid under a (practical subset of) JSON Schema, with non-ASCII strings."""
    root = schema if root is None else root
    if not isinstance(schema, dict) or depth > 8:
        return "✓ café"
    if "$ref" in schema:
        return instance_for(_resolve(schema["$ref"], root), rng, root, depth + 1)
    if "allOf" in schema:
        return instance_for(_merge_all_of(schema, root), rng, root, depth + 1)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][rng.next(len(schema["enum"]))]
    for key in ("anyOf", "oneOf"):
        if schema.get(key):
            branches = [b for b in schema[key] if not (isinstance(b, dict) and b.get("type") == "null")]
            return instance_for((branches or schema[key])[0], rng, root, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind is None:
        kind = "object" if "properties" in schema else "array" if "items" in schema else "string"
    if kind == "object":
        props: dict[str, Any] = schema.get("properties", {})
        required = list(schema.get("required", []))
        additional = schema.get("additionalProperties")
        extra_schema = additional if isinstance(additional, dict) else {"type": "string"}
        out: dict[str, Any] = {}
        # required first, in reverse order; then the optional ones (unusual key order, still valid)
        for name in reversed(required):
            out[name] = instance_for(props.get(name, extra_schema), rng, root, depth + 1)
        for name, sub in props.items():
            if name not in out and depth < 4:
                out[name] = instance_for(sub, rng, root, depth + 1)
        extra = 0
        while len(out) < schema.get("minProperties", 0) and schema.get("additionalProperties", True) is not False:
            extra += 1
            out[f"x_extra_{extra}"] = instance_for(extra_schema, rng, root, depth + 1)
        return out
    if kind == "array":
        lo, hi = schema.get("minItems", 0), schema.get("maxItems", 3)
        count = max(lo, min(2, hi))
        prefix = schema.get("prefixItems", [])
        items = schema.get("items", {"type": "string"})
        out_list = []
        for i in range(count):
            sub = prefix[i] if i < len(prefix) else items
            value = instance_for(sub, rng, root, depth + 1)
            if schema.get("uniqueItems") and value in out_list:
                if isinstance(value, str):
                    value = f"{value} {i}"
                elif _is_num(value):
                    value = value + i
            out_list.append(value)
        return out_list
    if kind == "string":
        fmt = schema.get("format")
        if fmt == "date-time":
            return "2024-06-01T12:34:56Z"
        if fmt == "date":
            return "2024-06-01"
        if fmt == "email":
            return "zoë@example.com"
        if fmt in ("uri", "url"):
            return "https://example.com/café"
        if fmt == "uuid":
            return "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
        text = f"{rng.word()} {rng.word()}"
        lo, hi = schema.get("minLength", 0), schema.get("maxLength")
        text += "é" * max(0, lo - len(text))
        return text if hi is None else text[:hi]
    if kind in ("integer", "number"):
        lo = schema.get("minimum", -math.inf)
        hi = schema.get("maximum", math.inf)
        if "exclusiveMinimum" in schema:
            lo = max(lo, schema["exclusiveMinimum"] + (1 if kind == "integer" else 0.5))
        if "exclusiveMaximum" in schema:
            hi = min(hi, schema["exclusiveMaximum"] - (1 if kind == "integer" else 0.5))
        value: float = 7 if kind == "integer" else 2.5
        value = min(max(value, lo), hi)
        if kind == "integer":
            value = math.ceil(value)
        step = schema.get("multipleOf")
        if step:
            value = math.ceil(value / step) * step
            if kind == "integer":
                value = int(value)
        return value
    if kind == "boolean":
        return bool(rng.next(2))
    return None


# -------------------------------------------------------------------------- generation


@dataclass
class GeneratedChoice:
    index: int
    tokens: list[str] = field(default_factory=list)
    finish_reason: str = "stop"
    tool_call: dict[str, str] | None = None  # id, name, arguments
    more_calls: list[dict[str, str]] = field(default_factory=list)  # parallel calls after the first one
    completion_tokens: int = 0
    logprobs: list[dict[str, Any]] | None = None

    @property
    def content(self) -> str | None:
        return None if self.tool_call else "".join(self.tokens)


def _cut_at_stop(tokens: list[str], stops: list[str], keep_stop: bool = False) -> tuple[list[str], bool]:
    text = "".join(tokens)
    hits = [(text.find(s), len(s)) for s in stops if s]
    hits = [(h, n) for h, n in hits if h >= 0]
    if not hits:
        return tokens, False
    at, length = min(hits)
    cut = at + length if keep_stop else at  # keep_stop: the matched stop string stays in the text
    out: list[str] = []
    pos = 0
    for t in tokens:
        if pos + len(t) <= cut:
            out.append(t)
        else:
            if cut > pos:
                out.append(t[: cut - pos])
            break
        pos += len(t)
    return out, True


def _logprob_entries(tokens: list[str], k: int, rng: _Stream, quirks: Quirks) -> list[dict[str, Any]]:
    entries = []
    for t in tokens:
        ws = t[len(t.rstrip()) :]
        probs = [0.6 * 0.35**j for j in range(max(k, 3))]  # sums to < 1
        rank = rng.next(min(max(k, 1), 3)) if quirks.sampled_token_not_top else 0
        alternatives: list[dict[str, Any]] = []
        used = {t}
        for j in range(k):
            if j == rank:
                tok = t
            else:
                tok = rng.word() + ws
                while tok in used:
                    tok = rng.word() + "·" + ws
                used.add(tok)
            lp_j = round(math.log(probs[j]), 6)
            alternatives.append({"token": tok, "bytes": list(tok.encode("utf-8")), "logprob": lp_j})
        lp = round(math.log(probs[rank]), 6)
        if quirks.broken(Breakage.POSITIVE_LOGPROB):  # the negative log-likelihood, sign and all
            lp = -lp
            for alt in alternatives:
                alt["logprob"] = -alt["logprob"]
        if quirks.broken(Breakage.LOGPROB_TOKENS_STRIPPED):
            t = t.strip()
        entries.append({"logprob": lp, "token": t, "top_logprobs": alternatives, "bytes": list(t.encode("utf-8"))})
    return entries


def generate(body: dict[str, Any], quirks: Quirks) -> list[GeneratedChoice]:
    model = body["model"]
    canon = json.dumps(body["messages"], ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    stream = body.get("stream") is True
    n_ignored = quirks.broken(Breakage.N_IGNORED) or (stream and quirks.broken(Breakage.STREAM_N_IGNORED))
    n = 1 if n_ignored else int(body.get("n") or 1)
    limits = [int(body[k]) for k in ("max_tokens", "max_completion_tokens") if body.get(k) is not None]
    limit = min(limits) if limits else None
    stop = body.get("stop")
    stops = [stop] if isinstance(stop, str) else list(stop or [])
    tools = [t["function"] for t in body.get("tools") or []]
    tool_choice = body.get("tool_choice", "auto" if tools else "none")
    fmt = body.get("response_format") or {"type": "text"}
    want_logprobs = bool(body.get("logprobs"))
    top_k = int(body.get("top_logprobs") or 0)

    target: dict[str, Any] | None = None
    if isinstance(tool_choice, dict) and quirks.broken(Breakage.NAMED_TOOL_CHOICE_IGNORED):
        pass  # the named tool is never forced: the "model" answers in prose
    elif tools and (tool_choice != "none" or quirks.broken(Breakage.TOOL_CHOICE_NONE_IGNORED)):
        if isinstance(tool_choice, dict):
            target = next(f for f in tools if f["name"] == tool_choice["function"]["name"])
        elif tool_choice == "required":
            target = tools[0]
        else:  # auto: the tool the last user message names, else the first one
            last = next((m for m in reversed(body["messages"]) if m.get("role") == "user"), {})
            said = " ".join(_message_text(last)).lower()
            target = next((f for f in tools if f["name"].lower() in said), tools[0])

    choices = []
    for i in range(n):
        rng = _Stream(model, canon, str(i))
        ch = GeneratedChoice(index=i)
        if target is not None:
            args = instance_for(target.get("parameters") or {"type": "object"}, rng)
            arguments = json.dumps(args, ensure_ascii=False, separators=(",", ":"))
            name_cost, arg_tokens = len(tokenize(target["name"])), tokenize(arguments)
            over = limit is not None and name_cost + len(arg_tokens) > limit
            if not (over and tool_choice == "auto"):  # on auto, a call that cannot fit becomes a text answer
                named = isinstance(tool_choice, dict)
                ch.finish_reason = "stop" if named and quirks.named_tool_finish_stop else "tool_calls"
                if over:  # required / named: the call is cut off, like any other output
                    arg_tokens = arg_tokens[: max(0, limit - name_cost)]  # type: ignore[operator]
                    arguments = "".join(arg_tokens)
                    ch.finish_reason = "stop" if quirks.broken(Breakage.STOP_WHEN_TRUNCATED) else "length"
                ch.tool_call = {"id": "call_" + rng.seed.hex()[:20], "name": target["name"], "arguments": arguments}
                ch.completion_tokens = name_cost + len(arg_tokens)
                if quirks.broken(Breakage.PARALLEL_CALLS_SAME_INDEX) and not over:  # a second, parallel call
                    more = json.dumps(
                        instance_for(target.get("parameters") or {"type": "object"}, rng),
                        ensure_ascii=False,
                        separators=(",", ":"),
                    )
                    ch.more_calls.append(
                        {"id": "call_" + rng.seed.hex()[20:40], "name": target["name"], "arguments": more}
                    )
                    ch.completion_tokens += name_cost + len(tokenize(more))
                choices.append(ch)
                continue
        if fmt["type"] == "json_object":
            obj = {
                "answer": "".join(_prose(rng, quirks.unicode_line_separator)).strip(),
                "confidence": 0.75,
                "ok": True,
                "mood": "🦊",
            }
            text = json.dumps(obj, ensure_ascii=False, indent=1 if quirks.pretty_json_content else None)
            if quirks.broken(Breakage.JSON_MODE_PROSE):
                text = f"Sure! Here is the JSON you asked for:\n{text}\nLet me know if you need anything else."
            tokens = tokenize(text)
        elif fmt["type"] == "json_schema" and quirks.broken(Breakage.JSON_SCHEMA_IGNORED):
            # the schema is dropped and the request served as json_object mode
            obj = {"answer": "".join(_prose(rng)).strip(), "confidence": 0.75, "ok": True}
            tokens = tokenize(json.dumps(obj, ensure_ascii=False))
        elif fmt["type"] == "json_schema":
            schema = (fmt.get("json_schema") or {}).get("schema") or {"type": "object"}
            indent = 1 if quirks.pretty_json_content else None
            text = json.dumps(instance_for(schema, rng), ensure_ascii=False, indent=indent)
            tokens = tokenize(text)
        else:
            tokens = _prose(rng, quirks.unicode_line_separator)
        keep_stop = quirks.broken(Breakage.STOP_SEQUENCE_INCLUDED)
        keep_stop |= stream and quirks.broken(Breakage.STREAM_STOP_INCLUDED)
        tokens, _ = _cut_at_stop(tokens, stops, keep_stop)
        ch.finish_reason = "tool_calls" if tools and quirks.broken(Breakage.TOOL_CALLS_FINISH_WITHOUT_CALLS) else "stop"
        if limit is not None and len(tokens) > limit:
            tokens = tokens[: limit + 1 if quirks.broken(Breakage.OVER_MAX_TOKENS) else limit]
            stop_on_cut = quirks.broken(Breakage.STOP_WHEN_TRUNCATED)
            stop_on_cut |= stream and quirks.broken(Breakage.STREAM_STOP_WHEN_TRUNCATED)
            ch.finish_reason = "stop" if stop_on_cut else "length"
        ch.tokens = tokens
        ch.completion_tokens = len(tokens)
        no_logprobs = quirks.broken(Breakage.LOGPROBS_NULL)
        no_logprobs |= stream and quirks.broken(Breakage.STREAM_LOGPROBS_MISSING)
        if want_logprobs and not no_logprobs:
            k = top_k + 1 if quirks.broken(Breakage.TOP_LOGPROBS_OFF_BY_ONE) else top_k
            ch.logprobs = _logprob_entries(tokens, k, _Stream(model, canon, str(i), "logprobs"), quirks)
        choices.append(ch)
    return choices


# ------------------------------------------------------------------------------ rendering


def _usage(prompt: int, completion: int, quirks: Quirks) -> dict[str, Any]:
    if quirks.broken(Breakage.PROMPT_TOKENS_ZERO):
        prompt = 0
    details = None
    if quirks.broken(Breakage.CACHED_OVER_PROMPT):  # cache reads counted on top of an uncached prompt count
        details = {"cached_tokens": prompt + 1024, "audio_tokens": 0}
    return {
        "total_tokens": prompt if quirks.broken(Breakage.USAGE_TOTAL_NOT_SUM) else prompt + completion,
        "completion_tokens": completion,
        "prompt_tokens": prompt,
        "prompt_tokens_details": details,
    }


def _arguments(arguments: str, quirks: Quirks) -> Any:
    if quirks.broken(Breakage.TOOL_ARGUMENTS_OBJECT):
        try:
            return json.loads(arguments)
        except ValueError:
            return {}
    return arguments


def _tool_call_obj(tc: dict[str, str], quirks: Quirks) -> dict[str, Any]:
    arguments = _arguments(tc["arguments"], quirks)
    return {"function": {"arguments": arguments, "name": tc["name"]}, "type": "function", "id": tc["id"]}


def _created(created: int, quirks: Quirks) -> int | str:
    return str(created) if quirks.broken(Breakage.CREATED_AS_STRING) else created


def unary_body(
    body: dict[str, Any], choices: list[GeneratedChoice], quirks: Quirks, cid: str, created: int, model_out: str
) -> dict[str, Any]:
    rendered = []
    for ch in choices:
        msg: dict[str, Any] = {"content": ch.content, "role": "assistant", "reasoning_content": None, "refusal": None}
        if ch.tool_call:
            msg["tool_calls"] = [_tool_call_obj(tc, quirks) for tc in (ch.tool_call, *ch.more_calls)]
        index = 0 if quirks.broken(Breakage.DUPLICATE_CHOICE_INDICES) else ch.index
        c: dict[str, Any] = {"finish_reason": ch.finish_reason, "message": msg, "index": index}
        if body.get("logprobs"):
            c["logprobs"] = None if ch.logprobs is None else {"content": ch.logprobs, "refusal": None}
        rendered.append(c)
    if quirks.reverse_choices:
        rendered.reverse()
    prompt = count_prompt_tokens(body)
    out = {
        "usage": _usage(prompt, sum(ch.completion_tokens for ch in choices), quirks),
        "choices": rendered,
        "model": model_out,
        "x_vendor": {"engine": "unusual", "lexicon": len(LEXICON)},
        "object": "chat.completion",
        "created": _created(created, quirks),
        "id": cid,
        "system_fingerprint": None,
        "service_tier": "default",
    }
    if quirks.broken(Breakage.UNARY_USAGE_MISSING):
        del out["usage"]
    if quirks.broken(Breakage.OBJECT_MISSING):
        del out["object"]
    return out


def _groups(tokens: list[str], rng: _Stream) -> list[list[str]]:
    out, i = [], 0
    while i < len(tokens):
        size = 1 + rng.next(3)
        out.append(tokens[i : i + size])
        i += size
    return out


def stream_chunks(
    body: dict[str, Any], choices: list[GeneratedChoice], quirks: Quirks, cid: str, created: int, model_out: str
) -> list[dict[str, Any]]:
    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    want_logprobs = bool(body.get("logprobs"))
    prompt_tokens = count_prompt_tokens(body)
    seq = 0

    def chunk(choice_list: list[dict[str, Any]]) -> dict[str, Any]:
        nonlocal seq
        seq += 1
        c: dict[str, Any] = {
            "choices": choice_list,
            "object": "chat.completion.chunk",
            "id": cid + "-2" if seq > 1 and quirks.broken(Breakage.CHUNK_ID_CHANGES) else cid,
            "created": _created(created, quirks),
            "model": model_out,
            "system_fingerprint": None,
            "service_tier": "default",
            "x_vendor": {"seq": seq},
        }
        if quirks.broken(Breakage.OBJECT_MISSING):
            del c["object"]
        if include_usage:
            c["usage"] = None
            if quirks.broken(Breakage.PARTIAL_USAGE_ON_EVERY_CHUNK):  # running usage, completion_tokens missing
                c["usage"] = {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens}
        return c

    # per choice: a queue of stream-choice objects, emitted round by round
    queues: list[list[dict[str, Any]]] = []
    for ch in choices:
        q: list[dict[str, Any]] = []
        if ch.tool_call:
            tcs = []
            for k, call in enumerate((ch.tool_call, *ch.more_calls)):
                arguments = _arguments(call["arguments"], quirks)
                if quirks.broken(Breakage.STREAM_TOOL_ARGUMENTS_LOST):
                    arguments = "{}"
                tc = {
                    "index": 0 if quirks.broken(Breakage.PARALLEL_CALLS_SAME_INDEX) else k,
                    "id": call["id"],
                    "type": "function",
                    "function": {"name": call["name"], "arguments": arguments},
                }
                if quirks.broken(Breakage.TOOL_DELTA_WITHOUT_INDEX):
                    del tc["index"]
                tcs.append(tc)
            if quirks.tool_call_in_one_chunk:
                q.append(
                    {
                        "delta": {"role": "assistant", "content": None, "tool_calls": tcs},
                        "index": ch.index,
                        "finish_reason": ch.finish_reason,
                    }
                )
            else:
                q.append({"delta": {"role": "assistant", "content": None}, "index": ch.index, "finish_reason": None})
                q.append({"delta": {"tool_calls": tcs}, "index": ch.index, "finish_reason": None})
                q.append({"delta": {}, "index": ch.index, "finish_reason": ch.finish_reason})
            if want_logprobs:
                for item in q:
                    item["logprobs"] = None
            queues.append(q)
            continue
        q.append({"index": ch.index, "delta": {"role": "assistant", "content": ""}, "finish_reason": None})
        tokens = ch.tokens[:-1] if quirks.broken(Breakage.STREAM_DROPS_LAST_TOKEN) else ch.tokens
        groups = _groups(tokens, _Stream(cid, str(ch.index))) or [[]]
        pos = 0
        for gi, g in enumerate(groups):
            last = gi == len(groups) - 1
            delta: dict[str, Any] = {"content": "".join(g)}
            if quirks.role_on_every_delta:
                delta = {"role": "assistant", **delta}
            item: dict[str, Any] = {"delta": delta, "index": ch.index}
            if last:
                item["finish_reason"] = ch.finish_reason
            elif not quirks.omit_intermediate_finish_reason:
                item["finish_reason"] = None
            if want_logprobs and ch.logprobs is not None:
                item["logprobs"] = {"content": ch.logprobs[pos : pos + len(g)], "refusal": None}
            elif want_logprobs:
                item["logprobs"] = None
            pos += len(g)
            q.append(item)
            if quirks.empty_delta_chunks and gi == 0 and not last:
                q.append({"delta": {}, "index": ch.index, "finish_reason": None})  # a heartbeat chunk
        queues.append(q)

    out = []
    order = list(range(len(queues)))
    if quirks.reverse_choices:
        order.reverse()
    while any(queues):
        out.append(chunk([queues[i].pop(0) for i in order if queues[i]]))
    if quirks.broken(Breakage.TWO_FINISH_REASONS):  # a trailing chunk repeats every finish_reason
        out.append(chunk([{"index": ch.index, "delta": {}, "finish_reason": ch.finish_reason} for ch in choices]))
    usage = _usage(prompt_tokens, sum(ch.completion_tokens for ch in choices), quirks)
    if quirks.broken(Breakage.STREAM_USAGE_TOTAL_NOT_SUM):
        usage["total_tokens"] = usage["completion_tokens"]
    if quirks.broken(Breakage.USAGE_ON_FINISH_CHUNK) and include_usage:
        out[-1]["usage"] = usage  # no separate chunk: the usage rides on the last one, choices and all
    elif quirks.broken(Breakage.STREAM_USAGE_NULL) and include_usage:
        pass  # every chunk says "usage": null, and no usage chunk follows
    elif include_usage or quirks.broken(Breakage.UNREQUESTED_USAGE_CHUNK):
        final = chunk([])
        final["usage"] = usage
        if quirks.broken(Breakage.USAGE_CHUNK_WITHOUT_CHOICES):
            del final["choices"]
        if quirks.broken(Breakage.USAGE_CHUNK_EMPTY_IDENTITY):
            final["id"] = final["model"] = ""
        out.append(final)
    return out


def sse_bytes(chunks: list[dict[str, Any]], quirks: Quirks) -> bytes:
    parts: list[str] = []
    if quirks.bom:
        parts.append("\ufeff")
    if quirks.comments:
        parts.append(": unusual-server stream opened\r\n\r\n")
    for j, c in enumerate(chunks):
        eol = "\r\n"
        if quirks.mixed_line_endings and j % 5 == 3:
            eol = "\n"
        elif quirks.mixed_line_endings and j % 7 == 5:
            eol = "\r"
        lines: list[str] = []
        if quirks.comments and j % 3 == 1:
            lines.append(": keep-alive")
        if quirks.event_names and j % 2 == 1:
            lines.append("event: message" if j % 4 == 1 else "event:message")
        if quirks.ids:
            lines.append(f"id: {j + 1}" if j % 2 else f"id:{j + 1}")
        if quirks.retry and j == 0:
            lines.append("retry: 3000")
        payload = json.dumps(c, ensure_ascii=False, indent=2 if (quirks.multiline_data and j % 2 == 0) else None)
        for k, line in enumerate(payload.split("\n")):
            lines.append(("data:" if k % 2 == 0 else "data: ") + line)
        if quirks.trailing_blank_data and j % 4 == 2:
            lines.append("data:")
        parts.append(eol.join(lines) + eol + eol)
        if quirks.keepalive_blocks and j % 4 == 2:
            parts.append(": keep-alive\r\n\r\n")
        if quirks.dataless_event and j == 1:
            parts.append("event: ping\r\nid: ping-1\r\n\r\n")  # no data: WHATWG says do not dispatch
    if not quirks.broken(Breakage.MISSING_DONE):
        parts.append(f"id: {len(chunks) + 1}\r\ndata:[DONE]\r\n\r\n" if quirks.ids else "data:[DONE]\r\n\r\n")
    if quirks.broken(Breakage.DATA_AFTER_DONE):  # a gateway's own trailer after the upstream's [DONE]
        trailer = {**chunks[-1], "choices": [], "x_gateway": {"cost": "0"}}
        parts.append(f"data: {json.dumps(trailer, ensure_ascii=False)}\r\n\r\n")
    if quirks.comment_after_done:
        parts.append(": stream closed, goodbye\r\n")
    return "".join(parts).encode("utf-8")


async def _drip(data: bytes, tiny: bool) -> AsyncIterator[bytes]:
    if not tiny:
        yield data
        return
    sizes = (7, 7, 7, 1, 13, 2, 7, 5)
    i = k = 0
    while i < len(data):
        size = sizes[k % len(sizes)]
        yield data[i : i + size]
        i += size
        k += 1
        if k % 16 == 0:
            await asyncio.sleep(0)


# ----------------------------------------------------------------------------------- app


def create_app(api_key: str = API_KEY, quirks: Quirks | None = None) -> Starlette:
    quirks = quirks or Quirks()
    validator = _Validator(quirks)

    def authorise(request: Request) -> None:
        header = request.headers.get("authorization", "")
        if not header and quirks.broken(Breakage.NO_KEY_ACCEPTED):
            return  # "auth is optional in development"
        scheme, _, token = header.strip().partition(" ")
        if scheme.lower() != "bearer" or token.strip() != api_key:
            raise ApiError(
                401,
                "Incorrect API key provided." if header else "You didn't provide an API key.",
                code="invalid_api_key",
            )

    async def models(request: Request) -> Response:
        authorise(request)
        data = [
            {
                "owned_by": "unusual-labs",
                "id": mid.partition(":")[0] if quirks.broken(Breakage.MODEL_NOT_LISTED) else mid,
                "created": info["created"],
                "object": "model",
                "root": mid,
                "parent": None,
                "max_model_len": info["max_model_len"],
                "permission": [],
            }
            for mid, info in MODELS.items()
        ]
        return _json_response({"data": data, "object": "list", "x_vendor": {"count": len(data)}})

    async def chat(request: Request) -> Response:
        authorise(request)
        raw = await request.body()
        if len(raw) > MAX_BODY:
            raise ApiError(413, "The request body is too large.", code="request_too_large")
        try:
            try:
                text = raw.decode("utf-8")
                body = json.loads(text, parse_constant=_reject_constant)
            except (UnicodeDecodeError, ValueError) as exc:
                message = f"We could not parse the JSON body of your request ({exc})."
                raise ApiError(400, message, code="invalid_json") from None
            body = validator.body(body)
        except ApiError as exc:
            if quirks.broken(Breakage.MALFORMED_BODY_500):  # the handler crashes on what it cannot read
                raise ApiError(500, "Internal server error", type_="server_error") from exc
            raise
        stream = body.get("stream") is True
        if body.get("stream_options") is not None and not stream:
            raise ApiError(
                400,
                "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
                param="stream_options",
                code="invalid_value",
            )
        if body["model"] not in MODELS and quirks.broken(Breakage.UNKNOWN_MODEL_ACCEPTED):
            body = {**body, "model": DEFAULT_MODEL}  # a silent fallback to the default model
        if body["model"] not in MODELS:
            raise ApiError(
                404,
                f"The model '{body['model']}' does not exist or you do not have access to it.",
                param="model",
                code="model_not_found",
            )
        tools = [t["function"]["name"] for t in body.get("tools") or []]
        tc = body.get("tool_choice")
        if isinstance(tc, dict) and tc["function"]["name"] not in tools:
            raise ApiError(
                400,
                f"Tool choice '{tc['function']['name']}' is not among the given tools.",
                param="tool_choice",
                code="invalid_value",
            )
        if tc in ("required",) and not tools:
            raise ApiError(
                400,
                "'tool_choice' 'required' is only allowed when 'tools' are given.",
                param="tool_choice",
                code="invalid_value",
            )
        choices = generate(body, quirks)
        cid = "chatcmpl-" + uuid.uuid4().hex
        created = int(time.time())
        model_out = MODELS[body["model"]]["dated"] if quirks.dated_model else body["model"]
        if not stream:
            payload = unary_body(body, choices, quirks, cid, created, model_out)
            unary_type = "application/json; charset=utf-8"
            if quirks.broken(Breakage.UNARY_TEXT_PLAIN):
                unary_type = "text/plain; charset=utf-8"
            if not quirks.chunked_unary:
                return Response(_json_bytes(payload) + b"\n", media_type=unary_type)
            data = (b"\n" if quirks.leading_whitespace_json else b"") + _json_bytes(payload, indent=1) + b"\n"
            return StreamingResponse(_drip(data, True), media_type=unary_type)
        chunks = stream_chunks(body, choices, quirks, cid, created, model_out)
        if quirks.broken(Breakage.NDJSON_STREAM):  # ollama's framing relayed under an SSE content type
            data = b"".join(_json_bytes(c) + b"\n" for c in chunks)
        else:
            data = sse_bytes(chunks, quirks)
        stream_type = "text/event-stream; charset=utf-8"
        if quirks.broken(Breakage.STREAM_AS_JSON):
            stream_type = "application/json"
        return StreamingResponse(
            _drip(data, quirks.tiny_writes),
            media_type=stream_type,
            headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
        )

    async def api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        headers = {"www-authenticate": 'Bearer realm="unusual"'} if exc.status == 401 else None
        return _error_response(exc, headers, quirks)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        err = ApiError(
            exc.status_code,
            f"{request.method} {request.url.path}: {exc.detail}",
            code="not_found" if exc.status_code == 404 else None,
        )
        return _error_response(err, dict(exc.headers or {}), quirks)

    middleware = []
    if quirks.rate_limit_headers:
        middleware.append(Middleware(_ExtraHeaders))
    if quirks.gzip:
        middleware.append(Middleware(GZipMiddleware, minimum_size=0, exclude_content_types=()))
    return Starlette(
        routes=[Route("/v1/models", models, methods=["GET"]), Route("/v1/chat/completions", chat, methods=["POST"])],
        exception_handlers={ApiError: api_error, HTTPException: http_error},
        middleware=middleware,
    )


class _ExtraHeaders:
    """Adds OpenAI-style rate-limit and request-id headers with unusual but valid values."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                extra = {
                    "x-ratelimit-limit-requests": "10000",
                    "x-ratelimit-remaining-requests": "9999",
                    "x-ratelimit-reset-requests": "1m30.5s",
                    "x-ratelimit-limit-tokens": "2000000",
                    "x-ratelimit-remaining-tokens": "1999000",
                    "x-ratelimit-reset-tokens": "250ms",
                    "x-request-id": "req_" + uuid.uuid4().hex,
                    "openai-processing-ms": "3",
                }
                headers = list(message.get("headers", []))
                headers += [(k.encode(), v.encode()) for k, v in extra.items()]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


# ------------------------------------------------------------------------------- runner


class UnusualServer:
    """Runs the app with uvicorn in a background thread on 127.0.0.1:<free port>."""

    def __init__(self, api_key: str = API_KEY, quirks: Quirks | None = None) -> None:
        self.api_key = api_key
        self.quirks = quirks or Quirks()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        config = uvicorn.Config(
            create_app(api_key, self.quirks),
            log_level="warning",
            lifespan="off",
            http="h11",
            access_log=False,
            timeout_graceful_shutdown=2,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True, name="unusual-server"
        )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> str:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the unusual server did not start")
            time.sleep(0.01)
        return self.base_url

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()

    def __enter__(self) -> UnusualServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve(api_key: str = API_KEY, quirks: Quirks | None = None) -> Iterator[str]:
    """Generator form for fixtures: yields the base URL, stops on close."""
    with UnusualServer(api_key, quirks) as server:
        yield server.base_url
