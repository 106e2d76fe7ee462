"""The web UI: sign-in, admin pages (directory, one-click mode switch, schedule, operators and
pools, greeting upload, audit, accounts and tokens) and the accounts API; ``setup_web(app)``
(the console, dashboard and cases pages are set up by their features, from ivr.app).

Authorization is central (ivr.web.auth.authorize, via ``web_middleware`` for pages and via
``api_middleware`` for /api/v1); handlers only narrow what they show to the identity.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import secrets
from pathlib import Path
from typing import Any, Awaitable, Callable
from urllib.parse import quote

from aiohttp import web

from ivr.core.constants import MODES
from ivr.directory import services as directory
from ivr.core.errors import InvalidAccount, InvalidForm, InvalidInput, IvrError, LoginFailed
from ivr.routing import services as routing
from ivr.accounts import services as accounts
from ivr.web import auth
from ivr.core.constants import ANY, PUBLIC
from ivr.web.auth import LOGIN_CSRF_COOKIE, SESSION_COOKIE
from ivr.web.compat import PREFIX, add_rules
from ivr.core.errors import NotSignedIn
from ivr.core.identity import Identity
from ivr.http import identity_of
from ivr.core.constants import ROLES
from ivr.web.keys import CONFIG, DB_SESSIONMAKER, ON_CHANGE, ON_DIRECTORY_CHANGE
from ivr.web.compat import register_paths
from ivr.web.middleware import ERROR_PAGE
from ivr.http.pages import MESSAGES, error_text, render
from ivr.web.pages import LANG_COOKIE, LANGS, T, csrf_field, esc, mode_label, page, t, table

log = logging.getLogger(__name__)
STATIC = Path(__file__).resolve().parent / "static"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
HOME = {"admin": "/admin", "operator": "/console", "official": "/dashboard",
        "supervisor": "/dashboard"}




def _bilingual(exc: IvrError) -> str:
    """Service errors are mostly English; forms show them under a bilingual heading."""
    msg = str(exc.args[0]) if exc.args else exc.error_id
    if any("\u4e00" <= c <= "\u9fff" for c in msg):
        return msg
    return f"输入无效 / Invalid input: {msg}"


# --- sign-in -------------------------------------------------------------------------------

def _safe_next(value: str | None) -> str | None:
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return None


async def index(request: web.Request) -> web.StreamResponse:
    ident = identity_of(request)
    raise web.HTTPSeeOther(HOME.get(ident.role, "/login") if ident else "/login")


def _login_form(request: web.Request, token: str, error: str = "", status: int = 200) -> web.Response:
    nxt = esc(_safe_next(request.query.get("next")) or "")
    body = f"""<form method="post" action="/login" class="card" id="login-form">
