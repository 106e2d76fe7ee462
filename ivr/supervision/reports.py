"""Supervision figures per official, department and pool over a period, the trend per day
and calls per hour — computed in the database (:mod:`ivr.supervision.figures`, the definitions);
:func:`figures` feeds the dashboard page, its CSV, the monthly report and ``GET /api/v1/stats``.
*overdue cases* are given by another feature (``OverdueCounter``; the follow-up's cases).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from zoneinfo import ZoneInfo

from sqlalchemy import select

from ivr.core.errors import InvalidInput, InvalidPeriod, UnknownOfficial
from ivr.core.ids import parse_id
from ivr.core.timeutil import parse_iso_time, utcnow
from ivr.db.models import Official, Pool
from ivr.db.session import Db
from ivr.supervision import figures as sql
from ivr.supervision.stats_schemas import (
    DayStats,
    DepartmentStats,
    OfficialStats,
    PoolStats,
    StatsOut,
    StatsRow,
)

SERVICE_LEVEL_SECONDS = sql.SERVICE_LEVEL_SECONDS
MAX_DAYS = 366
# (db, since, until) -> {official id: cases created in the period and overdue now}
OverdueCounter = Callable[[Db, datetime, datetime], Awaitable[dict[int, int]]]
CSV_COLUMNS = ("calls", "answered_pct", "answered_by_official", "answered_by_others",
               "abandoned_pct", "asa_seconds", "service_level_pct", "overdue_cases",
               "missed_pct", "voicemail", "interrupted",  # new columns appended: old readers keep
               "answered_expected_pct", "answered_other_party_pct", "voicemail_pct",
               "median_answer_seconds", "p90_answer_seconds", "followed_on_time_pct", "rank",
               "ratings", "satisfied_pct", "fairly_satisfied_pct", "not_satisfied_pct")


async def figures(db: Db, tz: str, since: datetime, until: datetime,
                  official_id: int | None = None,
                  overdue: OverdueCounter | None = None) -> StatsOut:
    period = sql.Period(since, until, tz)
    rows = sql.base(period, official_id)
    now = utcnow()
    async with db() as session:
        async with sql.materialized(session, rows) as stored:
            # one GROUP BY (official, department, day); the coarser groups are its sums
            fine = await sql.sums(session, stored, ("official_id", "department", "day"), now)
            by_official, by_department = sql.rollup(fine, 0), sql.rollup(fine, 1)
            by_day, totals = sql.rollup(fine, 2), sql.rollup(fine, None)
            in_pools = sql.pool_rows(stored)
            by_pool = sql.rollup(await sql.sums(session, in_pools, ("queue",), now), 0)
            await sql.percentiles(session, stored, ("official_id", "department"),
                                  (by_official, by_department), totals)
            await sql.percentiles(session, in_pools, ("queue",), (by_pool,))
            hourly = await sql.hour_counts(session, stored)
        total = totals.get(1)
        officials = (await session.scalars(select(Official).order_by(Official.name))).all()
        pools = (await session.scalars(select(Pool).order_by(Pool.name))).all()
    overdue_by = await overdue(db, since, until) if overdue is not None else None
    mine = [o for o in officials if official_id is None or o.id == official_id]
    o_rows = [sql.figures_row(by_official.get(o.id)) for o in mine]
    departments = sorted({o.department for o in mine} | {d for d in by_department if d})
    d_rows = [sql.figures_row(by_department.get(d)) for d in departments]
    per_official = [
        OfficialStats(official_id=o.id, slug=o.slug, name=o.display_name,
                      department=o.department, rank=rank, **r,
                      overdue_cases=overdue_by.get(o.id, 0) if overdue_by is not None else None)
        for o, r, rank in zip(mine, o_rows, sql.ranking(o_rows), strict=True)]
    per_department = [DepartmentStats(department=d, rank=rank, **r)
                      for d, r, rank in zip(departments, d_rows, sql.ranking(d_rows), strict=True)]
    per_pool = [PoolStats(pool=p.name, queue=p.queue, **sql.figures_row(by_pool.get(p.queue)),
                          answered_in_pool=int(by_pool.get(p.queue, {}).get("by_operator") or 0))
                for p in pools]
    days = [DayStats(day=sql.day_of(d).isoformat(), **sql.figures_row(by_day[d]))
            for d in sorted(by_day)]
    return StatsOut(since=since.isoformat(), until=until.isoformat(), timezone=tz,
                    official=official_id, service_level_seconds=SERVICE_LEVEL_SECONDS,
                    total=StatsRow(**sql.figures_row(total)), officials=per_official,
                    departments=per_department, pools=per_pool, days=days,
                    calls_per_hour=hourly)


def period(since_raw: str, until_raw: str, tz: str,
           today: date | None = None) -> tuple[datetime, datetime]:
    """The period asked for: dates (``until`` inclusive) or ISO times (``until`` exclusive);
    by default the last 7 days, today included."""
    zone = ZoneInfo(tz)
    today = today or datetime.now(zone).date()

    def parse(name: str, raw: str, default: datetime) -> datetime:
        if not raw:
            return default
        try:
            value = parse_iso_time(raw)
            value = value if value.tzinfo else value.replace(tzinfo=zone)
            if not 1970 <= value.astimezone(UTC).year <= 9000:  # no overflow further on
                raise ValueError(raw)
        except (ValueError, OverflowError):
            raise InvalidInput(f"{name} must be a date (YYYY-MM-DD) or an ISO 8601 time "
                               "between 1970 and 9000", {name: raw}) from None
        return value
    since_raw, until_raw = since_raw.strip(), until_raw.strip()
    since = parse("since", since_raw, datetime.combine(today - timedelta(days=6), dtime(), zone))
    until = parse("until", until_raw, datetime.combine(today + timedelta(days=1), dtime(), zone))
    if until_raw and len(until_raw) == 10:  # a date: the whole day is included
        until += timedelta(days=1)
    if until <= since:
        raise InvalidPeriod("the period's end must be after its start",
                            {"since": since_raw, "until": until_raw})
    if until - since > timedelta(days=MAX_DAYS):
        raise InvalidPeriod(f"the period may span at most {MAX_DAYS} days",
                            {"since": since_raw, "until": until_raw, "max_days": MAX_DAYS})
    return since, until


async def official_ref(db: Db, ref: str) -> int | None:
    """The id of the official ``ref`` (slug or id) names; None for no ref."""
    ref = ref.strip()
    if not ref:
        return None
    async with db() as session:
        as_id = parse_id(ref)
        clause = Official.id == as_id if as_id is not None else Official.slug == ref
        oid = await session.scalar(select(Official.id).where(clause))
    if oid is None:
        raise UnknownOfficial(f"unknown official {ref!r}", {"official": ref})
    return oid


def _csv(value: object) -> str:
    return "" if value is None else str(value)


def to_csv(f: StatsOut) -> str:
    """The figures as CSV: a row per official, per pool, the total; then calls per hour."""
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["kind", "key", "name", *CSV_COLUMNS])
    for o in f.officials:
        values = o.model_dump()
        w.writerow(["official", o.slug, o.name, *[_csv(values.get(c)) for c in CSV_COLUMNS]])
    for p in f.pools:
        values = p.model_dump()
        w.writerow(["pool", p.pool, p.queue, *[_csv(values.get(c)) for c in CSV_COLUMNS]])
    total = f.total.model_dump()
    w.writerow(["total", "", "", *[_csv(total.get(c)) for c in CSV_COLUMNS]])
    w.writerow([])
    w.writerow(["hour", "calls"])
    for h, n in enumerate(f.calls_per_hour):
        w.writerow([h, n])
    return out.getvalue()


@dataclass(frozen=True)
class Bar:
    """One hour's bar of the calls-per-hour chart, in SVG user units."""
    hour: int
    calls: int
    x: int
    y: int
    height: int


@dataclass(frozen=True)
class HourChart:
    width: int
    height: int
    baseline: int
    bars: tuple[Bar, ...]


def hour_chart(counts: Sequence[int]) -> HourChart:
    """The geometry of the calls-per-hour bar chart (the page draws it as inline SVG)."""
    width, height, pad = 24 * 22 + 40, 180, 24
    top = max(counts, default=0) or 1
    bars = []
    for h, n in enumerate(counts):
        bh = round((height - 2 * pad) * n / top)
        bars.append(Bar(hour=h, calls=n, x=30 + h * 22, y=height - pad - bh, height=bh))
    return HourChart(width=width, height=height, baseline=height - pad, bars=tuple(bars))
