"""Turn JSON Schema violations of a request body into one actionable OpenAI 400 error.

The contract's ``CreateChatCompletionRequest`` schema (``llmconform.spec.validator_for``) does
the validating; this module picks the most useful error and names the offending field as a
dotted path (``messages.0.role``, ``temperature``). ``oneOf`` branches are narrowed the way a
person reads them: a branch whose discriminating ``const`` (``role``, ``type``) or top-level
``type`` does not fit is set aside, and the first remaining branch explains the problem.

``range_only`` tells whether every violation is a numeric range, length, count, enum or const
violation; the ``accept_invalid`` fault lets exactly those through.

Speed: ``BodyValidator`` first asks ``jsonschema_rs`` (a compiled validator that schemathesis
already depends on; about 1 us instead of about 300 us per body) whether the body is valid, and
runs the pure-Python validator only to explain an invalid body. Without ``jsonschema_rs`` every
body goes through the Python validator.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from jsonschema.exceptions import ValidationError
from jsonschema.protocols import Validator

__all__ = ["RANGE_KEYWORDS", "BodyValidator", "Violation", "find_violation"]

RANGE_KEYWORDS = frozenset(
    {
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "multipleOf",
        "minItems",
        "maxItems",
        "minLength",
        "maxLength",
        "enum",
        "const",
    }
)
_BRANCHING = ("oneOf", "anyOf")
_JSON_TYPES = {dict: "object", list: "array", str: "string", bool: "boolean", int: "integer", float: "number"}


@dataclass(frozen=True, slots=True)
class Violation:
    """The one problem reported for an invalid body."""

    message: str
    param: str | None
    code: str
    range_only: bool


def _compiled_check(schema: Mapping[str, Any]) -> Callable[[object], bool] | None:
    try:
        import jsonschema_rs
    except ImportError:
        return None
    try:
        compiled = jsonschema_rs.validator_for(dict(schema), validate_formats=False)
    except Exception:  # a schema the compiled validator cannot take: fall back to Python
        return None
    return compiled.is_valid


class BodyValidator:
    """Validates request bodies: a compiled fast path for valid ones, ``find_violation`` for the rest."""

    def __init__(self, validator: Validator, schema: Mapping[str, Any] | None = None) -> None:
        """``schema`` (the validator's own schema) enables the compiled fast path."""
        self._validator = validator
        self._is_valid = _compiled_check(schema) if schema is not None else None

    def violation(self, body: object) -> Violation | None:
        """None when ``body`` is valid, else the most useful violation."""
        if self._is_valid is not None and self._is_valid(body):
            return None
        return find_violation(self._validator, body)


def find_violation(validator: Validator, body: object) -> Violation | None:
    """Validate ``body``; return None when it is valid, else the most useful violation."""
    errors = list(validator.iter_errors(body))
    if not errors:
        return None
    range_only = all(_is_range(e) for e in errors)
    first = min(errors, key=_rank)
    return _describe(_narrow(first), range_only)


def _rank(error: ValidationError) -> tuple[int, int]:
    # Missing fields first, then shallow before deep (a wrong parent explains wrong children).
    return (0 if error.validator == "required" else 1, len(error.absolute_path))


def _branches(error: ValidationError) -> list[list[ValidationError]]:
    grouped: dict[int, list[ValidationError]] = {}
    for sub in error.context or ():
        key = sub.relative_schema_path[0] if sub.relative_schema_path else 0
        grouped.setdefault(int(key), []).append(sub)
    return [grouped[k] for k in sorted(grouped)]


def _rejects(branch: Sequence[ValidationError], depth: int) -> bool:
    """A branch does not apply when the instance's type, or a discriminating const, misfits it."""
    for sub in branch:
        deeper = len(sub.absolute_path) > depth
        if sub.validator == "type" and not deeper:
            return True
        if sub.validator == "const" and deeper:
            return True
    return False


def _candidates(error: ValidationError) -> list[list[ValidationError]]:
    depth = len(error.absolute_path)
    return [b for b in _branches(error) if not _rejects(b, depth)]


def _narrow(error: ValidationError) -> ValidationError:
    """Descend through oneOf/anyOf into the branch that the instance was evidently meant for."""
    if error.validator not in _BRANCHING or not error.context:
        return error
    candidates = _candidates(error)
    if candidates:
        return _narrow(min(candidates[0], key=_rank))
    consts = [s for s in error.context if s.validator in ("const", "enum")]
    if consts:
        deepest = max(len(s.absolute_path) for s in consts)
        chosen: ValidationError = next(s for s in consts if len(s.absolute_path) == deepest)
        return chosen
    return error


def _is_range(error: ValidationError) -> bool:
    if error.validator in RANGE_KEYWORDS:
        return True
    if error.validator in _BRANCHING and error.context:
        candidates = _candidates(error)
        if candidates:
            return all(_is_range(s) for s in candidates[0])
        return all(s.validator in ("const", "enum", "required") for s in error.context) and any(
            s.validator in ("const", "enum") for s in error.context
        )
    return False


def _as_list(value: object) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value]
    return [str(value)]


