"""The supervision figures over HTTP: ``GET /api/v1/stats`` (JSON), the dashboard page and its
CSV export — the same figures (``ivr.supervision.reports.figures``) for the same query."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

from aiohttp import web

from ivr.core.constants import API_PREFIX
from ivr.core.errors import Forbidden, InvalidInput
from ivr.core.timeutil import parse_iso_time
from ivr.db.settings import current_timezone
from ivr.http import DB, ROUTES, Routes, require_identity
from ivr.http.pages import MESSAGES, NAV, error_text, page_tz, render
from ivr.http.scopes import OFFICIAL_QUERY
from ivr.supervision import charts, reports
from ivr.supervision.reports import OverdueCounter
from ivr.supervision.stats_schemas import StatsOut, StatsQuery

routes = Routes("stats")
READERS = ("admin", "supervisor", "official")
# the overdue-case counter another feature provides (set by setup; absent: not counted)
OVERDUE_CASES = web.AppKey[OverdueCounter]("overdue_cases")

TEXTS: dict[str, tuple[str, str]] = {
    "dashboard.title": ("监督统计", "Supervision dashboard"),
    "dashboard.from": ("开始", "From"), "dashboard.to": ("结束", "To"),
    "dashboard.show": ("查看", "Show"), "dashboard.export_csv": ("导出 CSV", "Export CSV"),
    "dashboard.per_official": ("按领导", "Per official"),
    "dashboard.per_pool": ("按话务组", "Per pool"),
    "dashboard.per_hour": ("每小时来电", "Calls per hour"),
    "dashboard.official": ("领导", "Official"), "dashboard.pool": ("话务组", "Pool"),
    "dashboard.total": ("合计", "Total"),
    "dashboard.period": ("统计周期", "Period"),
    "dashboard.trend": ("每日来电（按结果）", "Calls per day by outcome"),
    "dashboard.shares": ("各领导来电结果占比", "Outcome shares per official"),
    "dashboard.part.answered": ("已接听", "answered"),
    "dashboard.part.voicemail": ("留言", "voicemail"),
    "dashboard.part.missed": ("未接", "missed"),
    "dashboard.part.abandoned": ("来电者挂断", "abandoned"),
    "dashboard.calls_n": ("通", "calls"),
    "dashboard.period_to": ("至", "to"),
    "dashboard.default_period": ("（默认：最近7天，含今天）", "(default: the last 7 days, today included)"),
    "dashboard.calls": ("来电", "Calls"), "dashboard.answered_pct": ("接通率", "Answered %"),
    "dashboard.by_self": ("本人接听", "Answered by the official"),
    "dashboard.by_others": ("他人接听", "Answered by others"),
    "dashboard.abandoned_pct": ("放弃率", "Abandoned %"),
    "dashboard.missed_pct": ("未接率", "Missed %"),
    "dashboard.voicemail": ("留言", "Messages"),
    "dashboard.interrupted": ("中断", "Interrupted"),
    "dashboard.asa": ("平均应答(秒)", "Avg. speed of answer (s)"),
    "dashboard.service_level": ("20秒内接通率", "Service level (20 s)"),
    "dashboard.overdue": ("逾期工单", "Overdue cases"),
    "dashboard.expected_pct": ("应答人接听率", "Answered by the expected party %"),
    "dashboard.others_pct": ("非应答人接听率", "Answered by another party %"),
    "dashboard.median": ("接听时长中位数(秒)", "Median time to answer (s)"),
    "dashboard.p90": ("90%接听时长(秒)", "90th percentile time to answer (s)"),
    "dashboard.on_time_pct": ("按时回访率", "Followed up on time %"),
    "dashboard.rank": ("排名", "Rank"),
    "dashboard.per_department": ("按部门", "Per department"),
    "dashboard.department": ("部门", "Department"),
    "dashboard.per_day": ("每日趋势", "Trend per day"),
    "dashboard.day": ("日期", "Day"),
    "dashboard.ratings": ("回访评价数", "Satisfaction ratings"),
    "dashboard.satisfied_pct": ("满意率", "Satisfied %"),
    "dashboard.fairly_pct": ("基本满意率", "Fairly satisfied %"),
    "dashboard.not_satisfied_pct": ("不满意率", "Not satisfied %"),
}
# the table's columns: figure, heading's message id
COLUMNS = (("calls", "dashboard.calls"), ("answered_pct", "dashboard.answered_pct"),
           ("answered_by_official", "dashboard.by_self"),
           ("answered_by_others", "dashboard.by_others"),
           ("abandoned_pct", "dashboard.abandoned_pct"), ("asa_seconds", "dashboard.asa"),
           ("service_level_pct", "dashboard.service_level"),
           ("overdue_cases", "dashboard.overdue"), ("missed_pct", "dashboard.missed_pct"),
           ("voicemail", "dashboard.voicemail"), ("interrupted", "dashboard.interrupted"),
           ("answered_expected_pct", "dashboard.expected_pct"),
           ("answered_other_party_pct", "dashboard.others_pct"),
           ("median_answer_seconds", "dashboard.median"), ("p90_answer_seconds", "dashboard.p90"),
           ("followed_on_time_pct", "dashboard.on_time_pct"), ("rank", "dashboard.rank"),
           ("ratings", "dashboard.ratings"), ("satisfied_pct", "dashboard.satisfied_pct"),
           ("fairly_satisfied_pct", "dashboard.fairly_pct"),
           ("not_satisfied_pct", "dashboard.not_satisfied_pct"))


async def request_figures(request: web.Request, query: StatsQuery) -> StatsOut:
    """The figures ``query`` asks for; an official gets their own official's only (the route's
    scope has already refused asking for another)."""
    identity = require_identity(request)
    db = request.config_dict[DB]
    if identity.role == "official":
        if identity.official_id is None:
            raise Forbidden("this account is not linked to an official")
        official_id: int | None = identity.official_id
    else:
        official_id = await reports.official_ref(db, query.official)
    tz = await current_timezone(db)
    since, until = reports.period(query.since, query.until, tz)
    return await reports.figures(db, tz, since, until, official_id,
                                 request.config_dict.get(OVERDUE_CASES))


@routes.get(f"{API_PREFIX}/stats", roles=READERS, scope=OFFICIAL_QUERY, query=StatsQuery,
            response=StatsOut,
            summary="Supervisor figures per official and per pool over a period (computed from "
                    "the call records; officials get only their own)")
async def api_stats(request: web.Request, query: StatsQuery) -> StatsOut:
    return await request_figures(request, query)


@routes.get("/dashboard.csv", roles=READERS, query=StatsQuery)
async def stats_csv(request: web.Request, query: StatsQuery) -> web.Response:
    """The dashboard's figures as CSV (UTF-8 with a BOM, for spreadsheets)."""
    text = reports.to_csv(await request_figures(request, query))
    return web.Response(body=("\ufeff" + text).encode(), content_type="text/csv",
                        charset="utf-8", headers={
                            "Content-Disposition": 'attachment; filename="ivr-dashboard.csv"'})


