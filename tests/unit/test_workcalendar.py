"""Working time with fixed dates on the fixture calendar (tests/fixtures/calendar-2030.yaml,
made-up dates, never the shipped sample): a deadline on the eve of a holiday, on a Friday
before a make-up Saturday, at 17:55 on a working day, for urgent and normal cases, lands on the
right working minute."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from ivr.core.deadline_rules import DeadlineRules
from ivr.core.errors import InvalidCalendar, InvalidCaseInput
from ivr.core.workcalendar import WorkCalendar, parse_periods, parse_week
from ivr.followup.calendar import parse_calendar

TZ = ZoneInfo("Asia/Shanghai")
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "calendar-2030.yaml"
RULES = DeadlineRules.build()


def fixture_calendar() -> WorkCalendar:
    spec = parse_calendar(FIXTURE.read_text(encoding="utf-8"), "yaml")
    assert spec.week is not None
    return WorkCalendar(tz=TZ, week=spec.week,
                        holidays={d: n for d, (k, n) in spec.days.items() if k == "holiday"},
                        workdays={d: n for d, (k, n) in spec.days.items() if k == "workday"})


CAL = fixture_calendar()


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=TZ)


def due(name: str, start: str, urgency: str, kind: str = "voicemail",
        rules: DeadlineRules = RULES) -> str:
    return rules.due(name, CAL, at(start), kind, urgency).astimezone(TZ).strftime("%Y-%m-%d %H:%M")


@pytest.mark.parametrize(("start", "name", "urgency", "expected"), [
    # eve of the National Day holiday (Mon 30 Sep; 1-7 Oct off): the days off do not count
    ("2030-09-30 15:00", "contact", "normal", "2030-10-08 15:00"),
    ("2030-09-30 15:00", "contact", "urgent", "2030-09-30 17:00"),
    ("2030-09-30 17:00", "contact", "urgent", "2030-10-08 10:00"),
    ("2030-09-30 15:00", "resolve", "normal", "2030-10-10 15:00"),
    # Friday before the make-up Saturday 12 Oct: Saturday is a working day
    ("2030-10-11 10:00", "contact", "normal", "2030-10-12 10:00"),
    ("2030-10-11 17:30", "contact", "urgent", "2030-10-12 10:30"),
    ("2030-10-11 10:00", "resolve", "normal", "2030-10-15 10:00"),
    # an ordinary Friday: the weekend does not count
    ("2030-10-18 10:00", "contact", "normal", "2030-10-21 10:00"),
    # 17:55 on a working day (Wed 16 Oct, closing at 18:00)
    ("2030-10-16 17:55", "contact", "urgent", "2030-10-17 10:55"),
    ("2030-10-16 17:55", "contact", "normal", "2030-10-17 17:55"),
    ("2030-10-16 17:55", "resolve", "urgent", "2030-10-21 17:55"),
    # left during the holiday: by the close of the first working day after it
    ("2030-10-03 10:00", "contact", "normal", "2030-10-08 18:00"),
    ("2030-10-03 10:00", "contact", "urgent", "2030-10-08 11:00"),
    # Saturday evening before the make-up Sunday 29 Sep
    ("2030-09-28 20:00", "contact", "urgent", "2030-09-29 11:00"),
    # before opening, across lunch, after closing
    ("2030-10-16 07:00", "contact", "urgent", "2030-10-16 11:00"),
    ("2030-10-16 11:30", "contact", "urgent", "2030-10-16 14:30"),
    ("2030-10-16 19:00", "contact", "normal", "2030-10-17 18:00"),
    ("2030-10-16 12:30", "contact", "normal", "2030-10-17 12:00"),
])
def test_deadline_lands_on_the_working_minute(start: str, name: str, urgency: str,
                                              expected: str) -> None:
    assert due(name, start, urgency) == expected


def test_rules_per_kind_and_urgency() -> None:
    rules = DeadlineRules.build({"contact": {"missed.normal": "2d", "urgent": "30m"}})
    assert due("contact", "2030-10-16 10:00", "normal", "missed", rules) == "2030-10-18 10:00"
    assert due("contact", "2030-10-16 10:00", "normal", "voicemail", rules) == "2030-10-17 10:00"
    assert due("contact", "2030-10-16 17:50", "urgent", "missed", rules) == "2030-10-17 09:20"
    assert due("escalated", "2030-10-16 10:00", "urgent") == "2030-10-16 12:00"


@pytest.mark.parametrize("given", [{"contact": {"urgent": "soon"}}, {"contact": {"urgent": "1.5d"}},
                                   {"contact": {"later": "1d"}}, {"resolve": {"fax.normal": "1d"}},
                                   {"contact": {"normal": "0h"}}])
def test_bad_rules_are_refused(given: dict[str, dict[str, str]]) -> None:
    with pytest.raises(InvalidCaseInput):
        DeadlineRules.build(given)


def test_weeks_and_periods_are_checked() -> None:
    assert parse_periods("08:30-12:00, 14:30-17:30", "p")[1][0].hour == 14
    for bad in (["12:00-09:00"], ["09:00-12:00", "11:00-13:00"], ["9-12"], "x"):
        with pytest.raises(InvalidCalendar):
            parse_periods(bad, "p")
    with pytest.raises(InvalidCalendar):
        parse_week({"monday": ["09:00-12:00"]})
    with pytest.raises(InvalidCalendar):
        parse_week({"mon": []})
    with pytest.raises(InvalidCalendar):  # no working time at all
        WorkCalendar(tz=TZ, week={"mon": ()}).add_hours(at("2030-10-16 10:00"), 1)


def test_make_up_day_uses_the_standard_day() -> None:
    assert CAL.is_working_day(at("2030-10-12 00:00").date())
    assert not CAL.is_working_day(at("2030-10-19 00:00").date())
    assert not CAL.is_working_day(at("2030-10-02 00:00").date())
    assert CAL.periods(at("2030-10-12 00:00").date()) == CAL.week["mon"]
