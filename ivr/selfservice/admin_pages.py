"""The admins' self-service switches on their pages (issue 15): on an official's page
(``/admin/officials/{slug}/schedule``) whether that official may change their own mode, and on
the directory (``/admin``) whether every official may. The same audited services as the API
(``PUT /api/v1/officials/{slug}/self-service``, ``PUT /api/v1/self-service``), actor
``web:<user>``; off by default. Availability is always the official's own."""

from __future__ import annotations

from urllib.parse import quote

from aiohttp import web

from ivr.core.errors import InvalidForm, IvrError
from ivr.http import DB, ROUTES, Routes, require_identity
from ivr.http.pages import MESSAGES, error_text
from ivr.routing.pages import directory_page, schedule_page
from ivr.routing.selfmode import set_city_self_mode, set_official_self_mode
from ivr.routing.services import MAX_REASON

ADMIN = ["admin"]
TEXTS: dict[str, tuple[str, str]] = {
    "selfadmin.official": ("本人可自行切换接听方式", "May switch their own mode"),
    "selfadmin.city": ("所有领导可自行切换接听方式", "Every official may switch their own mode"),
    "selfadmin.help": ("开放后，领导可在“我的状态”页面自行切换接听方式（直接接听、话务组、副职代接、留言），"
                       "每次切换都记入审计日志。会议、请假、勿扰等状态始终可由本人设置。",
                       "When allowed, officials switch their own mode on their My status page "
                       "(direct, pool, deputy, voicemail), audited like an admin's switch. Their "
                       "availability (meeting, leave, do not disturb) is always theirs to set."),
    "selfadmin.on": ("已开放", "allowed"),
    "selfadmin.off": ("未开放", "not allowed"),
    "selfadmin.by_city": ("（全市已开放，本项关闭时仍可切换）",
                          "(allowed city-wide: they may switch even with this off)"),
    "selfadmin.turn_on": ("开放", "Allow"),
    "selfadmin.turn_off": ("关闭", "Disallow"),
}
routes = Routes("selfservice-admin")


async def _flag(request: web.Request) -> tuple[bool, str]:
    form = await request.post()
    value, reason = str(form.get("mode", "")), str(form.get("reason", "")).strip()
    if value not in ("true", "false"):
        raise InvalidForm("mode must be true or false", {"field": "mode"})
    if len(reason) > MAX_REASON:
        raise InvalidForm(f"the reason may have at most {MAX_REASON} characters",
                          {"field": "reason"})
    return value == "true", reason


@routes.post("/admin/officials/{slug}/self-service", roles=ADMIN)
async def post_official_self_mode(request: web.Request) -> web.Response:
    """Allow (or not) this official to change their own mode (audited ``self_mode``)."""
    slug = request.match_info["slug"]
    try:
        flag, reason = await _flag(request)
        await set_official_self_mode(request.config_dict[DB], slug, flag,
                                     require_identity(request).actor, reason)
    except IvrError as exc:
        return await schedule_page(request, error=error_text(request, exc), status=exc.status)
    raise web.HTTPSeeOther(f"/admin/officials/{quote(slug)}/schedule?saved=1")


@routes.post("/admin/self-service", roles=ADMIN)
async def post_city_self_mode(request: web.Request) -> web.Response:
    """Allow (or not) every official to change their own mode (audited ``self_service_mode``)."""
    try:
        flag, reason = await _flag(request)
        await set_city_self_mode(request.config_dict[DB], flag, require_identity(request).actor,
                                 reason)
    except IvrError as exc:
        return await directory_page(request, error=error_text(request, exc), status=exc.status)
    raise web.HTTPSeeOther("/admin?saved=self-service")


def setup(app: web.Application) -> None:
    app[MESSAGES].add(TEXTS)
    app[ROUTES].add(app, routes)
