"""The shared pages: home (a redirect by role), sign-in and sign-out, the language switch, the
static files and the error page. Feature pages live in their packages (``ivr/<feature>/pages.py``)."""

from __future__ import annotations

import asyncio
import posixpath
import re
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

from aiohttp import web

from ivr.accounts import security
from ivr.accounts import services as accounts
from ivr.core.constants import ANY, PUBLIC
from ivr.core.errors import CsrfFailed, IvrError, LoginFailed, LoginThrottled
from ivr.http import CONFIG, DB, ROUTES, Routes, identity_of
from ivr.http.pages import LANG_COOKIE, LANGS, MESSAGES, error_text, render
from ivr.http.transport import client_address, is_secure, on_prepare, parse_proxies
from ivr.web.auth import (
    LOGIN_CSRF_COOKIE,
    LOGIN_KEY,
    SESSION_COOKIE,
    check_login_presession,
    is_known_browser,
    login_key,
    new_login_presession,
    set_known_browser,
    set_session_cookie,
)
from ivr.web.middleware import ERROR_PAGE

STATIC = Path(__file__).resolve().parent / "static"
HOME = {"admin": "/admin", "operator": "/console", "official": "/me",
        "supervisor": "/dashboard"}
TEXTS: dict[str, tuple[str, str]] = {
    "app": ("政务热线路由", "Officials' hotline routing"),
    "logout": ("退出", "Sign out"),
    "login": ("登录", "Sign in"),
    "login.username": ("用户名", "User name"),
    "login.password": ("密码", "Password"),
    "zone.label": ("时区", "Timezone"),
    "p.colon": ("：", ": "), "p.semi": ("；", "; "),  # punctuation of the page's language
    "p.open": ("（", " ("), "p.close": ("）", ")"), "p.list": ("、", ", "), "p.comma": ("，", ", "),
    "role.admin": ("管理员", "admin"),
    "role.operator": ("话务员", "operator"),
    "role.official": ("领导", "official"),
    "role.supervisor": ("督查员", "supervisor"),
    "role.system": ("系统", "system"),
}
routes = Routes("web")
# sign-ins handled at once (the others wait their turn, holding no database lock): a flood then
# costs the scrypt pool and a queue, not a pile of concurrent database writes
LOGIN_GATE = web.AppKey("login_gate", asyncio.Semaphore)
LOGIN_CONCURRENCY = 4
_UNSAFE_RAW = re.compile(r"[\x00-\x20\x7f\\]")
_UNSAFE_DECODED = re.compile(r"[\x00-\x1f\x7f\\]")


def safe_next(value: str | None) -> str | None:
    """Where to go after sign-in or a language switch: only a path of this site. Refused:
    anything with a scheme or host, control characters or white space (browsers drop a tab or a
    newline, so ``/%09/evil.example/x`` would become ``//evil.example/x``, another host),
    backslashes (read as ``/``), and whatever still starts with ``//`` once decoded and
    normalised. Returned normalised (dot segments and repeated slashes removed)."""
    if not value or len(value) > 2000:
        return None
    if _UNSAFE_RAW.search(value) or _UNSAFE_DECODED.search(unquote(value)):
        return None
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not parts.path.startswith("/"):
        return None
    path = re.sub(r"/{2,}", "/", posixpath.normpath(parts.path))
    if parts.path.endswith("/") and path != "/":
        path += "/"
    if unquote(path).startswith("//"):
        return None
    return urlunsplit(("", "", path, parts.query, ""))


@routes.get("/", roles=PUBLIC)
async def index(request: web.Request) -> web.StreamResponse:
    """Home: the signed-in role's first page, else the sign-in page."""
    ident = identity_of(request)
    raise web.HTTPSeeOther(HOME.get(ident.role, "/login") if ident else "/login")


def _login_form(request: web.Request, next_url: str, *, error: str = "",
                status: int = 200) -> web.Response:
    presession, token = new_login_presession(request)
    response = render(request, "login.html", {"login_csrf": token, "next": next_url},
                      title="login", error=error, status=status)
    response.set_cookie(LOGIN_CSRF_COOKIE, presession, httponly=True, samesite="Strict",
                        path="/login", secure=is_secure(request))
    return response


