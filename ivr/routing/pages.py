"""The admin's routing pages: the directory with every official's current mode and a one-click
switch (with a reason, audited as ``web:<user>``), each official's schedule editor, and the
audit log (here rather than in ivr.directory: routing already imports directory, and the audit
query lives in routing's services)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote

from aiohttp import web

from ivr.core.constants import MODES
from ivr.core.errors import InvalidForm, InvalidMode, IvrError, ReasonRequired
from ivr.core.numbers import national_form
from ivr.core.windows import HOLIDAY, MAX_WINDOWS, format_days, window_parts
from ivr.db.models import Official
from ivr.db.nodes import node_states
from ivr.directory import services as directory
from ivr.directory.importer import IMPORT_REASON
from ivr.http import CONFIG, DB, ON_CHANGE, ROUTES, Routes, require_identity
from ivr.http.keys import PHONE_STATUS_TEXTS, phone_status
from ivr.http.pages import MESSAGES, NAV, TZ, error_text, lang_of, render, t, when
from ivr.routing import services as routing
from ivr.routing.effective import DAY_LABELS, Effective, days_label, effective_modes
from ivr.routing.selfmode import city_self_mode
from ivr.routing.services import MAX_REASON
from ivr.routing.texts import AUDIT_FIELDS, EFFECTIVE_TEXTS, STRATEGIES, actor_label, audit_value

ADMIN = ["admin"]
TEXTS: dict[str, tuple[str, str]] = {
    "routing.directory": ("领导目录", "Directory"),
    "routing.official": ("领导", "Official"),
    "routing.numbers": ("公布号码", "Published numbers"),
    "routing.mode": ("当前生效模式", "Mode in effect"),
    "routing.mode.direct": ("直接接听", "direct"),
    "routing.mode.pool": ("话务组", "pool"),
    "routing.mode.deputy": ("副职代接", "deputy"),
    "routing.mode.voicemail": ("留言", "voicemail"),
    "routing.switched": ("已切换", "Switched"),
    "routing.mode.label": ("模式", "Mode"),
    "routing.no_deputy": ("未指定副职", "no deputy named"),
    "routing.switch": ("切换", "Switch"),
    "routing.reason": ("原因", "Reason"),
    "routing.schedule": ("时间表", "Schedule"),
    "routing.schedule_help": ("每行一个时段：勾选日期，填开始和结束时间（结束早于开始即跨过午夜，"
                              "算在开始那天），选模式；多个时段重叠时，排在后面的生效。"
                              "不在任何时段内时，按管理员设置的模式接听",
                              "One window per row: tick the days, give the start and end (an end "
                              "before the start runs past midnight and belongs to the start's "
                              "day), choose the mode; where windows overlap the later row wins. "
                              "Outside every window the admin's switch applies"),
    "routing.days": ("日期", "Days"),
    "routing.start": ("开始", "Start"),
    "routing.end": ("结束", "End"),
    "routing.window": ("时段", "Window"),
    "routing.remove": ("删除", "Remove"),
    "routing.holiday": ("节假日", "Holidays"),
    "routing.current_greeting": ("当前问候语", "Current greeting"),
    "routing.no_greeting": ("尚未上传问候语（使用默认提示音）", "No greeting uploaded (the default prompt plays)"),
    "routing.save": ("保存", "Save"),
    "routing.saved": ("已保存", "Saved"),
    "routing.greeting": ("上传问候语 (WAV)", "Upload greeting (WAV)"),
    "routing.upload": ("上传", "Upload"),
    "routing.audit": ("审计日志", "Audit log"),
    "routing.at": ("时间", "At"),
    "routing.by": ("途径", "Via"),
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
    "routing.nodes_behind": ("以下节点的路由尚未更新，经这些节点的来电可能仍按旧设置处理",
                             "These nodes have not applied the routing yet: calls through them "
                             "may still follow the old settings"),
    "routing.nodes_link": ("各节点状态", "each node's state"),
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
    has_deputy: bool
    eff: Effective | None

    @classmethod
    def of(cls, o: Official, eff: Effective | None = None) -> OfficialRow:
        return cls(slug=o.slug, display_name=o.display_name, department=o.department,
                   numbers=[n.published or national_form(n.number)
                            for n in sorted(o.numbers, key=lambda n: n.number)],
                   mode=o.policy.mode if o.policy else "direct", availability=o.availability,
                   windows=len(o.windows), has_deputy=o.deputy_id is not None, eff=eff)


def why_of(request: web.Request, eff: Effective) -> list[tuple[str, str]]:
    """The reasons of an effective mode, one short phrase each with an id to show as code
    (a pool's name), joined by the page."""
    lang, colon = lang_of(request), t(request, "p.colon")
    out: list[tuple[str, str]] = []
    if eff.source == "switch":
        out.append((t(request, "eff.switch"), ""))
    else:
        head = t(request, "eff.window" if eff.source == "window" else "eff.holiday")
        out.append((f"{head} {days_label(eff.days, lang)} {eff.start}–{eff.end}", ""))
        if eff.mode != eff.stored:
            out.append((f"{t(request, 'eff.stored')}{colon}{t(request, 'routing.mode.' + eff.stored)}", ""))
    if eff.availability != "available":
        out.append((f"{t(request, 'avail.label')}{colon}{t(request, 'avail.' + eff.availability)}", ""))
    first, code = t(request, "eff.step." + eff.first), ""
    if eff.first == "pool":
        code = eff.pool
    elif eff.first == "deputy" and eff.deputy:
        first = f"{first} {eff.deputy}"
    if eff.first != eff.mode or eff.first == "pool":
        out.append((f"{t(request, 'eff.first')}{colon}{first}", code))
    if eff.until is not None:
        out.append((f"{t(request, 'eff.next')}{colon}{when(request, eff.until)}", ""))
    return out


async def directory_page(request: web.Request, *, flash: str = "", error: str = "",
                         status: int = 200) -> web.Response:
    db = request.config_dict[DB]
    officials = await directory.list_officials(db)
    effs = await effective_modes(db, request.config_dict[CONFIG], officials)
    rows = [OfficialRow.of(o, effs.get(o.id)) for o in officials]
    return render(request, "routing/directory.html",
                  {"officials": rows, "modes": MODES, "max_reason": MAX_REASON,
                   "city_self_mode": await city_self_mode(db),
                   "nodes_behind": [n.node for n in await node_states(db) if not n.ok],
                   "why": {r.slug: why_of(request, r.eff) for r in rows if r.eff}},
                  title="routing.directory", flash=flash, error=error, status=status)


@routes.get("/admin", roles=ADMIN)
async def admin_index(request: web.Request) -> web.Response:
    saved = request.query.get("saved")
    flash = ""
    if saved:
        try:
            o = await directory.get_official(request.config_dict[DB], saved)
            mode = o.policy.mode if o.policy else "direct"
            flash = (f"{t(request, 'routing.switched')}{t(request, 'p.colon')}{o.display_name} → "
                     f"{t(request, 'routing.mode.' + mode)}")
        except IvrError:
            flash = t(request, "routing.saved")
    return await directory_page(request, flash=flash)


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


BLANK_ROWS = 2


def _rows_of(windows: list[dict[str, str]]) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for w in windows:
        days, _, _, _ = window_parts(w["days"], "00:00", "01:00", w["mode"])
        rows.append({"days": sorted(days), "start": w["start"], "end": w["end"], "mode": w["mode"]})
    return rows + [{"days": [], "start": "", "end": "", "mode": ""}] * BLANK_ROWS


def raw_rows(form: Mapping[str, object]) -> list[dict[str, object]]:
    """The editor's rows as typed (to show them again with an error, nothing lost)."""
    count = str(form.get("rows", "0"))
    n_rows = min(int(count), MAX_WINDOWS + BLANK_ROWS) if count.isdigit() else 0
    getall = getattr(form, "getall", None)
    rows: list[dict[str, object]] = []
    for n in range(n_rows):
        ticked = [str(v) for v in (getall(f"days-{n}", []) if getall else [])]
        rows.append({"days": sorted({int(v) for v in ticked if v.isdigit() and int(v) <= HOLIDAY}),
                     "start": str(form.get(f"start-{n}", ""))[:8],
                     "end": str(form.get(f"end-{n}", ""))[:8],
                     "mode": str(form.get(f"mode-{n}", ""))[:16]})
    return rows


def form_windows(form: Mapping[str, object]) -> list[dict[str, str]]:
    """The structured editor's rows (``days-N`` ticked days 0–6 or 7 for holidays, ``start-N``,
    ``end-N``, ``mode-N``) → windows; a wholly empty row is skipped."""
    out: list[dict[str, str]] = []
    count = str(form.get("rows", "0"))
    if not count.isdigit() or int(count) > MAX_WINDOWS + BLANK_ROWS:
        raise InvalidForm("rows: a small whole number", {"field": "rows"})
    getall = getattr(form, "getall", None)
    for n in range(int(count)):
        ticked = [str(v) for v in (getall(f"days-{n}", []) if getall else [])]
        start, end = str(form.get(f"start-{n}", "")).strip(), str(form.get(f"end-{n}", "")).strip()
        mode = str(form.get(f"mode-{n}", "")).strip()
        if not ticked and not start and not end:
            continue
        if not all(v.isdigit() and int(v) <= HOLIDAY for v in ticked):
            raise InvalidForm(f"window {n + 1}: unknown day", {"field": f"days-{n}"})
        days = {int(v) for v in ticked}
        if not days:
            raise InvalidForm(f"window {n + 1}: tick at least one day", {"field": f"days-{n}"})
        if HOLIDAY in days and len(days) > 1:
            raise InvalidForm(f"window {n + 1}: a holiday window names no weekday",
                              {"field": f"days-{n}"})
        out.append({"days": "holiday" if HOLIDAY in days else format_days(days),
                    "start": start, "end": end, "mode": mode})
    return out


async def schedule_page(request: web.Request, *, rows: list[dict[str, object]] | None = None,
                        flash: str = "", error: str = "", status: int = 200) -> web.Response:
    """The schedule editor of the official in the path (with the phones and the greeting)."""
    db = request.config_dict[DB]
    o = await directory.get_official(db, request.match_info["slug"])
    if rows is None:
        rows = _rows_of(routing.windows_of(o))
    eff = (await effective_modes(db, request.config_dict[CONFIG], [o])).get(o.id)
    config = request.config_dict[CONFIG]
    greeting = (config.host_path(config.prompts_dir_inside) / o.language
                / f"ivr-greeting-{o.id}.wav").is_file()
    lang = lang_of(request)
    phones = await phone_status(request, [d.endpoint for d in o.devices if d.endpoint])
    return render(request, "routing/schedule.html",
                  {"official": o, "mode": o.policy.mode if o.policy else "direct", "eff": eff, "phones": phones,
                   "why": why_of(request, eff) if eff else [], "rows": rows, "modes": MODES,
                   "day_names": [d[1 if lang == "en" else 0] for d in DAY_LABELS],
                   "tz_name": (request.get(TZ) or config.database.timezone),
                   "greeting": greeting, "max_reason": MAX_REASON,
                   "city_self_mode": await city_self_mode(db)},
                  title="routing.schedule", flash=flash, error=error, status=status)


@routes.get("/admin/officials/{slug}/schedule", roles=ADMIN)
async def get_schedule(request: web.Request) -> web.Response:
    return await schedule_page(request, flash=t(request, "routing.saved") if "saved" in request.query else "")


@routes.post("/admin/officials/{slug}/schedule", roles=ADMIN)
async def post_schedule(request: web.Request) -> web.Response:
    """Replace an official's weekly schedule windows (audited)."""
    form = await request.post()
    rows: list[dict[str, object]] | None = None if "windows" in form else raw_rows(form)
    try:
        if "windows" in form:  # one window per line (scripts; the page sends rows)
            windows = parse_windows(str(form.get("windows", "")))
        else:
            windows = form_windows(form)
        rows = _rows_of(windows) if "windows" in form else raw_rows(form)
        await routing.set_schedule(request.config_dict[DB], request.match_info["slug"],
                                   windows, require_identity(request).actor,
                                   str(form.get("reason", "")),
                                   on_change=request.config_dict.get(ON_CHANGE))
    except (IvrError, ValueError) as exc:
        err = exc if isinstance(exc, IvrError) else InvalidForm(str(exc), {"field": "windows"})
        return await schedule_page(request, rows=rows, error=error_text(request, err),
                                   status=err.status)
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
    officials = await directory.list_officials(db)
    names: dict[int | None, str] = {o.id: o.display_name for o in officials}
    slugs = {o.slug: o.display_name for o in officials}
    lang = lang_of(request)

    def text(key: str) -> str:
        return t(request, key)

    def days(d: str) -> str:
        return days_label(d, lang)

    def at(dt: datetime) -> str:
        return when(request, dt, zone=True)

    rows = []
    for a in entries:
        channel, who = actor_label(a.actor, text)
        field = t(request, f"audit.field.{a.field}") if f"audit.field.{a.field}" in AUDIT_FIELDS \
            else a.field
        rows.append({"at": when(request, a.at), "channel": channel, "who": who,
                     "official": names.get(a.official_id, ""), "field": field,
                     "old": audit_value(a.field, a.old_value, text, days, slugs, at),
                     "new": audit_value(a.field, a.new_value, text, days, slugs, at),
                     "reason": t(request, "audit.reason.import") if a.reason == IMPORT_REASON
                     else a.reason})
    return render(request, "routing/audit.html", {"rows": rows}, title="routing.audit")


def setup(app: web.Application) -> None:
    app[MESSAGES].add(TEXTS)
    app[MESSAGES].add(PHONE_STATUS_TEXTS)
    app[MESSAGES].add(EFFECTIVE_TEXTS)
    app[MESSAGES].add(AUDIT_FIELDS)
    app[MESSAGES].add(STRATEGIES)
    app[NAV].add(ADMIN, "/admin", "routing.directory")
    app[NAV].add(ADMIN, "/admin/audit", "routing.audit")
    app[ROUTES].add(app, routes)
