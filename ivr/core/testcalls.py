"""Scheduled test calls (拨测, issue 13), the pure part: when a day's test calls are placed
(random instants within the test hours, city time) and what a finished test call's result is.
No I/O; ``ivr.testcalls.services`` uses it."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from ivr.core.autocallback import parse_hours

MODES = ("now", "daily")
# a test call's result (docs/supervision.md, "Test calls")
ACKNOWLEDGED = "acknowledged"  # a callee answered and pressed 1 after the announcement
UNACKNOWLEDGED = "unacknowledged"  # a callee answered, and 1 never came
NOT_ANSWERED = "not_answered"  # nobody answered: the route ended (message, voicemail, …)
NOT_ASKED = "not_asked"  # answered, but the announcement was not played (the controller late)
LOST = "lost"  # placed, and its call never finished in the records (a crash, a restart)
FAILED = "failed"  # Asterisk did not accept it (AMI down or refused): never placed
RESULTS = (ACKNOWLEDGED, UNACKNOWLEDGED, NOT_ANSWERED, NOT_ASKED, LOST, FAILED)
ANSWERABLE = ("direct", "deputy", "pool")  # the step kinds where a callee can answer


def parse_test_hours(text: str) -> tuple[time, time]:
    """``"09:00-17:00"`` → (start, end), within one day (ValueError otherwise)."""
    start, end = parse_hours(text)
    if end <= start:
        raise ValueError(f"test hours {text!r} must end after they start, the same day")
    return start, end


def window(day: date, hours: tuple[time, time], tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The test hours of ``day`` (a date on the city's calendar) as UTC instants."""
    start = datetime.combine(day, hours[0], tzinfo=tz).astimezone(UTC)
    end = datetime.combine(day, hours[1], tzinfo=tz).astimezone(UTC)
    return start, end


def plan_times(day: date, count: int, hours: tuple[time, time], tz: ZoneInfo,
               rng: random.Random, not_before: datetime | None = None) -> list[datetime]:
    """``count`` random instants (UTC, sorted, whole seconds) within the test hours of ``day``;
    only after ``not_before`` when the window has started already (a schedule made at 11:00
    for 09:00-17:00 draws between 11:00 and 17:00); none when the window is over."""
    start, end = window(day, hours, tz)
    if not_before is not None:
        start = max(start, not_before.astimezone(UTC).replace(microsecond=0)
                    + timedelta(seconds=1))
    span = int((end - start).total_seconds())
    if span <= 0 or count <= 0:
        return []
    return sorted(start + timedelta(seconds=rng.randrange(span)) for _ in range(count))


def local_day(at: datetime, tz: ZoneInfo) -> date:
    return at.astimezone(tz).date()


@dataclass(frozen=True, slots=True)
class Judged:
    result: str
    ended: str = ""  # not answered: where the route ended, "<n>:<kind>:<result>"


def judge(outcome: str | None, answered: bool, asked: bool, key: str | None,
          last_step: str = "") -> Judged:
    """A finished test call's result from its call record (``outcome``; ``answered``: a callee
    answered, never a message or the voicemail) and its own events (``asked``: the
    announcement played; ``key``: the key pressed after it)."""
    if outcome is None or outcome == "interrupted":
        return Judged(LOST, last_step)
    if not answered:
        return Judged(NOT_ANSWERED, last_step)
    if not asked:
        return Judged(NOT_ASKED)
    return Judged(ACKNOWLEDGED if key == "1" else UNACKNOWLEDGED)
