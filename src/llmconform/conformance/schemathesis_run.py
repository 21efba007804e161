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
from llmconform.conformance.families import FAMILY_CHECKS, FamilyCheck
from llmconform.conformance.session import Session
from llmconform.exchange import Exchange
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
_STRING_MAX = 40
_ARRAY_MAX = 3


def run_schemathesis(session: Session, *, cases: dict[str, tuple[int, int]], seed: int) -> None:
    """Generate and send cases for each family in ``cases`` (family -> (positive, negative) examples per
    operation with a request body; an operation without one gets a single positive case)."""
    load_all_checks()
    checks = [CHECKS.get_one(name) for name in RESPONSE_CHECKS]
    for family, (positive, negative) in cases.items():
        check = FAMILY_CHECKS[family]
        if check.document is not None and (positive or negative):
            _run_family(session, check, positive, negative, seed, checks)


def _run_family(
    session: Session, check: FamilyCheck, positive: int, negative: int, seed: int, checks: list[Any]
) -> None:
    assert check.document is not None
    document = load_document(check.document)
    streamed = _has_stream_property(document)
    # With a top-level `stream` property, half the positive cases are streamed (generation left alone
    # sets stream: true in a few percent only), so schemathesis validates many generated streams.
    passes: list[tuple[GenerationMode, int, dict[str, Any]]] = [
        (GenerationMode.POSITIVE, positive - positive // 2 if streamed else positive,
         bounded_document(document, False if streamed else None, check.bounds)),
        (GenerationMode.POSITIVE, positive // 2 if streamed else 0, bounded_document(document, True, check.bounds)),
        (GenerationMode.NEGATIVE, negative, copy.deepcopy(document)),
    ]  # fmt: skip
    for number, (mode, examples, raw) in enumerate(passes):
        schema = schemathesis.openapi.from_dict(raw)
        # The key is a configured header, so negative cases can drop or mangle it (the auth negatives).
        schema.config.update(base_url=session.client.base_url, headers=session.client.auth_headers(check.name) or None)
        schema.config.generation.update(allow_x00=False)
        for result in schema.get_all_operations():
            if not isinstance(result, Ok):
                raise SpecError(
                    f"openapi/{check.document}.yaml", f"schemathesis cannot load an operation: {result.err()}"
                )
            operation = result.ok()
            if check.operations is not None and operation.definition.raw.get("operationId") not in check.operations:
                continue
            # An operation without a body (a model list) gets one case, in the first pass.
            count = examples if _json_body(operation.definition.raw) is not None else int(number == 0 and positive > 0)
            if count > 0:
                _run_operation(session, check, operation, mode, count, seed, checks)


def _json_body(operation: dict[str, Any]) -> dict[str, Any] | None:
    """The application/json request body media object of an operation, if it has one."""
    body = operation.get("requestBody")
    media = body.get("content", {}).get("application/json") if isinstance(body, dict) else None
    return media if isinstance(media, dict) else None


def _has_stream_property(document: dict[str, Any]) -> bool:
    components = document.get("components", {}).get("schemas", {})
    for path in document.get("paths", {}).values():
        for operation in path.values():
            media = _json_body(operation) if isinstance(operation, dict) else None
            if media is not None:
                schema = _inline(media.get("schema", {}), components, depth=0)
                if isinstance(schema, dict) and "stream" in schema.get("properties", {}):
                    return True
    return False


def _run_operation(
    session: Session,
    check: FamilyCheck,
    operation: Any,
    mode: GenerationMode,
    examples: int,
    seed: int,
    checks: list[Any],
) -> None:
    try:
        drive(
            operation.as_strategy(generation_mode=mode),
            examples,
            seed,
            lambda case: _send_case(session, check, case, mode, checks),
        )
    except Unsatisfiable:
        # e.g. no negative case exists for an operation without parameters or body: nothing to send.
        session.results.notes.append(f"schemathesis: no {mode.value} cases exist for {operation.label}")


def _send_case(session: Session, family: FamilyCheck, case: Any, mode: GenerationMode, checks: list[Any]) -> None:
    positive = mode is GenerationMode.POSITIVE
    if positive and isinstance(case.path_parameters, dict) and "model" in case.path_parameters:
        case.path_parameters["model"] = session.model
    kwargs = case.as_transport_kwargs(base_url=session.client.base_url)
    headers = {k: str(v) for k, v in (kwargs.get("headers") or {}).items() if k.lower() not in _TRANSPORT_HEADERS}
    path = httpx.URL(kwargs["url"]).raw_path.decode("ascii", "replace")
    body: Any = None
    raw: bytes | None = None
    if "json" in kwargs:
        body = kwargs["json"]
        if isinstance(body, dict) and family.pin_body is not None:
            family.pin_body(body, session, positive)
        case.body = body
    elif kwargs.get("files") is not None:
        body, raw, headers["content-type"] = _multipart(kwargs, family, session, positive)
    elif kwargs.get("data") is not None:
        data = kwargs["data"]
        raw = data if isinstance(data, bytes) else str(data).encode()
    label = f"schemathesis {mode.value}: {case.method} {case.path}"
    exchange = session.send(
        case.method,
        path,
        operation=f"{case.method} {case.path}",
        family=family.name,
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


def _multipart(
    kwargs: dict[str, Any], family: FamilyCheck, session: Session, positive: bool
) -> tuple[dict[str, Any], bytes, str]:
    """(a JSON view of the form, the encoded multipart/form-data body, its Content-Type) of a form case.

    The family's ``pin_body`` sees the form as one dict: a text field as its text (numbers too), a file as
    ``(filename, bytes, media type)``, a repeated file as a list of those; it may rewrite either (schema-valid
    files are any bytes, so a pin makes a positive case's files real files). Then httpx encodes the form; in
    the view each file is ``"<file NAME: N bytes TYPE>"``.
    """
    form: dict[str, Any] = {}
    for name, value in kwargs.get("files") or []:
        filename, content = value[0], value[1]
        if filename is None:
            form[name] = content.decode("utf-8", "replace") if isinstance(content, bytes) else str(content)
            continue
        media = value[2] if len(value) > 2 and value[2] else "application/octet-stream"
        entry = (filename, content if isinstance(content, bytes) else str(content).encode(), media)
        earlier = form.get(name)
        form[name] = entry if earlier is None else [*(earlier if isinstance(earlier, list) else [earlier]), entry]
    if isinstance(kwargs.get("data"), dict):
        form.update({name: str(value) for name, value in kwargs["data"].items()})
    # case.body stays as generated: schemathesis revalidates a changed body, and its files are bytes then, which
    # a JSON Schema string never matches (every pinned case would count as negative).
    if family.pin_body is not None:
        family.pin_body(form, session, positive)
    files: list[tuple[str, tuple[str, bytes, str]]] = []
    fields: dict[str, Any] = {}
    for name, value in form.items():
        entries = value if isinstance(value, list) and all(isinstance(v, tuple) for v in value) else [value]
        if all(isinstance(entry, tuple) for entry in entries):
            files.extend((name, entry) for entry in entries)
        else:
            fields[name] = value if isinstance(value, str | list) else str(value)
    request = httpx.Request("POST", "http://multipart.invalid/", data=fields, files=files)
    view: dict[str, Any] = dict(fields)
    for name, (filename, content, media) in files:
        view[name] = f"<file {filename}: {len(content)} bytes {media}>"
    return view, request.read(), request.headers["content-type"]


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


def bounded_document(document: dict[str, Any], stream: bool | None, bounds: dict[str, int]) -> dict[str, Any]:
    """A copy whose JSON request body schemas are inlined and tightened for fast, cheap generation
    (``bounds`` caps top-level properties), and whose requests are all streamed (``stream`` True), all
    unary (False) or left as the document says (None)."""
    bounded = copy.deepcopy(document)
    components = bounded.get("components", {}).get("schemas", {})
    for path in bounded.get("paths", {}).values():
        for operation in path.values():
            media = _json_body(operation) if isinstance(operation, dict) else None
            if media is None:
                continue
            body = _inline(media["schema"], components, depth=0)
            for dotted, bound in bounds.items():
                if "." in dotted:
                    _require_nested(body, dotted.split("."), bound)
            body = _tighten(body, {k: v for k, v in bounds.items() if "." not in k}, top=True)
            properties = body.setdefault("properties", {})
            if stream is True and "stream" in properties:
                properties["stream"] = {"const": True}
                body["required"] = sorted({*body.get("required", []), "stream"})
            elif stream is False:
                properties.pop("stream", None)
                properties.pop("stream_options", None)
            media["schema"] = body
    return bounded


def _require_nested(schema: dict[str, Any], path: list[str], bound: int) -> None:
    """Make a nested limit such as ``generationConfig.maxOutputTokens`` required at every level and capped
    at ``bound``, so generated cases carry it and a pin never has to add it (an added property can break
    the bounded schema, and schemathesis would then judge the case as negative)."""
    node = schema
    for position, name in enumerate(path):
        properties = node.get("properties")
        if not isinstance(properties, dict) or not isinstance(properties.get(name), dict):
            return
        node["required"] = sorted({*node.get("required", []), name})
        if position == len(path) - 1:
            properties[name] = _with_maximum(properties[name], bound)
        else:
            properties[name] = _only_object(properties[name])
            node = properties[name]


def _only_object(schema: dict[str, Any]) -> dict[str, Any]:
    """A schema narrowed to its object form (``type: [object, null]`` becomes ``object``)."""
    schema = dict(schema)
    if isinstance(schema.get("type"), list) and "object" in schema["type"]:
        schema["type"] = "object"
    return schema


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


def _tighten(node: Any, bounds: dict[str, int], top: bool = False) -> Any:
    if isinstance(node, list):
        return [_tighten(v, bounds) for v in node]
    if not isinstance(node, dict):
        return node
    node = {k: _tighten(v, bounds) for k, v in node.items()}
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
        for key, bound in bounds.items():
            if key in properties:
                properties[key] = _with_maximum(properties[key], bound)
        node["additionalProperties"] = False
    return node


def _with_maximum(schema: dict[str, Any], bound: int) -> dict[str, Any]:
    schema = dict(schema)
    schema["maximum"] = min(schema.get("maximum", bound), bound)
    return schema
