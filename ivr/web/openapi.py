"""The OpenAPI 3.1 document of the REST API (``GET /api/v1/openapi.json``).

tests/unit/test_api.py checks that every route registered under /api/v1 is documented here and
that every documented operation is registered.
"""

from __future__ import annotations

from typing import Any

from ivr.web.compat import register_paths
from ivr.core.constants import AVAILABILITY, MODES, OUTCOMES
from ivr.core.constants import CHAIN_KINDS, QUEUE_STRATEGIES as STRATEGIES

PREFIX = "/api/v1"

Schema = dict[str, Any]


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(required: list[str], **props: Schema) -> Schema:
    return {"type": "object", "required": required, "properties": props}


_S: Schema = {"type": "string"}
_NS: Schema = {"type": ["string", "null"]}
_I: Schema = {"type": "integer"}
_TIME: Schema = {"type": ["string", "null"], "format": "date-time"}
_REASON: Schema = {"type": "string", "maxLength": 500, "description": "why (kept in the audit log)"}
_ACTOR: Schema = {"type": "string", "maxLength": 80, "description": "who (default: api)"}

SCHEMAS: dict[str, Schema] = {
    "Error": _obj(["error_id", "message", "details"], error_id=_S, message=_S,
                  details={"type": "object"}),
    "Window": _obj(["days", "start", "end", "mode"],
                   days={"type": "string", "examples": ["mon-fri", "sat,sun", "daily"]},
                   start={"type": "string", "examples": ["18:00"]},
                   end={"type": "string", "examples": ["08:30", "24:00"]},
                   mode={"enum": list(MODES)}),
    "Number": _obj(["number", "dial_forms"], number=_S, dial_forms={"type": "array", "items": _S}),
    "Device": _obj(["kind", "priority"], kind={"enum": ["sip", "mobile"]}, endpoint=_NS, number=_NS,
                   static_contact=_NS, priority=_I),
    "Policy": _obj(["mode", "chain", "ring_timeout", "pool", "version"],
                   mode={"enum": list(MODES)},
                   chain={"type": ["array", "null"], "items": {"enum": list(CHAIN_KINDS)}},
                   ring_timeout=_I, pool=_NS, version=_I, updated_at=_TIME),
    "Official": _obj(["id", "slug", "name", "policy"], id=_I, slug=_S, name=_S, title=_S,
                     department=_S, display_name=_S, language=_S,
                     availability={"enum": list(AVAILABILITY)}, availability_note=_S,
                     deputy=_NS, numbers={"type": "array", "items": _ref("Number")},
                     devices={"type": "array", "items": _ref("Device")},
                     policy=_ref("Policy"), schedule={"type": "array", "items": _ref("Window")}),
    "CallStep": _obj(["seq", "kind"], seq=_I, kind=_S, target=_S, result=_NS, answered_by=_NS,
                     started_at=_TIME, ended_at=_TIME),
    "Call": _obj(["id", "linkedid"], id=_I, linkedid=_S, number_dialed=_S, caller=_S,
                 official_id={"type": ["integer", "null"]}, route_source=_S, mode=_S,
                 outcome={"type": ["string", "null"]}, answered_by=_NS, answered_kind=_NS,
                 started_at=_TIME, answered_at=_TIME, ended_at=_TIME, voicemail_file=_NS,
                 voicemail_secs={"type": ["number", "null"]}, node=_NS,
                 steps={"type": "array", "items": _ref("CallStep")}),
    "AuditEntry": _obj(["id", "at", "actor", "field"], id=_I, at=_TIME, actor=_S,
                       official_id={"type": ["integer", "null"]}, field=_S,
                       old_value=_NS, new_value=_NS, reason=_S),
    "Pool": _obj(["name", "queue", "strategy", "max_wait"], name=_S, queue=_S,
                 strategy={"enum": list(STRATEGIES)}, max_wait=_I,
                 operators={"type": "array", "items": _S}),
    "Operator": _obj(["name", "endpoint", "pool"], name=_S, endpoint=_S, pool=_S,
                     static_contact=_NS, state=_S, paused_reason=_S,
                     secret={"type": "string", "description": "only in the response to POST"}),
    "ImportResult": _obj(["created", "updated", "changed_officials", "dry_run"],
                         created={"type": "object"}, updated={"type": "object"},
                         changed_officials={"type": "array", "items": _I},
                         new_endpoints={"type": "array", "items": _S},
                         new_credentials={"type": "object", "description": "endpoint → generated secret"},
                         dry_run={"type": "boolean"}),
}


def _list_of(name: str) -> Schema:
    return _obj(["items"], items={"type": "array", "items": _ref(name)})


def _json(schema: Schema) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    text = {400: "invalid input (error_id names what)", 401: "missing or wrong bearer token",
            404: "not found", 409: "conflict"}
    return {str(c): {"description": text[c], **_json(_ref("Error"))} for c in (401, *codes)}


def _op(summary: str, ok: Schema | None, *errors: int, body: Schema | None = None,
        params: list[dict[str, Any]] | None = None, status: int = 200, **extra: Any) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "responses": {
        str(status): {"description": "OK", **(_json(ok) if ok else {})}, **_errors(*errors)}}
    if body is not None:
        op["requestBody"] = {"required": True, **_json(body)}
    if params:
        op["parameters"] = params
    op.update(extra)
    return op


