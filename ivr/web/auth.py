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
The sign-in form, before any session, is bound to a pre-session: the ``ivr_login_csrf`` cookie is
a random id with its issue time, the form's token is an HMAC of it under the app's login key, so
only pairs this server issued (in the last ``LOGIN_FORM_SECONDS``) are accepted — not any
cookie/form pair an attacker picks.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time

from aiohttp import web

from ivr.accounts import services as accounts
from ivr.core.constants import ANY, API_PREFIX, PUBLIC, SYSTEM
from ivr.core.errors import CsrfFailed, Forbidden, NotSignedIn
from ivr.core.identity import Identity
from ivr.http import CONFIG, DB, IDENTITY, ROUTES
from ivr.http.transport import is_secure

log = logging.getLogger(__name__)

SESSION_COOKIE = "ivr_session"
LOGIN_CSRF_COOKIE = "ivr_login_csrf"
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
LOGIN_FORM_SECONDS = 1800
# the key of the sign-in form's token: derived from the deployment's API token (shared by every
# controller of a deployment, so a form served by one is accepted by another), else random
LOGIN_KEY = web.AppKey("login_key", bytes)


def login_key(api_token: str) -> bytes:
    if not api_token:
        return secrets.token_bytes(32)
    return hashlib.sha256(b"ivr login form\0" + api_token.encode()).digest()


def _login_mac(request: web.Request, presession: str) -> str:
    return hmac.new(request.config_dict[LOGIN_KEY], presession.encode(), "sha256").hexdigest()


def new_login_presession(request: web.Request) -> tuple[str, str]:
    """(the pre-session cookie, the form's token bound to it)."""
    presession = f"{secrets.token_urlsafe(18)}.{int(time.time())}"
    return presession, _login_mac(request, presession)


KNOWN_COOKIE = "ivr_known"


def _known_mac(request: web.Request, username: str) -> str:
    return hmac.new(request.config_dict[LOGIN_KEY], b"known\0" + username.encode(),
                    "sha256").hexdigest()


def set_known_browser(response: web.StreamResponse, request: web.Request, username: str) -> None:
    """Remember that ``username`` signed in from this browser: its attempts are then not held
    by the account's sign-in lock (``ivr.accounts.security``), so an attacker cannot lock the
    real user out of a browser they use."""
    response.set_cookie(KNOWN_COOKIE, _known_mac(request, username), httponly=True,
                        samesite="Strict", path="/login", secure=is_secure(request),
                        max_age=180 * 86400)


def is_known_browser(request: web.Request, username: str) -> bool:
    given = request.cookies.get(KNOWN_COOKIE, "")
    return bool(given) and hmac.compare_digest(given.encode(), _known_mac(request, username).encode())


def check_login_presession(request: web.Request, presession: str, given: str) -> bool:
    _nonce, _, issued = presession.partition(".")
    if not issued.isascii() or not issued.isdigit() or len(issued) > 12:
        return False
    if not -60 <= time.time() - int(issued) <= LOGIN_FORM_SECONDS:
        return False
    return hmac.compare_digest(_login_mac(request, presession).encode(), given.encode())


# outside the prefix for scrapers' and spreadsheets' sake; API rules (a bearer token works, a
# browser session too): the metrics and the CSV exports of the pages
MACHINE_PATHS = frozenset({"/metrics", "/dashboard.csv", "/supervision/calls.csv",
                           "/supervision/exceptions.csv"})


def is_api(request: web.Request) -> bool:
    return (request.path == API_PREFIX or request.path.startswith(API_PREFIX + "/")
            or request.path in MACHINE_PATHS)


def set_session_cookie(response: web.StreamResponse, request: web.Request, key: str) -> None:
    response.set_cookie(SESSION_COOKIE, key, httponly=True, samesite="Strict", path="/",
                        secure=is_secure(request),
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
