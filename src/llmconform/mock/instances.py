"""Seeded instances of a JSON Schema: tool-call arguments and json_schema answers.

Covers the subset that function parameters and structured outputs use in practice: ``const``,
``enum``, ``type`` (one or a list; ``null`` is chosen only when it is the sole type),
``properties`` / ``required`` (every required property, and each optional one by a coin toss),
``items`` / ``prefixItems`` / ``minItems`` / ``maxItems``, ``minLength`` / ``maxLength``,
``minimum`` / ``maximum`` / ``exclusiveMinimum`` / ``exclusiveMaximum``, ``anyOf`` / ``oneOf``
(the first branch), ``allOf`` (merged) and local ``$ref`` (``#/...``). ``pattern`` and
``format`` are not honoured. A missing or empty schema yields ``{}``.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from typing import Any

__all__ = ["instance_for"]

_WORDS = (
    "alpha", "bravo", "cedar", "delta", "ember", "fjord", "grove", "harbor",
    "island", "jasper", "kelp", "lumen", "meadow", "north", "opal", "prairie",
)  # fmt: skip

_MAX_DEPTH = 6
_TYPE_ORDER = ("object", "array", "string", "integer", "number", "boolean", "null")


def instance_for(schema: object, rng: random.Random) -> Any:
    """Return a JSON value that satisfies ``schema`` (within the subset in the module docstring)."""
    if not isinstance(schema, Mapping) or not schema:
        return {}
    return _Generator(schema, rng).value(schema, 0)


class _Generator:
    def __init__(self, root: Mapping[str, Any], rng: random.Random) -> None:
        self._root = root
        self._rng = rng

    def _resolve(self, ref: str) -> Mapping[str, Any]:
        if not ref.startswith("#"):
            return {}
        node: Any = self._root
        for raw in ref[1:].split("/"):
            if not raw:
                continue
            key = raw.replace("~1", "/").replace("~0", "~")
            if isinstance(node, Mapping) and key in node:
                node = node[key]
            else:
                return {}
        return node if isinstance(node, Mapping) else {}

    def _merge(self, schema: Mapping[str, Any]) -> Mapping[str, Any]:
        merged: dict[str, Any] = {k: v for k, v in schema.items() if k not in ("allOf", "$ref")}
        if isinstance(schema.get("$ref"), str):
            merged = {**self._resolve(schema["$ref"]), **merged}
        for part in schema.get("allOf") or ():
            if not isinstance(part, Mapping):
                continue
            part = self._merge(part)
            for key, val in part.items():
                if key == "properties" and isinstance(merged.get("properties"), Mapping):
                    merged["properties"] = {**merged["properties"], **val}
                elif key == "required" and isinstance(merged.get("required"), list):
                    merged["required"] = [*merged["required"], *val]
                else:
                    merged.setdefault(key, val)
        return merged

    def value(self, schema: object, depth: int) -> Any:
        if not isinstance(schema, Mapping):
            return {} if schema is not False else None
        schema = self._merge(schema)
        if "const" in schema:
            return schema["const"]
        enum = schema.get("enum")
        if isinstance(enum, list) and enum:
            return enum[self._rng.randrange(len(enum))]
        for key in ("anyOf", "oneOf"):
            branches = schema.get(key)
            if isinstance(branches, list) and branches:
                rest = {k: v for k, v in schema.items() if k != key}
                first = branches[0] if isinstance(branches[0], Mapping) else {}
                return self.value({**rest, **first}, depth + 1)
        kind = self._type_of(schema)
        if depth >= _MAX_DEPTH:
            return _shallow(kind)
        if kind == "object":
            return self._object(schema, depth)
        if kind == "array":
            return self._array(schema, depth)
        if kind == "string":
            return self._string(schema)
        if kind == "integer":
            return self._integer(schema)
        if kind == "number":
            return self._number(schema)
        if kind == "boolean":
            return self._rng.random() < 0.5
        return None

    @staticmethod
    def _type_of(schema: Mapping[str, Any]) -> str:
        declared = schema.get("type")
        if isinstance(declared, str):
            return declared
        if isinstance(declared, list) and declared:
            for kind in _TYPE_ORDER:
                if kind in declared and kind != "null":
                    return kind
            return "null"
        if "properties" in schema or "required" in schema:
            return "object"
        if "items" in schema or "prefixItems" in schema:
            return "array"
        return "object"

    def _object(self, schema: Mapping[str, Any], depth: int) -> dict[str, Any]:
        props = schema.get("properties")
        props = props if isinstance(props, Mapping) else {}
        required = schema.get("required")
        required = [r for r in required if isinstance(r, str)] if isinstance(required, list) else []
        out: dict[str, Any] = {}
        for name, sub in props.items():
            if name in required or self._rng.random() < 0.5:
                out[name] = self.value(sub, depth + 1)
        for name in required:
            if name not in out:
                out[name] = self.value(props.get(name, {"type": "string"}), depth + 1)
        return out

    def _array(self, schema: Mapping[str, Any], depth: int) -> list[Any]:
        prefix = schema.get("prefixItems")
        prefix = prefix if isinstance(prefix, list) else []
        low = _as_int(schema.get("minItems"), 0)
        high = _as_int(schema.get("maxItems"), max(low, len(prefix)) + 3)
        high = max(low, high)
        count = self._rng.randint(low, min(high, low + 3))
        items = schema.get("items")
        out = [self.value(prefix[i], depth + 1) for i in range(min(count, len(prefix)))]
        if items is not False:
            item_schema = items if isinstance(items, Mapping) else {"type": "string"}
            out.extend(self.value(item_schema, depth + 1) for _ in range(count - len(out)))
        return out

    def _string(self, schema: Mapping[str, Any]) -> str:
        low = _as_int(schema.get("minLength"), 0)
        high = _as_int(schema.get("maxLength"), max(low, 40))
        text = " ".join(self._rng.choice(_WORDS) for _ in range(self._rng.randint(1, 3)))
        if len(text) < low:
            text += "x" * (low - len(text))
        return text[: max(high, low)]

    def _bounds(self, schema: Mapping[str, Any]) -> tuple[float, float, bool, bool]:
        low, high = _num(schema.get("minimum")), _num(schema.get("maximum"))
        ex_low, ex_high = _num(schema.get("exclusiveMinimum")), _num(schema.get("exclusiveMaximum"))
        lo = low if low is not None else -math.inf
        hi = high if high is not None else math.inf
        open_lo = open_hi = False
        if ex_low is not None and ex_low >= lo:
            lo, open_lo = ex_low, True
        if ex_high is not None and ex_high <= hi:
            hi, open_hi = ex_high, True
        if lo == -math.inf:
            lo = min(0.0, hi - 100.0)
        if hi == math.inf:
            hi = lo + 100.0
        return lo, hi, open_lo, open_hi

    def _integer(self, schema: Mapping[str, Any]) -> int:
        lo, hi, open_lo, open_hi = self._bounds(schema)
        first = math.floor(lo) + 1 if open_lo else math.ceil(lo)
        last = math.ceil(hi) - 1 if open_hi else math.floor(hi)
        return self._rng.randint(first, last) if first <= last else first

    def _number(self, schema: Mapping[str, Any]) -> float:
        lo, hi, _, _ = self._bounds(schema)
        if hi <= lo:
            return lo
        value = round(self._rng.uniform(lo, hi), 2)
        if not lo < value < hi:
            value = (lo + hi) / 2
        return value


def _shallow(kind: str) -> Any:
    """The smallest value of a type, used where nesting is too deep to go on."""
    shallow: dict[str, Any] = {"object": {}, "array": [], "string": "", "integer": 0, "number": 0.0}
    return shallow.get(kind, False if kind == "boolean" else None)


def _num(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def _as_int(value: object, default: int) -> int:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return int(value)
    return default
