"""The working calendar (pure): weekly working hours plus dated exceptions — public holidays
(no working time) and make-up working days (调休: a weekend day worked, with the standard day's
hours) — and working-time arithmetic in the city's timezone.

- :meth:`WorkCalendar.add_hours`: the instant ``hours`` of working time after ``start`` (time
  outside working hours does not count; 17:55 + 2 working hours with a 18:00 close → 10:55 the
  next working day when it opens at 09:00).
- :meth:`WorkCalendar.add_days`: the same working moment ``n`` working days later: ``start``
  is placed in its working day (outside working hours: at the opening of the next working day),
  the deadline is the same amount of working time into the ``n``-th next working day (capped at
  that day's close); a start at the opening of a working day ends at the close of the ``n``-th
  working day counting that one (a case left on a holiday: by the close of the first working day
  after it).

Times in and out are aware datetimes (UTC out); dates and hours are local to ``tz``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from ivr.core.errors import InvalidCalendar

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Period = tuple[time, time]
DEFAULT_PERIODS: tuple[Period, ...] = ((time(9), time(12)), (time(13), time(18)))
DEFAULT_WEEK: dict[str, tuple[Period, ...]] = {d: DEFAULT_PERIODS for d in WEEKDAYS[:5]}
SEARCH_DAYS = 800  # a calendar with no working time in this many days is refused
_PERIOD = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")


def parse_periods(value: object, where: str) -> tuple[Period, ...]:
    """``["09:00-12:00", "13:00-18:00"]`` (or one string with commas) → ordered periods."""
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, Sequence) or isinstance(items, (str, bytes)):
        raise InvalidCalendar("expected a list of HH:MM-HH:MM periods", where=where)
    out: list[Period] = []
    for i, raw in enumerate(items):
        m = _PERIOD.match(str(raw).strip()) if isinstance(raw, str) else None
        if m is None:
            raise InvalidCalendar(f"{raw!r} is not a period HH:MM-HH:MM", where=f"{where}[{i}]")
        a = time(int(m[1]), int(m[2]))
        b = time.max if m[3] == "24" else time(int(m[3]), int(m[4]))
        if b <= a or (out and a < out[-1][1]):
            raise InvalidCalendar(f"{raw!r}: periods must be ordered and not overlap",
                                  where=f"{where}[{i}]")
        out.append((a, b))
    return tuple(out)


def parse_week(value: object, where: str = "week") -> dict[str, tuple[Period, ...]]:
    """``{mon: [...], …}``: days left out have no working hours."""
    if not isinstance(value, Mapping):
        raise InvalidCalendar("expected a mapping mon..sun → periods", where=where)
    week: dict[str, tuple[Period, ...]] = {}
    for key, periods in value.items():
        if key not in WEEKDAYS:
            raise InvalidCalendar(f"unknown day {key!r}: expected {', '.join(WEEKDAYS)}",
                                  where=f"{where}.{key}")
        week[key] = parse_periods(periods or [], f"{where}.{key}")
    if not any(week.values()):
        raise InvalidCalendar("a week needs some working hours", where=where)
    return week


def week_text(week: Mapping[str, Sequence[Period]]) -> dict[str, list[str]]:
    """The JSON form of a week (inverse of :func:`parse_week`)."""
    return {d: [f"{a:%H:%M}-{'24:00' if b == time.max else f'{b:%H:%M}'}" for a, b in week[d]]
            for d in WEEKDAYS if week.get(d)}


@dataclass(frozen=True, slots=True)
class WorkCalendar:
    tz: ZoneInfo = field(default_factory=lambda: ZoneInfo("Asia/Shanghai"))
    week: Mapping[str, tuple[Period, ...]] = field(default_factory=lambda: dict(DEFAULT_WEEK))
    holidays: Mapping[date, str] = field(default_factory=dict)
    workdays: Mapping[date, str] = field(default_factory=dict)  # 调休: make-up working days

    @property
    def standard_day(self) -> tuple[Period, ...]:
        """The hours of a make-up working day: Monday's, else the first weekday with hours."""
        return next((self.week[d] for d in WEEKDAYS if self.week.get(d)), ())

    def periods(self, day: date) -> tuple[Period, ...]:
        if day in self.holidays:
            return ()
        if day in self.workdays:
            return self.week.get(WEEKDAYS[day.weekday()]) or self.standard_day
        return tuple(self.week.get(WEEKDAYS[day.weekday()], ()))

    def is_working_day(self, day: date) -> bool:
        return bool(self.periods(day))

    def _at(self, day: date, t: time) -> datetime:
        if t == time.max:
            return datetime.combine(day + timedelta(days=1), time(0), self.tz)
        return datetime.combine(day, t, self.tz)

    def _spans(self, day: date) -> list[tuple[datetime, datetime]]:
        return [(self._at(day, a), self._at(day, b)) for a, b in self.periods(day)]

    def _next_working_day(self, day: date) -> date:
        for _ in range(SEARCH_DAYS):
            day += timedelta(days=1)
            if self.is_working_day(day):
                return day
        raise InvalidCalendar(f"no working day within {SEARCH_DAYS} days after {day}")

    def add_hours(self, start: datetime, hours: float) -> datetime:
        remaining = timedelta(hours=hours)
        cur = start.astimezone(self.tz)
        day = cur.date()
        for _ in range(SEARCH_DAYS):
            for a, b in self._spans(day):
                if b <= cur:
                    continue
                s = max(a, cur)
                if remaining <= b - s:
                    return (s + remaining).astimezone(UTC)
                remaining -= b - s
            day += timedelta(days=1)
            cur = self._at(day, time(0))
        raise InvalidCalendar(f"no working time within {SEARCH_DAYS} days after {start}")

    def add_days(self, start: datetime, n: int) -> datetime:
        local = start.astimezone(self.tz)
        day = local.date()
        spans = self._spans(day)
        if spans and local < spans[-1][1]:
            offset = sum(((min(b, local) - a) for a, b in spans if a < local), timedelta())
        else:
            day, offset = self._next_working_day(day), timedelta()
        if offset == timedelta():  # at the opening: the close of the n-th day counting this one
            for _ in range(n - 1):
                day = self._next_working_day(day)
            return self._spans(day)[-1][1].astimezone(UTC)
        for _ in range(n):
            day = self._next_working_day(day)
        for a, b in self._spans(day):
            if offset <= b - a:
                return (a + offset).astimezone(UTC)
            offset -= b - a
        return self._spans(day)[-1][1].astimezone(UTC)
