"""Times: stored and compared in UTC; the city's timezone only for schedules and display."""

from __future__ import annotations

import re
from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """Aware → UTC; naive is taken as UTC (how SQLite hands stored times back)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# what a query's time may look like: a date, or a date and time (seconds, fraction, offset
# optional); the OpenAPI document gives clients the same pattern
_YEAR = r"([1-8][0-9]{3}|9[0-8][0-9]{2}|99[0-8][0-9]|999[0-8])"
_LEAP = r"([1-9][0-9](0[48]|[2468][048]|[13579][26])|([2468][048]|[13579][26])00)"  # 1000..9998
_DAY = (r"(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])|(0[13-9]|1[0-2])-(29|30)"
        r"|(0[13578]|1[02])-31")
ISO_TIME_PATTERN = (rf"^({_YEAR}-({_DAY})|{_LEAP}-02-29)"
                    r"([T ]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?"
                    r"(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])?)?$")
_ISO_TIME = re.compile(ISO_TIME_PATTERN)
# a calendar date (years 1000..9998), or empty: not given
DATE_PATTERN = rf"^$|^({_YEAR}-({_DAY})|{_LEAP}-02-29)$"
# a supervision period's ends (``ivr.supervision.reports.period``): years 1971..8999, so that
# any timezone keeps the instant within 1970..9000; empty: the default
PERIOD_TIME_PATTERN = (ISO_TIME_PATTERN
                       .replace(_YEAR, r"(197[1-9]|19[89][0-9]|[2-8][0-9]{3})", 1)
                       .replace(_LEAP, r"(19(7[26]|8[048]|9[26])|[2-8][0-9](0[48]|[2468][048]"
                                       r"|[13579][26])|([2468][048]|[357][26])00)", 1)
                       .replace("^(", "^$|^(", 1))


def parse_iso_time(raw: str) -> datetime:
    """A date or ISO 8601 time from a query or form, else ValueError. Years 1000..9998 only (the
    pattern): in the first and last year a timezone shift or a day added overflows ``datetime``."""
    if not isinstance(raw, str) or not _ISO_TIME.fullmatch(raw):
        raise ValueError("expected a date (YYYY-MM-DD) or an ISO 8601 time")
    value = datetime.fromisoformat(raw)
    if not 1000 <= value.year <= 9998:  # (the pattern already says so)
        raise ValueError("the year must be 1000..9998")
    return value