def _qs(query: StatsQuery, **override: str) -> str:
    q = {k: v for k, v in query.model_dump().items() if v}
    q.update(override)
    return urlencode(q)


def _cell(value: object, column: str = "") -> str:
    if value is None:
        return "–"
    return f"{value}%" if column.endswith("_pct") else str(value)


def _cells(values: dict[str, object], names: list[str]) -> list[str]:
    return [_cell(values.get(c), c) for c in names]


def _period(request: web.Request, since: str, until: str) -> tuple[str, str]:
    """The period shown (first and last day, the city's dates; ``until`` is exclusive)."""
    tz = page_tz(request)
    first = parse_iso_time(since).astimezone(tz)
    last = (parse_iso_time(until) - timedelta(seconds=1)).astimezone(tz)
    return first.strftime("%Y-%m-%d"), last.strftime("%Y-%m-%d")


@routes.get("/dashboard", roles=READERS, query=StatsQuery)
async def dashboard(request: web.Request, query: StatsQuery) -> web.Response:
    """The supervision dashboard: per official, per pool, calls per hour (inline SVG)."""
    context: dict[str, object] = {"query": query}
    try:
        f = await request_figures(request, query)
    except InvalidInput as exc:
        return render(request, "supervision/dashboard.html",
                      {**context, "figures": None, "period": None},
                      title="dashboard.title", error=error_text(request, exc), status=exc.status)
    names = [c for c, _ in COLUMNS]
    total = f.total.model_dump()
    context.update(
        figures=f, headings=[key for _, key in COLUMNS], csv_query=_qs(query),
        officials=[(o.name, _qs(query, official=o.slug), _cells(o.model_dump(), names))
                   for o in f.officials],
        pools=[(p.pool, _cells(p.model_dump(), names)) for p in f.pools],
        departments=[(d.department or "–", _cells(d.model_dump(), names))
                     for d in f.departments],
        days=[(d.day, _cells(d.model_dump(), names)) for d in f.days],
        total=_cells(total, names), chart=reports.hour_chart(f.calls_per_hour),
        trend=charts.daily_trend(f.days), shares=charts.official_shares(f.officials),
        parts=charts.PARTS,
        period=_period(request, f.since, f.until))
    return render(request, "supervision/dashboard.html", context, title="dashboard.title")


def setup(app: web.Application, *, overdue: OverdueCounter | None = None) -> None:
    """The figures' routes; ``overdue`` counts each official's overdue cases (the follow-up's)."""
    if overdue is not None:
        app[OVERDUE_CASES] = overdue
    app[MESSAGES].add(TEXTS)
    app[NAV].add(["admin", "supervisor", "official"], "/dashboard", "dashboard.title")
    app[ROUTES].add(app, routes)
