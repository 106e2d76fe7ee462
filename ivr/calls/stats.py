"""Supervisor dashboard: per official and per pool over a period, computed from the call records.

Definitions (one function, :func:`figures`, feeds the page, the CSV and ``GET /api/v1/stats``):
- *calls*: calls to a published number that have ended (outcome set), refused dial strings
  excluded; a call counts for its official, and for every pool whose queue it entered;
- *answered %*: answered / calls; *by official*: answered on the official's own device
  (``answered_kind == direct``); *by others*: answered by the deputy or an operator;
- *abandoned %*: the caller hung up before anyone answered and left no message;
- *ASA*: mean seconds from the call's arrival to its answer, over answered calls;
- *service level*: calls answered within 20 s of their arrival / calls;
- *calls per hour*: calls by local hour of arrival (deployment timezone).
"""

from __future__ import annotations

import csv
import io
from datetime import datetime, time as dtime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from ivr.db.models import Call, Official, Pool
from ivr.db.settings import current_timezone
from ivr.core.errors import InvalidInput
from ivr.core.errors import Forbidden
from ivr.web.compat import add_rules
from ivr.http import identity_of
from ivr.web.keys import DB_SESSIONMAKER
from ivr.web.compat import register_paths
from ivr.web.pages import esc, page, t, table

SERVICE_LEVEL_SECONDS = 20
MAX_DAYS = 366
# extra per-official figures from other features: async fn(db, since, until) -> {official_id: n}
OVERDUE_CASES = web.AppKey("overdue_cases", object)


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _row(calls: list[Call]) -> dict[str, Any]:
    n = len(calls)
    answered = [c for c in calls if c.outcome == "answered"]
    waits = [(_utc(c.answered_at) - _utc(c.started_at)).total_seconds() for c in answered
             if c.answered_at and c.started_at]
    within = sum(1 for w in waits if w <= SERVICE_LEVEL_SECONDS)
    pct = (lambda k: round(100.0 * k / n, 1) if n else None)
    return {"calls": n, "answered": len(answered), "answered_pct": pct(len(answered)),
            "answered_by_official": sum(1 for c in answered if c.answered_kind == "direct"),
            "answered_by_others": sum(1 for c in answered if c.answered_kind != "direct"),
            "abandoned": sum(1 for c in calls if c.outcome == "abandoned"),
            "abandoned_pct": pct(sum(1 for c in calls if c.outcome == "abandoned")),
            "voicemail": sum(1 for c in calls if c.outcome == "voicemail"),
            "asa_seconds": round(sum(waits) / len(waits), 1) if waits else None,
            "answered_within_20s": within, "service_level_pct": pct(within)}


async def figures(db: Any, tz: str, since: datetime, until: datetime,
                  official_id: int | None = None, overdue: Any = None) -> dict[str, Any]:
    zone = ZoneInfo(tz)
    async with db() as session:
        q = (select(Call).where(Call.started_at >= since.astimezone(timezone.utc),
                                Call.started_at < until.astimezone(timezone.utc),
                                Call.outcome.is_not(None), Call.outcome != "refused")
             .options(selectinload(Call.steps)).order_by(Call.started_at))
        if official_id is not None:
            q = q.where(Call.official_id == official_id)
        calls = list((await session.scalars(q)).all())
        officials = (await session.scalars(select(Official).order_by(Official.name))).all()
        pools = (await session.scalars(select(Pool).order_by(Pool.name))).all()
    overdue_by = await overdue(db, since, until) if overdue is not None else None
    per_official = []
    for o in officials:
        if official_id is not None and o.id != official_id:
            continue
        row = {"official_id": o.id, "slug": o.slug, "name": o.display_name,
               **_row([c for c in calls if c.official_id == o.id])}
        row["overdue_cases"] = overdue_by.get(o.id, 0) if overdue_by is not None else None
        per_official.append(row)
    per_pool = []
    for p in pools:
        mine = [c for c in calls if any(s.kind == "pool" and s.target == p.queue for s in c.steps)]
        per_pool.append({"pool": p.name, "queue": p.queue, **_row(mine),
                         "answered_in_pool": sum(1 for c in mine if c.answered_kind == "pool")})
    hourly = [0] * 24
    for c in calls:
        hourly[_utc(c.started_at).astimezone(zone).hour] += 1
    return {"since": since.isoformat(), "until": until.isoformat(), "timezone": tz,
            "official": official_id, "service_level_seconds": SERVICE_LEVEL_SECONDS,
            "total": _row(calls), "officials": per_official, "pools": per_pool,
            "calls_per_hour": hourly}


