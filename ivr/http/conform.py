"""A request checked against the JSON schema its route documents (issue 9: the OpenAPI document
says exactly what the server accepts).

Pydantic validates the typed fields, but it coerces (``"5"`` → 5, ``"yes"`` → True) and the
loosely typed fields (``ivr.http.inputs.loose``) are not checked by it at all. So a JSON body is
first held against the route's own schema (the one ``GET /api/v1/openapi.json`` publishes),
with the small set of keywords pydantic writes; a keyword outside that set is an error when the
schema is built, never silently ignored. Annotations (``format``, ``description``, …) are not
assertions, as in JSON Schema 2020-12.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from typing import Any

from pydantic import BaseModel

__all__ = ["Problem", "check", "model_schema"]

_ANNOTATIONS = frozenset({"title", "description", "default", "examples", "format", "$defs"})
_ASSERTIONS = frozenset({"$ref", "type", "enum", "anyOf", "minLength", "maxLength", "pattern",
                         "minimum", "maximum", "items", "minItems", "maxItems", "uniqueItems",
                         "properties", "required", "additionalProperties"})
_PY = {"string": str, "boolean": bool, "object": dict, "array": list, "null": type(None)}


class Problem(ValueError):
    """The first place a value leaves its schema: ``path`` (field names and indexes) and why."""

    def __init__(self, path: tuple[str | int, ...], message: str, *, missing: bool = False,
                 wrong_type: bool = False) -> None:
        super().__init__(message)
        self.path, self.message, self.missing, self.wrong_type = path, message, missing, wrong_type

    @property
    def field(self) -> str:
        return ".".join(str(p) for p in self.path)


@cache
def model_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema (as the OpenAPI document has it), its keywords verified."""
    schema = model.model_json_schema()
    _verify(schema)
    return schema


def _verify(schema: Any) -> None:
    if isinstance(schema, list):
        for item in schema:
            _verify(item)
        return
    if not isinstance(schema, dict):
        return
    unknown = set(schema) - _ANNOTATIONS - _ASSERTIONS
    if unknown:
        raise TypeError(f"schema keyword(s) not checked by ivr.http.conform: {sorted(unknown)}")
    for key, value in schema.items():
        if key in ("properties", "$defs"):
            for sub in value.values():
                _verify(sub)
        elif key in ("items", "anyOf", "additionalProperties"):
            _verify(value)


def _is(kind: str, value: Any) -> bool:
    if kind == "integer":
        return (isinstance(value, int) and not isinstance(value, bool)) or \
            (isinstance(value, float) and value.is_integer())
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, _PY[kind])


def _same(a: Any, b: Any) -> bool:
    """JSON equality: ``true`` is not ``1``."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    return bool(a == b)


def check(schema: Mapping[str, Any], value: Any, defs: Mapping[str, Any] | None = None,
          path: tuple[str | int, ...] = ()) -> None:
    """Raise Problem where ``value`` leaves ``schema`` (``$ref`` resolved in ``defs``)."""
    defs = schema.get("$defs", defs) or {}
    if "$ref" in schema:
        check(defs[schema["$ref"].rsplit("/", 1)[-1]], value, defs, path)
    kinds = schema.get("type")
    if kinds is not None:
        kinds = [kinds] if isinstance(kinds, str) else kinds
        if not any(_is(k, value) for k in kinds):
            raise Problem(path, f"expected {' or '.join(kinds)}", wrong_type=True)
    if "enum" in schema and not any(_same(value, e) for e in schema["enum"]):
        raise Problem(path, "expected one of " + ", ".join(map(repr, schema["enum"])))
    if "anyOf" in schema:
        problems: list[Problem] = []
        for branch in schema["anyOf"]:
            try:
                check(branch, value, defs, path)
                break
            except Problem as exc:
                problems.append(exc)
        else:
            raise max(problems, key=lambda p: len(p.path))
    if isinstance(value, str):
        _text(schema, value, path)
    elif _is("number", value):
        if "minimum" in schema and value < schema["minimum"]:
            raise Problem(path, f"at least {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            raise Problem(path, f"at most {schema['maximum']}")
    elif isinstance(value, list):
        _array(schema, value, defs, path)
    elif isinstance(value, dict):
        _object(schema, value, defs, path)


@cache
def _regex(pattern: str) -> re.Pattern[str]:
    """A schema pattern as ECMA 262 reads it: unanchored, and ``$`` only at the very end
    (Python's ``$`` also matches before a final newline)."""
    return re.compile(re.sub(r"(?<!\\)\$", r"\\Z", pattern))


def _text(schema: Mapping[str, Any], value: str, path: tuple[str | int, ...]) -> None:
    if len(value) < schema.get("minLength", 0):
        raise Problem(path, f"at least {schema['minLength']} character(s)")
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        raise Problem(path, f"at most {schema['maxLength']} characters")
    if "pattern" in schema and not _regex(schema["pattern"]).search(value):
        what = schema.get("description")  # a long pattern says less to a person
        raise Problem(path, f"expected {what}" if what else f"does not match {schema['pattern']}")


def _array(schema: Mapping[str, Any], value: list[Any], defs: Mapping[str, Any],
           path: tuple[str | int, ...]) -> None:
    if len(value) < schema.get("minItems", 0):
        raise Problem(path, f"at least {schema['minItems']} item(s)")
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        raise Problem(path, f"at most {schema['maxItems']} items")
    if schema.get("uniqueItems"):
        for i, item in enumerate(value):
            if any(_same(item, other) for other in value[:i]):
                raise Problem((*path, i), "repeats an earlier item")
    if isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            check(schema["items"], item, defs, (*path, i))


def _object(schema: Mapping[str, Any], value: dict[str, Any], defs: Mapping[str, Any],
            path: tuple[str | int, ...]) -> None:
    for name in schema.get("required", []):
        if name not in value:
            raise Problem((*path, name), "is required", missing=True)
    props: Mapping[str, Any] = schema.get("properties", {})
    extra = schema.get("additionalProperties", True)
    for name, item in value.items():
        if name in props:
            check(props[name], item, defs, (*path, name))
        elif extra is False:
            raise Problem((*path, name), "unknown field")
        elif isinstance(extra, dict):
            check(extra, item, defs, (*path, name))