<input type="hidden" name="csrf" value="{esc(token)}"><input type="hidden" name="next" value="{nxt}">
<label>{esc(t(request, "username"))}<input name="username" id="username" autocomplete="username" required></label>
<label>{esc(t(request, "password"))}<input name="password" id="password" type="password" autocomplete="current-password" required></label>
<button type="submit" id="login-submit">{esc(t(request, "login"))}</button></form>"""
    resp = page(request, "login", body, error=error, status=status)
    resp.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="Strict", path="/login",
                    secure=request.secure)
    return resp


async def get_login(request: web.Request) -> web.Response:
    return _login_form(request, secrets.token_urlsafe(24))


async def post_login(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    given = str(form.get("csrf", ""))
    if not cookie or not hmac.compare_digest(cookie.encode(), given.encode()):
        return _login_form(request, secrets.token_urlsafe(24), status=403,
                           error="表单已过期，请重试 / the form expired: please try again")
    db = request.config_dict[DB_SESSIONMAKER]
    try:
        user = await accounts.authenticate(db, str(form.get("username", "")).strip(),
                                       str(form.get("password", "")))
    except LoginFailed as exc:
        return _login_form(request, secrets.token_urlsafe(24), error=str(exc), status=401)
    key, _csrf = await accounts.open_session(db, user.id)
    target = _safe_next(str(form.get("next", ""))) or HOME.get(user.role, "/")
    resp = web.HTTPSeeOther(target)
    auth.set_session_cookie(resp, request, key)
    resp.del_cookie(LOGIN_CSRF_COOKIE, path="/login")
    raise resp


async def post_logout(request: web.Request) -> web.StreamResponse:
    key = request.cookies.get(SESSION_COOKIE)
    if key:
        await accounts.close_session(request.config_dict[DB_SESSIONMAKER], key)
    resp = web.HTTPSeeOther("/login")
    resp.del_cookie(SESSION_COOKIE, path="/")
    raise resp


async def get_lang(request: web.Request) -> web.StreamResponse:
    lang = request.match_info["code"]
    resp = web.HTTPSeeOther(_safe_next(request.query.get("next")) or "/")
    if lang in LANGS:
        resp.set_cookie(LANG_COOKIE, lang, samesite="Lax", path="/", max_age=365 * 86400)
    raise resp


async def get_static(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    path = STATIC / name
    if "/" in name or name.startswith(".") or not path.is_file():
        raise web.HTTPNotFound()
    return web.FileResponse(path, headers={"Cache-Control": "max-age=300"})


# --- admin: directory ----------------------------------------------------------------------

def _ident(request: web.Request) -> Identity:
    ident = identity_of(request)
    assert ident is not None  # authorize() ran
    return ident


async def admin_directory(request: web.Request, *, flash: str = "", error: str = "",
                          status: int = 200) -> web.Response:
    officials = await directory.list_officials(request.config_dict[DB_SESSIONMAKER])
    rows = []
    for o in officials:
        mode = o.policy.mode if o.policy else "direct"
        buttons = "".join(
            f'<button type="submit" name="mode" value="{m}" class="mode-btn{" current" if m == mode else ""}"'
            f' data-mode="{m}"{" disabled" if m == mode else ""}>{esc(t(request, m))}</button>'
            for m in MODES)
        form = (f'<form method="post" action="/admin/officials/{esc(o.slug)}/mode" class="switch" '
                f'id="switch-{esc(o.slug)}">{csrf_field(request)}'
                f'<input name="reason" placeholder="{esc(t(request, "reason"))}" maxlength="500" '
                f'class="reason">{buttons}</form>')
        rows.append([
            f'<span class="oname">{esc(o.display_name)}</span><br><small>{esc(o.department)}</small>',
            "<br>".join(esc(n.number) for n in sorted(o.numbers, key=lambda n: n.number)),
            f'<span class="mode" id="mode-{esc(o.slug)}">{esc(mode_label(request, mode))}</span>'
            + (f'<br><small>{esc(o.availability)}</small>' if o.availability != "available" else ""),
            form,
            f'<a href="/admin/officials/{esc(o.slug)}/schedule">{esc(t(request, "schedule"))}</a>'
            f' ({len(o.windows)})'])
    body = table([t(request, "official"), t(request, "numbers"), t(request, "mode"),
                  t(request, "switch") + " / " + t(request, "reason"), t(request, "schedule")],
                 rows, id="directory", raw=True)
    return page(request, "directory", body, flash=flash, error=error, status=status)


async def post_mode(request: web.Request) -> web.Response:
    form = await request.post()
    slug = request.match_info["slug"]
    mode, reason = str(form.get("mode", "")), str(form.get("reason", "")).strip()
    error = ""
    if mode not in MODES:
        error = f"模式无效 / invalid mode {mode!r}: one of {', '.join(MODES)}"
    elif not reason:
        error = "请填写切换原因 / a reason is required for the audit log"
    elif len(reason) > 500:
        error = "原因最多500个字符 / the reason may have at most 500 characters"
    if error:
        return await admin_directory(request, error=error, status=400)
    try:
        o = await routing.set_mode(request.config_dict[DB_SESSIONMAKER], slug, mode,
                                   _ident(request).actor, reason,
                                   on_change=request.config_dict.get(ON_CHANGE))
    except IvrError as exc:
        return await admin_directory(request, error=_bilingual(exc), status=exc.status)
    raise web.HTTPSeeOther(f"/admin?saved={quote(o.slug)}")


async def admin_index(request: web.Request) -> web.Response:
    saved = request.query.get("saved")
    return await admin_directory(request, flash=f"{t(request, 'saved')}: {saved}" if saved else "")


# --- admin: schedule and greeting ----------------------------------------------------------

def _parse_windows(text: str) -> list[dict[str, str]]:
    windows = []
    for n, line in enumerate(text.splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 4:
            raise InvalidForm(f"第{n}行应有4项（日期 开始 结束 模式）/ line {n}: expected 4 items "
                            f"(days start end mode), got {len(parts)}")
        windows.append(dict(zip(("days", "start", "end", "mode"), parts)))
    return windows


async def _schedule_page(request: web.Request, *, text: str | None = None, flash: str = "",
                         error: str = "", status: int = 200) -> web.Response:
    o = await directory.get_official(request.config_dict[DB_SESSIONMAKER], request.match_info["slug"])
    if text is None:
        text = "\n".join(f"{w['days']} {w['start']} {w['end']} {w['mode']}"
                         for w in routing.windows_of(o))
    slug = esc(o.slug)
    body = f"""<p><strong>{esc(o.display_name)}</strong> · {esc(t(request, "mode"))}: {esc(mode_label(request, o.policy.mode if o.policy else "direct"))}</p>
