"""The OpenAPI 3.1 document, generated from the route declarations (``GET /api/v1/openapi.json``).

Paths, parameters, request bodies, responses and roles all come from the declarations in the
app's ``RouteRegistry``; component schemas come from the pydantic models they name.
"""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter

from ivr import __version__
from ivr.core.constants import API_PREFIX, PUBLIC
from ivr.http.routes import Route, RouteRegistry

REF = "#/components/schemas/{model}"
_ERROR = {"type": "object", "required": ["error_id", "message", "details"],
          "properties": {"error_id": {"type": "string"}, "message": {"type": "string"},
                         "details": {"type": "object"}}}
# a database id (``ivr.core.ids.parse_id`` also takes 19 digits up to 2^63-1)
_ID = {"type": "string", "pattern": "^[0-9]{1,18}$", "description": "a database id"}
_TEXT = {"type": "string"}
_ERROR_TEXT = {202: "saved, not in effect yet: this node's AstDB mirror does not hold it "
                    "(error_id not-in-effect)",
               400: "invalid input (error_id names what)", 401: "not signed in / wrong token",
               403: "role not allowed", 404: "not found (a named id, slug or name)",
               409: "conflict",
               413: "body too large", 503: "unavailable"}


def _schema(tp: Any, defs: dict[str, Any]) -> dict[str, Any]:
    schema = TypeAdapter(tp).json_schema(ref_template=REF)
    defs.update(schema.pop("$defs", {}))
    return schema


def _operation(route: Route, defs: dict[str, Any]) -> dict[str, Any]:
    ok: dict[str, Any] = {"description": "OK"}
    if route.response is not None:
        ok["content"] = {"application/json": {"schema": _schema(route.response, defs)}}
    responses: dict[str, Any] = {str(route.status): ok}
    codes = set(route.errors)
    if PUBLIC not in route.roles:
        codes |= {401, 403}
    if route.body is not None or route.query is not None or route.raw_body is not None:
        codes.add(400)
    if route.path_params or route.body is not None or route.query is not None:
        codes.add(404)  # a path, body or query naming an official, pool, user … that is not there
    if "id" in route.path_params:  # not a number: 400 (``ivr.core.ids.parse_id``)
        codes.add(400)
    for code in sorted(codes):
        responses[str(code)] = {"description": _ERROR_TEXT.get(code, "error"),
                                "content": {"application/json": {"schema": {"$ref": REF.format(model="Error")}}}}
    op: dict[str, Any] = {"summary": route.summary, "tags": [route.tag] if route.tag else [],
                          "x-roles": sorted(route.roles), "responses": responses}
    if route.scope is not None:
        op["x-scope"] = route.scope.name
    if PUBLIC in route.roles:
        op["security"] = []
    params: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True,
         "schema": _ID if name == "id" else route.params.get(name, _TEXT)}
        for name in route.path_params]
    if route.query is not None:
        qs = _schema(route.query, defs)
        required = set(qs.get("required", []))
        for name, prop in qs.get("properties", {}).items():
            if "enum" in prop and prop.get("default", "") is None:  # empty: not given
                prop = {**prop, "enum": [*prop["enum"], ""]}
            params.append({"name": name, "in": "query", "required": name in required,
                           "schema": prop, **({"description": prop["description"]}
                                              if "description" in prop else {})})
    if params:
        op["parameters"] = params
    if route.body is not None:
        op["requestBody"] = {"required": True, "content": {
            "application/json": {"schema": _schema(route.body, defs)}}}
    elif route.raw_body is not None:
        op["requestBody"] = {"required": True, "content": {
            ctype: {"schema": schema} for ctype, schema in route.raw_body.items()}}
    return op


def document(routes: RouteRegistry) -> dict[str, Any]:
    defs: dict[str, Any] = {"Error": _ERROR}
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        if not route.api:
            continue
        path = route.path[len(API_PREFIX):] or "/"
        paths.setdefault(path, {})[route.method.lower()] = _operation(route, defs)
    return {
        "openapi": "3.1.0",
        "info": {"title": "ivr routing API", "version": __version__,
                 "description": "Published-number routing: officials, routing modes, schedules, "
                                "calls, cases and audit. Errors are {error_id, message, details}. "
                                "x-roles names the roles allowed (the deployment token may do "
                                "everything)."},
        "servers": [{"url": API_PREFIX}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {"schemas": defs,
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }

