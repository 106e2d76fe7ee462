"""Response shapes shared by the features: lists as ``{"items": [...]}`` and times as ISO 8601
text with their offset (``2026-03-02T01:00:00+00:00``; SQLite's naive values are UTC)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Generic, TypeVar

from pydantic import BaseModel, WithJsonSchema

from ivr.core.timeutil import as_utc

__all__ = ["Items", "Time", "iso_time"]

T = TypeVar("T")

# a time as ``datetime.isoformat()`` writes it (kept as text: pydantic would write ``Z``)
Time = Annotated[str | None, WithJsonSchema({"type": ["string", "null"], "format": "date-time"})]


def iso_time(value: datetime | None) -> str | None:
    if value is None:
        return None
    return as_utc(value).isoformat() if value.tzinfo is None else value.isoformat()


class Items(BaseModel, Generic[T]):
    items: list[T]