def _path(parts: Iterable[Any]) -> str | None:
    dotted = ".".join(str(p) for p in parts)
    return dotted or None


def _show(value: object) -> str:
    try:
        text = orjson.dumps(value).decode()
    except TypeError:
        text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _allowed(error: ValidationError, siblings: Iterable[ValidationError] = ()) -> list[object]:
    values: list[object] = []
    for err in (error, *siblings):
        if err.validator == "const":
            values.append(err.validator_value)
        elif err.validator == "enum":
            values.extend(err.validator_value)
    return values


def _allowed_values(error: ValidationError) -> str:
    values: list[object] = []
    parent = error.parent
    if parent is not None and parent.validator in _BRANCHING and parent.context:
        same = [s for s in parent.context if s.absolute_path == error.absolute_path]
        values = _allowed(error, [s for s in same if s is not error])
    else:
        values = _allowed(error)
    unique = list(dict.fromkeys(_show(v) for v in values))
    return ", ".join(unique)


def _describe(error: ValidationError, range_only: bool) -> Violation:
    path = list(error.absolute_path)
    kind = error.validator
    value = error.instance
    schema = error.schema if isinstance(error.schema, dict) else {}
    if kind == "required":
        present = value if isinstance(value, dict) else {}
        missing = next((r for r in error.validator_value if r not in present), str(error.validator_value))
        param = _path([*path, missing])
        where = f"'{_path(path)}'" if path else "the request body"
        return Violation(
            f"Missing required parameter: '{param}'. Add '{missing}' to {where}.",
            param,
            "missing_required_parameter",
            range_only,
        )
    param = _path(path)
    name = f"'{param}'" if param else "the request body"
    shown = _show(value)
    if kind == "type":
        expected = error.validator_value
        expected_text = " or ".join(expected) if isinstance(expected, list) else str(expected)
        got = _JSON_TYPES.get(type(value), "null")
        fix = f"Send {name} as {expected_text}."
        message = f"Invalid type for {name}: expected {expected_text}, but got {got} {shown}. {fix}"
    elif kind in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        low, high = schema.get("minimum"), schema.get("maximum")
        if low is not None and high is not None:
            fix = f"Use a value between {low} and {high}."
        elif kind == "minimum":
            fix = f"Use a value of at least {error.validator_value}."
        elif kind == "maximum":
            fix = f"Use a value of at most {error.validator_value}."
        elif kind == "exclusiveMinimum":
            fix = f"Use a value greater than {error.validator_value}."
        else:
            fix = f"Use a value less than {error.validator_value}."
        message = f"Invalid value for {name}: {shown} is out of range. {fix}"
    elif kind in _BRANCHING and error.context and all(s.validator == "type" for s in error.context):
        types = [t for s in error.context for t in _as_list(s.validator_value)]
        expected_text = " or ".join(dict.fromkeys(types))
        got = _JSON_TYPES.get(type(value), "null")
        message = f"Invalid type for {name}: expected {expected_text}, but got {got} {shown}."
    elif kind in ("enum", "const"):
        message = f"Invalid value for {name}: {shown}. Supported values are: {_allowed_values(error)}."
    elif kind in ("minItems", "maxItems"):
        bound = "at least" if kind == "minItems" else "at most"
        count = len(value) if isinstance(value, list) else 0
        message = f"Invalid value for {name}: it has {count} item(s); send {bound} {error.validator_value} item(s)."
    elif kind in ("minLength", "maxLength"):
        bound = "at least" if kind == "minLength" else "at most"
        message = f"Invalid value for {name}: {shown} must have {bound} {error.validator_value} character(s)."
    elif kind == "pattern":
        message = f"Invalid value for {name}: {shown} must match the pattern {error.validator_value}."
    else:
        message = f"Invalid value for {name}: {error.message}. Check it against the API reference."
    return Violation(message, param, "invalid_value", range_only)
