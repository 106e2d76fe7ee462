"""The admin's routing pages: the directory with every official's current mode and a one-click
switch (with a reason, audited as ``web:<user>``), each official's schedule editor, and the
audit log (here rather than in ivr.directory: routing already imports directory, and the audit
query lives in routing's services)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from aiohttp import web

from ivr.core.constants import MODES
from ivr.core.errors import InvalidForm, InvalidMode, IvrError, ReasonRequired
from ivr.db.models import Official
from ivr.directory import services as directory
from ivr.http import DB, ON_CHANGE, ROUTES, Routes, require_identity
from ivr.http.keys import PHONE_STATUS_TEXTS, phone_status
from ivr.http.pages import MESSAGES, NAV, error_text, render, t
from ivr.routing import services as routing
from ivr.routing.services import MAX_REASON

ADMIN = ["admin"]
TEXTS: dict[str, tuple[str, str]] = {
    "routing.directory": ("官员目录", "Directory"),
    "routing.official": ("官员", "Official"),
    "routing.numbers": ("公布号码", "Published numbers"),
    "routing.mode": ("当前模式", "Current mode"),
    "routing.mode.direct": ("直接接听", "direct"),
    "routing.mode.pool": ("话务组", "pool"),
    "routing.mode.deputy": ("副职代接", "deputy"),
    "routing.mode.voicemail": ("留言", "voicemail"),
    "routing.switch": ("切换", "Switch"),
    "routing.reason": ("原因", "Reason"),
    "routing.schedule": ("时间表", "Schedule"),
    "routing.schedule_help": ("每行一个时段：日期 开始 结束 模式，例如 mon-fri 18:00 08:30 voicemail",
                              "One window per line: days start end mode, e.g. mon-fri 18:00 08:30 voicemail"),
    "routing.save": ("保存", "Save"),
    "routing.saved": ("已保存", "Saved"),
    "routing.greeting": ("上传问候语 (WAV)", "Upload greeting (WAV)"),
    "routing.upload": ("上传", "Upload"),
    "routing.audit": ("审计日志", "Audit log"),
    "routing.at": ("时间", "At"),
    "routing.actor": ("操作人", "Actor"),
    "routing.field": ("项目", "Field"),
    "routing.old": ("原值", "Old"),
    "routing.new": ("新值", "New"),
    "routing.devices": ("电话", "Phones"),
    "routing.confirm_help": ("要求按1确认：接听后先听到“这是公开电话来电，请按1接听”，按1才接通市民"
                             "（运营商语音信箱或提示音不算接听）",
                             "Confirm with 1: on answering, the callee first hears the prompt and "
                             "only 1 connects the citizen (a carrier's voicemail never counts)"),
    "routing.confirm.on": ("要求按1确认", "confirms with 1"),
    "routing.confirm.off": ("直接接通", "connects at once"),
    "routing.confirm.turn_on": ("改为按1确认", "Require 1"),
    "routing.confirm.turn_off": ("改为直接接通", "Connect at once"),
    "error.reason-required": ("请填写切换原因", "A reason is required"),
}
routes = Routes("routing")


@dataclass(frozen=True)
class OfficialRow:
    slug: str
    display_name: str
    department: str
    numbers: list[str]
    mode: str
    availability: str
    windows: int

    @classmethod
    def of(cls, o: Official) -> OfficialRow:
        return cls(slug=o.slug, display_name=o.display_name, department=o.department,
                   numbers=sorted(n.number for n in o.numbers),
                   mode=o.policy.mode if o.policy else "direct", availability=o.availability,
                   windows=len(o.windows))


async def directory_page(request: web.Request, *, flash: str = "", error: str = "",
                         status: int = 200) -> web.Response:
    officials = await directory.list_officials(request.config_dict[DB])
    return render(request, "routing/directory.html",
                  {"officials": [OfficialRow.of(o) for o in officials], "modes": MODES,
                   "max_reason": MAX_REASON},
                  title="routing.directory", flash=flash, error=error, status=status)


@routes.get("/admin", roles=ADMIN)
async def admin_index(request: web.Request) -> web.Response:
    saved = request.query.get("saved")
    return await directory_page(request, flash=f"{t(request, 'routing.saved')}: {saved}" if saved else "")


def _check_mode_form(mode: str, reason: str) -> None:
    if mode not in MODES:
        raise InvalidMode(f"invalid mode {mode!r}: one of {', '.join(MODES)}", {"field": "mode"})
    if not reason:
        raise ReasonRequired("a reason is required for the audit log", {"field": "reason"})
    if len(reason) > MAX_REASON:
        raise InvalidForm(f"the reason may have at most {MAX_REASON} characters",
                          {"field": "reason"})


@routes.post("/admin/officials/{slug}/mode", roles=ADMIN)
async def post_mode(request: web.Request) -> web.Response:
    """Switch an official's mode (one click, a reason required); the next call follows."""
    form = await request.post()
    mode, reason = str(form.get("mode", "")), str(form.get("reason", "")).strip()
    try:
        _check_mode_form(mode, reason)
        o = await routing.set_mode(request.config_dict[DB], request.match_info["slug"], mode,
                                   require_identity(request).actor, reason,
                                   on_change=request.config_dict.get(ON_CHANGE))
    except IvrError as exc:
        return await directory_page(request, error=error_text(request, exc), status=exc.status)
    raise web.HTTPSeeOther(f"/admin?saved={quote(o.slug)}")