def _period(request: web.Request, tz: str) -> tuple[datetime, datetime]:
    zone = ZoneInfo(tz)
    today = datetime.now(zone).date()

    def parse(name: str, default: datetime) -> datetime:
        raw = request.query.get(name, "").strip()
        if not raw:
            return default
        try:
            value = datetime.fromisoformat(raw)
        except ValueError:
            raise InvalidInput(f"日期格式应为 YYYY-MM-DD / {name} must be a date (YYYY-MM-DD) "
                               f"or an ISO 8601 time", {name: raw}) from None
        return value if value.tzinfo else value.replace(tzinfo=zone)
    since = parse("since", datetime.combine(today - timedelta(days=6), dtime(), zone))
    until_raw = request.query.get("until", "").strip()
    until = parse("until", datetime.combine(today + timedelta(days=1), dtime(), zone))
    if until_raw and len(until_raw) == 10:  # a date: the whole day is included
        until += timedelta(days=1)
    if until <= since:
        raise InvalidInput("结束须晚于开始 / the period's end must be after its start")
    if until - since > timedelta(days=MAX_DAYS):
        raise InvalidInput(f"时段最长{MAX_DAYS}天 / the period may span at most {MAX_DAYS} days")
    return since, until


async def _official_filter(request: web.Request) -> int | None:
    ident = identity_of(request)
    if ident is not None and ident.role == "official":
        return ident.official_id  # scoped: only their own
    ref = request.query.get("official", "").strip()
    if not ref:
        return None
    async with request.config_dict[DB_SESSIONMAKER]() as session:
        clause = Official.id == int(ref) if ref.isdigit() else Official.slug == ref
        oid = await session.scalar(select(Official.id).where(clause))
    if oid is None:
        raise InvalidInput(f"未知官员 / unknown official {ref!r}", {"official": ref})
    return oid


async def request_figures(request: web.Request) -> dict[str, Any]:
    ident = identity_of(request)
    if ident is not None and ident.role == "official" and ident.official_id is None:
        raise Forbidden("账号未关联官员 / this account is not linked to an official")
    tz = await current_timezone(request.config_dict[DB_SESSIONMAKER])
    since, until = _period(request, tz)
    return await figures(request.config_dict[DB_SESSIONMAKER], tz,
                         since, until, await _official_filter(request),
                         request.config_dict.get(OVERDUE_CASES))


# --- API, CSV, page ------------------------------------------------------------------------

async def api_stats(request: web.Request) -> web.Response:
    return web.json_response(await request_figures(request))


COLUMNS = ("calls", "answered_pct", "answered_by_official", "answered_by_others", "abandoned_pct",
           "asa_seconds", "service_level_pct", "overdue_cases")
HEAD_KEYS = ("calls", "answered_pct", "by_self", "by_others", "abandoned_pct", "asa",
             "service_level", "overdue")


def _cell(value: Any) -> str:
    return "–" if value is None else str(value)


async def stats_csv(request: web.Request) -> web.Response:
    f = await request_figures(request)
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["kind", "key", "name", *COLUMNS])
    for r in f["officials"]:
        w.writerow(["official", r["slug"], r["name"], *[_csv(r.get(c)) for c in COLUMNS]])
    for r in f["pools"]:
        w.writerow(["pool", r["pool"], r["queue"], *[_csv(r.get(c)) for c in COLUMNS]])
    w.writerow(["total", "", "", *[_csv(f["total"].get(c)) for c in COLUMNS]])
    w.writerow([])
    w.writerow(["hour", "calls"])
    for h, n in enumerate(f["calls_per_hour"]):
        w.writerow([h, n])
    return web.Response(body=("\ufeff" + out.getvalue()).encode(), content_type="text/csv",
                        charset="utf-8", headers={
                            "Content-Disposition": 'attachment; filename="ivr-dashboard.csv"'})


def _csv(value: Any) -> str:
    return "" if value is None else str(value)


def svg_hours(counts: list[int], label: str) -> str:
    """Calls per hour as an inline SVG bar chart (no scripts, no external assets)."""
    width, height, pad = 24 * 22 + 40, 180, 24
    top = max(counts) or 1
    bars = []
    for h, n in enumerate(counts):
        bh = round((height - 2 * pad) * n / top)
        x = 30 + h * 22
        bars.append(f'<rect x="{x}" y="{height - pad - bh}" width="16" height="{bh}" class="bar" '
                    f'data-hour="{h}" data-calls="{n}"><title>{h}:00 — {n}</title></rect>')
        if n:
            bars.append(f'<text x="{x + 8}" y="{height - pad - bh - 3}" text-anchor="middle" '
                        f'font-size="10">{n}</text>')
        if h % 3 == 0:
            bars.append(f'<text x="{x + 8}" y="{height - 8}" text-anchor="middle" font-size="10">{h}</text>')
    return (f'<svg id="per-hour" role="img" aria-label="{esc(label)}" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">'
            f'<line x1="28" y1="{height - pad}" x2="{width - 4}" y2="{height - pad}" stroke="#888"/>'
            + "".join(bars) + "</svg>")