<form method="post" action="/admin/officials/{slug}/schedule" class="card" id="schedule-form">{csrf_field(request)}
<p>{esc(t(request, "add_row"))}</p>
<textarea name="windows" rows="8" cols="50" id="windows">{esc(text)}</textarea>
<label>{esc(t(request, "reason"))}<input name="reason" maxlength="500" id="schedule-reason"></label>
<button type="submit">{esc(t(request, "save"))}</button></form>
<form method="post" action="/admin/officials/{slug}/greeting" enctype="multipart/form-data" class="card" id="greeting-form">{csrf_field(request)}
<label>{esc(t(request, "greeting"))}<input type="file" name="file" accept="audio/wav,.wav"></label>
<button type="submit">{esc(t(request, "upload"))}</button></form>"""
    return page(request, "schedule", body, flash=flash, error=error, status=status)


async def get_schedule(request: web.Request) -> web.Response:
    return await _schedule_page(request, flash=t(request, "saved") if "saved" in request.query else "")


async def post_schedule(request: web.Request) -> web.Response:
    form = await request.post()
    text = str(form.get("windows", ""))
    try:
        windows = _parse_windows(text)
        await routing.set_schedule(request.config_dict[DB_SESSIONMAKER], request.match_info["slug"],
                                   windows, _ident(request).actor, str(form.get("reason", "")),
                                   on_change=request.config_dict.get(ON_CHANGE))
    except IvrError as exc:
        return await _schedule_page(request, text=text, error=_bilingual(exc), status=exc.status)
    raise web.HTTPSeeOther(f"/admin/officials/{quote(request.match_info['slug'])}/schedule?saved=1")


MAX_GREETING = 5 * 1024 * 1024


async def post_greeting(request: web.Request) -> web.Response:
    """An admin's WAV becomes the official's greeting in the official's language (validated and
    converted by ivr.followup.prompts.validate_upload, as PUT /api/v1/officials/{slug}/greeting)."""
    from ivr.speech.audio import AudioError
    from ivr.followup.prompts import validate_upload
    from ivr.followup.uploads import write_atomic

    db, config = request.config_dict[DB_SESSIONMAKER], request.config_dict[CONFIG]
    o = await directory.get_official(db, request.match_info["slug"])
    form = await request.post()
    field = form.get("file")
    data = field.file.read(MAX_GREETING + 1) if isinstance(field, web.FileField) else b""
    error = ""
    if not data:
        error = "请选择一个 WAV 文件 / choose a WAV file"
    elif len(data) > MAX_GREETING:
        error = "文件超过5MB / the file is larger than 5 MB"
    else:
        try:
            wav = await asyncio.to_thread(validate_upload, data)
        except AudioError as exc:
            error = f"无法使用此音频 / unusable audio: {exc}"
        else:
            path = config.host_path(config.prompts_dir_inside) / o.language / f"ivr-greeting-{o.id}.wav"
            await asyncio.to_thread(write_atomic, path, wav)
    if error:
        return await _schedule_page(request, error=error, status=400)
    raise web.HTTPSeeOther(f"/admin/officials/{quote(o.slug)}/schedule?saved=1")


# --- admin: operators and pools, audit -----------------------------------------------------

async def admin_operators(request: web.Request, *, error: str = "", status: int = 200) -> web.Response:
    db = request.config_dict[DB_SESSIONMAKER]
    pools, ops = await directory.list_pools(db), await directory.list_operators(db)
    prow = [[p.name, p.queue, p.strategy, str(p.max_wait), " ".join(sorted(o.endpoint for o in p.operators))]
            for p in pools]
    orow = [[o.name, o.endpoint, o.pool.name if o.pool else "", t(request, o.state),
             o.paused_reason] for o in ops]
    body = (f"<h2>{esc(t(request, 'pool'))}</h2>"
            + table([t(request, "name"), t(request, "queue"), t(request, "strategy"),
                     t(request, "max_wait"), t(request, "operators")], prow, id="pools")
            + f"""<form method="post" action="/admin/pools" class="card" id="pool-form">{csrf_field(request)}
