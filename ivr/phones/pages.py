"""The admin's phone pages: every phone with its registration (live from Asterisk's contact
events), and one page per phone with what it needs to register (SIP user, registrar, transport,
codecs) and "reset secret" (the new secret shown once, audited)."""

from __future__ import annotations

from aiohttp import web

from ivr.core.errors import IvrError
from ivr.http import CONFIG, DB, ROUTES, Routes, require_identity
from ivr.http.keys import PHONE_STATUS_TEXTS, directory_changed
from ivr.http.pages import MESSAGES, NAV, error_text, render
from ivr.phones import services as phones
from ivr.pool.registrations import REGISTRATIONS

ADMIN = ["admin"]
TEXTS: dict[str, tuple[str, str]] = {
    "phones.title": ("电话与注册", "Phones and registration"),
    "phones.phone": ("电话", "Phone"),
    "phones.endpoint": ("SIP 用户", "SIP user"),
    "phones.owner": ("使用人", "Used by"),
    "phones.kind": ("类别", "Kind"),
    "phones.kind.device": ("领导电话", "official's phone"),
    "phones.kind.operator": ("话务员电话", "operator's phone"),
    "phones.status": ("注册状态", "Registration"),
    "phones.since": ("状态起始", "Since"),
    "phones.contact": ("联系地址", "Contact"),
    "phones.user_agent": ("终端型号", "User agent"),
    "phones.operator_state": ("话务状态", "Queue state"),
    "phones.setup": ("设置方法", "Setup"),
    "phones.auth_user": ("认证用户名", "Auth user"),
    "phones.realm": ("认证域", "Realm"),
    "phones.registrar": ("注册服务器", "Registrar"),
    "phones.domain": ("SIP 域", "Domain"),
    "phones.transport": ("传输方式", "Transport"),
    "phones.codecs": ("编解码", "Codecs"),
    "phones.one_contact": ("每个分机只保留一个注册地址：新的注册会替换旧的",
                           "One contact per endpoint: a new registration replaces the previous one"),
    "phones.secret": ("密码", "Secret"),
    "phones.reset": ("重置密码", "Reset secret"),
    "phones.reset_help": ("旧密码立即失效；新密码只显示这一次，请立即配置到电话上",
                          "The old secret stops working at once; the new one is shown this once only"),
    "phones.new_secret": ("新密码（只显示一次）", "New secret (shown once)"),
    "phones.guide": ("设置桌面电话或软电话：见文档", "Setting up a phone:"),
    "phones.state.ready": ("已登录·就绪", "logged in, ready"),
    "phones.state.paused": ("暂停", "paused"),
    "phones.state.logged_out": ("已退出", "logged out"),
    **PHONE_STATUS_TEXTS,
}
routes = Routes("phones-pages")


@routes.get("/admin/phones", roles=ADMIN)
async def phones_page(request: web.Request) -> web.Response:
    """Every phone with its registration status."""
    found = await phones.list_phones(request.config_dict[DB], request.config_dict[REGISTRATIONS])
    return render(request, "phones/list.html", {"phones": found}, title="phones.title")


async def _phone_page(request: web.Request, *, secret: str = "", error: str = "",
                      status: int = 200) -> web.Response:
    endpoint = request.match_info["endpoint"]
    phone = await phones.get_phone(request.config_dict[DB], request.config_dict[REGISTRATIONS],
                                   endpoint)
    return render(request, "phones/phone.html",
                  {"phone": phone, "setup": phones.setup_of(request.config_dict[CONFIG], endpoint),
                   "secret": secret}, title="phones.phone", error=error, status=status)


@routes.get("/admin/phones/{endpoint}", roles=ADMIN)
async def phone_page(request: web.Request) -> web.Response:
    """One phone: registration and what it needs to register."""
    return await _phone_page(request)


@routes.post("/admin/phones/{endpoint}/secret", roles=ADMIN)
async def post_reset(request: web.Request) -> web.Response:
    """Reset the phone's secret: the page shows the new one this once (audited)."""
    endpoint = request.match_info["endpoint"]
    try:
        secret = await phones.reset_secret(request.config_dict[DB], endpoint,
                                           require_identity(request).actor)
    except IvrError as exc:
        if exc.status == 404:
            raise
        return await _phone_page(request, error=error_text(request, exc), status=exc.status)
    await directory_changed(request)
    resp = await _phone_page(request, secret=secret)
    resp.headers["Cache-Control"] = "no-store"
    return resp


def setup(app: web.Application) -> None:
    app[MESSAGES].add(TEXTS)
    app[NAV].add(ADMIN, "/admin/phones", "phones.title")
    app[ROUTES].add(app, routes)