def parse_windows(text: str) -> list[dict[str, str]]:
    """One window per line: ``days start end mode``."""
    windows = []
    for n, line in enumerate(text.splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 4:
            raise InvalidForm(f"line {n}: expected 4 items (days start end mode), got {len(parts)}",
                              {"field": "windows", "line": n})
        windows.append(dict(zip(("days", "start", "end", "mode"), parts, strict=True)))
    return windows


async def schedule_page(request: web.Request, *, text: str | None = None, flash: str = "",
                        error: str = "", status: int = 200) -> web.Response:
    """The schedule editor of the official in the path (with the greeting upload form)."""
    o = await directory.get_official(request.config_dict[DB], request.match_info["slug"])
    if text is None:
        text = "\n".join(f"{w['days']} {w['start']} {w['end']} {w['mode']}"
                         for w in routing.windows_of(o))
    phones = await phone_status(request, [d.endpoint for d in o.devices if d.endpoint])
    return render(request, "routing/schedule.html",
                  {"official": o, "mode": o.policy.mode if o.policy else "direct", "phones": phones,
                   "windows": text, "max_reason": MAX_REASON},
                  title="routing.schedule", flash=flash, error=error, status=status)


@routes.get("/admin/officials/{slug}/schedule", roles=ADMIN)
async def get_schedule(request: web.Request) -> web.Response:
    return await schedule_page(request, flash=t(request, "routing.saved") if "saved" in request.query else "")


@routes.post("/admin/officials/{slug}/schedule", roles=ADMIN)
async def post_schedule(request: web.Request) -> web.Response:
    """Replace an official's weekly schedule windows (audited)."""
    form = await request.post()
    text = str(form.get("windows", ""))
    try:
        await routing.set_schedule(request.config_dict[DB], request.match_info["slug"],
                                   parse_windows(text), require_identity(request).actor,
                                   str(form.get("reason", "")),
                                   on_change=request.config_dict.get(ON_CHANGE))
    except IvrError as exc:
        return await schedule_page(request, text=text, error=error_text(request, exc),
                                   status=exc.status)
    raise web.HTTPSeeOther(f"/admin/officials/{quote(request.match_info['slug'])}/schedule?saved=1")


@routes.post("/admin/officials/{slug}/devices/{device}/confirm", roles=ADMIN)
async def post_device_confirm(request: web.Request) -> web.Response:
    """Whether the callee on one device presses 1 before the call is theirs (audited)."""
    form = await request.post()
    value = str(form.get("confirm", ""))
    try:
        if value not in ("true", "false"):
            raise InvalidForm("confirm must be true or false", {"field": "confirm"})
        await routing.set_device_confirm(
            request.config_dict[DB], request.match_info["slug"], request.match_info["device"],
            value == "true", require_identity(request).actor, str(form.get("reason", "")),
            on_change=request.config_dict.get(ON_CHANGE))
    except IvrError as exc:
        return await schedule_page(request, error=error_text(request, exc), status=exc.status)
    raise web.HTTPSeeOther(f"/admin/officials/{quote(request.match_info['slug'])}/schedule?saved=1")


@routes.get("/admin/audit", roles=ADMIN)
async def admin_audit(request: web.Request) -> web.Response:
    """The audit log, newest first (``?official=<slug>`` narrows it)."""
    db = request.config_dict[DB]
    entries = await routing.audit_log(db, official=request.query.get("official") or None, limit=200)
    names: dict[int | None, str] = {o.id: o.display_name for o in await directory.list_officials(db)}
    rows = [[a.at.isoformat(timespec="seconds") if a.at else "", a.actor,
             names.get(a.official_id, str(a.official_id or "")), a.field,
             a.old_value or "", a.new_value or "", a.reason] for a in entries]
    return render(request, "routing/audit.html", {"rows": rows}, title="routing.audit")


def setup(app: web.Application) -> None:
    app[MESSAGES].add(TEXTS)
    app[MESSAGES].add(PHONE_STATUS_TEXTS)
    app[NAV].add(ADMIN, "/admin", "routing.directory")
    app[NAV].add(ADMIN, "/admin/audit", "routing.audit")
    app[ROUTES].add(app, routes)
