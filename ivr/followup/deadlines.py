"""Case deadlines in working time: the configured rules (``[deadlines]``, pure in
:mod:`ivr.core.deadline_rules`) over the city's working calendar (weekly hours in the setting
``work_week``, dated exceptions in ``calendar_days``, timezone in the setting ``timezone``).

:class:`Deadlines` is what the services hold: the rules and the calendar as last loaded
(:func:`load_calendar`; reloaded after an import and by every escalation sweep, so a calendar
imported through another controller is seen within ``[deadlines] sweep_seconds``).
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select

from ivr.core.config import Config
from ivr.core.deadline_rules import DeadlineRules
from ivr.core.timeutil import as_utc
from ivr.core.workcalendar import DEFAULT_WEEK, WorkCalendar, parse_week
from ivr.db.followup_models import CalendarDay, Case
from ivr.db.models import Setting
from ivr.db.session import Db
from ivr.db.settings import current_timezone

WEEK_KEY = "work_week"


def rules_of(config: Config) -> DeadlineRules:
    """``[deadlines]``; the older ``[cases] deadline_hours`` count as working hours of contact."""
    legacy = {k: f"{v:g}h" for k, v in config.cases.deadline_hours.items()}
    d = config.deadlines
    return DeadlineRules.build({"contact": {**legacy, **d.contact}, "resolve": d.resolve,
                                "escalated": d.escalated})


async def load_calendar(db: Db) -> WorkCalendar:
    tz = await current_timezone(db)
    async with db() as session:
        row = await session.get(Setting, WEEK_KEY)
        days = (await session.scalars(select(CalendarDay))).all()
    week = parse_week(row.value, WEEK_KEY) if row is not None and row.value else DEFAULT_WEEK
    return WorkCalendar(tz=ZoneInfo(tz), week=week,
                        holidays={d.day: d.name for d in days if d.kind == "holiday"},
                        workdays={d.day: d.name for d in days if d.kind == "workday"})


class Deadlines:
    def __init__(self, rules: DeadlineRules, calendar: WorkCalendar | None = None) -> None:
        self.rules = rules
        self.calendar = calendar or WorkCalendar()

    @classmethod
    def of(cls, config: Config) -> Deadlines:
        return cls(rules_of(config))

    async def refresh(self, db: Db) -> WorkCalendar:
        self.calendar = await load_calendar(db)
        return self.calendar

    def due(self, name: str, start: datetime, kind: str, urgency: str) -> datetime:
        return self.rules.due(name, self.calendar, as_utc(start), kind, urgency)

    def apply(self, case: Case) -> bool:
        """Set both deadlines of ``case`` from its creation, kind and urgency; True if changed."""
        contact = self.due("contact", case.created_at, case.kind, case.urgency)
        resolve = self.due("resolve", case.created_at, case.kind, case.urgency)
        old = (case.deadline and as_utc(case.deadline),
               case.resolve_deadline and as_utc(case.resolve_deadline))
        case.deadline, case.resolve_deadline = contact, resolve
        return old != (contact, resolve)
