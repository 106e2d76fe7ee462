"""An official's own page (issue 15), their home: their availability with its automatic return
time — 会议 / 请假 / 勿扰, or back to 可接听 — and their mode when an admin allowed it. Small and
mobile-first: one column, big buttons, the times in the city's timezone. The changes go through
the same audited services as the API (actor ``web:<user>``); a failed mirror write is shown."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from aiohttp import web

from ivr.core.config_self import FEATURE_CODES
from ivr.core.constants import MODES
from ivr.core.errors import Forbidden, InvalidForm, IvrError
from ivr.core.timeutil import as_utc, utcnow
from ivr.db.settings import current_timezone
from ivr.directory import services as directory
from ivr.http import CONFIG, DB, ON_CHANGE, ROUTES, Routes, require_identity
from ivr.http.localtime import zone_label
from ivr.http.pages import MESSAGES, NAV, error_text, lang_of, render, t
from ivr.routing import services as routing
from ivr.routing.selfmode import check_own_mode, may_set_own_mode

OFFICIAL = ["official"]
AWAY = ("meeting", "leave", "dnd")
DURATIONS = (30, 60, 120, 240)  # quick choices, minutes
TEXTS: dict[str, tuple[str, str]] = {
    "self.title": ("我的状态", "My status"),
    "self.now": ("当前状态", "Now"),
    "self.until": ("自动恢复接听", "Back automatically"),
    "self.no_until": ("需手动恢复", "Until changed"),
    "self.state.available": ("可接听", "Available"),
    "self.state.meeting": ("会议", "In a meeting"),
    "self.state.leave": ("请假", "On leave"),
    "self.state.dnd": ("勿扰", "Do not disturb"),
    "self.set": ("设置状态", "Set my status"),
    "self.for": ("时长", "For"),
    "self.minutes": ("{n} 分钟", "{n} min"),
    "self.hours": ("{n} 小时", "{n} h"),
    "self.until_time": ("或到此时间", "or until"),
    "self.note": ("备注", "Note"),
    "self.back": ("恢复接听", "I'm available"),
    "self.away_help": ("会议、请假、勿扰期间，来电不再直接转到您的电话，按您的转接顺序由副职、话务组或留言处理；"
                       "到时间自动恢复，控制器停机时也一样。",
                       "While away, calls skip your phone and follow your fallback (deputy, pool or "
                       "voicemail); they reach you again at the return time, even if the controller is down."),
    "self.mode": ("接听方式", "How my calls are answered"),
    "self.mode_locked": ("接听方式由管理员设置。", "Your mode is set by an administrator."),
    "self.codes": ("在办公电话上拨号设置", "From your desk phone"),
    "self.code.available": ("恢复接听", "available"),
    "self.code.meeting": ("会议 {n}", "meeting for {n}"),
    "self.code.leave": ("请假 {n}", "leave for {n}"),
    "self.code.dnd": ("勿扰 {n}", "do not disturb for {n}"),
    "self.local_time": ("当地时间", "local time"),
    "self.saved": ("已保存", "Saved"),
    "self.mirror_failed": ("已保存，但未能写入电话系统：控制器恢复连接后会自动同步。"
                           "在此之前若控制器停机，来电可能仍按原状态处理。",
                           "Saved, but not written to the phone system: it is synced when the "
                           "controller reconnects. Until then, calls routed without the controller "
                           "may follow the old status."),
    "self.unlinked": ("此帐号未关联领导。", "This account is not linked to an official."),
}
routes = Routes("selfservice")


def _own(request: web.Request) -> int:
    who = require_identity(request)
    if who.official_id is None:
        raise Forbidden("this account is not linked to an official")
    return who.official_id


async def self_page(request: web.Request, *, flash: str = "", error: str = "",
                    status: int = 200) -> web.Response:
    db = request.config_dict[DB]
    o = await directory.get_official(db, _own(request))
    tz = ZoneInfo(await current_timezone(db))
    until = as_utc(o.availability_until).astimezone(tz) if o.availability_until else None
    durations = request.config_dict[CONFIG].self_service
    codes = [(f"*{code}", state, _duration(request, durations.minutes(state)))
             for code, state in FEATURE_CODES.items()]
    default_until = (utcnow().astimezone(tz) + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")
    return render(request, "selfservice/me.html", {
        "official": o, "until": until.strftime("%m-%d %H:%M") if until else "",
        "zone": zone_label(tz, lang_of(request)), "away": AWAY, "durations": DURATIONS, "modes": MODES,
        "mode": o.policy.mode if o.policy else "direct", "codes": codes,
        "may_set_mode": await may_set_own_mode(db, o), "default_until": default_until,
    }, title="self.title", flash=flash, error=error, status=status)


def _duration(request: web.Request, minutes: int | None) -> str:
    if minutes is None:
        return ""
    if minutes % 60 == 0:
        return t(request, "self.hours").replace("{n}", str(minutes // 60))
    return t(request, "self.minutes").replace("{n}", str(minutes))


@routes.get("/me", roles=OFFICIAL)
async def get_me(request: web.Request) -> web.Response:
    """The official's own status page (their home)."""
    saved = request.query.get("saved")
    flash = {"1": t(request, "self.saved"), "mirror": ""}.get(saved or "", "")
    error = t(request, "self.mirror_failed") if saved == "mirror" else ""
    return await self_page(request, flash=flash, error=error)


