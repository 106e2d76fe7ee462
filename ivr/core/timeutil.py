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
ISO_TIME_PATTERN = (r"^([1-8][0-9]{3}|9[0-8][0-9]{2}|99[0-8][0-9]|999[0-8])"
                    r"-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
                    r"([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?(Z|[+-][0-9]{2}:[0-9]{2})?)?$")
_ISO_TIME = re.compile(ISO_TIME_PATTERN)


def parse_iso_time(raw: str) -> datetime:
    """A date or ISO 8601 time from a query or form, else ValueError. Years 1000..9998 only (the
    pattern): in the first and last year a timezone shift or a day added overflows ``datetime``."""
    if not isinstance(raw, str) or not _ISO_TIME.match(raw):
        raise ValueError("expected a date (YYYY-MM-DD) or an ISO 8601 time")
    value = datetime.fromisoformat(raw)
    if not 1000 <= value.year <= 9998:
        raise ValueError("the year must be 1000..9998")
    return value
