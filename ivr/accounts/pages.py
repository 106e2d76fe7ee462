"""The admin's accounts page: web accounts, and API tokens issued (shown once) and revoked."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web
from sqlalchemy import select

from ivr.accounts import security
from ivr.accounts import services as accounts
from ivr.accounts.schemas import AccessOut, LockOut
from ivr.core.constants import ROLES
from ivr.core.errors import InvalidForm, IvrError
from ivr.core.ids import parse_id
from ivr.db.account_models import ApiToken
from ivr.db.models import Official, Operator
from ivr.http import DB, ROUTES, Routes, require_identity
from ivr.http.pages import MESSAGES, NAV, error_text, render, when

ADMIN = ["admin"]
TEXTS: dict[str, tuple[str, str]] = {
    "accounts.users": ("账号与令牌", "Accounts and tokens"),
    "accounts.username": ("用户名", "User name"),
    "accounts.password": ("密码", "Password"),
    "accounts.display_name": ("显示名称", "Display name"),
    "accounts.role": ("角色", "Role"),
    "accounts.endpoint": ("分机", "Endpoint"),
    "accounts.official": ("领导", "Official"),
    "accounts.choose": ("请选择", "choose"),
    "accounts.none": ("无", "none"),
    "accounts.state": ("状态", "State"),
    "accounts.active": ("启用", "active"),
    "accounts.disabled": ("已停用", "disabled"),
    "accounts.disable": ("停用", "Disable"),
    "accounts.enable": ("启用", "Enable"),
    "accounts.reset": ("重设密码", "Reset password"),
    "accounts.new_password": ("新密码", "New password"),
    "accounts.saved": ("已保存", "Saved"),
    "accounts.token_user": ("账号", "Account"),
    "accounts.token_by": ("签发人", "Issued by"),
    "accounts.token": ("令牌", "Token"),
    "accounts.revoked": ("已吊销", "revoked"),
    "accounts.actions": ("操作", "Actions"),
    "accounts.role_help": ("话务员须选分机，领导须选本人", "Operators need an endpoint, officials "
                                                          "their official"),
    "accounts.create": ("创建", "Create"),
    "accounts.label": ("标签", "Label"),
    "accounts.issue_token": ("签发令牌", "Issue token"),
    "accounts.revoke": ("吊销", "Revoke"),
    "accounts.token_once": ("请立即复制此令牌，它不会再显示：",
                            "Copy this token now, it is not shown again:"),
    "security.title": ("登录与访问记录", "Sign-ins and access log"),
    "security.locks": ("登录限制", "Sign-in locks"),
    "security.key": ("账号或来源", "Account or source"),
    "security.failures": ("失败次数", "Failures"),
    "security.last": ("最近尝试", "Last attempt"),
    "security.locked_until": ("锁定至", "Locked until"),
    "security.lift": ("解除", "Lift"),
    "security.log": ("访问记录", "Access log"),
    "security.at": ("时间", "Time"),
    "security.kind": ("类型", "Kind"),
    "security.actor": ("用户", "User"),
    "security.source": ("来源地址", "Source address"),
    "security.subject": ("对象", "Subject"),
    "security.detail": ("详情", "Detail"),
}
routes = Routes("accounts")


@dataclass(frozen=True)
class TokenRow:
    id: int
    prefix: str
    username: str
    label: str
    created_by: str
    revoked: bool

    @classmethod
    def of(cls, tk: ApiToken) -> TokenRow:
        return cls(id=tk.id, prefix=tk.prefix, username=tk.user.username, label=tk.label,
                   created_by=tk.created_by, revoked=tk.revoked)


async def users_page(request: web.Request, *, error: str = "", token: str = "",
                     status: int = 200) -> web.Response:
    db = request.config_dict[DB]
    users, tokens = await accounts.list_users(db), await accounts.list_tokens(db)
    user_rows = [{"username": u.username, "display_name": u.display_name, "role": u.role,
                  "endpoint": u.operator_endpoint or "",
                  "official": u.official.display_name if u.official else "",
                  "active": u.active} for u in users]
    async with db() as session:
        endpoints = list((await session.execute(select(Operator.endpoint, Operator.name)
                                                .order_by(Operator.endpoint))).all())
        officials = list((await session.execute(select(Official.slug, Official.name, Official.title)
                                                .order_by(Official.slug))).all())
    return render(request, "accounts/users.html",
                  {"users": user_rows, "tokens": [TokenRow.of(tk) for tk in tokens],
                   "roles": ROLES, "token": token, "endpoints": endpoints,
                   "officials": officials, "flash_saved": "saved" in request.query},
                  title="accounts.users", error=error, status=status)


@routes.get("/admin/users", roles=ADMIN)
async def get_users(request: web.Request) -> web.Response:
    return await users_page(request)


@routes.post("/admin/users", roles=ADMIN)
async def post_user(request: web.Request) -> web.Response:
    """Create a web account."""
    form = await request.post()
    try:
        await accounts.create_user(request.config_dict[DB], str(form.get("username", "")).strip(),
                                   str(form.get("password", "")), str(form.get("role", "")),
                                   display_name=str(form.get("display_name", "")).strip(),
                                   operator=str(form.get("operator", "")).strip() or None,
                                   official=str(form.get("official", "")).strip() or None)
    except IvrError as exc:
        return await users_page(request, error=error_text(request, exc), status=exc.status)
    raise web.HTTPSeeOther("/admin/users")


@routes.post("/admin/users/{username}/active", roles=ADMIN)
async def post_user_active(request: web.Request) -> web.Response:
    """Disable an account (its sessions end at once, its tokens stop) or enable it (audited)."""
    form = await request.post()
    value = str(form.get("active", ""))
    try:
        if value not in ("true", "false"):
            raise InvalidForm("active must be true or false", {"field": "active"})
        await accounts.set_active(request.config_dict[DB], request.match_info["username"],
                                  value == "true", require_identity(request).actor)
    except IvrError as exc:
        return await users_page(request, error=error_text(request, exc), status=exc.status)
    raise web.HTTPSeeOther("/admin/users?saved=1")


@routes.post("/admin/users/{username}/password", roles=ADMIN)
async def post_user_password(request: web.Request) -> web.Response:
    """Set a new password for an account (its sessions end; the policy applies)."""
    form = await request.post()
    try:
        await accounts.set_password(request.config_dict[DB], request.match_info["username"],
                                    str(form.get("password", "")))
    except IvrError as exc:
        return await users_page(request, error=error_text(request, exc), status=exc.status)
    raise web.HTTPSeeOther("/admin/users?saved=1")


@routes.post("/admin/tokens", roles=ADMIN)
async def post_token(request: web.Request) -> web.Response:
    """Issue an API token; the page shows it once."""
    form = await request.post()
    try:
        token, _row = await accounts.issue_token(request.config_dict[DB], str(form.get("username", "")),
                                                 str(form.get("label", "")),
                                                 require_identity(request).username)
    except IvrError as exc:
        return await users_page(request, error=error_text(request, exc), status=exc.status)
    return await users_page(request, token=token)


@routes.post("/admin/tokens/{id}/revoke", roles=ADMIN)
async def post_revoke(request: web.Request) -> web.Response:
    raw = request.match_info["id"]
    try:
        token_id = parse_id(raw)
        if token_id is None:
            raise InvalidForm("invalid token id", {"id": raw})
        await accounts.revoke_token(request.config_dict[DB], token_id)
    except IvrError as exc:
        return await users_page(request, error=error_text(request, exc), status=exc.status)
    raise web.HTTPSeeOther("/admin/users")


async def security_page(request: web.Request, *, error: str = "",
                        status: int = 200) -> web.Response:
    db = request.config_dict[DB]
    locks = [LockOut.of(row) for row in await security.locks(db)]
    entries = [[when(request, row.at), e.kind, e.actor, e.source, e.subject, e.detail]
               for row in await security.access_log(db) for e in (AccessOut.of(row),)]
    return render(request, "accounts/security.html", {"locks": locks, "entries": entries},
                  title="security.title", error=error, status=status)


@routes.get("/admin/security", roles=ADMIN)
async def get_security(request: web.Request) -> web.Response:
    """Sign-in locks (liftable) and the access log: failed sign-ins, locks, audio listened to."""
    return await security_page(request)


@routes.post("/admin/security/lift", roles=ADMIN)
async def post_lift(request: web.Request) -> web.Response:
    form = await request.post()
    try:
        await security.lift(request.config_dict[DB], str(form.get("key", "")),
                            require_identity(request).actor)
    except IvrError as exc:
        return await security_page(request, error=error_text(request, exc), status=exc.status)
    raise web.HTTPSeeOther("/admin/security")


def setup(app: web.Application) -> None:
    app[MESSAGES].add(TEXTS)
    app[NAV].add(ADMIN, "/admin/users", "accounts.users")
    app[NAV].add(ADMIN, "/admin/security", "security.title")
    app[ROUTES].add(app, routes)
