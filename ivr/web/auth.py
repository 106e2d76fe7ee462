"""Who is asking and may they: identity resolution, the route × role check, CSRF.

Who is asking (``Identity``), in this order:
- ``Authorization: Bearer <token>`` (API paths and ``/metrics`` only): the deployment's ``api_token`` is the
  *system* identity (may do everything, like the CLI); any other token must be one an admin issued
  (``ApiToken``) and carries its user's role;
- the ``ivr_session`` cookie: a server-side session (``WebSession``), HttpOnly, SameSite=Strict.

What they may do: every route is declared with its roles and optional scope (``ivr.http.Routes``);
the app's ``RouteRegistry`` holds the declarations and ``authorize`` checks each request against
it. A route without a declaration is refused to everyone but the system identity.

CSRF: a session-authenticated request with an unsafe method must carry the session's CSRF token
(form field ``csrf`` or header ``X-CSRF-Token``). Bearer requests need none (no ambient authority).
"""

from __future__ import annotations

import hmac
import logging

from aiohttp import web

from ivr.accounts import services as accounts
from ivr.core.constants import ANY, API_PREFIX, PUBLIC, SYSTEM
from ivr.core.errors import CsrfFailed, Forbidden, NotSignedIn
from ivr.core.identity import Identity
from ivr.http import CONFIG, DB, IDENTITY, ROUTES

log = logging.getLogger(__name__)

SESSION_COOKIE = "ivr_session"
LOGIN_CSRF_COOKIE = "ivr_login_csrf"
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


MACHINE_PATHS = frozenset({"/metrics"})  # outside the prefix for scrapers' sake; API rules


def is_api(request: web.Request) -> bool:
    return (request.path == API_PREFIX or request.path.startswith(API_PREFIX + "/")
            or request.path in MACHINE_PATHS)


def set_session_cookie(response: web.StreamResponse, request: web.Request, key: str) -> None:
    response.set_cookie(SESSION_COOKIE, key, httponly=True, samesite="Strict", path="/",
                        secure=request.secure,
                        max_age=int(accounts.SESSION_LIFETIME.total_seconds()))


async def _token_identity(request: web.Request, given: str) -> Identity | None:
    config_token = request.config_dict[CONFIG].http.api_token
    if config_token and hmac.compare_digest(given.encode(), config_token.encode()):
        return Identity(role=SYSTEM, username="api", via="deployment")
    return await accounts.token_identity(request.config_dict[DB], given)


async def resolve_identity(request: web.Request) -> Identity | None:
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    if header and is_api(request):
        if scheme.lower() != "bearer" or not given.strip():
            return None
        return await _token_identity(request, given.strip())
    key = request.cookies.get(SESSION_COOKIE)
    if key:
        return await accounts.session_identity(request.config_dict[DB], key)
    return None


async def _check_csrf(request: web.Request, identity: Identity) -> None:
    if identity.via != "session" or request.method not in UNSAFE:
        return
    given = request.headers.get("X-CSRF-Token", "")
    if not given and request.content_type in ("application/x-www-form-urlencoded",
                                              "multipart/form-data"):
        given = str((await request.post()).get("csrf", ""))
    if not given or not hmac.compare_digest(given.encode(), identity.csrf.encode()):
        raise CsrfFailed("the form's security token is missing or wrong: reload the page and "
                         "try again")


def _route_key(request: web.Request) -> tuple[str, str] | None:
    resource = request.match_info.route.resource
    if resource is None:
        return None
    method = "GET" if request.method == "HEAD" else request.method
    return method, resource.canonical


async def authorize(request: web.Request) -> web.Request:
    """Authenticate and authorise ``request`` against the declared routes; returns the (maybe
    narrowed) request with its identity set. Raises NotSignedIn, Forbidden or CsrfFailed."""
    key = _route_key(request)
    if key is None:  # no route matched: the router answers 404/405
        return request
    route = request.config_dict[ROUTES].rule_for(*key)
    identity = await resolve_identity(request)
    if route is not None and PUBLIC in route.roles:
        if identity is not None:
            request[IDENTITY] = identity
        return request
    if identity is None:
        raise NotSignedIn("please sign in (or send Authorization: Bearer <token>)")
    request[IDENTITY] = identity
    if identity.role == SYSTEM:
        return request
    if route is None:
        log.warning("no route declaration for %s %s: refused", *key)
        raise Forbidden(f"no authorization rule for {key[0]} {key[1]}")
    if ANY not in route.roles and identity.role not in route.roles:
        raise Forbidden(f"the {identity.role} role may not use {key[0]} {key[1]}")
    await _check_csrf(request, identity)
    if route.scope is not None and identity.role in route.scope.roles:
        narrowed = await route.scope.check(request, identity)
        if narrowed is not request:
            narrowed[IDENTITY] = identity
        request = narrowed
    return request
