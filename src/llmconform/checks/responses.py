"""Rules of the responses family (OpenAI Responses API, ``POST /v1/responses``) that judge one answer:
its shape and media type, error bodies, usage arithmetic (rule table F, R1), status and
incomplete_details (R2), the max_output_tokens relation, and function calls.

The stream state machine (R3) is in :mod:`llmconform.checks.responses_stream`, the rules judging
several exchanges made by the probes in :mod:`llmconform.checks.responses_relations`; both are imported
at the end of this module, so importing it registers every rule of the family.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, cast

import jsonschema
from jsonschema.exceptions import best_match

from llmconform.checks.errors import error_body_shape
from llmconform.checks.registry import Severity, Violation, exchange_rule
from llmconform.checks.schema import MAX_SCHEMA_ERRORS, describe_schema_error, schema_errors
from llmconform.exchange import Exchange
from llmconform.families.reading import parse_json
from llmconform.families.responses import (
    FAMILY,
    is_responses,
    is_responses_answer,
    max_output_tokens,
    requested_stream,
    responses_view,
)
from llmconform.json_numbers import as_int
from llmconform.spec import fast_validity_for

DOCUMENT = "responses"
_MAX_ERRORS = 3
_COUNTS = ("input_tokens", "output_tokens", "total_tokens")
_DETAIL_PARENTS = {"input_tokens_details": "input_tokens", "output_tokens_details": "output_tokens"}
_REQUIRED_USAGE = (
    ("input_tokens",),
    ("output_tokens",),
    ("total_tokens",),
    ("input_tokens_details", "cached_tokens"),
    ("output_tokens_details", "reasoning_tokens"),
)


# ---------------------------------------------------------------------- shape, media type, errors


# The branch of ResponseStreamEvent that describes each known event type: validating an event against its
# own branch names the field at fault, where the union only says "not valid under any of the given schemas".
_EVENT_BRANCHES: dict[str, str] = {
    **dict.fromkeys(
        ("response.created", "response.queued", "response.in_progress", "response.failed"), "ResponseLifecycleEvent"
    ),
    **dict.fromkeys(("response.completed", "response.incomplete"), "ResponseFinishedEvent"),
    **dict.fromkeys(("response.output_item.added", "response.output_item.done"), "ResponseOutputItemEvent"),
    **dict.fromkeys(("response.content_part.added", "response.content_part.done"), "ResponseContentPartEvent"),
    "response.output_text.delta": "ResponseTextDeltaEvent",
    "response.output_text.done": "ResponseTextDoneEvent",
    "response.refusal.delta": "ResponseRefusalDeltaEvent",
    "response.refusal.done": "ResponseRefusalDoneEvent",
    "response.function_call_arguments.delta": "ResponseFunctionCallArgumentsDeltaEvent",
    "response.function_call_arguments.done": "ResponseFunctionCallArgumentsDoneEvent",
    "error": "ResponseErrorEvent",
}


def _describe(error: jsonschema.ValidationError) -> str:
    # into the oneOf branch meant (output items)
    return describe_schema_error(best_match([error]))  # type: ignore[no-untyped-call]


def _validate(schema_name: str, instance: object, where: str) -> Iterator[str]:
    if fast_validity_for(schema_name, DOCUMENT)(instance):
        return
    kind = instance.get("type") if isinstance(instance, dict) else None
    if schema_name == "ResponseStreamEvent" and isinstance(kind, str) and kind in _EVENT_BRANCHES:
        schema_name = _EVENT_BRANCHES[kind]  # judged against its own branch, so the message names the field
    for error in schema_errors(schema_name, DOCUMENT, instance)[:MAX_SCHEMA_ERRORS]:
        yield f"{where} violates {schema_name} {_describe(error)}"


@exchange_rule("responses_matches_schema", family=FAMILY, severity=Severity.ERROR, applies=is_responses_answer)
def responses_matches_schema(exchange: Exchange) -> Iterator[Violation]:
    """A 2xx body validates against FinishedResponse, and every JSON event of a stream against ResponseStreamEvent.

    Source: openapi/responses.yaml (FinishedResponse, ResponseStreamEvent), built from OpenAI openapi.yaml's
    Response, ResponseUsage and ResponseStreamEvent schemas and openai-python types/responses/*.py.
    """
    view = responses_view(exchange)
    if not view.stream:
        if view.response is None:
            yield f"Expected: a JSON body. Received: {'; '.join(view.problems)}"
            return
        yield from _validate("FinishedResponse", view.response, "body")
        return
    reported = 0
    for event in view.json_events:
        for message in _validate("ResponseStreamEvent", event.payload, f"event #{event.position}"):
            yield message
            reported += 1
        if reported >= _MAX_ERRORS:
            return


def _has_status(exchange: Exchange) -> bool:
    return exchange.status is not None and is_responses(exchange)


@exchange_rule("responses_content_type_declared", family=FAMILY, severity=Severity.ERROR, applies=_has_status)
def responses_content_type_declared(exchange: Exchange) -> Iterator[Violation]:
    """The media type is text/event-stream for a requested stream, application/json for unary answers and errors.

    Source: openapi/responses.yaml createResponse (content types per status); OpenAI openapi.yaml
    createResponse (application/json and text/event-stream); contract-rules.md F E1 (errors are JSON).
    """
    media = exchange.content_type
    success = exchange.status is not None and 200 <= exchange.status < 300
    expected = "text/event-stream" if success and requested_stream(exchange) else "application/json"
    if media != expected and not (expected == "application/json" and media.endswith("+json")):
        yield f"Expected: Content-Type {expected} (status {exchange.status}). Received: {media or 'none'!r}"


def _is_error(exchange: Exchange) -> bool:
    return exchange.error is None and exchange.status is not None and exchange.status >= 400 and is_responses(exchange)


@exchange_rule("responses_error_body_shape", family=FAMILY, severity=Severity.ERROR, applies=_is_error)
def responses_error_body_shape(exchange: Exchange) -> Iterator[Violation]:
    """A non-2xx answer is JSON {"error": {"message": str, "type": str, "param": str|null, "code": str|null}}.

    Source: contract-rules.md F E1 (OpenAI-format routes, which /v1/responses is); OpenAI openapi.yaml
    ErrorResponse / Error; openai-python _client.py (reads error.message, type, param, code). A missing
    param or code is a warning, as for chat completions.
    """
    yield from error_body_shape(exchange)


# ---------------------------------------------------------------------- usage (R1)


def _final_response(exchange: Exchange) -> dict[str, Any] | None:
    """The finished response: the unary body, or the response of the stream's terminal event."""
    response = responses_view(exchange).response
    return response if isinstance(response, dict) else None


def _usages(exchange: Exchange) -> list[tuple[str, dict[str, Any]]]:
    """Every non-null usage object of the answer (cached: four rules and their guards ask)."""
    cached = exchange.cache.get("responses_usages")
    if cached is not None:
        return cast(list[tuple[str, dict[str, Any]]], cached)
    view = responses_view(exchange)
    found: list[tuple[str, dict[str, Any]]] = []
    if not view.stream:
        if isinstance(view.usage, dict):
            found.append(("usage", view.usage))
    else:
        for event in view.json_events:
            response = event.get("response")
            usage = response.get("usage") if isinstance(response, dict) else None
            if isinstance(usage, dict):
                found.append((f"usage of event #{event.position} ({event.type})", usage))
    exchange.cache["responses_usages"] = found
    return found


def _has_usage(exchange: Exchange) -> bool:
    return is_responses_answer(exchange) and bool(_usages(exchange))


def _finished(exchange: Exchange) -> bool:
    """A unary answer with a JSON object body, or a stream with a completed or incomplete terminal event."""
    if not is_responses_answer(exchange):
        return False
    view = responses_view(exchange)
    if not view.stream:
        return isinstance(view.response, dict)
    return any(view.events[p].type in ("response.completed", "response.incomplete") for p in view.terminal_positions)


@exchange_rule("responses_usage_present", family=FAMILY, severity=Severity.ERROR, applies=_finished)
def responses_usage_present(exchange: Exchange) -> Iterator[Violation]:
    """A finished response (the unary body, the stream's response.completed or .incomplete) carries usage with
    input_tokens, output_tokens, total_tokens, input_tokens_details.cached_tokens and
    output_tokens_details.reasoning_tokens.

    Source: contract-rules.md F R1 ("all four detail fields present", required fields) and R3 (the terminal
    event's usage); OpenAI openapi.yaml ResponseUsage (required fields); openapi/responses.yaml
    FinishedResponse (usage required: AboAI bills from it).
    """
    response = _final_response(exchange)
    if response is None:
        return
    usage = response.get("usage")
    if not isinstance(usage, dict):
        received = "no usage key" if "usage" not in response else repr(usage)
        yield f"Expected: a 'usage' object on the finished response. Received: {received}"
        return
    missing = []
    for path in _REQUIRED_USAGE:
        node: Any = usage
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        if node is None:
            missing.append(".".join(path))
    if missing:
        yield f"Expected: usage.{', usage.'.join(missing)}. Received: usage keys {sorted(usage)}"


@exchange_rule("responses_usage_total_is_sum", family=FAMILY, severity=Severity.ERROR, applies=_has_usage)
def responses_usage_total_is_sum(exchange: Exchange) -> Iterator[Violation]:
    """usage.total_tokens equals input_tokens + output_tokens.

    Source: contract-rules.md F R1; OpenAI openapi.yaml ResponseUsage (total_tokens "The total number of
    tokens used"; input and output are its only parts).
    """
    for where, usage in _usages(exchange):
        counts = [as_int(usage.get(k)) for k in _COUNTS]
        if any(c is None for c in counts):
            continue  # missing or mistyped counts are responses_usage_present / _counts_non_negative
        prompt, output, total = (c or 0 for c in counts)
        if total != prompt + output:
            yield (
                f"{where}: Expected: total_tokens == input_tokens + output_tokens == {prompt} + {output}"
                f" == {prompt + output}. Received: total_tokens == {total}"
            )


@exchange_rule("responses_usage_counts_non_negative", family=FAMILY, severity=Severity.ERROR, applies=_has_usage)
def responses_usage_counts_non_negative(exchange: Exchange) -> Iterator[Violation]:
    """Every token count in usage, details included, is an integer >= 0.

    Source: contract-rules.md F R1; OpenAI openapi.yaml ResponseUsage (integer counts); openai-python
    types/responses/response_usage.py (int fields).
    """
    for where, usage in _usages(exchange):
        for key in _COUNTS:
            if key in usage and not ((value := as_int(usage[key])) is not None and value >= 0):
                yield f"{where}: Expected: {key} an integer >= 0. Received: {usage[key]!r}"
        for details_key in _DETAIL_PARENTS:
            details = usage.get(details_key)
            if not isinstance(details, dict):
                continue
            for key, raw in details.items():
                if isinstance(raw, dict | list):
                    continue  # nested breakdowns (cache_write_tokens_details) are not counts themselves
                if raw is not None and not ((value := as_int(raw)) is not None and value >= 0):
                    yield f"{where}: Expected: {details_key}.{key} an integer >= 0. Received: {raw!r}"


@exchange_rule("responses_usage_details_within_parent", family=FAMILY, severity=Severity.ERROR, applies=_has_usage)
def responses_usage_details_within_parent(exchange: Exchange) -> Iterator[Violation]:
    """Each usage detail is at most its parent: cached_tokens (and cache_write_tokens) <= input_tokens,
    reasoning_tokens <= output_tokens.

    Source: contract-rules.md F R1 (cached_tokens <= input_tokens; reasoning_tokens <= output_tokens); OpenAI
    openapi.yaml ResponseUsage input_tokens_details / output_tokens_details ("A detailed breakdown of the
    input / output tokens").
    """
    for where, usage in _usages(exchange):
        for details_key, parent_key in _DETAIL_PARENTS.items():
            details, parent = usage.get(details_key), as_int(usage.get(parent_key))
            if not isinstance(details, dict) or parent is None:
                continue
            for key, raw in details.items():
                value = as_int(raw)
                if value is not None and value > parent:
                    yield f"{where}: Expected: {details_key}.{key} <= {parent_key} ({parent}). Received: {value}"


# ---------------------------------------------------------------------- status (R2) and relations


def _has_final_response(exchange: Exchange) -> bool:
    return is_responses_answer(exchange) and _final_response(exchange) is not None


@exchange_rule(
    "responses_status_details_consistent", family=FAMILY, severity=Severity.ERROR, applies=_has_final_response
)
def responses_status_details_consistent(exchange: Exchange) -> Iterator[Violation]:
    """A finished response's status agrees with its details: "incomplete" if and only if incomplete_details has a
    reason; "failed" with an error object; "completed" with neither. A unary answer is finished.

    Source: contract-rules.md F R2 (status "incomplete" <=> incomplete_details.reason); OpenAI openapi.yaml
    Response.status, incomplete_details ("Details about why the response is incomplete") and error ("An
    error object returned when the model fails"); background mode is the only way to get an unfinished
    response, and llmconform never asks for it.
    """
    response = _final_response(exchange)
    assert response is not None
    status = response.get("status")
    details = response.get("incomplete_details")
    reason = details.get("reason") if isinstance(details, dict) else None
    error = response.get("error")
    if status == "incomplete" and not isinstance(reason, str):
        yield f"Expected: incomplete_details.reason on an incomplete response. Received: incomplete_details {details!r}"
    if status != "incomplete" and details is not None:
        yield f"Expected: incomplete_details null on a {status!r} response. Received: {details!r:.120}"
    if status == "failed" and not (isinstance(error, dict) and isinstance(error.get("message"), str)):
        yield f"Expected: an error object with a message on a failed response. Received: error {error!r:.120}"
    if status == "completed" and error is not None:
        yield f"Expected: error null on a completed response. Received: {error!r:.120}"
    if not responses_view(exchange).stream and status not in ("completed", "incomplete", "failed", "cancelled"):
        yield f"Expected: a finished status on a unary answer (completed, incomplete, failed). Received: {status!r}"


def _output_tokens(exchange: Exchange) -> int | None:
    response = _final_response(exchange)
    usage = response.get("usage") if response is not None else None
    return as_int(usage.get("output_tokens")) if isinstance(usage, dict) else None


@exchange_rule(
    "responses_output_within_max_tokens",
    family=FAMILY,
    severity=Severity.ERROR,
    applies=lambda ex: is_responses_answer(ex) and max_output_tokens(ex) is not None and _output_tokens(ex) is not None,
)
def responses_output_within_max_tokens(exchange: Exchange) -> Iterator[Violation]:
    """usage.output_tokens never exceeds the requested max_output_tokens.

    Source: contract-rules.md F R2/X2 (the max_output_tokens relation); OpenAI openapi.yaml
    CreateResponse.max_output_tokens ("An upper bound for the number of tokens that can be generated for a
    response, including visible output tokens and reasoning tokens").
    """
    limit, used = max_output_tokens(exchange), _output_tokens(exchange)
    assert limit is not None and used is not None
    if used > limit:
        yield f"Expected: output_tokens <= max_output_tokens ({limit}). Received: output_tokens == {used}"


def _function_names(exchange: Exchange) -> list[str]:
    tools = exchange.request_body.get("tools")
    if not isinstance(tools, list):
        return []
    return [
        t["name"]
        for t in tools
        if isinstance(t, dict) and t.get("type") == "function" and isinstance(t.get("name"), str)
    ]


def _has_function_calls(exchange: Exchange) -> bool:
    return is_responses_answer(exchange) and bool(responses_view(exchange).function_calls)


@exchange_rule("responses_function_call_shape", family=FAMILY, severity=Severity.ERROR, applies=_has_function_calls)
def responses_function_call_shape(exchange: Exchange) -> Iterator[Violation]:
    """Every finished function_call item has a call_id, the name of an offered function, and arguments that are
    a JSON string encoding an object.

    Source: contract-rules.md F O6 (tool-call shape, arguments a JSON string that parses) and D.2
    (huggingface/text-generation-inference#2136: arguments as an object); OpenAI openapi.yaml
    FunctionToolCall (call_id, name, arguments "A JSON string of the arguments"); openai-python
    types/responses/response_function_tool_call.py. An item cut short (status incomplete) is not judged.
    """
    view = responses_view(exchange)
    offered = _function_names(exchange)
    for item in view.function_calls:
        status = item.status if item.status is not None else view.status
        if status == "incomplete" or status == "in_progress":
            continue
        where = f"function_call item {item.id or item.output_index!r}"
        if not (isinstance(item.call_id, str) and item.call_id):
            yield f"{where}: Expected: a non-empty call_id. Received: {item.call_id!r}"
        if not isinstance(item.name, str) or (offered and item.name not in offered):
            yield f"{where}: Expected: the name of an offered function {offered}. Received: {item.name!r}"
        if not isinstance(item.arguments, str):
            kind = type(item.arguments).__name__
            yield f"{where}: Expected: arguments as a JSON-encoded string. Received: {kind} {item.arguments!r:.80}"
            continue
        try:
            parsed = parse_json(item.arguments)
        except ValueError as exc:
            yield f"{where}: Expected: arguments that parse as JSON. Received: {item.arguments!r:.80} ({exc})"
            continue
        if not isinstance(parsed, dict):
            kind = type(parsed).__name__
            yield f"{where}: Expected: arguments encoding a JSON object. Received: JSON {kind} {item.arguments!r:.80}"


def _tool_choice(exchange: Exchange) -> str | None:
    """The function the request forces ("=name"), "required", "none", or None when it leaves the choice open."""
    choice = exchange.request_body.get("tool_choice")
    if not _function_names(exchange):
        return None
    if isinstance(choice, dict) and choice.get("type") == "function" and isinstance(choice.get("name"), str):
        # Naming a function the request does not offer leaves nothing to force (OpenAI refuses it with 400;
        # an answer to it is judged by the other rules, not this one), as chat's tool_choice_honoured does.
        return "=" + choice["name"] if choice["name"] in _function_names(exchange) else None
    if choice in ("required", "none"):
        return str(choice)
    return None


def _judgeable_choice(exchange: Exchange) -> bool:
    if not is_responses_answer(exchange) or _tool_choice(exchange) is None:
        return False
    response = _final_response(exchange)
    return response is not None and response.get("status") in ("completed", "incomplete")


@exchange_rule("responses_tool_choice_honoured", family=FAMILY, severity=Severity.ERROR, applies=_judgeable_choice)
def responses_tool_choice_honoured(exchange: Exchange) -> Iterator[Violation]:
    """tool_choice is obeyed: a named function is called, "required" calls some function, "none" calls none.

    Source: OpenAI openapi.yaml ToolChoiceFunction ("Use this option to force the model to call a specific
    function") and ToolChoiceOptions (none: "the model will not call any tool"; required: "the model must
    call one or more tools"); contract-rules.md F O6.
    """
    choice = _tool_choice(exchange)
    names = [item.name for item in responses_view(exchange).function_calls]
    if choice == "none" and names:
        yield f"Expected: no function call with tool_choice 'none'. Received: calls {names}"
    elif choice == "required" and not names:
        yield "Expected: a function call with tool_choice 'required'. Received: no function_call item"
    elif choice is not None and choice.startswith("=") and choice[1:] not in names:
        yield f"Expected: a call of {choice[1:]!r} (tool_choice names it). Received: calls {names}"


# Stream and relation rules register on import (they share this family and its views).
from llmconform.checks import responses_relations, responses_stream  # noqa: E402, F401
