"""Deadlines for tests that count in plain hours: a calendar working round the clock every day
(so "2h" is two hours and "1d" twenty-four), the default rules unless given."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from ivr.core.deadline_rules import DeadlineRules
from ivr.core.workcalendar import WEEKDAYS, WorkCalendar, parse_periods
from ivr.followup.deadlines import Deadlines

ROUND_THE_CLOCK = WorkCalendar(tz=ZoneInfo("Asia/Shanghai"),
                               week={d: parse_periods(["00:00-24:00"], d) for d in WEEKDAYS})


def round_the_clock(**rules: dict[str, str]) -> Deadlines:
    """``round_the_clock(contact={"urgent": "1h"})``."""
    return Deadlines(DeadlineRules.build(rules), ROUND_THE_CLOCK)