async def dashboard(request: web.Request) -> web.Response:
    try:
        f = await request_figures(request)
    except InvalidInput as exc:
        return page(request, "dashboard", _period_form(request), error=str(exc), status=400)
    heads = [t(request, k) for k in HEAD_KEYS]
    orows = [[f'<a href="?{esc(_qs(request, official=r["slug"]))}">{esc(r["name"])}</a>',
              *[esc(_cell(r.get(c))) for c in COLUMNS]] for r in f["officials"]]
    prows = [[esc(r["pool"]), *[esc(_cell(r.get(c))) for c in COLUMNS]] for r in f["pools"]]
    trow = [[esc(t(request, "total")), *[esc(_cell(f["total"].get(c))) for c in COLUMNS]]]
    body = (_period_form(request)
            + f'<p><a id="csv" href="/dashboard.csv?{esc(_qs(request))}">{esc(t(request, "export_csv"))}</a></p>'
            + f"<h2>{esc(t(request, 'per_official'))}</h2>"
            + table([t(request, "official"), *heads], orows + trow, id="stats-officials", raw=True)
            + f"<h2>{esc(t(request, 'per_pool'))}</h2>"
            + table([t(request, "pool"), *heads], prows, id="stats-pools", raw=True)
            + f"<h2>{esc(t(request, 'per_hour'))}</h2>" + svg_hours(f["calls_per_hour"], t(request, "per_hour")))
    return page(request, "dashboard", body)


def _qs(request: web.Request, **override: str) -> str:
    from urllib.parse import urlencode

    q = {k: v for k, v in request.query.items() if k in ("since", "until", "official")}
    q.update(override)
    return urlencode(q)


def _period_form(request: web.Request) -> str:
    q = request.query
    return f"""<form method="get" action="/dashboard" class="card" id="period-form">
<label>{esc(t(request, "period_from"))}<input type="date" name="since" value="{esc(q.get('since', ''))}"></label>
<label>{esc(t(request, "period_to"))}<input type="date" name="until" value="{esc(q.get('until', ''))}"></label>
<input type="hidden" name="official" value="{esc(q.get('official', ''))}">
<button type="submit" id="period-submit">{esc(t(request, "show"))}</button></form>"""


_ROW = {"type": "object", "properties": {k: {"type": ["number", "null"]} for k in (
    "calls", "answered", "answered_pct", "answered_by_official", "answered_by_others", "abandoned",
    "abandoned_pct", "voicemail", "asa_seconds", "answered_within_20s", "service_level_pct")}}

register_paths({"/stats": {"get": {
    "summary": "Supervisor figures per official and per pool over a period (computed from the "
               "call records; officials get only their own)",
    "parameters": [
        {"name": "since", "in": "query", "required": False, "schema": {"type": "string"},
         "description": "date or ISO time, inclusive (default: 6 days ago)"},
        {"name": "until", "in": "query", "required": False, "schema": {"type": "string"},
         "description": "date (inclusive) or ISO time (exclusive); default: end of today"},
        {"name": "official", "in": "query", "required": False, "schema": {"type": "string"},
         "description": "slug or id"}],
    "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": {
        "type": "object", "properties": {
            "total": {"$ref": "#/components/schemas/StatsRow"},
            "officials": {"type": "array", "items": {"$ref": "#/components/schemas/StatsRow"}},
            "pools": {"type": "array", "items": {"$ref": "#/components/schemas/StatsRow"}},
            "calls_per_hour": {"type": "array", "items": {"type": "integer"}}}}}}},
        "400": {"description": "invalid period"}, "401": {"description": "not signed in"},
        "403": {"description": "role not allowed"}}}}}, {"StatsRow": _ROW})

add_rules([
    ("GET", "/dashboard", ["admin", "supervisor", "official"], None),
    ("GET", "/dashboard.csv", ["admin", "supervisor", "official"], None),
    ("GET", "/api/v1/stats", ["admin", "supervisor", "official"], "official_query"),
])


def setup_stats(app: web.Application) -> None:
    app.router.add_get("/dashboard", dashboard)
    app.router.add_get("/dashboard.csv", stats_csv)
    app.router.add_get("/api/v1/stats", api_stats)
