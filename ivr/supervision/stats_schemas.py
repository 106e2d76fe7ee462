"""The supervision figures' shapes (``GET /api/v1/stats``, the dashboard page and its CSV)."""

from __future__ import annotations

from pydantic import BaseModel, Field
from pydantic.config import JsonDict

from ivr.core.timeutil import PERIOD_TIME_PATTERN

# checked by the service (``reports.period``): empty, a date or an ISO time
_TIME: JsonDict = {"pattern": PERIOD_TIME_PATTERN}


class StatsQuery(BaseModel):
    since: str = Field("", max_length=40, json_schema_extra=_TIME,
                       description="a date (YYYY-MM-DD) or an ISO 8601 time, inclusive "
                                   "(default: 6 days ago)")
    until: str = Field("", max_length=40, json_schema_extra=_TIME,
                       description="a date (YYYY-MM-DD, inclusive) or an ISO 8601 time "
                                   "(exclusive); default: end of today")
    official: str = Field("", max_length=80, description="slug or id (unknown: 404)")


class StatsRow(BaseModel):
    """Figures of one set of calls (see ivr.supervision.figures for the definitions)."""
    calls: int = Field(description="citizen calls with an outcome, refused and interrupted "
                                   "excluded; every percentage is over these")
    answered: int
    answered_pct: float | None
    answered_expected: int = Field(description="answered by the party the call's mode expects: "
                                               "direct → the official, deputy → the deputy, "
                                               "pool → an operator")
    answered_expected_pct: float | None
    answered_other_party: int = Field(description="answered, but not by the expected party")
    answered_other_party_pct: float | None
    answered_by_official: int = Field(description="answered on the official's own device")
    answered_by_others: int = Field(description="answered, not on the official's own device "
                                                "(by the deputy or an operator)")
    abandoned: int
    abandoned_pct: float | None = Field(description="hung up before the route's final step")
    missed: int
    missed_pct: float | None = Field(description="the final step was reached, nobody answered")
    voicemail: int
    voicemail_pct: float | None
    interrupted: int = Field(description="the PBX or node failed during the call; not in calls")
    asa_seconds: float | None
    median_answer_seconds: float | None = Field(description="nearest-rank median of the "
                                                            "seconds from arrival to answer")
    p90_answer_seconds: float | None = Field(description="nearest-rank 90th percentile")
    answered_within_20s: int
    service_level_pct: float | None
    cases: int = Field(description="calls with a follow-up case")
    followed_on_time: int = Field(description="cases that reached the citizen by the contact "
                                              "deadline")
    followed_late: int = Field(description="cases that reached the citizen after it, or not yet "
                                           "with the deadline past")
    followed_on_time_pct: float | None = Field(description="on time / (on time + late)")
    ratings: int = Field(description="satisfaction ratings (surveys, 回访) of these calls and of "
                                     "their cases: counted in the call's period, official, "
                                     "department and pools, whenever the survey took place")
    satisfied: int = Field(description="ratings 1, satisfied (满意)")
    satisfied_pct: float | None = Field(description="satisfied / ratings")
    fairly_satisfied: int = Field(description="ratings 2, fairly satisfied (基本满意)")
    fairly_satisfied_pct: float | None = Field(description="fairly satisfied / ratings")
    not_satisfied: int = Field(description="ratings 3, not satisfied (不满意)")
    not_satisfied_pct: float | None = Field(description="not satisfied / ratings")


class _OfficialKey(BaseModel):
    official_id: int
    slug: str
    name: str


class _PoolKey(BaseModel):
    pool: str
    queue: str


class OfficialStats(StatsRow, _OfficialKey):  # fields: official_id, slug, name, figures, …
    department: str
    rank: int | None = Field(description="1 = best by answered by the expected party %, then "
                                         "followed up on time %; null without calls")
    overdue_cases: int | None = Field(
        description="cases of the period open past their deadline (null: cases not counted)")


class PoolStats(StatsRow, _PoolKey):  # fields: pool, queue, figures, …
    answered_in_pool: int


class DepartmentStats(StatsRow):
    department: str
    rank: int | None


class DayStats(StatsRow):
    day: str = Field(description="local date (the city's timezone)")


class StatsOut(BaseModel):
    """Supervisor figures per official and per pool over a period."""
    since: str
    until: str
    timezone: str
    official: int | None = Field(description="the official the figures are limited to")
    service_level_seconds: int
    total: StatsRow
    officials: list[OfficialStats]
    departments: list[DepartmentStats]
    pools: list[PoolStats]
    days: list[DayStats] = Field(description="the trend: figures per local day of the period")
    calls_per_hour: list[int] = Field(description="calls by local hour of arrival, 0-23")