<label>{esc(t(request, "name"))}<input name="name" maxlength="40"></label>
<label>{esc(t(request, "max_wait"))}<input name="max_wait" value="60" inputmode="numeric"></label>
<button type="submit">{esc(t(request, "create"))}</button></form>"""
            + f"<h2>{esc(t(request, 'operators'))}</h2>"
            + table([t(request, "name"), t(request, "endpoint"), t(request, "pool"),
                     t(request, "state"), t(request, "pause_reason")], orow, id="operators"))
    return page(request, "operators", body, error=error, status=status)


async def post_pool(request: web.Request) -> web.Response:
    form = await request.post()
    raw_wait = str(form.get("max_wait", "60")).strip()
    if not raw_wait.isdigit():
        return await admin_operators(request, status=400,
                                     error="最长等待须为整数秒 / max wait must be whole seconds")
    try:
        await directory.create_pool(request.config_dict[DB_SESSIONMAKER],
                                    str(form.get("name", "")).strip(), _ident(request).actor,
                                    max_wait=int(raw_wait))
    except IvrError as exc:
        return await admin_operators(request, error=_bilingual(exc), status=exc.status)
    hook = request.config_dict.get(ON_DIRECTORY_CHANGE)
    if hook is not None:
        await hook()
    raise web.HTTPSeeOther("/admin/operators")


async def admin_audit(request: web.Request) -> web.Response:
    db = request.config_dict[DB_SESSIONMAKER]
    entries = await routing.audit_log(db, official=request.query.get("official") or None, limit=200)
    names = {o.id: o.display_name for o in await directory.list_officials(db)}
    rows = [[(a.at.isoformat(timespec="seconds") if a.at else ""), a.actor,
             names.get(a.official_id, a.official_id or ""), a.field, a.old_value or "",
             a.new_value or "", a.reason] for a in entries]
    body = table([t(request, "at"), t(request, "actor"), t(request, "official"), t(request, "field"),
                  t(request, "old"), t(request, "new"), t(request, "reason")], rows, id="audit")
    return page(request, "audit", body)


# --- admin: accounts and tokens ------------------------------------------------------------

async def admin_users(request: web.Request, *, error: str = "", flash: str = "", token: str = "",
                      status: int = 200) -> web.Response:
    db = request.config_dict[DB_SESSIONMAKER]
    users, tokens = await accounts.list_users(db), await accounts.list_tokens(db)
    urows = [[u.username, u.display_name, u.role, u.operator_endpoint or "",
              u.official.slug if u.official else ""] for u in users]
    trows = [[str(tk.id), tk.prefix + "…", tk.user.username, tk.label, tk.created_by,
              "revoked" if tk.revoked else
              f'<form method="post" action="/admin/tokens/{tk.id}/revoke" class="inline">'
              f'{csrf_field(request)}<button type="submit">{esc(t(request, "revoke"))}</button></form>']
             for tk in tokens]
    role_opts = "".join(f'<option value="{r}">{r}</option>' for r in ROLES)
    user_opts = "".join(f'<option value="{esc(u.username)}">{esc(u.username)}</option>' for u in users)
    shown = (f'<p class="flash" id="new-token">{esc(t(request, "token_once"))} <code>{esc(token)}</code></p>'
             if token else "")
    body = (shown + table(["user", t(request, "display_name"), t(request, "role"), t(request, "endpoint"),
                           t(request, "official")], urows, id="users")
            + f"""<form method="post" action="/admin/users" class="card" id="user-form">{csrf_field(request)}