async def _until(request: web.Request, form: dict[str, str]) -> datetime | None:
    minutes, at = form.get("minutes", ""), form.get("until", "")
    if minutes:
        if not minutes.isdigit() or not 1 <= int(minutes) <= 527040:
            raise InvalidForm("minutes must be a whole number", {"field": "minutes"})
        return utcnow() + timedelta(minutes=int(minutes))
    if at:
        try:
            local = datetime.strptime(at, "%Y-%m-%dT%H:%M")
        except ValueError:
            raise InvalidForm("the return time is not a date and time", {"field": "until"}) from None
        return local.replace(tzinfo=ZoneInfo(await current_timezone(request.config_dict[DB])))
    return None


@routes.post("/me/availability", roles=OFFICIAL)
async def post_availability(request: web.Request) -> web.Response:
    """Set the official's own availability, with a return time (minutes or a local time)."""
    form = {k: str(v) for k, v in (await request.post()).items()}
    report: list[str] = []
    try:
        state = form.get("availability", "")
        until = await _until(request, form) if state != "available" else None
        await routing.set_availability(
            request.config_dict[DB], _own(request), state, require_identity(request).actor,
            "自助设置 (self-service)", note=form.get("note") if "note" in form else None,
            until=until, on_change=request.config_dict.get(ON_CHANGE), report=report)
    except IvrError as exc:
        return await self_page(request, error=error_text(request, exc), status=exc.status)
    raise web.HTTPSeeOther("/me?saved=" + ("mirror" if report else "1"))


@routes.post("/me/mode", roles=OFFICIAL)
async def post_mode(request: web.Request) -> web.Response:
    """Change the official's own mode, when an admin allowed it (409 otherwise)."""
    form = await request.post()
    db = request.config_dict[DB]
    report: list[str] = []
    try:
        oid = _own(request)
        await check_own_mode(db, oid)
        await routing.set_mode(db, oid, str(form.get("mode", "")), require_identity(request).actor,
                               "自助设置 (self-service)",
                               on_change=request.config_dict.get(ON_CHANGE), report=report)
    except IvrError as exc:
        return await self_page(request, error=error_text(request, exc), status=exc.status)
    raise web.HTTPSeeOther("/me?saved=" + ("mirror" if report else "1"))


def setup(app: web.Application) -> None:
    app[MESSAGES].add(TEXTS)
    app[NAV].add(OFFICIAL, "/me", "self.title")
    app[ROUTES].add(app, routes)
