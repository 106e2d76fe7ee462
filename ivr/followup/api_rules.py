"""TEMPORARY: the authorisation rules of the cases API routes that ``ivr.followup.http`` still adds
by hand (they lived in the old ``ivr.followup.pages``). Delete this module once those routes are
declared with ``ivr.http.Routes`` (a declared route takes precedence over a rule added here)."""

from __future__ import annotations

from aiohttp import web

from ivr.core.constants import API_PREFIX
from ivr.followup.scopes import OFFICIAL_CASE
from ivr.http import ROUTES, Route, Scope
from ivr.http.scopes import OFFICIAL_QUERY

_A, _O, _F, _S = "admin", "operator", "official", "supervisor"
_RULES: tuple[tuple[str, str, frozenset[str], Scope | None], ...] = (
    ("GET", f"{API_PREFIX}/cases", frozenset({_A, _S, _O, _F}), OFFICIAL_QUERY),
    ("GET", f"{API_PREFIX}/cases/{{id}}", frozenset({_A, _S, _O, _F}), OFFICIAL_CASE),
    ("GET", f"{API_PREFIX}/cases/{{id}}/audio", frozenset({_A, _S, _O, _F}), OFFICIAL_CASE),
    ("PUT", f"{API_PREFIX}/cases/{{id}}/status", frozenset({_A, _O, _F}), OFFICIAL_CASE),
    ("PUT", f"{API_PREFIX}/cases/{{id}}/assignee", frozenset({_A, _O, _S}), None),
    ("POST", f"{API_PREFIX}/cases/{{id}}/callback", frozenset({_A, _O, _F}), OFFICIAL_CASE),
    ("POST", f"{API_PREFIX}/cases/{{id}}/transcription", frozenset({_A}), None),
    ("PUT", f"{API_PREFIX}/officials/{{slug}}/greeting", frozenset({_A}), None),
)


async def _not_here(request: web.Request) -> web.StreamResponse:
    raise web.HTTPNotFound()  # never called: the aiohttp route is ivr.followup.http's


def install(app: web.Application) -> None:
    for method, path, roles, scope in _RULES:
        app[ROUTES].add_rule(Route(method=method, path=path, roles=roles, handler=_not_here,
                                   endpoint=_not_here, scope=scope))
