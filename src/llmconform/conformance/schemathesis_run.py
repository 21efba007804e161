"""schemathesis drives the contract: positive and negative cases generated from openapi/chat.yaml.

Each generated case is sent through the harness client (the budget, the deadline and the Exchange
record apply to it like to any other request); the answer is judged twice: by schemathesis' built-in
checks (``case.validate_response``, one check at a time so each failure maps to its check), and by
every harness exchange rule.

Generation is bounded for speed and cost without changing the contract itself: positive cases come
from a copy of the document whose request body schema is inlined and tightened (short strings, few
messages, n <= 2, max_tokens <= 16); negative cases come from the document as written, so "invalid"
always means invalid under the real contract. Both are pinned to the model under test, and a case
without an output limit gets one (16 tokens), so no generated request can ask for an unbounded answer.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import schemathesis
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.core.result import Ok

from llmconform.checks.schemathesis_rules import rule_id_for
from llmconform.conformance.drive import drive
from llmconform.conformance.session import Session
from llmconform.exchange import Exchange
from llmconform.json_numbers import as_int
from llmconform.spec import SpecError, load_document

# Built-in checks that judge one response. ignored_auth is left out: it re-sends requests outside the
# budget, and the auth_required probe covers it. Stateful checks do not apply to a stateless API.
RESPONSE_CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
    "positive_data_acceptance",
)
# Headers schemathesis adds for its own transport; the harness client sets its own.
_TRANSPORT_HEADERS = frozenset({"user-agent", "accept-encoding", "accept", "connection", "x-schemathesis-testcaseid"})
_BOUNDS = {"n": 2, "max_tokens": 16, "max_completion_tokens": 16, "top_logprobs": 3}
_STRING_MAX = 40
_ARRAY_MAX = 3


def run_schemathesis(session: Session, *, cases: dict[str, tuple[int, int]], seed: int) -> None:
    """Generate and send cases: ``cases`` maps an operationId to (positive, negative) example counts."""
    load_all_checks()
    checks = [CHECKS.get_one(name) for name in RESPONSE_CHECKS]
    document = load_document("chat")
    # Half the positive cases are streamed (left alone, generation sets stream: true in a few percent),
    # so schemathesis validates many generated streams event by event.
    passes: list[tuple[GenerationMode, Callable[[int, int], int], dict[str, Any]]] = [
        (GenerationMode.POSITIVE, lambda positive, _: positive - positive // 2, bounded_document(document, False)),
        (GenerationMode.POSITIVE, lambda positive, _: positive // 2, bounded_document(document, True)),
        (GenerationMode.NEGATIVE, lambda _, negative: negative, copy.deepcopy(document)),
    ]
    for mode, share, raw in passes:
        if not any(share(*counts) for counts in cases.values()):
            continue
        schema = schemathesis.openapi.from_dict(raw)
        # The key is a configured header, so negative cases can drop or mangle it (the auth negatives).
        schema.config.update(base_url=session.client.base_url, headers=session.client.auth_headers() or None)
        schema.config.generation.update(allow_x00=False)
        for result in schema.get_all_operations():
            if not isinstance(result, Ok):
                raise SpecError("openapi/chat.yaml", f"schemathesis cannot load an operation: {result.err()}")
            operation = result.ok()
            examples = share(*cases.get(operation.definition.raw.get("operationId"), (0, 0)))
            if examples > 0:
                _run_operation(session, operation, mode, examples, seed, checks)


def _run_operation(
    session: Session, operation: Any, mode: GenerationMode, examples: int, seed: int, checks: list[Any]
) -> None:
    try:
        drive(
            operation.as_strategy(generation_mode=mode),
            examples,
            seed,
            lambda case: _send_case(session, case, mode, checks),
        )
    except Unsatisfiable:
        # e.g. no negative case exists for an operation without parameters or body: nothing to send.
        session.results.notes.append(f"schemathesis: no {mode.value} cases exist for {operation.label}")


def _pin_body(body: Any, session: Session, mode: GenerationMode) -> Any:
    """Point a generated body at the model under test and bound what it may cost."""
    if not isinstance(body, dict):
        return body
    if isinstance(body.get("model"), str):
        body["model"] = session.model
    if mode is GenerationMode.POSITIVE:
        _pin_tool_choice(body)
    if all(body.get(key) is None for key in ("max_tokens", "max_completion_tokens")):
        body[session.dialect.limit_key] = _BOUNDS["max_tokens"]  # never an unbounded answer on a paid API
    for key, bound in _BOUNDS.items():
        value = as_int(body.get(key))
        # In negative mode an out-of-range value may be the point of the case: only clamp valid values.
        if value is not None and 1 <= value <= 128 and value > bound:
            body[key] = bound
    if mode is GenerationMode.POSITIVE and body.get("stream") is not True:
        body.pop("stream_options", None)
    return body


def _pin_tool_choice(body: dict[str, Any]) -> None:
    """Make a generated tool_choice satisfiable, as the model is pinned: a named choice names an offered
    tool, and "required" or a named choice comes with tools (otherwise servers rightly answer 400)."""
    choice = body.get("tool_choice")
    tools = body.get("tools")
    names = [
        t["function"]["name"]
        for t in tools if isinstance(t, dict) and isinstance(t.get("function"), dict)
        and isinstance(t["function"].get("name"), str)
    ] if isinstance(tools, list) else []  # fmt: skip
    if isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        if names:
            choice["function"]["name"] = names[0]
        else:
            del body["tool_choice"]
    elif choice == "required" and not names:
        del body["tool_choice"]


def _send_case(session: Session, case: Any, mode: GenerationMode, checks: list[Any]) -> None:
    kwargs = case.as_transport_kwargs(base_url=session.client.base_url)
    headers = {k: str(v) for k, v in (kwargs.get("headers") or {}).items() if k.lower() not in _TRANSPORT_HEADERS}
    path = httpx.URL(kwargs["url"]).raw_path.decode("ascii", "replace")
    body: Any = None
    raw: bytes | None = None
    if "json" in kwargs:
        body = _pin_body(kwargs["json"], session, mode)
        case.body = body
    elif kwargs.get("data") is not None:
        data = kwargs["data"]
        raw = data if isinstance(data, bytes) else str(data).encode()
    label = f"schemathesis {mode.value}: {case.method} {case.path}"
    exchange = session.send(
        case.method,
        path,
        operation=f"{case.method} {case.path}",
        family="models" if case.path.endswith("/models") else "chat",
        label=label,
        json_body=body,
        raw_body=raw,
        headers=headers,
        auth=False,  # the case carries the configured key, or deliberately lacks or mangles it
    )
    if exchange.status is None:
        return  # transport failure: judged by request_completes
    response = _as_httpx_response(exchange)
    for check in checks:
        name = check.__name__
        rule = rule_id_for(name)
        try:
            case.validate_response(response, checks=[check], headers=exchange.request_headers)
        except FailureGroup as group:
            for failure in group.exceptions:
                session.results.fail(rule, _describe(failure), exchange)
            continue
        except (Failure, AssertionError) as exc:
            session.results.fail(rule, _describe(exc), exchange)
            continue
        except Exception as exc:  # a schemathesis crash on a hostile answer must not end the run
            session.results.skip(rule, f"schemathesis check {name} raised {type(exc).__name__}: {exc}")
            continue
        session.results.count(rule).passed += 1


def _describe(exc: BaseException) -> str:
    if isinstance(exc, Failure):
        message = exc.message.strip()
        return f"{exc.title}: {message}" if message else exc.title
    return str(exc) or type(exc).__name__


def _as_httpx_response(exchange: Exchange) -> httpx.Response:
    assert exchange.status is not None
    request = httpx.Request(exchange.method, exchange.url, headers=exchange.request_headers)
    response = httpx.Response(
        exchange.status,
        headers=[(k, v) for k, v in exchange.response_headers.items() if k not in ("content-encoding",)],
        content=exchange.body,
        request=request,
    )
    response.elapsed = timedelta(seconds=exchange.elapsed_s)
    return response


def bounded_document(document: dict[str, Any], stream: bool) -> dict[str, Any]:
    """A copy whose chat request body schema is inlined and tightened for fast, cheap generation, and
    whose requests are all streamed (``stream``) or all unary."""
    bounded = copy.deepcopy(document)
    components = bounded.get("components", {}).get("schemas", {})
    operation = bounded["paths"]["/v1/chat/completions"]["post"]
    media = operation["requestBody"]["content"]["application/json"]
    body = _tighten(_inline(media["schema"], components, depth=0), top=True)
    properties = body.setdefault("properties", {})
    if stream:
        properties["stream"] = {"const": True}
        body["required"] = sorted({*body.get("required", []), "stream"})
    else:
        properties.pop("stream", None)
        properties.pop("stream_options", None)
    media["schema"] = body
    return bounded


def _inline(node: Any, components: dict[str, Any], depth: int) -> Any:
    if depth > 40:
        raise ValueError("request schema nests deeper than 40 levels; is a $ref recursive?")
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            target = components[ref.rsplit("/", 1)[1]]
            merged = {k: v for k, v in node.items() if k != "$ref"}
            return _inline({**target, **merged}, components, depth + 1)
        return {k: _inline(v, components, depth + 1) for k, v in node.items()}
    if isinstance(node, list):
        return [_inline(v, components, depth + 1) for v in node]
    return node


def _tighten(node: Any, top: bool = False) -> Any:
    if isinstance(node, list):
        return [_tighten(v) for v in node]
    if not isinstance(node, dict):
        return node
    node = {k: _tighten(v) for k, v in node.items()}
    types = node.get("type")
    # Only a schema has a string (or list of strings) "type"; a "properties" map may have a property "type".
    type_set = (
        {types}
        if isinstance(types, str)
        else {t for t in types if isinstance(t, str)}
        if isinstance(types, list)
        else set()
    )
    if "string" in type_set and not any(k in node for k in ("enum", "const", "pattern", "maxLength", "format")):
        node["maxLength"] = _STRING_MAX
    if "array" in type_set:
        node["maxItems"] = min(node.get("maxItems", _ARRAY_MAX), _ARRAY_MAX)
    if "object" in type_set and "properties" in node and not top:
        node.setdefault("maxProperties", max(len(node.get("required", [])), 4))
    if top:
        properties = node.get("properties", {})
        for key, bound in _BOUNDS.items():
            if key in properties:
                properties[key] = _with_maximum(properties[key], bound)
        node["additionalProperties"] = False
    return node


def _with_maximum(schema: dict[str, Any], bound: int) -> dict[str, Any]:
    schema = dict(schema)
    schema["maximum"] = min(schema.get("maximum", bound), bound)
    return schema
