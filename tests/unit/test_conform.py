"""A request held against the schema its route documents (``ivr.http.conform``, issue 9): what
the OpenAPI document refuses, the server refuses, with the field's own error_id."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
from pydantic import BaseModel, ConfigDict, Field

from ivr.core.errors import InvalidChain, InvalidInput, InvalidMode
from ivr.http.conform import Problem, check, model_schema
from ivr.http.inputs import Actor, loose
from ivr.http.routes import parse_model, query_data


class Change(BaseModel):
    errors: ClassVar[dict[str, type[InvalidInput]]] = {"note": InvalidChain}
    mode: Any = loose({"enum": ["direct", "pool"]}, error=InvalidMode)
    ring: Any = loose({"type": "integer", "minimum": 5, "maximum": 60}, 20)
    note: str = Field("", max_length=5, pattern=r"\S")
    actor: Actor = None


@pytest.mark.parametrize(("body", "error_id", "field"), [
    ({"mode": "loud"}, "invalid-mode", "mode"),            # the loose field's own error
    ({"ring": 20}, "invalid-input", "mode"),               # missing: the request's fault
    ({"mode": "pool", "ring": True}, "invalid-input", "ring"),   # true is not 1
    ({"mode": "pool", "ring": "20"}, "invalid-input", "ring"),   # no coercion from text
    ({"mode": "pool", "ring": 61}, "invalid-input", "ring"),
    ({"mode": "pool", "note": "  "}, "invalid-chain", "note"),   # a typed field's error
    ({"mode": "pool", "actor": "a\x01b"}, "invalid-input", "actor"),  # control character
    ({"mode": "pool", "actor": {}}, "invalid-input", "actor"),
])
def test_schema_invalid_bodies_are_refused(body: dict[str, Any], error_id: str, field: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        parse_model(Change, body, "body")
    assert (exc.value.error_id, exc.value.details["field"]) == (error_id, field)


def test_schema_valid_bodies_pass_as_sent() -> None:
    got = parse_model(Change, {"mode": "pool", "ring": 30.0, "extra": [1], "actor": None}, "body")
    assert (got.mode, got.ring, got.actor) == ("pool", 30.0, None)  # 30.0: an integer in JSON


def test_patterns_read_as_ecma_262() -> None:
    check({"pattern": "^ab$"}, "ab")
    with pytest.raises(Problem):  # Python's $ would let the final newline in
        check({"pattern": "^ab$"}, "ab\n")
    check({"pattern": "b"}, "abc")  # unanchored


def test_any_of_required_and_unique_items() -> None:
    schema = {"anyOf": [{"required": ["a"]}, {"required": ["b"]}],
              "properties": {"c": {"type": "array", "uniqueItems": True}}}
    check(schema, {"b": 1, "c": [1, True, "1"]})  # true is not 1
    for bad in ({"c": []}, {"a": 1, "c": [2, 2]}):
        with pytest.raises(Problem):
            check(schema, bad)


def test_a_keyword_not_checked_is_refused_when_the_schema_is_built() -> None:
    class Odd(BaseModel):
        model_config = ConfigDict(json_schema_extra={"not": {"required": ["x"]}})
        x: int = 0
    with pytest.raises(TypeError, match="not"):
        model_schema(Odd)


def test_query_enum_empty_is_not_given_and_text_keywords_are_checked() -> None:
    class Q(BaseModel):
        kind: str | None = Field(None, json_schema_extra={"enum": ["a", "b"]})
        limit: int = Field(10, ge=1)
    assert parse_model(Q, query_data(Q, {"kind": "", "limit": "5"}), "query").kind is None
    with pytest.raises(InvalidInput) as exc:
        parse_model(Q, query_data(Q, {"kind": "c"}), "query")
    assert exc.value.details["field"] == "kind"
