"""The monthly reports over HTTP: the reports page (``/supervision/reports``: the stored ones,
generate a month on demand), downloads (``/supervision/reports/{month}.pdf`` and ``.html``,
``?official=<slug>`` for an official's), ``GET``/``POST /api/v1/supervision/reports``; and the
automatic run once a month is over (:func:`monthly_context`, ``[reports]``)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import aiohttp_jinja2
from aiohttp import web
from pydantic import BaseModel, Field

from ivr.core.constants import API_PREFIX
from ivr.core.errors import InvalidInput, IvrError, NotFound
from ivr.db.settings import current_timezone
from ivr.http import CONFIG, DB, ROUTES, Routes, require_identity
from ivr.http.pages import MESSAGES, NAV, error_text, render
from ivr.supervision import monthly
from ivr.supervision.calls_query import local
from ivr.supervision.stats_http import OVERDUE_CASES

routes = Routes("reports")
SUPERVISORS = ("admin", "supervisor")
TICKER = web.AppKey("monthly_ticker", asyncio.Task[None])

TEXTS: dict[str, tuple[str, str]] = {
    "reports.title": ("月度通报", "Monthly reports"),
    "reports.month": ("月份", "Month"), "reports.official": ("领导（可选）", "Official (optional)"),
    "reports.generate": ("生成", "Generate"), "reports.scope": ("范围", "Scope"),
    "reports.generated": ("生成时间", "Generated"), "reports.by": ("生成者", "By"),
    "reports.city": ("全市", "City-wide"), "reports.none": ("尚无通报", "No report yet"),
}


class ReportQuery(BaseModel):
    official: str = Field("", max_length=40, description="an official's slug: their report")


class ReportRequest(BaseModel):
    month: str = Field(max_length=7, pattern=monthly.MONTH_PATTERN,
                       description="YYYY-MM (2000..8999), the city's timezone")
    official: str = Field("", max_length=40,
                          description="only this official's report (a slug; unknown: 404)")


class ReportInfo(BaseModel):
    month: str
    scope: str = Field(description="city or official:<slug>")
    generated_at: str
    generated_by: str


class Generated(BaseModel):
    month: str
    scopes: list[str]


def _scope(official: str) -> str:
    return f"official:{official}" if official else monthly.CITY


async def _generate(request: web.Request, month: str, official: str) -> list[str]:
    return await monthly.generate(request.config_dict[DB], aiohttp_jinja2.get_env(request.app),
                                  month.strip(), require_identity(request).actor,
                                  official.strip() or None,
                                  request.config_dict.get(OVERDUE_CASES))


async def _download(request: web.Request, official: str, kind: str) -> web.Response:
    month = request.match_info["month"]
    db = request.config_dict[DB]
    report = await monthly.load(db, month, _scope(official))
    if report is None:  # generated on demand the first time it is asked for
        await _generate(request, month, official)
        report = await monthly.load(db, month, _scope(official))
    if report is None:
        raise NotFound(f"no report for {month}", {"month": month})
    name = f"ivr-report-{month}{'-' + official if official else ''}.{kind}"
    if kind == "pdf":
        return web.Response(body=report.pdf, content_type="application/pdf", headers={
            "Content-Disposition": f'attachment; filename="{name}"'})
    return web.Response(text=report.html, content_type="text/html", charset="utf-8")


@routes.get("/supervision/reports/{month}.pdf", roles=SUPERVISORS, query=ReportQuery,
            errors=[400, 404])
async def report_pdf(request: web.Request, query: ReportQuery) -> web.Response:
    """A month's report as PDF (generated and kept if it does not exist yet)."""
    return await _download(request, query.official.strip(), "pdf")


@routes.get("/supervision/reports/{month}.html", roles=SUPERVISORS, query=ReportQuery,
            errors=[400, 404])
async def report_html(request: web.Request, query: ReportQuery) -> web.Response:
    """A month's report as printable HTML."""
    return await _download(request, query.official.strip(), "html")


@routes.get(f"{API_PREFIX}/supervision/reports", roles=SUPERVISORS, response=list[ReportInfo])
async def api_reports(request: web.Request) -> list[ReportInfo]:
    """The stored monthly reports, newest month first."""
    return [ReportInfo(month=m, scope=s, generated_at=at.isoformat(), generated_by=by)
            for m, s, at, by in await monthly.listing(request.config_dict[DB])]


@routes.post(f"{API_PREFIX}/supervision/reports", roles=SUPERVISORS, body=ReportRequest,
             response=Generated, status=201, errors=[400])
async def api_generate(request: web.Request, body: ReportRequest) -> Generated:
    """Generate (again) a month's reports: city-wide and every official's, or one official's."""
    return Generated(month=body.month, scopes=await _generate(request, body.month, body.official))


async def _page(request: web.Request, error: str = "", status: int = 200) -> web.Response:
    db = request.config_dict[DB]
    tz = await current_timezone(db)
    items = await monthly.listing(db)
    rows = [(m, s, local(at, tz)[:16], by,
             s.removeprefix("official:") if s != monthly.CITY else "") for m, s, at, by in items]
    return render(request, "supervision/reports.html", {"rows": rows}, title="reports.title",
                  error=error, status=status)


@routes.get("/supervision/reports", roles=SUPERVISORS)
async def reports_page(request: web.Request) -> web.Response:
    """The monthly reports: download, or generate a month on demand."""
    return await _page(request)


@routes.post("/supervision/reports", roles=SUPERVISORS)
async def reports_generate(request: web.Request) -> web.Response:
    """Generate a month's reports from the page's form."""
    form = await request.post()
    try:
        await _generate(request, str(form.get("month", "")), str(form.get("official", "")))
    except (InvalidInput, IvrError) as exc:
        return await _page(request, error_text(request, exc), exc.status)
    raise web.HTTPSeeOther("/supervision/reports")


async def monthly_context(app: web.Application) -> AsyncIterator[None]:
    """The automatic run: last month's reports once it is over, by one node ([reports])."""
    config = app[CONFIG]
    if config.reports.auto_monthly:
        app[TICKER] = asyncio.create_task(monthly.ticker(
            app[DB], aiohttp_jinja2.get_env(app), config.node.name, config.reports.check_seconds,
            app.get(OVERDUE_CASES)))
    yield
    if TICKER in app:
        app[TICKER].cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await app[TICKER]


def setup(app: web.Application) -> None:
    app[MESSAGES].add(TEXTS)
    app[NAV].add(list(SUPERVISORS), "/supervision/reports", "reports.title")
    app[ROUTES].add(app, routes)
    app.cleanup_ctx.append(monthly_context)
