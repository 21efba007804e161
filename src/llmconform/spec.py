"""The only loader of the OpenAPI documents in ``openapi/``.

Everything else in llmconform (checks, conformance, load, mock, tests) asks this module for a
document, a component schema or a ready validator, so there is one place that knows where the
contract lives and how its ``$ref``s are resolved.

Where the documents are found (first match wins):

1. the directory named by the ``LLMCONFORM_SPEC_DIR`` environment variable;
2. ``openapi/`` at the repository root, next to ``src/`` (a source checkout or editable install);
3. ``llmconform/_openapi/`` inside the installed package (a wheel).
"""

from __future__ import annotations

import copy
import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jsonschema
import yaml

if TYPE_CHECKING:
    from jsonschema.protocols import Validator
    from schemathesis.specs.openapi.schemas import OpenApiSchema

__all__ = [
    "ENV_VAR",
    "SPEC_DIR",
    "SpecError",
    "component_schema",
    "find_spec_dir",
    "load_document",
    "load_schemathesis_schema",
    "validator_for",
]

ENV_VAR = "LLMCONFORM_SPEC_DIR"
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

_REPO_SPEC_DIR = Path(__file__).resolve().parents[2] / "openapi"
_PACKAGED_SPEC_DIR = Path(__file__).resolve().parent / "_openapi"


class SpecError(Exception):
    """An OpenAPI document is missing, unreadable or lacks what was asked of it."""

    def __init__(self, path: Path | str, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


def find_spec_dir() -> Path:
    """Return the directory holding the OpenAPI documents (see the module docstring for the order).

    An ``LLMCONFORM_SPEC_DIR`` that is set is used as given, even if it does not exist, so that a
    typo surfaces as a :class:`SpecError` naming that directory instead of silently loading a
    different contract. When nothing is found, the repository path is returned and loading from it
    raises a :class:`SpecError` that explains the fix.
    """
    override = os.environ.get(ENV_VAR)
    if override:
        return Path(override).expanduser()
    for candidate in (_REPO_SPEC_DIR, _PACKAGED_SPEC_DIR):
        if candidate.is_dir():
            return candidate
    return _REPO_SPEC_DIR


SPEC_DIR: Path = find_spec_dir()


def _document_path(name: str) -> Path:
    if not name or "/" in name or "\\" in name or name.startswith("."):
        raise SpecError(
            SPEC_DIR / f"{name}.yaml",
            f"invalid document name {name!r}: pass the file stem of a document in {SPEC_DIR}, e.g. 'chat'",
        )
    return SPEC_DIR / f"{name}.yaml"


@functools.cache
def load_document(name: str = "chat") -> dict[str, Any]:
    """Parse ``openapi/{name}.yaml`` and return it as a dict (cached; do not mutate it)."""
    path = _document_path(name)
    if not path.is_file():
        available = sorted(p.stem for p in SPEC_DIR.glob("*.yaml")) if SPEC_DIR.is_dir() else []
        hint = (
            f"available documents: {', '.join(available)}"
            if available
            else f"set {ENV_VAR} to the directory holding the OpenAPI documents, run from a source "
            "checkout that has openapi/, or install a build that packages llmconform/_openapi/"
        )
        raise SpecError(path, f"OpenAPI document {name!r} not found; {hint}")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(path, f"cannot read the document ({exc}); check its permissions") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SpecError(path, f"not valid YAML ({exc}); fix the syntax at the position shown") from exc
    if not isinstance(data, dict) or "openapi" not in data:
        raise SpecError(path, "not an OpenAPI document: the top level must be a mapping with an 'openapi' key")
    if not str(data["openapi"]).startswith("3.1"):
        raise SpecError(
            path,
            f"declares openapi {data['openapi']!r}; llmconform's documents are OpenAPI 3.1 "
            "(JSON Schema 2020-12) - set 'openapi: 3.1.0' and write nullability as type: [X, 'null']",
        )
    return data


def _schemas(document: str) -> dict[str, Any]:
    doc = load_document(document)
    schemas = doc.get("components", {}).get("schemas")
    if not isinstance(schemas, dict):
        raise SpecError(_document_path(document), "has no components/schemas mapping; add one")
    return schemas


@functools.cache
def component_schema(name: str, document: str = "chat") -> dict[str, Any]:
    """Return a self-contained JSON Schema (2020-12) for ``#/components/schemas/{name}``.

    The result is a wrapper ``{"$schema", "$ref": "#/components/schemas/{name}", "components"}``
    that carries the document's ``components`` so that every internal ``$ref`` resolves against
    it. It is cached and shared: copy it before changing it.
    """
    schemas = _schemas(document)
    if name not in schemas:
        raise SpecError(
            _document_path(document),
            f"no component schema {name!r}; known names: {', '.join(sorted(schemas))}",
        )
    components = load_document(document)["components"]
    return {
        "$schema": JSON_SCHEMA_DIALECT,
        "$ref": f"#/components/schemas/{name}",
        "components": components,
    }


@functools.cache
def validator_for(name: str, document: str = "chat") -> Validator:
    """Return a cached Draft 2020-12 validator for a component schema; formats are not asserted."""
    schema = component_schema(name, document)
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise SpecError(
            _document_path(document),
            f"component schema {name!r} is not valid JSON Schema 2020-12 ({exc.message}); fix it in the document",
        ) from exc
    validator: Validator = jsonschema.Draft202012Validator(schema)
    return validator


@functools.cache
def fast_validity_for(name: str, document: str = "chat") -> Callable[[object], bool]:
    """Return a cached ``is_valid`` for a component schema, compiled by jsonschema-rs (Rust).

    Under load every chunk of every answer is validated; the pure-Python validator costs ~0.1 ms per
    chunk, jsonschema-rs about 1/50 of that. Callers use this as a fast path and ask
    :func:`validator_for` (python-jsonschema) for the error messages only when it says "invalid",
    so findings read the same whichever engine judged first. An instance jsonschema-rs cannot take
    (an integer beyond 64 bits) is reported as invalid, which sends it down the slow path.
    """
    import jsonschema_rs  # installed with schemathesis

    compiled = jsonschema_rs.Draft202012Validator(component_schema(name, document), validate_formats=False)

    def is_valid(instance: object) -> bool:
        try:
            return bool(compiled.is_valid(instance))
        except (ValueError, OverflowError, TypeError):
            return False

    return is_valid


def load_schemathesis_schema(document: str = "chat", base_url: str | None = None) -> OpenApiSchema:
    """Load a document into schemathesis (from a deep copy, so the cached dict stays untouched).

    ``base_url`` is the server root, e.g. ``https://api.aboai.ai``; the document's paths carry ``/v1``.
    """
    import schemathesis

    raw = copy.deepcopy(load_document(document))
    schema = schemathesis.openapi.from_dict(raw)
    if base_url is not None:
        schema.config.update(base_url=base_url.rstrip("/"))
    return schema
