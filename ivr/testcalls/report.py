"""The test calls' own report (issue 13): each test call with its result, the totals per
result, and per number (the API, the supervisors' page, the monthly report's section). Test
calls are never in the citizens' figures (``Call.kind`` test; ``ivr.supervision.figures``
counts citizens' calls only)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from ivr.core.testcalls import (
    ACKNOWLEDGED,
    NOT_ANSWERED,
    RESULTS,
    UNACKNOWLEDGED,
)
from ivr.core.timeutil import as_utc
from ivr.db.models import Official, PublishedNumber
from ivr.db.session import Db
from ivr.db.testcall_models import TestCall

# what a supervisor reads, Mandarin first (the page, the monthly report)
RESULT_TEXTS: dict[str, tuple[str, str]] = {
    ACKNOWLEDGED: ("已接听并确认", "answered and acknowledged"),
    UNACKNOWLEDGED: ("已接听未确认", "answered, not acknowledged"),
    NOT_ANSWERED: ("无人接听", "not answered"),
    "not_asked": ("已接听，未播报（系统未及时播报）", "answered, not asked (the system was late)"),
    "lost": ("丢失（系统故障）", "lost (a system failure)"),
    "failed": ("未拨出", "not placed"),
}


@dataclass
class NumberRow:
    number: str
    official: str
    tests: int = 0
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def acknowledged_pct(self) -> float | None:
        judged = sum(self.counts.get(r, 0) for r in (ACKNOWLEDGED, UNACKNOWLEDGED, NOT_ANSWERED))
        return round(100 * self.counts.get(ACKNOWLEDGED, 0) / judged, 1) if judged else None


def local(at: datetime | None, tz: str) -> str:
    return as_utc(at).astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M:%S") if at else ""


async def calls(db: Db, since: datetime | None = None, until: datetime | None = None,
                number: str = "", result: str = "", schedule_id: int | None = None,
                limit: int = 200) -> list[tuple[TestCall, str | None]]:
    """Test calls (newest due first) with their official's name, due within [since, until)."""
    q = select(TestCall, Official.name).outerjoin(
        PublishedNumber, PublishedNumber.number == TestCall.number).outerjoin(
        Official, Official.id == PublishedNumber.official_id)
    if since is not None:
        q = q.where(TestCall.due_at >= since)
    if until is not None:
        q = q.where(TestCall.due_at < until)
    if number:
        q = q.where(TestCall.number == number)
    if result:
        q = q.where(TestCall.result == result)
    if schedule_id is not None:
        q = q.where(TestCall.schedule_id == schedule_id)
    async with db() as session:
        rows = (await session.execute(q.order_by(TestCall.due_at.desc(), TestCall.id.desc())
                                      .limit(limit))).all()
    return [(tc, name) for tc, name in rows]


async def totals(db: Db, since: datetime | None = None,
                 until: datetime | None = None) -> dict[str, int]:
    """Finished test calls per result (every result listed, 0 included)."""
    q = select(TestCall.result, func.count(TestCall.id)).where(TestCall.state == "done")
    if since is not None:
        q = q.where(TestCall.due_at >= since)
    if until is not None:
        q = q.where(TestCall.due_at < until)
    async with db() as session:
        found = {r: n for r, n in (await session.execute(q.group_by(TestCall.result))).all()}
    return {r: int(found.get(r, 0)) for r in RESULTS}


async def by_number(db: Db, since: datetime, until: datetime,
                    official_id: int | None = None) -> list[NumberRow]:
    """Per published number (of one official's, or all): finished test calls and their
    results (the monthly report)."""
    q = (select(TestCall.number, func.min(Official.name), TestCall.result, func.count(TestCall.id))
         .outerjoin(PublishedNumber, PublishedNumber.number == TestCall.number)
         .outerjoin(Official, Official.id == PublishedNumber.official_id)
         .where(TestCall.state == "done", TestCall.due_at >= since, TestCall.due_at < until)
         .group_by(TestCall.number, TestCall.result).order_by(TestCall.number))
    if official_id is not None:
        q = q.where(PublishedNumber.official_id == official_id)
    async with db() as session:
        rows = (await session.execute(q)).all()
    out: dict[str, NumberRow] = {}
    for number, name, result, n in rows:
        row = out.setdefault(number, NumberRow(number, name or ""))
        row.tests += int(n)
        row.counts[str(result)] = int(n)
    return list(out.values())
