"""Rules of the messages family (Claude format, POST /v1/messages) that judge one answer: shape and media
type, the error body (rule table F, E2), usage (A1), stop reasons against the request (A2) and tool use.

The stream state machine (A3-A5) is in :mod:`llmconform.checks.messages_stream`, the rules that compare
several answers made on purpose by the probes in :mod:`llmconform.checks.messages_relations`; both are
imported here so that importing this module registers every rule of the family.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import jsonschema

from llmconform.checks.registry import Severity, Violation, Warn, exchange_rule
from llmconform.checks.schema import MAX_SCHEMA_ERRORS, describe_schema_error, schema_errors
from llmconform.exchange import Exchange
from llmconform.families.messages import (
    ERROR_TYPE_BY_STATUS,
    FAMILY,
    KNOWN_ERROR_TYPES,
    STOP_REASONS,
    MessagesView,
    is_error_answer,
    is_messages,
    is_messages_answer,
    messages_view,
    output_tokens,
    request_max_tokens,
    request_stop_sequences,
    request_tool_choice,
    request_tool_names,
    requested_stream,
    total_input_tokens,
)
from llmconform.json_numbers import as_int

DOCUMENT = "messages"
_MAX_ERRORS = 3
# The component schema of each stream event type and content block type (precise messages, not "oneOf").
_EVENT_SCHEMAS = {
    "message_start": "MessageStartEvent",
    "content_block_start": "ContentBlockStartEvent",
    "content_block_delta": "ContentBlockDeltaEvent",
    "content_block_stop": "ContentBlockStopEvent",
    "message_delta": "MessageDeltaEvent",
    "message_stop": "MessageStopEvent",
    "ping": "PingEvent",
    "error": "ErrorEvent",
}
_BLOCK_SCHEMAS = {
    "text": "TextBlock",
    "tool_use": "ToolUseBlock",
    "thinking": "ThinkingBlock",
    "redacted_thinking": "RedactedThinkingBlock",
}
_COUNT_KEYS = ("input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
# A tool_use block may end the answer with these stop reasons (cut by the limit, paused server tool).
_TOOL_USE_ENDINGS = ("tool_use", "max_tokens", "pause_turn")


# ---------------------------------------------------------------------- shape and media type


def _schema_errors(name: str, instance: object) -> list[jsonschema.ValidationError]:
    return schema_errors(name, DOCUMENT, instance)


def _message_problems(message: Any, where: str) -> Iterator[str]:
    """Message errors, each content block judged against the schema of its own type."""
    content = message.get("content") if isinstance(message, dict) else None
    if isinstance(content, list):
        for position, block in enumerate(content):
            kind = block.get("type") if isinstance(block, dict) else None
            name = _BLOCK_SCHEMAS.get(kind) if isinstance(kind, str) else None
            for error in _schema_errors(name or "ContentBlock", block)[:MAX_SCHEMA_ERRORS]:
                yield f"{where} content/{position} violates {name or 'ContentBlock'} {describe_schema_error(error)}"
        message = {**message, "content": []}
    for error in _schema_errors("Message", message)[:MAX_SCHEMA_ERRORS]:
        yield f"{where} violates Message {describe_schema_error(error)}"


def _event_problems(payload: dict[str, Any], where: str) -> Iterator[str]:
    kind = payload.get("type")
    name = _EVENT_SCHEMAS.get(kind) if isinstance(kind, str) else None
    if name is None:
        return  # an unknown event type is legal here (reported by the state machine)
    if kind == "message_start" and isinstance(payload.get("message"), dict):
        yield from _message_problems(payload["message"], f"{where} message")
        payload = {**payload, "message": {}}
        for error in _schema_errors(name, payload):
            if list(error.absolute_path) != ["message"]:
                yield f"{where} violates {name} {describe_schema_error(error)}"
        return
    for error in _schema_errors(name, payload)[:MAX_SCHEMA_ERRORS]:
        yield f"{where} violates {name} {describe_schema_error(error)}"


@exchange_rule("messages_response_matches_schema", family=FAMILY, severity=Severity.ERROR, applies=is_messages_answer)
def messages_response_matches_schema(exchange: Exchange) -> Iterator[Violation]:
    """A 2xx body, and the data of every stream event, validates against its schema in openapi/messages.yaml.

    Source: openapi/messages.yaml (Message, MessageStreamPayload and the event schemas), built from the
    anthropic-sdk-python types Message, ContentBlock, Usage and RawMessageStreamEvent.
    """
    view = messages_view(exchange)
    if not view.stream:
        if view.payload is None:
            yield f"Expected: a JSON body. Received: {'; '.join(view.problems)}"
            return
        yield from list(_message_problems(view.payload, "body"))[:MAX_SCHEMA_ERRORS]
        return
    reported = 0
    for event in view.json_events:
        for message in _event_problems(event.payload, f"event #{event.position} ({event.type})"):
            yield message
            reported += 1
            if reported >= _MAX_ERRORS:
                return


def _has_status(exchange: Exchange) -> bool:
    return is_messages(exchange) and exchange.status is not None and exchange.error is None


@exchange_rule("messages_content_type_declared", family=FAMILY, severity=Severity.ERROR, applies=_has_status)
def messages_content_type_declared(exchange: Exchange) -> Iterator[Violation]:
    """The media type is the declared one: text/event-stream for a requested stream, application/json for a
    unary answer and for every error.

    Source: openapi/messages.yaml createMessage responses; Anthropic streaming docs (stream: true answers
    with text/event-stream) and shared/reference/aboai-api.md section 4; contract-rules.md F E2.
    """
    success = exchange.status is not None and 200 <= exchange.status < 300
    expected = "text/event-stream" if success and requested_stream(exchange) else "application/json"
    media = exchange.content_type
    if media != expected and not (expected == "application/json" and media.endswith("+json")):
        yield f"Expected: Content-Type {expected} (status {exchange.status}). Received: {media or 'none'!r}"


# ---------------------------------------------------------------------- errors (E2)


def _error_object(exchange: Exchange) -> Any:
    try:
        body = exchange.json()
    except ValueError:
        return None
    return body.get("error") if isinstance(body, dict) else None


@exchange_rule("messages_error_body_shape", family=FAMILY, severity=Severity.ERROR, applies=is_error_answer)
def messages_error_body_shape(exchange: Exchange) -> Iterator[Violation]:
    """A non-2xx answer is JSON {"type": "error", "error": {"type": str, "message": str}}.

    Source: contract-rules.md F E2; Anthropic errors documentation (error shape); anthropic-sdk-python
    types/shared/error_response.py (ErrorResponse, ErrorObject) and error_type.py (ErrorType). An
    error.type outside the known list is a warning: the list grows.
    """
    try:
        body = exchange.json()
    except ValueError as exc:
        yield f"Expected: a JSON error body (status {exchange.status}). Received: {exc}"
        return
    if not isinstance(body, dict):
        yield f"Expected: a JSON object. Received: {type(body).__name__} {body!r:.100}"
        return
    if body.get("type") != "error":
        yield f"Expected: type 'error' at the top level. Received: {body.get('type')!r:.60} (keys {sorted(body)[:6]})"
    error = body.get("error")
    if not isinstance(error, dict):
        yield f"Expected: an 'error' object. Received: {type(error).__name__} {error!r:.100}"
        return
    for key in ("type", "message"):
        if not isinstance(error.get(key), str):
            yield f"Expected: error.{key} a string. Received: {error.get(key)!r:.80}"
    if isinstance(error.get("type"), str) and error["type"] not in KNOWN_ERROR_TYPES:
        yield Warn(
            f"Expected: a known error.type ({', '.join(sorted(KNOWN_ERROR_TYPES))}). Received: {error['type']!r}"
        )


def _typed_error_in_table(exchange: Exchange) -> bool:
    if not is_error_answer(exchange) or exchange.status not in ERROR_TYPE_BY_STATUS:
        return False
    error = _error_object(exchange)
    return isinstance(error, dict) and isinstance(error.get("type"), str)


@exchange_rule(
    "messages_error_type_matches_status", family=FAMILY, severity=Severity.ERROR, applies=_typed_error_in_table
)
def messages_error_type_matches_status(exchange: Exchange) -> Iterator[Violation]:
    """error.type matches the status by Anthropic's table (400 invalid_request_error, 401 authentication_error,
    403 permission_error, 404 not_found_error, 413 request_too_large, 429 rate_limit_error, 500 api_error,
    529 overloaded_error).

    Source: contract-rules.md F E2 and section E (Anthropic HTTP codes and types); Anthropic errors
    documentation; anthropic-sdk-python _error_classes.py (status -> exception class).
    """
    assert exchange.status is not None
    expected = ERROR_TYPE_BY_STATUS[exchange.status]
    received = _error_object(exchange)["type"]
    if received != expected:
        yield f"Expected: error.type {expected!r} for status {exchange.status}. Received: {received!r}"


# ---------------------------------------------------------------------- usage (A1)


def _usages(view: MessagesView) -> list[tuple[str, Any]]:
    """Every usage object of the answer, where it was found."""
    if not view.stream:
        return [("usage", view.usage)] if isinstance(view.usage, dict) else []
    found: list[tuple[str, Any]] = []
    if isinstance(view.start_usage, dict):
        start = next((e.position for e in view.json_events if e.type == "message_start"), 0)
        found.append((f"message_start (event #{start}) usage", view.start_usage))
    found += [(f"message_delta (event #{p}) usage", u) for p, u in view.delta_usages if isinstance(u, dict)]
    return found


def _has_usage(exchange: Exchange) -> bool:
    return is_messages_answer(exchange) and bool(_usages(messages_view(exchange)))


def _has_message(exchange: Exchange) -> bool:
    if not is_messages_answer(exchange):
        return False
    view = messages_view(exchange)
    return isinstance(view.payload, dict)


@exchange_rule("messages_usage_present", family=FAMILY, severity=Severity.ERROR, applies=_has_message)
def messages_usage_present(exchange: Exchange) -> Iterator[Violation]:
    """The message carries usage with input_tokens and output_tokens (in a stream: message_start's usage, and
    output_tokens in every message_delta); missing cache counts are a warning.

    Source: contract-rules.md F A1; anthropic-sdk-python types/usage.py (input_tokens, output_tokens
    required) and message_delta_usage.py (output_tokens required); AboAI's example answer carries
    cache_creation_input_tokens and cache_read_input_tokens (shared/reference/aboai-api.md section 4).
    """
    view = messages_view(exchange)
    usage = view.start_usage if view.stream else view.usage
    where = "message_start usage" if view.stream else "usage"
    if not isinstance(usage, dict):
        yield f"Expected: a {where} object. Received: {usage!r:.80}"
        return
    missing = [k for k in ("input_tokens", "output_tokens") if k not in usage]
    if missing:
        yield f"Expected: {where}.{' and .'.join(missing)}. Received: keys {sorted(usage)}"
    for position, delta in view.delta_usages:
        if not isinstance(delta, dict) or "output_tokens" not in delta:
            yield f"Expected: usage.output_tokens in message_delta (event #{position}). Received: {delta!r:.80}"
    final = view.usage if isinstance(view.usage, dict) else usage
    absent = [k for k in ("cache_creation_input_tokens", "cache_read_input_tokens") if k not in final]
    if absent:
        yield Warn(
            f"Expected: usage.{' and .'.join(absent)} (0 when nothing is cached). Received: keys {sorted(final)}"
        )


@exchange_rule("messages_usage_counts_non_negative", family=FAMILY, severity=Severity.ERROR, applies=_has_usage)
def messages_usage_counts_non_negative(exchange: Exchange) -> Iterator[Violation]:
    """Every token count in usage (cache counts and cache_creation's breakdown included) is an integer >= 0;
    the optional cache counts may be null.

    Source: contract-rules.md F A1 ("ints >= 0"); anthropic-sdk-python types/usage.py, cache_creation.py and
    message_delta_usage.py (integer counts).
    """
    for where, usage in _usages(messages_view(exchange)):
        for key in _COUNT_KEYS:
            value = usage.get(key)
            if key in usage and not (value is None and key.startswith("cache")):
                number = as_int(value)
                if number is None or number < 0:
                    yield f"{where}: Expected: {key} an integer >= 0. Received: {value!r}"
        breakdown = usage.get("cache_creation")
        if isinstance(breakdown, dict):
            for key, value in breakdown.items():
                number = as_int(value)
                if value is not None and (number is None or number < 0):
                    yield f"{where}: Expected: cache_creation.{key} an integer >= 0. Received: {value!r}"


def _produced(view: MessagesView) -> bool:
    return any((b.type == "text" and b.text) or b.type == "tool_use" for b in view.blocks)


def _has_final_usage(exchange: Exchange) -> bool:
    return is_messages_answer(exchange) and isinstance(messages_view(exchange).usage, dict)


@exchange_rule("messages_usage_counts_nonzero", family=FAMILY, severity=Severity.ERROR, applies=_has_final_usage)
def messages_usage_counts_nonzero(exchange: Exchange) -> Iterator[Violation]:
    """A non-empty prompt has input + cache_creation + cache_read > 0, and an answer with content has
    output_tokens > 0.

    Source: contract-rules.md F A1 (total input = input + cache_creation + cache_read) and D.2 (gateways
    that lose usage report zeros; X3 metered usage equals returned usage); anthropic-sdk-python
    types/message.py ("output_tokens will be non-zero, even for an empty string response").
    """
    view = messages_view(exchange)
    total = total_input_tokens(view.usage)
    if total == 0 and exchange.request_body.get("messages"):
        yield "Expected: input + cache_creation + cache_read input tokens > 0 for a non-empty prompt. Received: 0"
    if _produced(view) and output_tokens(view.usage) == 0:
        yield "Expected: output_tokens > 0 for an answer with content. Received: 0"


# ---------------------------------------------------------------------- stop reasons and limits (A2)


def _has_stop_reason(exchange: Exchange) -> bool:
    """A unary answer, or a stream that reached message_delta (a stream cut short is judged elsewhere)."""
    if not is_messages_answer(exchange):
        return False
    view = messages_view(exchange)
    return isinstance(view.payload, dict) if not view.stream else bool(view.delta_usages)


@exchange_rule("messages_stop_reason_valid", family=FAMILY, severity=Severity.ERROR, applies=_has_stop_reason)
def messages_stop_reason_valid(exchange: Exchange) -> Iterator[Violation]:
    """The answer's stop_reason is one of end_turn, max_tokens, stop_sequence, tool_use, pause_turn, refusal,
    model_context_window_exceeded; null only in a stream's message_start.

    Source: contract-rules.md F A2; anthropic-sdk-python types/stop_reason.py and types/message.py
    ("In non-streaming mode this value is always non-null. In streaming mode, it is null in the
    message_start event and non-null otherwise").
    """
    view = messages_view(exchange)
    where = "message_delta stop_reason" if view.stream else "stop_reason"
    if view.stop_reason is None:
        yield f"Expected: a {where} (one of {', '.join(STOP_REASONS)}). Received: null or none"
    elif view.stop_reason not in STOP_REASONS:
        yield f"Expected: {where} one of {', '.join(STOP_REASONS)}. Received: {view.stop_reason!r:.60}"
    if view.stream and isinstance(view.payload, dict) and view.payload.get("stop_reason") is not None:
        yield f"Expected: stop_reason null in message_start. Received: {view.payload['stop_reason']!r:.60}"


def _stop_sequences_in_play(exchange: Exchange) -> bool:
    return _has_stop_reason(exchange) and (
        bool(request_stop_sequences(exchange)) or messages_view(exchange).stop_reason == "stop_sequence"
    )


@exchange_rule("messages_stop_sequence_echoed", family=FAMILY, severity=Severity.ERROR, applies=_stop_sequences_in_play)
def messages_stop_sequence_echoed(exchange: Exchange) -> Iterator[Violation]:
    """stop_reason "stop_sequence" comes with stop_sequence set to the request's sequence that was hit, and the
    text does not contain it; any other stop_reason has stop_sequence null.

    Source: contract-rules.md F A2 ("stop hit => stop_sequence and stop_sequence echoed"); anthropic-sdk-python
    types/message_create_params.py stop_sequences ("the response stop_reason value will be "stop_sequence"
    and the response stop_sequence value will contain the matched stop sequence") and types/message.py.
    """
    view = messages_view(exchange)
    stops = request_stop_sequences(exchange)
    if view.stop_reason == "stop_sequence":
        if not isinstance(view.stop_sequence, str):
            yield f"Expected: stop_sequence set to the sequence hit (one of {stops!r:.80}). Received: null"
        elif view.stop_sequence not in stops:
            yield f"Expected: stop_sequence one of the request's {stops!r:.80}. Received: {view.stop_sequence!r:.60}"
        elif view.stop_sequence in view.text:
            yield f"Expected: the text without the stop sequence {view.stop_sequence!r}. Received: text containing it"
    elif view.stop_sequence is not None:
        yield (
            f"Expected: stop_sequence null with stop_reason {view.stop_reason!r}. Received: {view.stop_sequence!r:.60}"
        )


def _limit_and_usage(exchange: Exchange) -> bool:
    return (
        _has_final_usage(exchange)
        and request_max_tokens(exchange) is not None
        and output_tokens(messages_view(exchange).usage) is not None
    )


@exchange_rule("messages_max_tokens_respected", family=FAMILY, severity=Severity.ERROR, applies=_limit_and_usage)
def messages_max_tokens_respected(exchange: Exchange) -> Iterator[Violation]:
    """usage.output_tokens is at most the request's max_tokens.

    Source: contract-rules.md F A2 ("max_tokens reached => output_tokens <= max_tokens"); anthropic-sdk-python
    types/message_create_params.py max_tokens ("the absolute maximum number of tokens to generate").
    """
    view = messages_view(exchange)
    limit, used = request_max_tokens(exchange), output_tokens(view.usage)
    assert limit is not None and used is not None
    if used > limit:
        yield f"Expected: output_tokens <= max_tokens ({limit}). Received: {used} (stop_reason {view.stop_reason!r})"


# ---------------------------------------------------------------------- tools


def _has_tool_use(exchange: Exchange) -> bool:
    return is_messages_answer(exchange) and bool(messages_view(exchange).tool_uses)


@exchange_rule("messages_tool_use_shape", family=FAMILY, severity=Severity.ERROR, applies=_has_tool_use)
def messages_tool_use_shape(exchange: Exchange) -> Iterator[Violation]:
    """Every tool_use block has a unique non-empty id, the name of an offered tool and an input that is a JSON
    object; streamed input_json_delta fragments concatenate to that object.

    Source: anthropic-sdk-python types/tool_use_block.py (id, name, input: Dict) and
    lib/streaming/_messages.py (joins partial_json per index and parses it); Anthropic streaming docs
    (input_json_delta partial JSON strings); contract-rules.md D.1 (tool-call shape).
    """
    view = messages_view(exchange)
    names = request_tool_names(exchange)
    uses = view.tool_uses
    cut = view.stop_reason == "max_tokens" or view.error_event is not None
    ids = [b.id for b in uses]
    for number, block in enumerate(uses):
        where = f"tool_use block {block.index!r}"
        if not isinstance(block.id, str) or not block.id:
            yield f"{where}: Expected: a non-empty string id. Received: {block.id!r:.40}"
        elif ids.count(block.id) > 1:
            yield f"{where}: Expected: a unique id. Received: {block.id!r} used {ids.count(block.id)} times"
        if not isinstance(block.name, str) or (names and block.name not in names):
            yield f"{where}: Expected: name one of the offered tools {names!r:.80}. Received: {block.name!r:.60}"
        if cut and number == len(uses) - 1:
            continue  # an input cut by max_tokens or a failure need not be complete
        if block.input_error is not None:
            yield f"{where}: Expected: fragments forming a JSON object. Received: {block.input_error}"
        elif not isinstance(block.input, dict):
            what = "streamed fragments" if block.partial_json is not None else "input"
            got = f"{type(block.input).__name__} {block.input!r:.60}"
            yield f"{where}: Expected: input a JSON object. Received: {what} giving {got}"


def _tool_use_in_play(exchange: Exchange) -> bool:
    return _has_stop_reason(exchange) and (
        bool(messages_view(exchange).tool_uses) or messages_view(exchange).stop_reason == "tool_use"
    )


@exchange_rule("messages_tool_use_stop_reason", family=FAMILY, severity=Severity.ERROR, applies=_tool_use_in_play)
def messages_tool_use_stop_reason(exchange: Exchange) -> Iterator[Violation]:
    """An answer that calls a tool stops with stop_reason "tool_use" (or "max_tokens" when cut), and
    stop_reason "tool_use" comes with at least one tool_use block.

    Source: contract-rules.md F A2 and X2 (tool_calls <=> tool_use); anthropic-sdk-python types/message.py
    stop_reason ("tool_use": the model invoked one or more tools).
    """
    view = messages_view(exchange)
    if view.tool_uses and view.stop_reason not in _TOOL_USE_ENDINGS:
        yield f"Expected: stop_reason 'tool_use' for an answer calling a tool. Received: {view.stop_reason!r:.60}"
    if view.stop_reason == "tool_use" and not view.tool_uses:
        kinds = [b.type for b in view.blocks]
        yield f"Expected: a tool_use block with stop_reason 'tool_use'. Received: block types {kinds}"


def _tool_choice_in_play(exchange: Exchange) -> bool:
    choice = request_tool_choice(exchange)
    names = request_tool_names(exchange)
    if choice is None or not names or not _has_stop_reason(exchange):
        return False
    return choice.get("type") in ("any", "none") or (choice.get("type") == "tool" and choice.get("name") in names)


@exchange_rule("messages_tool_choice_honoured", family=FAMILY, severity=Severity.ERROR, applies=_tool_choice_in_play)
def messages_tool_choice_honoured(exchange: Exchange) -> Iterator[Violation]:
    """tool_choice is honoured: {type: tool, name} calls that tool, {type: any} calls some tool, {type: none}
    calls none.

    Source: anthropic-sdk-python types/tool_choice_tool_param.py, tool_choice_any_param.py and
    tool_choice_none_param.py; Anthropic tool-use docs (any: must use one of the tools; tool: must use the
    named tool; none: must not use tools).
    """
    view = messages_view(exchange)
    choice = request_tool_choice(exchange)
    assert choice is not None
    called = [b.name for b in view.tool_uses]
    if view.stop_reason == "max_tokens" and not view.blocks:
        return  # cut before anything was generated
    kind = choice.get("type")
    if kind == "tool" and choice.get("name") not in called:
        yield f"Expected: a tool_use of {choice.get('name')!r} (tool_choice tool). Received: calls {called}"
    elif kind == "any" and not called:
        yield f"Expected: a tool_use (tool_choice any). Received: block types {[b.type for b in view.blocks]}"
    elif kind == "none" and called:
        yield f"Expected: no tool_use (tool_choice none). Received: calls {called}"


# The stream and relation rules of the family register on import.
from llmconform.checks import messages_relations, messages_stream  # noqa: E402, F401