@routes.get("/login", roles=PUBLIC)
async def get_login(request: web.Request) -> web.Response:
    return _login_form(request, safe_next(request.query.get("next")) or "")


@routes.post("/login", roles=PUBLIC)
async def post_login(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    next_url = safe_next(str(form.get("next", ""))) or ""
    cookie, given = request.cookies.get(LOGIN_CSRF_COOKIE, ""), str(form.get("csrf", ""))
    if not check_login_presession(request, cookie, given):
        exc: IvrError = CsrfFailed("the sign-in form expired: please try again")
        return _login_form(request, next_url, error=error_text(request, exc), status=exc.status)
    async with request.config_dict[LOGIN_GATE]:
        return await _sign_in(request, str(form.get("username", "")).strip()[:60],
                              str(form.get("password", "")), next_url)


async def _sign_in(request: web.Request, username: str, password: str,
                   next_url: str) -> web.StreamResponse:
    db, source = request.config_dict[DB], client_address(request)
    attempt = security.Attempt.of(username, source,
                                  known_browser=is_known_browser(request, username))
    try:  # counted before the password is checked; refused at once while locked
        await security.begin_attempt(db, attempt)
        user = await accounts.authenticate(db, username, password)
    except LoginThrottled as exc:
        response = _login_form(request, next_url, error=error_text(request, exc),
                               status=exc.status)
        response.headers["Retry-After"] = str(exc.details.get("retry_after", 60))
        return response
    except LoginFailed as exc:
        await security.failed(db, attempt, username, source)
        return _login_form(request, next_url, error=error_text(request, exc), status=exc.status)
    await security.succeeded(db, attempt, username)
    key, _csrf = await accounts.open_session(db, user.id)
    response = web.HTTPSeeOther(next_url or HOME.get(user.role, "/"))
    set_session_cookie(response, request, key)
    set_known_browser(response, request, user.username)
    response.del_cookie(LOGIN_CSRF_COOKIE, path="/login")
    raise response


@routes.post("/logout", roles=ANY)
async def post_logout(request: web.Request) -> web.StreamResponse:
    key = request.cookies.get(SESSION_COOKIE)
    if key:
        await accounts.close_session(request.config_dict[DB], key)
    response = web.HTTPSeeOther("/login")
    response.del_cookie(SESSION_COOKIE, path="/")
    raise response


@routes.get("/lang/{code}", roles=PUBLIC)
async def get_lang(request: web.Request) -> web.StreamResponse:
    """Switch the pages' language (Mandarin or English) and go back."""
    lang = request.match_info["code"]
    response = web.HTTPSeeOther(safe_next(request.query.get("next")) or "/")
    if lang in LANGS:
        response.set_cookie(LANG_COOKIE, lang, samesite="Lax", path="/", max_age=365 * 86400,
                            secure=is_secure(request))
    raise response


@routes.get("/static/{name}", roles=PUBLIC)
async def get_static(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    path = STATIC / name
    if "/" in name or name.startswith(".") or not path.is_file():
        raise web.HTTPNotFound()
    return web.FileResponse(path, headers={"Cache-Control": "max-age=300"})


def error_page(request: web.Request, exc: IvrError) -> web.Response:
    title = "error.forbidden" if exc.status == 403 else "error"
    return render(request, "error.html", title=title, status=exc.status,
                  error=error_text(request, exc))


def setup(app: web.Application) -> None:
    app[ERROR_PAGE] = error_page
    app[LOGIN_KEY] = login_key(app[CONFIG].http.api_token)
    app[LOGIN_GATE] = asyncio.Semaphore(LOGIN_CONCURRENCY)
    parse_proxies(app[CONFIG].http.trusted_proxies)  # a bad entry stops the start, named
    app.on_response_prepare.append(on_prepare)
    app[MESSAGES].add(TEXTS)
    app[ROUTES].add(app, routes)
