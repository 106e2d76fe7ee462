"""One declaration per route: method, path, roles, scope, request and response schemas.

A feature declares its routes on a ``Routes`` next to its handlers::

    routes = Routes("calls")

    @routes.get("/api/v1/calls/{id}", roles=STAFF, scope=scopes.OFFICIAL_CALL, response=CallOut)
    async def get_call(request: web.Request) -> CallOut: ...

and its ``setup(app, …)`` hands them to the app's ``RouteRegistry``. From that one declaration:
- the aiohttp route (the handler wrapped: JSON body and query parsed and validated with pydantic,
  the result serialised with the response schema);
- the authorisation rule (``ivr.web.auth`` looks it up for every request);
- the OpenAPI operation (``ivr.http.openapi``).

Handlers receive the validated inputs as keyword arguments ``body=`` and ``query=`` when the
route declares them (a model may name the error class its validation failures raise, as a
``ClassVar`` ``error``, to keep a specific error_id), and return a ``web.StreamResponse``
(sent as is) or a value the response
schema serialises (sent as JSON with the route's status).
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, TypeAdapter, ValidationError

from ivr.core.constants import ANY, API_PREFIX, PUBLIC, ROLES
from ivr.core.errors import InvalidInput, MalformedJson, NotSignedIn
from ivr.core.identity import Identity
from ivr.http.conform import Problem, check, model_schema

IDENTITY = web.RequestKey("identity", Identity)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Endpoint = Callable[..., Awaitable[Any]]
ScopeCheck = Callable[[web.Request, Identity], Awaitable[web.Request]]
M = TypeVar("M", bound=BaseModel)
_PATH_PARAM = re.compile(r"\{(\w+)(?::[^}]*)?\}")


def identity_of(request: web.Request) -> Identity | None:
    """The identity the request was authorised as (None on public routes for strangers)."""
    return request.get(IDENTITY)


def require_identity(request: web.Request) -> Identity:
    identity: Identity | None = request.get(IDENTITY)
    if identity is None:
        raise NotSignedIn("please sign in (or send Authorization: Bearer <token>)")
    return identity


@dataclass(frozen=True)
class Scope:
    """Narrows the roles it names to their own data: ``check`` returns the request (maybe with a
    forced query parameter) or raises Forbidden."""
    name: str
    roles: frozenset[str]
    check: ScopeCheck


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    roles: frozenset[str]
    handler: Handler
    endpoint: Endpoint
    scope: Scope | None = None
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    response: Any = None
    status: int = 200
    summary: str = ""
    errors: tuple[int, ...] = ()
    # request bodies that are not JSON objects (YAML, CSV, audio): content type -> JSON schema
    raw_body: Mapping[str, Any] | None = None
    tag: str = ""
    # path parameters' schemas when more than text (``id`` is always a database id)
    params: Mapping[str, Any] = field(default_factory=dict)

    @property
    def api(self) -> bool:
        return self.path == API_PREFIX or self.path.startswith(API_PREFIX + "/")

    @property
    def path_params(self) -> list[str]:
        return _PATH_PARAM.findall(self.path)

    def allowed_roles(self) -> frozenset[str]:
        """The signed-in roles this route admits (the deployment token admits itself)."""
        if ANY in self.roles or PUBLIC in self.roles:
            return frozenset(ROLES)
        return self.roles


def _validation_error(exc: ValidationError, source: str,
                      cls: type[InvalidInput]) -> InvalidInput:
    errors = [{"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]}
              for e in exc.errors(include_url=False, include_input=False)]
    first = errors[0] if errors else {"field": "", "message": "invalid"}
    where = first["field"] or source
    return cls(f"{where}: {first['message']}", {"field": where, "errors": errors})


async def read_json_object(request: web.Request) -> dict[str, Any]:
    """The request body as a JSON object, else MalformedJson (400)."""
    try:
        data = await request.json(loads=json.loads)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise MalformedJson(f"request body is not valid JSON: {exc}") from None
    except RecursionError:  # nesting deeper than the parser's stack
        raise MalformedJson("request body is not valid JSON: nested too deeply") from None
    if not isinstance(data, dict):
        raise MalformedJson("request body must be a JSON object")
    return data


def _error_class(model: type[BaseModel], name: str | int | None,
                 wrong_type: bool = False) -> type[InvalidInput]:
    """The loose field's own error class (``loose(..., error=…)``); for a value of the right
    type, the model's class for the field (``errors``); else the model's ``error``."""
    field = model.model_fields.get(name) if isinstance(name, str) else None
    own = getattr(field.json_schema_extra, "error", None) if field is not None else None
    named = None if wrong_type else getattr(model, "errors", {}).get(name)
    found = own or named or getattr(model, "error", None)
    return found if isinstance(found, type) and issubclass(found, InvalidInput) else InvalidInput


_TEXT_KEYWORDS = frozenset({"enum", "pattern", "minLength", "maxLength", "description"})


def _typed(prop: Mapping[str, Any]) -> bool:
    """A query parameter that is a number or a boolean (parsed from its text by pydantic)."""
    kinds = [prop.get("type")] + [b.get("type") for b in prop.get("anyOf", [])]
    return any(k in ("integer", "number", "boolean") for k in kinds)


def query_data(model: type[BaseModel], query: Mapping[str, str]) -> dict[str, str]:
    """A query as a dict; an empty value of a text parameter that defaults to null is not given
    (a number's or a boolean's empty value is refused, as its schema says)."""
    fields, props = model.model_fields, model.model_json_schema().get("properties", {})
    return {k: v for k, v in query.items()
            if not (v == "" and k in fields and fields[k].default is None and not _typed(props.get(k, {})))}


def _conform(model: type[BaseModel], data: Mapping[str, Any], source: str) -> None:
    """``data`` held against the schema the route documents: the whole of a JSON body; in a
    query (text only) the loosely typed fields, which pydantic does not check."""
    schema = model_schema(model)
    if source != "body":  # text: what a text can break (pydantic parses numbers and booleans)
        props = {n: {k: v for k, v in p.items() if k in _TEXT_KEYWORDS}
                 for n, p in schema.get("properties", {}).items() if not _typed(p)}
        schema = {"properties": props}
    try:
        check(schema, dict(data))
    except Problem as exc:
        where = exc.field or source
        # a missing field is the request's fault (InvalidInput), a wrong value the field's
        first = None if exc.missing and len(exc.path) == 1 else exc.path[0] if exc.path else None
        cls = _error_class(model, first, exc.wrong_type and len(exc.path) == 1)
        raise cls(f"{where}: {exc.message}", {"field": where, "errors": [
            {"field": where, "message": exc.message}]}) from None


def parse_model(model: type[M], data: Mapping[str, Any], source: str) -> M:
    """``data`` validated as ``model`` (first against the schema the route documents, see
    ``ivr.http.conform``); a failure is the offending field's error class, else the model's
    ``error`` class (400), else InvalidInput, naming the first offending field."""
    _conform(model, data, source)
    try:
        return model.model_validate(dict(data))
    except ValidationError as exc:
        cls = getattr(model, "error", InvalidInput)
        raise _validation_error(exc, source, cls) from None


def _wrap(endpoint: Endpoint, body: type[BaseModel] | None, query: type[BaseModel] | None,
          response: Any, status: int) -> Handler:
    adapter: TypeAdapter[Any] | None = TypeAdapter(response) if response is not None else None

    async def handler(request: web.Request) -> web.StreamResponse:
        kwargs: dict[str, Any] = {}
        if query is not None:
            kwargs["query"] = parse_model(query, query_data(query, request.query), "query")
        if body is not None:
            kwargs["body"] = parse_model(body, await read_json_object(request), "body")
        result = await endpoint(request, **kwargs)
        if isinstance(result, web.StreamResponse):
            return result
        if result is None and status == 204:
            return web.Response(status=204)
        data = adapter.dump_python(result, mode="json") if adapter is not None else result
        return web.json_response(data, status=status)

    handler.__name__ = getattr(endpoint, "__name__", "handler")
    handler.__doc__ = endpoint.__doc__
    return handler


def _roles(roles: str | Iterable[str]) -> frozenset[str]:
    names = frozenset([roles] if isinstance(roles, str) else roles)
    unknown = names - set(ROLES) - {PUBLIC, ANY}
    if unknown or not names:
        raise ValueError(f"unknown or no roles: {sorted(unknown)}")
    return names


@dataclass
class Routes:
    """The routes of one feature, declared next to their handlers."""
    tag: str
    routes: list[Route] = field(default_factory=list)

    def route(self, method: str, path: str, *, roles: str | Iterable[str],
              scope: Scope | None = None, body: type[BaseModel] | None = None,
              query: type[BaseModel] | None = None, response: Any = None, status: int = 200,
              summary: str = "", errors: Iterable[int] = (),
              raw_body: Mapping[str, Any] | None = None,
              params: Mapping[str, Any] | None = None) -> Callable[[Endpoint], Endpoint]:
        def declare(endpoint: Endpoint) -> Endpoint:
            doc = (endpoint.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
            self.routes.append(Route(
                method=method.upper(), path=path, roles=_roles(roles), endpoint=endpoint,
                handler=_wrap(endpoint, body, query, response, status), scope=scope, body=body,
                query=query, response=response, status=status, summary=summary or doc,
                errors=tuple(errors), raw_body=raw_body, tag=self.tag, params=dict(params or {})))
            return endpoint
        return declare

    def get(self, path: str, **kw: Any) -> Callable[[Endpoint], Endpoint]:
        return self.route("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> Callable[[Endpoint], Endpoint]:
        return self.route("POST", path, **kw)

    def put(self, path: str, **kw: Any) -> Callable[[Endpoint], Endpoint]:
        return self.route("PUT", path, **kw)

    def delete(self, path: str, **kw: Any) -> Callable[[Endpoint], Endpoint]:
        return self.route("DELETE", path, **kw)


class RouteRegistry:
    """Every route of the app, keyed by (method, canonical path); lives on the app (ROUTES)."""

    def __init__(self) -> None:
        self._routes: dict[tuple[str, str], Route] = {}

    def add(self, app: web.Application, routes: Routes) -> None:
        for route in routes.routes:
            key = (route.method, route.path)
            if key in self._routes:
                raise ValueError(f"route declared twice: {route.method} {route.path}")
            self._routes[key] = route
            if route.method == "GET":
                app.router.add_get(route.path, route.handler)
            else:
                app.router.add_route(route.method, route.path, route.handler)

    def add_rule(self, route: Route) -> None:
        """Record a route whose aiohttp handler is registered elsewhere (not yet declared)."""
        self._routes.setdefault((route.method, route.path), route)

    def rule_for(self, method: str, path: str) -> Route | None:
        return self._routes.get((method.upper(), path))

    def __iter__(self) -> Any:
        return iter(sorted(self._routes.values(), key=lambda r: (r.path, r.method)))

    def table(self) -> list[dict[str, Any]]:
        """method, path, roles, scope of every route (docs, the admin page, tests)."""
        return [{"method": r.method, "path": r.path, "roles": sorted(r.roles),
                 "scope": r.scope.name if r.scope else None} for r in self]
