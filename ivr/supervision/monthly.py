"""The monthly report (月度通报): city-wide and per official, printable HTML and a PDF made by
WeasyPrint (Debian's Pango, the Noto CJK font embedded), Mandarin first; month boundaries in
the city's timezone. Generated on demand (the reports page, the API) and, once a month is over,
automatically by exactly one node (:func:`claim`: a PostgreSQL advisory lock; on SQLite a
settings row) — docs/supervision.md, "Monthly report"."""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from ivr.core.errors import InvalidInput, UnknownOfficial
from ivr.core.timeutil import utcnow
from ivr.db.models import Official, Setting
from ivr.db.session import Db
from ivr.db.settings import current_timezone
from ivr.db.supervision_models import MonthlyReport
from ivr.evidence.chain import heads as chain_heads
from ivr.http.localtime import zone_label
from ivr.supervision import exceptions as ex
from ivr.supervision import reports
from ivr.supervision.calls_query import CallFilter
from ivr.supervision.monthly_texts import label
from ivr.testcalls import report as testcall_report

log = logging.getLogger(__name__)
CITY = "city"
# pg_advisory_xact_lock key of the monthly run ("ivr-mrep" as a 64-bit number)
LOCK_KEY = int.from_bytes(b"ivr-mrep", "big") & 0x7FFF_FFFF_FFFF_FFFF
CLAIM_PREFIX = "monthly-report:"
MAX_EXCEPTIONS = 500  # listed in a report (the CSV of the exceptions page has them all)


MONTH_PATTERN = r"^(2[0-9]{3}|[3-8][0-9]{3})-(0[1-9]|1[0-2])$"  # 2000-01..8999-12


