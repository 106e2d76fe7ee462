"""Supervision figures per official and per pool over a period, computed from the call records.

Definitions (one function, :func:`figures`, feeds the dashboard page, its CSV and
``GET /api/v1/stats``):
- *calls*: citizens' calls (kind ``citizen``) to a published number that have ended with an
  outcome of the model (docs/architecture.md, "Call outcomes"), ``refused`` and
  ``interrupted`` excluded; every percentage is over these. A call counts for its official,
  and for every pool whose queue it entered; *interrupted*: counted apart (the PBX or node
  failed during the call), never in a percentage;
- *answered %*: answered / calls; *by official*: answered on the official's own device
  (``answered_kind == direct``); *by others*: answered by the deputy or an operator;
- *abandoned %*: the caller hung up before the route's final step (while ringing, queued or in
  the menu); *missed %*: the route reached its final step (closing message or voicemail
  greeting) and nobody answered; *voicemail*: a message was left;
- *ASA*: mean seconds from the call's arrival to its answer, over answered calls;
- *service level*: calls answered within 20 s of their arrival / calls;
- *calls per hour*: calls by local hour of arrival (the deployment's timezone);
- *overdue cases*: given by another feature (``OverdueCounter``; the follow-up's cases).
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
from sqlalchemy.orm import selectinload

from ivr.calls.stats_schemas import OfficialStats, PoolStats, StatsOut, StatsRow
from ivr.core.errors import InvalidInput
from ivr.core.ids import parse_id
from ivr.core.timeutil import as_utc, parse_iso_time
from ivr.db.models import Call, Official, Pool
from ivr.db.session import Db

SERVICE_LEVEL_SECONDS = 20
MAX_DAYS = 366
# (db, since, until) -> {official id: cases created in the period and overdue now}
OverdueCounter = Callable[[Db, datetime, datetime], Awaitable[dict[int, int]]]
CSV_COLUMNS = ("calls", "answered_pct", "answered_by_official", "answered_by_others",
               "abandoned_pct", "asa_seconds", "service_level_pct", "overdue_cases",
               "missed_pct", "voicemail", "interrupted")  # new columns appended: old readers keep
# the calls the figures are over; interrupted ones are only counted
COUNTED_KINDS = ("citizen",)


def _pct(k: int, n: int) -> float | None:
    return round(100.0 * k / n, 1) if n else None


def row(every: Sequence[Call]) -> StatsRow:
    interrupted = sum(1 for c in every if c.outcome == "interrupted")
    calls = [c for c in every if c.outcome != "interrupted"]
    n = len(calls)
    answered = [c for c in calls if c.outcome == "answered"]
    waits = [(as_utc(c.answered_at) - as_utc(c.started_at)).total_seconds() for c in answered
             if c.answered_at and c.started_at]
    within = sum(1 for w in waits if w <= SERVICE_LEVEL_SECONDS)
    abandoned = sum(1 for c in calls if c.outcome == "abandoned")
    missed = sum(1 for c in calls if c.outcome == "missed")
    return StatsRow(
        calls=n, answered=len(answered), answered_pct=_pct(len(answered), n),
        answered_by_official=sum(1 for c in answered if c.answered_kind == "direct"),
        answered_by_others=sum(1 for c in answered if c.answered_kind != "direct"),
        abandoned=abandoned, abandoned_pct=_pct(abandoned, n),
        missed=missed, missed_pct=_pct(missed, n), interrupted=interrupted,
        voicemail=sum(1 for c in calls if c.outcome == "voicemail"),
        asa_seconds=round(sum(waits) / len(waits), 1) if waits else None,
        answered_within_20s=within, service_level_pct=_pct(within, n))


async def figures(db: Db, tz: str, since: datetime, until: datetime,
                  official_id: int | None = None,
                  overdue: OverdueCounter | None = None) -> StatsOut:
    zone = ZoneInfo(tz)
    async with db() as session:
        q = (select(Call).where(Call.started_at >= since.astimezone(UTC),
                                Call.started_at < until.astimezone(UTC),
                                Call.outcome.is_not(None), Call.outcome != "refused",
                                Call.kind.in_(COUNTED_KINDS))
             .options(selectinload(Call.steps)).order_by(Call.started_at))
        if official_id is not None:
            q = q.where(Call.official_id == official_id)
        calls = list((await session.scalars(q)).all())
        officials = (await session.scalars(select(Official).order_by(Official.name))).all()
        pools = (await session.scalars(select(Pool).order_by(Pool.name))).all()
    overdue_by = await overdue(db, since, until) if overdue is not None else None
    per_official = [
        OfficialStats(official_id=o.id, slug=o.slug, name=o.display_name,
                      **row([c for c in calls if c.official_id == o.id]).model_dump(),
                      overdue_cases=overdue_by.get(o.id, 0) if overdue_by is not None else None)
        for o in officials if official_id is None or o.id == official_id]
    per_pool = []
    for p in pools:
        mine = [c for c in calls if any(s.kind == "pool" and s.target == p.queue for s in c.steps)]
        per_pool.append(PoolStats(pool=p.name, queue=p.queue, **row(mine).model_dump(),
                                  answered_in_pool=sum(1 for c in mine if c.answered_kind == "pool")))
    hourly = [0] * 24
    for c in calls:
        hourly[as_utc(c.started_at).astimezone(zone).hour] += 1
    return StatsOut(since=since.isoformat(), until=until.isoformat(), timezone=tz,
                    official=official_id, service_level_seconds=SERVICE_LEVEL_SECONDS,
                    total=row(calls), officials=per_official, pools=per_pool,
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
        except ValueError:
            raise InvalidInput(f"{name} must be a date (YYYY-MM-DD) or an ISO 8601 time",
                               {name: raw}) from None
        return value if value.tzinfo else value.replace(tzinfo=zone)
    since_raw, until_raw = since_raw.strip(), until_raw.strip()
    since = parse("since", since_raw, datetime.combine(today - timedelta(days=6), dtime(), zone))
    until = parse("until", until_raw, datetime.combine(today + timedelta(days=1), dtime(), zone))
    if until_raw and len(until_raw) == 10:  # a date: the whole day is included
        until += timedelta(days=1)
    if until <= since:
        raise InvalidInput("the period's end must be after its start")
    if until - since > timedelta(days=MAX_DAYS):
        raise InvalidInput(f"the period may span at most {MAX_DAYS} days")
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
        raise InvalidInput(f"unknown official {ref!r}", {"official": ref})
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
