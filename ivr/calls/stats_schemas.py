"""The supervision figures' shapes (``GET /api/v1/stats``, the dashboard page and its CSV)."""

from __future__ import annotations

from pydantic import BaseModel, Field
from pydantic.config import JsonDict

from ivr.core.timeutil import ISO_TIME_PATTERN

# checked by the service (``reports.period``): empty, a date or an ISO time
_TIME: JsonDict = {"pattern": f"{ISO_TIME_PATTERN}|^$"}


class StatsQuery(BaseModel):
    since: str = Field("", max_length=40, json_schema_extra=_TIME,
                       description="date or ISO time, inclusive (default: 6 days ago)")
    until: str = Field("", max_length=40, json_schema_extra=_TIME,
                       description="date (inclusive) or ISO time (exclusive); default: end of today")
    official: str = Field("", max_length=80, description="slug or id")


class StatsRow(BaseModel):
    """Figures of one set of calls (see ivr.calls.reports for the definitions)."""
    calls: int
    answered: int
    answered_pct: float | None
    answered_by_official: int
    answered_by_others: int
    abandoned: int
    abandoned_pct: float | None = Field(description="hung up before the route's final step")
    missed: int
    missed_pct: float | None = Field(description="the final step was reached, nobody answered")
    voicemail: int
    interrupted: int = Field(description="the PBX or node failed during the call; not in calls")
    asa_seconds: float | None
    answered_within_20s: int
    service_level_pct: float | None


class _OfficialKey(BaseModel):
    official_id: int
    slug: str
    name: str


class _PoolKey(BaseModel):
    pool: str
    queue: str


class OfficialStats(StatsRow, _OfficialKey):  # fields: official_id, slug, name, figures, …
    overdue_cases: int | None = Field(
        description="cases of the period open past their deadline (null: cases not counted)")


class PoolStats(StatsRow, _PoolKey):  # fields: pool, queue, figures, …
    answered_in_pool: int


class StatsOut(BaseModel):
    """Supervisor figures per official and per pool over a period."""
    since: str
    until: str
    timezone: str
    official: int | None = Field(description="the official the figures are limited to")
    service_level_seconds: int
    total: StatsRow
    officials: list[OfficialStats]
    pools: list[PoolStats]
    calls_per_hour: list[int] = Field(description="calls by local hour of arrival, 0-23")