def month_bounds(month: str, tz: str) -> tuple[datetime, datetime]:
    """The month ``YYYY-MM`` as [first local midnight, next month's first local midnight)."""
    m = re.fullmatch(MONTH_PATTERN, month) if isinstance(month, str) else None
    if m is None:
        raise InvalidInput("month must be YYYY-MM", {"month": month})
    year, mon = int(m[1]), int(m[2])
    zone = ZoneInfo(tz)
    start = datetime(year, mon, 1, tzinfo=zone)
    end = datetime(year + mon // 12, mon % 12 + 1, 1, tzinfo=zone)
    return start, end


def previous_month(now: datetime, tz: str) -> str:
    """The month before ``now``'s on the city's calendar."""
    today = now.astimezone(ZoneInfo(tz)).date()
    first = date(today.year, today.month, 1)
    return f"{first.year - (first.month == 1)}-{(first.month - 2) % 12 + 1:02d}"


@dataclass(frozen=True)
class Built:
    scope: str
    html: str
    pdf: bytes


async def context(db: Db, month: str, official: Official | None, overdue: Any = None,
                  now: datetime | None = None) -> dict[str, Any]:
    """What the report shows: the figures (city-wide, or the official's with their rank in the
    city), the department ranking, the trend per day, the exceptions of the month."""
    tz = await current_timezone(db)
    since, until = month_bounds(month, tz)
    city = await reports.figures(db, tz, since, until, None, overdue)
    mine = next((o for o in city.officials if official and o.official_id == official.id), None)
    f = CallFilter(since=since.date().isoformat(),
                   until=(until.date() - timedelta(days=1)).isoformat(),  # inclusive
                   official=str(official.id) if official else "")
    listed = []
    async for e in ex.all_items(db, f, tz, now or utcnow()):
        listed.append(e)
        if len(listed) >= MAX_EXCEPTIONS:
            break
    return {"month": month, "year": since.year, "mon": since.month, "tz": tz, "city": city,
            "first": f.since, "last": f.until,
            "official": official, "mine": mine, "exceptions": listed,
            "ranked": sorted((o for o in city.officials if o.rank), key=lambda o: o.rank or 0),
            "departments": sorted((d for d in city.departments if d.rank),
                                  key=lambda d: d.rank or 0),
            "generated_at": (now or utcnow()).astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M"),
            "testcalls": await testcall_report.by_number(db, since, until,
                                                         official.id if official else None),
            "evidence_heads": await _heads(db), "label": label,
            "zone": tuple(zone_label(ZoneInfo(tz), lang) for lang in ("zh", "en"))}


async def _heads(db: Db) -> list[str]:
    """The evidence chains' heads as the report prints them (ivr.evidence.heads): a printed,
    signed report is an anchor a rewritten database cannot match."""
    async with db() as session:
        return [f"{h['stream']}/{h['node']} 第 {h['seq']} 条 seq {h['seq']}: {h['entry_hash']}"
                for h in await chain_heads(session)]


def pdf_of(html: str) -> bytes:
    """The PDF of a report's HTML (WeasyPrint; CPU-bound: run it in a thread)."""
    from weasyprint import HTML

    out = HTML(string=html).write_pdf()
    assert out is not None
    return bytes(out)


async def build(db: Db, env: jinja2.Environment, month: str, official: Official | None,
                overdue: Any = None) -> Built:
    ctx = await context(db, month, official, overdue)
    html = env.get_template("supervision/monthly.html").render(**ctx)
    pdf = await asyncio.to_thread(pdf_of, html)
    return Built(f"official:{official.slug}" if official else CITY, html, pdf)


async def store(db: Db, month: str, built: Built, by: str) -> None:
    """Keep the report (replacing an older one of the same month and scope)."""
    async with db() as session, session.begin():
        await session.execute(delete(MonthlyReport).where(MonthlyReport.month == month,
                                                          MonthlyReport.scope == built.scope))
        session.add(MonthlyReport(month=month, scope=built.scope, generated_by=by[:80],
                                  html=built.html, pdf=built.pdf, generated_at=utcnow()))


async def generate(db: Db, env: jinja2.Environment, month: str, by: str,
                   official: str | None = None, overdue: Any = None) -> list[str]:
    """The city-wide report and every official's (or only ``official``'s: a slug) for
    ``month``, generated and stored; their scopes."""
    month_bounds(month, await current_timezone(db))  # refuses a bad month first
    async with db() as session:
        q = select(Official).order_by(Official.slug)
        if official:
            q = q.where(Official.slug == official)
        officials = list((await session.scalars(q)).all())
    if official and not officials:
        raise UnknownOfficial(f"unknown official {official!r}", {"official": official})
    scopes = []
    for o in ([] if official else [None]) + officials:
        built = await build(db, env, month, o, overdue)
        await store(db, month, built, by)
        scopes.append(built.scope)
    return scopes


async def load(db: Db, month: str, scope: str) -> MonthlyReport | None:
    async with db() as session:
        return await session.scalar(select(MonthlyReport).where(
            MonthlyReport.month == month, MonthlyReport.scope == scope))


async def listing(db: Db) -> list[tuple[str, str, datetime, str]]:
    """(month, scope, generated at, by) of every stored report, newest month first."""
    async with db() as session:
        rows = (await session.execute(select(
            MonthlyReport.month, MonthlyReport.scope, MonthlyReport.generated_at,
            MonthlyReport.generated_by).order_by(MonthlyReport.month.desc(),
                                                 MonthlyReport.scope))).all()
    return [(r[0], r[1], r[2], r[3]) for r in rows]


async def run_due(db: Db, env: jinja2.Environment, node: str, now: datetime | None = None,
                  overdue: Any = None) -> str | None:
    """Generate last month's reports unless they exist or another node is doing it; the month
    generated, or None. PostgreSQL: a transaction-scoped advisory lock held while generating
    (the other nodes' try fails; after the commit they see the reports). SQLite: a claim row in
    ``settings`` (``monthly-report:<month>``), the first insert wins; removed if the run fails."""
    tz = await current_timezone(db)
    month = previous_month(now or utcnow(), tz)
    if await load(db, month, CITY) is not None:
        return None
    async with db() as session, session.begin():
        if session.get_bind().dialect.name == "postgresql":
            if not await session.scalar(select(func.pg_try_advisory_xact_lock(LOCK_KEY))):
                return None
            if await load(db, month, CITY) is not None:
                return None
            await generate(db, env, month, f"node:{node}", overdue=overdue)
            return month
    key = CLAIM_PREFIX + month
    try:
        async with db() as session, session.begin():
            session.add(Setting(key=key, value={"node": node,
                                                "at": (now or utcnow()).astimezone(UTC).isoformat()}))
    except IntegrityError:
        return None  # another node claimed it
    try:
        await generate(db, env, month, f"node:{node}", overdue=overdue)
    except BaseException:
        async with db() as session, session.begin():
            await session.execute(delete(Setting).where(Setting.key == key))
        raise
    return month


async def ticker(db: Db, env: jinja2.Environment, node: str, every: float,
                 overdue: Any = None) -> None:
    """Every ``every`` seconds: :func:`run_due` (errors logged, the next look retries)."""
    while True:
        await asyncio.sleep(every)
        try:
            month = await run_due(db, env, node, overdue=overdue)
            if month:
                log.info("monthly reports of %s generated by this node", month)
        except Exception:
            log.exception("monthly reports: generation failed; retried at the next look")
