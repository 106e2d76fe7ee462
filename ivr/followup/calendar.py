"""The working calendar's files and store: ``ivr calendar import FILE``, the API and the admin
page all come here.

A file gives one year's dated exceptions — public holidays and make-up working days (调休) —
and optionally the weekly working hours (``week``). YAML::

    year: 2030
    week: {mon: ["09:00-12:00", "13:00-18:00"], …}   # optional; days left out: no work
    holidays:
      - {name: 国庆节, from: 2030-10-01, to: 2030-10-07}
      - {name: 元旦, date: 2030-01-01}
    workdays:
      - {name: 国庆节调休, date: 2030-09-29}

CSV: ``date,kind,name`` rows (kind ``holiday``/``workday``, or ``休``/``班``). Importing replaces
the exceptions of every year the file covers (idempotent), then recomputes both deadlines of
the cases not yet resolved. A file marked ``status: example`` (the shipped sample) is refused
unless the caller says it was checked (``allow_example``).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import yaml
from sqlalchemy import delete, select
from sqlalchemy.orm import selectinload

from ivr.core.errors import InvalidCalendar
from ivr.core.workcalendar import DEFAULT_WEEK, Period, parse_week, week_text
from ivr.db.followup_models import CalendarDay, Case
from ivr.db.models import Setting
from ivr.db.session import Db
from ivr.followup.cases import add_event
from ivr.followup.deadlines import WEEK_KEY, Deadlines

KINDS = {"holiday": "holiday", "workday": "workday", "休": "holiday", "班": "workday"}
MAX_RANGE = 31  # days in one holiday entry


@dataclass(slots=True)
class CalendarSpec:
    days: dict[date, tuple[str, str]] = field(default_factory=dict)  # day → (kind, name)
    week: dict[str, tuple[Period, ...]] | None = None
    example: bool = False

    @property
    def years(self) -> list[int]:
        return sorted({d.year for d in self.days})

    def add(self, day: date, kind: str, name: str, where: str) -> None:
        if day in self.days and self.days[day][0] != kind:
            raise InvalidCalendar(f"{day} is both a holiday and a working day", where=where)
        self.days[day] = (kind, name)


def _date(value: Any, where: str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise InvalidCalendar(f"{value!r} is not a date YYYY-MM-DD", where=where) from None


def _name(value: Any, where: str) -> str:
    name = "" if value is None else str(value).strip()
    if len(name) > 80:
        raise InvalidCalendar("a name has at most 80 characters", where=where)
    return name


def parse_yaml(text: str) -> CalendarSpec:
    try:
        doc = yaml.safe_load(text)
    except (yaml.YAMLError, ValueError) as exc:  # ValueError: a date such as 2030-02-30
        raise InvalidCalendar(f"not valid YAML: {exc}") from None
    if not isinstance(doc, Mapping):
        raise InvalidCalendar("expected a mapping with year, holidays, workdays")
    unknown = set(doc) - {"year", "status", "note", "week", "holidays", "workdays"}
    if unknown:
        raise InvalidCalendar(f"unknown keys: {', '.join(sorted(map(str, unknown)))}")
    year = doc.get("year")
    if not isinstance(year, int) or not 2000 <= year <= 2100:
        raise InvalidCalendar(f"year {year!r}: expected a year such as 2030", where="year")
    spec = CalendarSpec(example=doc.get("status") == "example")
    if doc.get("week") is not None:
        spec.week = parse_week(doc["week"])
    for key, kind in (("holidays", "holiday"), ("workdays", "workday")):
        entries = doc.get(key) or []
        if not isinstance(entries, list):
            raise InvalidCalendar("expected a list", where=key)
        for i, entry in enumerate(entries):
            where = f"{key}[{i}]"
            if not isinstance(entry, Mapping) or ("date" in entry) == ("from" in entry) \
                    or set(entry) - {"name", "date", "from", "to"}:
                raise InvalidCalendar("expected {name, date} or {name, from, to}", where=where)
            first = _date(entry.get("date", entry.get("from")), where)
            last = _date(entry.get("to", first), where)
            if not 0 <= (last - first).days < MAX_RANGE:
                raise InvalidCalendar(f"from {first} to {last}: at most {MAX_RANGE} days, in "
                                      f"order", where=where)
            for n in range((last - first).days + 1):
                day = first + timedelta(days=n)
                if day.year != year:
                    raise InvalidCalendar(f"{day} is not in {year}", where=where)
                spec.add(day, kind, _name(entry.get("name"), where), where)
    return spec


def parse_csv(text: str) -> CalendarSpec:
    try:
        return _parse_csv(text)
    except csv.Error as exc:  # a malformed CSV is bad input, not a server error
        raise InvalidCalendar(f"not a CSV file: {exc}") from None


def _parse_csv(text: str) -> CalendarSpec:
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    header = [h.strip() for h in reader.fieldnames or []]
    if header[:2] != ["date", "kind"] or set(header) - {"date", "kind", "name"}:
        raise InvalidCalendar(f"CSV header must be date,kind,name; got {','.join(header)}",
                              where="row 1")
    reader.fieldnames = header
    spec = CalendarSpec()
    for row in reader:
        where = f"row {reader.line_num}"
        if not any((v or "").strip() for v in row.values() if isinstance(v, str)):
            continue
        kind = KINDS.get((row.get("kind") or "").strip())
        if kind is None:
            raise InvalidCalendar(f"kind {row.get('kind')!r}: expected holiday or workday",
                                  where=where)
        spec.add(_date(row.get("date"), where), kind, _name(row.get("name"), where), where)
    if not spec.days:
        raise InvalidCalendar("the file lists no day")
    return spec


def parse_calendar(text: str, fmt: str) -> CalendarSpec:
    if fmt == "yaml":
        return parse_yaml(text)
    if fmt == "csv":
        return parse_csv(text)
    raise InvalidCalendar(f"unknown calendar format {fmt!r}: expected yaml or csv")


@dataclass(frozen=True, slots=True)
class ImportResult:
    years: list[int]
    holidays: int
    workdays: int
    week: dict[str, list[str]] | None
    recomputed: int  # open cases whose deadlines moved


async def import_calendar(db: Db, spec: CalendarSpec, deadlines: Deadlines, actor: str, *,
                          allow_example: bool = False) -> ImportResult:
    """Replace the years of ``spec`` (and the week if given); recompute open cases' deadlines."""
    if spec.example and not allow_example:
        raise InvalidCalendar("this file is marked status: example — check its dates against "
                              "the State Council's notice for the year, then remove that line "
                              "(or allow_example)", {"status": "example"})
    async with db() as session, session.begin():
        if spec.years:
            await session.execute(delete(CalendarDay).where(CalendarDay.year.in_(spec.years)))
        session.add_all(CalendarDay(day=d, kind=k, name=n, year=d.year)
                        for d, (k, n) in sorted(spec.days.items()))
        if spec.week is not None:
            await session.merge(Setting(key=WEEK_KEY, value=week_text(spec.week)))
    await deadlines.refresh(db)
    recomputed = await recompute_open(db, deadlines, actor)
    kinds = [k for k, _ in spec.days.values()]
    return ImportResult(spec.years, kinds.count("holiday"), kinds.count("workday"),
                        week_text(spec.week) if spec.week is not None else None, recomputed)


async def recompute_open(db: Db, deadlines: Deadlines, actor: str) -> int:
    """Both deadlines of every case not resolved again from the current calendar (an event on
    each case whose deadlines moved); the number moved."""
    moved = 0
    async with db() as session, session.begin():
        cases = (await session.scalars(select(Case).where(Case.status != "resolved")
                                       .options(selectinload(Case.events)))).all()
        for case in cases:
            old = case.deadline.isoformat(timespec="minutes") if case.deadline else None
            if deadlines.apply(case):
                moved += 1
                add_event(case, actor, "deadlines", old,
                          case.deadline.isoformat(timespec="minutes"),
                          note="working calendar changed")
    return moved


async def overview(db: Db, year: int | None = None) -> tuple[dict[str, list[str]], list[CalendarDay]]:
    """The weekly hours and the dated exceptions (of ``year``, else all), by date."""
    async with db() as session:
        stmt = select(CalendarDay).order_by(CalendarDay.day)
        if year is not None:
            stmt = stmt.where(CalendarDay.year == year)
        days = list((await session.scalars(stmt)).all())
        row = await session.get(Setting, WEEK_KEY)
    week = parse_week(row.value) if row is not None and row.value else DEFAULT_WEEK
    return week_text(week), days
