"""The supervisors' test calls page (``/supervision/testcalls``, Mandarin first): schedule test
calls (now, or N per day within hours), stop a schedule, and read each test call's result."""

from __future__ import annotations

from aiohttp import web

from ivr.core.errors import InvalidInput, IvrError
from ivr.core.ids import parse_id
from ivr.db.settings import current_timezone
from ivr.http import CONFIG, DB, ROUTES, Routes, require_identity
from ivr.http.pages import MESSAGES, NAV, error_text, lang_of, render
from ivr.testcalls import report, schedules
from ivr.testcalls.http import SUPERVISORS
from ivr.testcalls.http import routes as api_routes

routes = Routes("testcalls-pages")
PAGE = "/supervision/testcalls"
TEXTS: dict[str, tuple[str, str]] = {
    "tc.title": ("监督拨测", "Test calls"),
    "tc.numbers": ("号码（每行一个，或用逗号分隔）", "Numbers (one a line, or comma-separated)"),
    "tc.mode": ("方式", "Mode"), "tc.now": ("立即拨测", "Now"),
    "tc.daily": ("每天随机时间", "Daily at random times"),
    "tc.per_day": ("每个号码每天次数", "Per number per day"),
    "tc.hours": ("时段（如 09:00-17:00）", "Hours (e.g. 09:00-17:00)"),
    "tc.days": ("天数", "Days"), "tc.note": ("备注", "Note"),
    "tc.schedule": ("安排拨测", "Schedule"), "tc.schedules": ("拨测计划", "Schedules"),
    "tc.stop": ("停止", "Stop"), "tc.active": ("进行中", "Active"),
    "tc.stopped": ("已停止", "Stopped"), "tc.calls": ("拨测结果", "Results"),
    "tc.number": ("号码", "Number"), "tc.official": ("领导", "Official"),
    "tc.due": ("计划时间", "Due"), "tc.result": ("结果", "Result"),
    "tc.by": ("接听设备", "Answered by"), "tc.role": ("接听人", "Answered as"),
    "tc.ack_secs": ("确认用时（秒）", "Acknowledged after (s)"),
    "tc.ended": ("路由结束于", "Route ended at"), "tc.state": ("状态", "State"),
    "tc.none": ("尚无拨测", "No test call yet"), "tc.totals": ("合计", "Totals"),
    "tc.period": ("日期", "Days"), "tc.pending": ("待拨", "to be placed"),
}


async def _page(request: web.Request, error: str = "", status: int = 200) -> web.Response:
    db = request.config_dict[DB]
    tz = await current_timezone(db)
    lang = 0 if lang_of(request) == "zh" else 1
    rows = [(t, name, report.local(t.due_at, tz),
             report.RESULT_TEXTS.get(t.result or "", ("", ""))[lang] if t.result else "")
            for t, name in await report.calls(db, limit=300)]
    totals = [(report.RESULT_TEXTS[r][lang], n) for r, n in (await report.totals(db)).items()]
    return render(request, "testcalls/testcalls.html", {
        "schedules": await schedules.listing(db), "rows": rows, "totals": totals,
        "configured": request.config_dict[CONFIG].testcalls.enabled
        and bool(request.config_dict[CONFIG].testcalls.caller)},
        title="tc.title", error=error, status=status)


@routes.get(PAGE, roles=SUPERVISORS)
async def testcalls_page(request: web.Request) -> web.Response:
    """The test calls: schedules and results."""
    return await _page(request)


@routes.post(PAGE, roles=SUPERVISORS)
async def testcalls_schedule(request: web.Request) -> web.Response:
    """Schedule test calls from the page's form."""
    form = await request.post()
    numbers = [n.strip() for n in str(form.get("numbers", "")).replace(",", "\n").splitlines()
               if n.strip()]
    try:
        try:
            per_day, days = int(str(form.get("per_day", "1"))), int(str(form.get("days", "1")))
        except ValueError:
            raise InvalidInput("per_day and days are numbers", {}) from None
        await schedules.create(request.config_dict[DB], request.config_dict[CONFIG].testcalls,
                               numbers, str(form.get("mode", "now")),
                               require_identity(request).actor, per_day=per_day,
                               hours=str(form.get("hours", "")), days=days,
                               note=str(form.get("note", ""))[:200])
    except IvrError as exc:
        return await _page(request, error_text(request, exc), exc.status)
    raise web.HTTPSeeOther(PAGE)


@routes.post(PAGE + "/{id}/stop", roles=SUPERVISORS)
async def testcalls_stop(request: web.Request) -> web.Response:
    """Stop a schedule from the page."""
    schedule_id = parse_id(request.match_info["id"])
    try:
        if schedule_id is None:
            raise InvalidInput("schedule id must be a number", {"id": request.match_info["id"]})
        await schedules.stop(request.config_dict[DB], schedule_id)
    except IvrError as exc:
        return await _page(request, error_text(request, exc), exc.status)
    raise web.HTTPSeeOther(PAGE)


def setup(app: web.Application) -> None:
    app[MESSAGES].add(TEXTS)
    app[NAV].add(list(SUPERVISORS), PAGE, "tc.title")
    app[ROUTES].add(app, api_routes)
    app[ROUTES].add(app, routes)
