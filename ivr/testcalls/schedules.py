"""Test schedules (issue 13): made by a supervisor, planned into test calls.

- :func:`create`: the published numbers (any written form; each must be published), ``now``
  (one test call per number, due at once) or ``daily`` (``per_day`` test calls per number each
  day of ``days`` at random instants within ``hours``, city time; today's remaining hours are
  planned at once).
- :func:`plan_days`: each controller's tick plans today for the daily schedules that have no
  test call for today yet; the plan's unique key (schedule, day, number, seq) makes a second
  node's identical attempt fail, so a day is planned once.
- :func:`stop`: a schedule stops; its test calls not placed yet are ``cancelled``.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import exists, select, update
from sqlalchemy.exc import IntegrityError

from ivr.core.config_testcalls import TestCallsConfig
from ivr.core.numbers import NumberError, normalize
from ivr.core.testcalls import MODES, local_day, parse_test_hours, plan_times
from ivr.core.timeutil import utcnow
from ivr.db.models import PublishedNumber
from ivr.db.session import Db
from ivr.db.settings import current_timezone
from ivr.db.testcall_models import TestCall, TestSchedule
from ivr.testcalls.exceptions import InvalidTestSchedule, TestCallsUnavailable, UnknownTestSchedule

MAX_NUMBERS = 500
MAX_PER_DAY = 24
MAX_DAYS = 366
_rng = random.SystemRandom()


async def published(db: Db, raw: Sequence[str]) -> list[str]:
    """The E.164 forms of ``raw``, each a published number (400 naming the first that is not)."""
    if not raw or len(raw) > MAX_NUMBERS:
        raise InvalidTestSchedule(f"numbers: 1 to {MAX_NUMBERS} published numbers",
                                  {"count": len(raw)})
    out: list[str] = []
    for text in raw:
        try:
            number = normalize(text)
        except NumberError as exc:
            raise InvalidTestSchedule(str(exc), {"number": text[:40]}) from None
        if number not in out:
            out.append(number)
    async with db() as session:
        known = set((await session.scalars(select(PublishedNumber.number).where(
            PublishedNumber.number.in_(out)))).all())
    for number in out:
        if number not in known:
            raise InvalidTestSchedule(f"{number} is not a published number", {"number": number})
    return out


async def create(db: Db, config: TestCallsConfig, numbers: Sequence[str], mode: str,
                 actor: str, *, per_day: int = 1, hours: str = "", days: int = 1,
                 note: str = "", now: datetime | None = None) -> tuple[TestSchedule, int]:
    """A new schedule and its first test calls (how many were planned)."""
    if not config.enabled or not config.caller:
        raise TestCallsUnavailable("test calls are off: set [testcalls] enabled and caller (the "
                                   "citizen-like number a test call presents)",
                                   {"enabled": config.enabled, "caller": config.caller})
    if mode not in MODES:
        raise InvalidTestSchedule(f"mode: one of {', '.join(MODES)}", {"mode": mode})
    if mode == "daily":
        try:
            parse_test_hours(hours)
        except ValueError as exc:
            raise InvalidTestSchedule(str(exc), {"hours": hours[:40]}) from None
        if not 1 <= per_day <= MAX_PER_DAY or not 1 <= days <= MAX_DAYS:
            raise InvalidTestSchedule(f"per_day is 1-{MAX_PER_DAY} and days 1-{MAX_DAYS}",
                                      {"per_day": per_day, "days": days})
    e164 = await published(db, numbers)
    now = now or utcnow()
    tz = ZoneInfo(await current_timezone(db))
    today = local_day(now, tz)
    last = today + timedelta(days=(days if mode == "daily" else 1) - 1)
    async with db() as session, session.begin():
        sched = TestSchedule(numbers=",".join(e164), mode=mode,
                             per_day=per_day if mode == "daily" else 1,
                             hours=hours.strip() if mode == "daily" else "",
                             first_day=today.isoformat(), last_day=last.isoformat(), active=True,
                             note=note[:200], created_by=actor[:80], created_at=now)
        session.add(sched)
        await session.flush()
        planned = 0
        if mode == "now":
            for number in e164:
                session.add(TestCall(schedule_id=sched.id, number=number, day=today.isoformat(),
                                     seq=1, due_at=now, state="pending"))
                planned += 1
    if mode == "daily":
        planned = await plan_day(db, sched, today, tz, now)
    return sched, planned


async def plan_day(db: Db, sched: TestSchedule, day: date, tz: ZoneInfo, now: datetime,
                   rng: random.Random = _rng) -> int:
    """Plan ``day`` of a daily schedule (its remaining test hours): how many test calls; 0 when
    another node planned it first, or the day's hours are over."""
    hours = parse_test_hours(sched.hours)
    calls = [TestCall(schedule_id=sched.id, number=number, day=day.isoformat(), seq=seq,
                      due_at=at, state="pending")
             for number in sched.numbers.split(",")
             for seq, at in enumerate(plan_times(day, sched.per_day, hours, tz, rng, now), 1)]
    if not calls:
        return 0
    try:
        async with db() as session, session.begin():
            session.add_all(calls)
    except IntegrityError:  # another controller planned the day
        return 0
    return len(calls)


async def plan_days(db: Db, now: datetime | None = None) -> int:
    """Today's test calls for every active daily schedule that has none for today yet."""
    now = now or utcnow()
    tz = ZoneInfo(await current_timezone(db))
    today = local_day(now, tz).isoformat()
    async with db() as session:
        due = list((await session.scalars(select(TestSchedule).where(
            TestSchedule.active.is_(True), TestSchedule.mode == "daily",
            TestSchedule.first_day <= today, TestSchedule.last_day >= today,
            ~exists().where(TestCall.schedule_id == TestSchedule.id, TestCall.day == today)))
        ).all())
    planned = 0
    for sched in due:
        planned += await plan_day(db, sched, date.fromisoformat(today), tz, now)
    return planned


async def stop(db: Db, schedule_id: int) -> TestSchedule:
    """Stop a schedule; its test calls not placed yet are cancelled."""
    async with db() as session, session.begin():
        sched = await session.get(TestSchedule, schedule_id)
        if sched is None:
            raise UnknownTestSchedule(f"no test schedule {schedule_id}", {"id": schedule_id})
        sched.active = False
        await session.execute(update(TestCall).where(
            TestCall.schedule_id == schedule_id, TestCall.state == "pending").values(
            state="cancelled"))
    return sched


async def listing(db: Db, limit: int = 200) -> list[TestSchedule]:
    async with db() as session:
        return list((await session.scalars(select(TestSchedule).order_by(
            TestSchedule.id.desc()).limit(limit))).all())