def _path(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": _S, "description": description}


def _query(name: str, schema: Schema, description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


_SLUG = [_path("slug", "official's slug or numeric id")]
_PAGE = [_query("limit", {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}, "page size"),
         _query("offset", {"type": "integer", "minimum": 0, "default": 0}, "skip this many")]
_PERIOD = [_query("since", {"type": "string", "format": "date-time"},
                  "inclusive; ISO 8601, without offset in the deployment timezone"),
           _query("until", {"type": "string", "format": "date-time"}, "exclusive")]


def _change(summary: str, **props: Schema) -> dict[str, Any]:
    required = [k for k in props]
    body = _obj(required, **props, reason=_REASON, actor=_ACTOR)
    return {"put": _op(summary, _ref("Official"), 400, 404, body=body, params=_SLUG)}


PATHS: dict[str, dict[str, Any]] = {
    "/officials": {"get": _op("Officials with numbers, devices, policy and schedule",
                              _list_of("Official"))},
    "/officials/{slug}": {"get": _op("One official", _ref("Official"), 404, params=_SLUG)},
    "/officials/{slug}/mode": _change("Switch the base mode (audited)", mode={"enum": list(MODES)}),
    "/officials/{slug}/availability": _change(
        "Set availability (meeting, dnd and leave skip the direct step; audited)",
        availability={"enum": list(AVAILABILITY)}, note={"type": "string", "maxLength": 200}),
    "/officials/{slug}/schedule": _change("Replace the schedule windows (the last listed wins; audited)",
                                          windows={"type": "array", "items": _ref("Window")}),
    "/officials/{slug}/chain": _change(
        "Set the fallback chain (null: the city default; audited)",
        chain={"type": ["array", "null"], "items": {"enum": list(CHAIN_KINDS)}}),
    "/officials/{slug}/ring-timeout": _change("Set the ring timeout in seconds (audited)",
                                              ring_timeout={"type": "integer", "minimum": 5,
                                                            "maximum": 120}),
    "/officials/{slug}/deputy": _change("Set the deputy (slug, or null; audited)", deputy=_NS),
    "/officials/{slug}/pool": _change("Set the operator pool (name, or null for the default; audited)",
                                      pool=_NS),
    "/calls": {"get": _op("Call records, newest first", _list_of("Call"), 400, 404, params=[
        _query("official", _S, "slug or id"),
        _query("outcome", {"enum": [*OUTCOMES, "in-progress"]}, "outcome"), *_PERIOD, *_PAGE])},
    "/calls/{id}": {"get": _op("One call with its steps", _ref("Call"), 400, 404,
                               params=[_path("id", "call id")])},
    "/audit": {"get": _op("Audit log, newest first", _list_of("AuditEntry"), 400, 404, params=[
        _query("official", _S, "slug or id"), _query("field", _S, "e.g. mode"), *_PERIOD, *_PAGE])},
    "/pools": {
        "get": _op("Operator pools", _list_of("Pool")),
        "post": _op("Create a pool (audited)", _ref("Pool"), 400, 409, status=201, body=_obj(
            ["name"], name=_S, strategy={"enum": list(STRATEGIES)}, max_wait=_I, actor=_ACTOR)),
    },
    "/pools/{name}": {
        "get": _op("One pool", _ref("Pool"), 404, params=[_path("name", "pool name")]),
        "put": _op("Change a pool (audited)", _ref("Pool"), 400, 404, params=[_path("name", "pool name")],
                   body=_obj([], strategy={"enum": list(STRATEGIES)}, max_wait=_I, actor=_ACTOR)),
        "delete": _op("Delete an unused pool (audited)", None, 404, 409, status=204,
                      params=[_path("name", "pool name")]),
    },
    "/operators": {
        "get": _op("Operators (never their secrets)", _list_of("Operator")),
        "post": _op("Create an operator; the response carries the generated secret once",
                    _ref("Operator"), 400, 404, 409, status=201,
                    body=_obj(["name", "endpoint", "pool"], name=_S, endpoint=_S, pool=_S,
                              static_contact=_NS, actor=_ACTOR)),
    },
    "/operators/{endpoint}": {
        "get": _op("One operator", _ref("Operator"), 404, params=[_path("endpoint", "endpoint name")]),
        "put": _op("Change an operator (audited)", _ref("Operator"), 400, 404,
                   params=[_path("endpoint", "endpoint name")],
                   body=_obj([], name=_S, pool=_S, static_contact=_NS, actor=_ACTOR)),
        "delete": _op("Delete an operator (audited)", None, 404, status=204,
                      params=[_path("endpoint", "endpoint name")]),
    },
    # registered by ivr.pool.http (needs the running controller's AMI connection)
    "/operators/{endpoint}/state": {"put": _op(
        "Log an operator in (ready), pause them with a reason, or log them out",
        _ref("Operator"), 400, 404, params=[_path("endpoint", "endpoint name")],
        body=_obj(["state"], state={"enum": ["logged_out", "ready", "paused"]},
                  reason={"type": "string", "maxLength": 80}))},
    "/directory/import": {"post": _op(
        "Import a directory (YAML, or CSV with Content-Type text/csv); all or nothing",
        _ref("ImportResult"), 400, 404, 409,
        params=[_query("actor", _S, "who (default: api)"),
                _query("dry_run", {"type": "boolean"}, "validate against the database, change nothing")],
        requestBody={"required": True, "content": {"application/yaml": {"schema": _S},
                                                   "text/csv": {"schema": _S}}})},
}


register_paths(PATHS, SCHEMAS)
