"""Times: stored and compared in UTC; the city's timezone only for schedules and display."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """Aware → UTC; naive is taken as UTC (how SQLite hands stored times back)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
