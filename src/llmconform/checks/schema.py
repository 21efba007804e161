"""Shape rules: the response body (or every stream chunk) matches the contract in openapi/, with the
declared media type. These run on every exchange, under load too, with jsonschema; schemathesis runs
its own schema checks on the cases it generates.
"""

from __future__ import annotations

from collections.abc import Iterator

import jsonschema

from llmconform.checks.registry import Severity, Violation, exchange_rule
from llmconform.exchange import Exchange
from llmconform.families.chat import CHAT_OPERATION, MODELS_OPERATION, chat_view, requested_stream
from llmconform.spec import fast_validity_for, validator_for

__all__ = ["MAX_SCHEMA_ERRORS", "describe_schema_error", "schema_errors", "schema_violations"]

# How many schema errors one instance reports (the first few say what is wrong; the rest repeat it).
MAX_SCHEMA_ERRORS = 3


def schema_errors(schema_name: str, document: str, instance: object) -> list[jsonschema.ValidationError]:
    """The errors of ``instance`` against a component schema of ``document``, in path order; none when valid.

    Every family's shape rule goes through here: jsonschema-rs says valid or not (fast, under load), and only
    an invalid instance is walked by python-jsonschema for the messages.
    """
    if fast_validity_for(schema_name, document)(instance):
        return []
    errors = validator_for(schema_name, document).iter_errors(instance)
    return sorted(errors, key=lambda e: list(map(str, e.absolute_path)))


def describe_schema_error(error: jsonschema.ValidationError) -> str:
    """Where an error is (a JSON path, or "(root)") and what it says."""
    path = "/".join(str(p) for p in error.absolute_path) or "(root)"
    return f"at {path}: {error.message[:200]}"


def schema_violations(schema_name: str, document: str, instance: object, where: str) -> Iterator[str]:
    """The first few errors of ``instance`` against ``schema_name`` as violation messages naming ``where``."""
    for error in schema_errors(schema_name, document, instance)[:MAX_SCHEMA_ERRORS]:
        yield f"{where} violates {schema_name} {describe_schema_error(error)}"


def _validate(schema_name: str, instance: object, where: str) -> Iterator[str]:
    return schema_violations(schema_name, "chat", instance, where)


def _is_known_success(exchange: Exchange) -> bool:
    return exchange.ok and exchange.operation in (CHAT_OPERATION, MODELS_OPERATION)


@exchange_rule("response_matches_schema", family="chat", severity=Severity.ERROR, applies=_is_known_success)
def response_matches_schema(exchange: Exchange) -> Iterator[Violation]:
    """A 2xx body, and every JSON chunk of a stream, validates against its schema in openapi/chat.yaml.

    Source: openapi/chat.yaml (CreateChatCompletionResponse, CreateChatCompletionStreamResponse,
    ListModelsResponse), built from OpenAI openapi.yaml's schemas of the same names.
    """
    if exchange.operation == MODELS_OPERATION:
        try:
            body = exchange.json()
        except ValueError as exc:
            yield f"Expected: a JSON models list. Received: {exc}"
            return
        yield from _validate("ListModelsResponse", body, "body")
        return
    view = chat_view(exchange)
    if not view.stream:
        if view.payload is None:
            yield f"Expected: a JSON body. Received: {'; '.join(view.problems)}"
            return
        yield from _validate("CreateChatCompletionResponse", view.payload, "body")
        return
    reported = 0
    for chunk in view.json_chunks:
        for message in _validate("CreateChatCompletionStreamResponse", chunk.payload, f"event #{chunk.position}"):
            yield message
            reported += 1
        if reported >= MAX_SCHEMA_ERRORS:
            return


def _has_status(exchange: Exchange) -> bool:
    return exchange.status is not None and exchange.operation in (CHAT_OPERATION, MODELS_OPERATION)


@exchange_rule("content_type_declared", family="chat", severity=Severity.ERROR, applies=_has_status)
def content_type_declared(exchange: Exchange) -> Iterator[Violation]:
    """The media type is the one the contract declares: text/event-stream for a requested stream,
    application/json for unary answers and every error.

    Source: openapi/chat.yaml responses (content types per status); OpenAI openapi.yaml createChatCompletion
    (application/json and text/event-stream); contract-rules.md F E1 (errors are application/json).
    """
    media = exchange.content_type
    success = exchange.status is not None and 200 <= exchange.status < 300
    if success and exchange.operation == CHAT_OPERATION and requested_stream(exchange):
        expected = "text/event-stream"
    else:
        expected = "application/json"
    if media != expected and not (expected == "application/json" and media.endswith("+json")):
        yield f"Expected: Content-Type {expected} (status {exchange.status}). Received: {media or 'none'!r}"
