"""TEMPORARY bridge while the features move to route declarations (ivr.http.Routes): the old
module-level ``add_rules``/``register_paths`` calls are collected here and copied into the app's
RouteRegistry by ``install``. Deleted once no module calls them."""

from __future__ import annotations

from typing import Any, Iterable

from aiohttp import web

from ivr.core.constants import API_PREFIX
from ivr.http import ROUTES, Route
from ivr.http import scopes
from ivr.http.routes import Scope
from ivr.http.routes import _roles

PREFIX = API_PREFIX
_RULES: list[tuple[str, str, frozenset[str], str | None]] = []
_PATHS: dict[str, dict[str, Any]] = {}
_SCHEMAS: dict[str, Any] = {}
_SCOPES = {s.name: s for s in (scopes.OFFICIAL_PATH, scopes.OFFICIAL_QUERY, scopes.OFFICIAL_CALL,
                               scopes.OPERATOR_PATH)}


def add_rules(rules: Iterable[tuple[str, str, Iterable[str] | str, str | None]]) -> None:
    for method, path, roles, scope in rules:
        _RULES.append((method.upper(), path, _roles(roles), scope))


def add_scope(name: str, roles: Iterable[str], check: Any) -> None:
    _SCOPES[name] = Scope(name, frozenset(roles), check)


def register_paths(paths: dict[str, dict[str, Any]], schemas: dict[str, Any] | None = None) -> None:
    for path, ops in paths.items():
        _PATHS.setdefault(path, {}).update(ops)
    _SCHEMAS.update(schemas or {})


async def _unused(request: web.Request) -> None:
    raise web.HTTPNotFound()


def install(app: web.Application) -> None:
    for method, path, roles, scope in _RULES:
        app[ROUTES].add_rule(Route(method=method, path=path, roles=roles, handler=_unused,
                                   endpoint=_unused, scope=_SCOPES[scope] if scope else None))


def extend_document(doc: dict[str, Any]) -> dict[str, Any]:
    for path, ops in _PATHS.items():
        doc["paths"].setdefault(path, {}).update(ops)
    doc["components"]["schemas"].update(_SCHEMAS)
    return doc