<label>{esc(t(request, "username"))}<input name="username" maxlength="40"></label>
<label>{esc(t(request, "display_name"))}<input name="display_name" maxlength="80"></label>
<label>{esc(t(request, "password"))}<input name="password" type="password" autocomplete="new-password"></label>
<label>{esc(t(request, "role"))}<select name="role">{role_opts}</select></label>
<label>{esc(t(request, "endpoint"))}<input name="operator" placeholder="op-1"></label>
<label>{esc(t(request, "official"))}<input name="official" placeholder="slug"></label>
<button type="submit">{esc(t(request, "create"))}</button></form>"""
            + table(["id", "token", "user", t(request, "label"), "by", ""],
                    [[esc(c) for c in r[:-1]] + [r[-1]] for r in trows], id="tokens", raw=True)
            + f"""<form method="post" action="/admin/tokens" class="card" id="token-form">{csrf_field(request)}
<label>user<select name="username">{user_opts}</select></label>
<label>{esc(t(request, "label"))}<input name="label" maxlength="80"></label>
<button type="submit">{esc(t(request, "issue_token"))}</button></form>""")
    return page(request, "users", body, error=error, flash=flash, status=status)


async def get_users_page(request: web.Request) -> web.Response:
    return await admin_users(request)


async def post_user(request: web.Request) -> web.Response:
    form = await request.post()
    try:
        await accounts.create_user(request.config_dict[DB_SESSIONMAKER], str(form.get("username", "")).strip(),
                               str(form.get("password", "")), str(form.get("role", "")),
                               display_name=str(form.get("display_name", "")).strip(),
                               operator=str(form.get("operator", "")).strip() or None,
                               official=str(form.get("official", "")).strip() or None)
    except IvrError as exc:
        return await admin_users(request, error=_bilingual(exc), status=exc.status)
    raise web.HTTPSeeOther("/admin/users")


async def post_token(request: web.Request) -> web.Response:
    form = await request.post()
    try:
        token, _row = await accounts.issue_token(request.config_dict[DB_SESSIONMAKER],
                                             str(form.get("username", "")), str(form.get("label", "")),
                                             _ident(request).username)
    except IvrError as exc:
        return await admin_users(request, error=_bilingual(exc), status=exc.status)
    return await admin_users(request, token=token)


async def post_revoke(request: web.Request) -> web.Response:
    raw = request.match_info["id"]
    try:
        if not raw.isdigit():
            raise InvalidForm("令牌编号无效 / invalid token id")
        await accounts.revoke_token(request.config_dict[DB_SESSIONMAKER], int(raw))
    except IvrError as exc:
        return await admin_users(request, error=_bilingual(exc), status=exc.status)
    raise web.HTTPSeeOther("/admin/users")


# --- accounts API --------------------------------------------------------------------------

def _user_json(u: Any) -> dict[str, Any]:
    return {"username": u.username, "display_name": u.display_name, "role": u.role,
            "operator": u.operator_endpoint, "official": u.official.slug if u.official else None}


async def api_me(request: web.Request) -> web.Response:
    i = _ident(request)
    return web.json_response({"username": i.username, "role": i.role, "via": i.via,
                              "operator": i.operator_endpoint, "official": i.official_slug})


async def api_users(request: web.Request) -> web.Response:
    return web.json_response({"items": [_user_json(u) for u in
                                        await accounts.list_users(request.config_dict[DB_SESSIONMAKER])]})


async def api_post_user(request: web.Request) -> web.Response:
    from ivr.web.api import _body, _field

    body = await _body(request)
    values = {k: body.get(k) for k in ("display_name", "operator", "official")}
    for k, v in values.items():
        if v is not None and not isinstance(v, str):
            raise InvalidAccount(f"{k} must be text", {"field": k})
    db = request.config_dict[DB_SESSIONMAKER]
    await accounts.create_user(db, _field(body, "username"), _field(body, "password"), _field(body, "role"),
                           display_name=values["display_name"] or "", operator=values["operator"],
                           official=values["official"])
    user = next(u for u in await accounts.list_users(db) if u.username == body["username"])
    return web.json_response(_user_json(user), status=201)


async def api_post_token(request: web.Request) -> web.Response:
    from ivr.web.api import _body, _field

    body = await _body(request)
    username, label = _field(body, "username"), body.get("label", "")
    if not isinstance(username, str):
        raise InvalidAccount("username must be text", {"field": "username"})
    token, row = await accounts.issue_token(request.config_dict[DB_SESSIONMAKER], username, label,
                                        _ident(request).username)
    return web.json_response({"id": row.id, "token": token, "username": username, "label": label},
                             status=201)


async def api_delete_token(request: web.Request) -> web.Response:
    raw = request.match_info["id"]
    if not raw.isdigit():
        raise InvalidInput("token id must be a number", {"id": raw})
    await accounts.revoke_token(request.config_dict[DB_SESSIONMAKER], int(raw))
    return web.Response(status=204)


def _user_schema() -> dict[str, Any]:
    s = {"type": "string"}
    ns = {"type": ["string", "null"]}
    return {"type": "object", "required": ["username", "role"],
            "properties": {"username": s, "display_name": s, "role": {"enum": list(ROLES)},
                           "operator": ns, "official": ns}}


def _doc(summary: str, ok: dict[str, Any] | None, status: int = 200,
         body: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    err = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    op: dict[str, Any] = {"summary": summary, "responses": {
        str(status): {"description": "OK", **({"content": {"application/json": {"schema": ok}}} if ok else {})},
        "401": {"description": "not signed in", **err}, "403": {"description": "role not allowed", **err}}}
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    op.update(extra)
    return op


register_paths({
    "/me": {"get": _doc("Who am I (role, linked operator endpoint or official)", {"type": "object"})},
    "/users": {
        "get": _doc("Web accounts (admin)", {"type": "object", "properties": {
            "items": {"type": "array", "items": {"$ref": "#/components/schemas/User"}}}}),
        "post": _doc("Create an account (admin); operator accounts name their endpoint, official "
                     "accounts their official", {"$ref": "#/components/schemas/User"}, 201,
                     body={"type": "object", "required": ["username", "password", "role"],
                           "properties": {"username": {"type": "string"},
                                          "password": {"type": "string", "minLength": accounts.MIN_PASSWORD},
                                          "role": {"enum": list(ROLES)}, "display_name": {"type": "string"},
                                          "operator": {"type": "string"}, "official": {"type": "string"}}}),
    },
    "/tokens": {"post": _doc("Issue an API token for an account (admin); shown once", {
        "type": "object", "properties": {"id": {"type": "integer"}, "token": {"type": "string"},
                                         "username": {"type": "string"}, "label": {"type": "string"}}},
        201, body={"type": "object", "required": ["username"],
                   "properties": {"username": {"type": "string"}, "label": {"type": "string"}}})},
    "/tokens/{id}": {"delete": _doc("Revoke an API token (admin)", None, 204, parameters=[
        {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}])},
}, {"User": _user_schema()})


def error_page(request: web.Request, exc: IvrError) -> web.Response:
    title = "forbidden" if exc.status == 403 else "error"
    return render(request, "error.html", title=title, status=exc.status,
                  error=error_text(request, exc))


# --- wiring --------------------------------------------------------------------------------

_A, _O, _F, _S = "admin", "operator", "official", "supervisor"

add_rules([
    ("GET", "/healthz", PUBLIC, None),
    ("GET", f"{PREFIX}/openapi.json", PUBLIC, None),
    ("GET", "/", PUBLIC, None),
    ("GET", "/login", PUBLIC, None),
    ("POST", "/login", PUBLIC, None),
    ("GET", "/lang/{code}", PUBLIC, None),
    ("GET", "/static/{name}", PUBLIC, None),
    ("POST", "/logout", ANY, None),
    ("GET", "/admin", [_A], None),
    ("POST", "/admin/officials/{slug}/mode", [_A], None),
    ("GET", "/admin/officials/{slug}/schedule", [_A], None),
    ("POST", "/admin/officials/{slug}/schedule", [_A], None),
    ("POST", "/admin/officials/{slug}/greeting", [_A], None),
    ("GET", "/admin/operators", [_A], None),
    ("POST", "/admin/pools", [_A], None),
    ("GET", "/admin/audit", [_A], None),
    ("GET", "/admin/users", [_A], None),
    ("POST", "/admin/users", [_A], None),
    ("POST", "/admin/tokens", [_A], None),
    ("POST", "/admin/tokens/{id}/revoke", [_A], None),
    ("GET", f"{PREFIX}/me", ANY, None),
    ("GET", f"{PREFIX}/users", [_A], None),
    ("POST", f"{PREFIX}/users", [_A], None),
    ("POST", f"{PREFIX}/tokens", [_A], None),
    ("DELETE", f"{PREFIX}/tokens/{{id}}", [_A], None),
])


def setup_web(app: web.Application) -> None:
    """The pages, the accounts API and central authorization; call after setup_api."""
    app[ERROR_PAGE] = error_page
    app[MESSAGES].add(T)
    r = app.router
    r.add_get("/", index)
    r.add_get("/login", get_login)
    r.add_post("/login", post_login)
    r.add_post("/logout", post_logout)
    r.add_get("/lang/{code}", get_lang)
    r.add_get("/static/{name}", get_static)
    r.add_get("/admin", admin_index)
    r.add_post("/admin/officials/{slug}/mode", post_mode)
    r.add_get("/admin/officials/{slug}/schedule", get_schedule)
    r.add_post("/admin/officials/{slug}/schedule", post_schedule)
    r.add_post("/admin/officials/{slug}/greeting", post_greeting)
    r.add_get("/admin/operators", admin_operators)
    r.add_post("/admin/pools", post_pool)
    r.add_get("/admin/audit", admin_audit)
    r.add_get("/admin/users", get_users_page)
    r.add_post("/admin/users", post_user)
    r.add_post("/admin/tokens", post_token)
    r.add_post("/admin/tokens/{id}/revoke", post_revoke)
    r.add_get(f"{PREFIX}/me", api_me)
    r.add_get(f"{PREFIX}/users", api_users)
    r.add_post(f"{PREFIX}/users", api_post_user)
    r.add_post(f"{PREFIX}/tokens", api_post_token)
    r.add_delete(f"{PREFIX}/tokens/{{id}}", api_delete_token)
