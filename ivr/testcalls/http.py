"""Test calls over HTTP (issue 13), admins and supervisors:

- ``POST /api/v1/testcalls/schedules``: schedule test calls to published numbers — ``now``, or
  ``daily`` (``per_day`` per number at random instants within ``hours``, city time, for
  ``days`` days from today);
- ``GET /api/v1/testcalls/schedules``; ``DELETE /api/v1/testcalls/schedules/{id}`` stops one
  (its test calls not placed yet are cancelled);
- ``GET /api/v1/testcalls``: the test calls with their results, and the totals per result.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from aiohttp import web
from pydantic import BaseModel, Field

from ivr.core.constants import API_PREFIX
from ivr.core.errors import InvalidInput
from ivr.core.ids import parse_id
from ivr.core.testcalls import RESULTS
from ivr.core.timeutil import DATE_PATTERN
from ivr.db.settings import current_timezone
from ivr.db.testcall_models import TestCall, TestSchedule
from ivr.http import CONFIG, DB, Routes
from ivr.http.inputs import actor_of
from ivr.testcalls import report, schedules

routes = Routes("testcalls")
PATH = f"{API_PREFIX}/testcalls"
SUPERVISORS = ("admin", "supervisor")


class ScheduleIn(BaseModel):
    numbers: list[str] = Field(min_length=1, max_length=schedules.MAX_NUMBERS,
                               description="published numbers, in any written form")
    mode: Literal["now", "daily"] = Field(description="now: one test call per number at once; "
                                          "daily: per_day per number each day")
    per_day: int = Field(1, ge=1, le=schedules.MAX_PER_DAY)
    hours: str = Field("", max_length=11, description="daily: HH:MM-HH:MM, city time")
    days: int = Field(1, ge=1, le=schedules.MAX_DAYS, description="daily: for this many days "
                      "from today")
    note: str = Field("", max_length=200)


class ScheduleOut(BaseModel):
    id: int
    numbers: list[str]
    mode: str
    per_day: int
    hours: str
    first_day: str
    last_day: str
    active: bool
    note: str
    created_by: str
    created_at: str
    planned: int | None = Field(None, description="test calls planned when it was made")

    @classmethod
    def of(cls, s: TestSchedule, planned: int | None = None) -> ScheduleOut:
        return cls(id=s.id, numbers=s.numbers.split(","), mode=s.mode, per_day=s.per_day,
                   hours=s.hours, first_day=s.first_day, last_day=s.last_day, active=s.active,
                   note=s.note, created_by=s.created_by, created_at=s.created_at.isoformat(),
                   planned=planned)


class ScheduleList(BaseModel):
    items: list[ScheduleOut]


class TestCallsQuery(BaseModel):
    since: str = Field("", max_length=10, pattern=DATE_PATTERN, description="YYYY-MM-DD (city date), due from")
    until: str = Field("", max_length=10, pattern=DATE_PATTERN,
                       description="YYYY-MM-DD (city date), due until "
                       "(inclusive)")
    number: str = Field("", max_length=40, description="a published number")
    result: Literal["", "acknowledged", "unacknowledged", "not_answered", "not_asked", "lost",
                    "failed"] = ""
    schedule_id: int | None = Field(None, ge=1, le=2**63 - 1)
    limit: int = Field(200, ge=1, le=1000)


class TestCallOut(BaseModel):
    __test__ = False
    id: int
    schedule_id: int
    number: str
    official: str | None = Field(description="the official the number is published for")
    due_at: str
    state: str = Field(json_schema_extra={"enum": ["pending", "claimed", "dialled", "done",
                                                  "cancelled"]})
    result: str | None = Field(json_schema_extra={"enum": [*RESULTS, None]})
    answered_by: str | None = Field(description="the device that answered")
    answered_role: str | None = Field(description="official, deputy or operator")
    answered_secs: float | None = Field(description="seconds from placing to the answer")
    ack_key: str | None = Field(description="the key pressed after the announcement")
    ack_secs: float | None = Field(description="seconds from placing to the acknowledgement")
    ended: str = Field(description="not answered: where the route ended, <step>:<kind>:<result>")
    linkedid: str | None = Field(description="its call record (kind test)")
    call_id: int | None
    node: str
    note: str

    @classmethod
    def of(cls, t: TestCall, official: str | None) -> TestCallOut:
        return cls(id=t.id, schedule_id=t.schedule_id, number=t.number, official=official,
                   due_at=t.due_at.isoformat(), state=t.state, result=t.result,
                   answered_by=t.answered_by, answered_role=t.answered_role,
                   answered_secs=t.answered_secs, ack_key=t.ack_key, ack_secs=t.ack_secs,
                   ended=t.ended, linkedid=t.linkedid, call_id=t.call_id, node=t.node,
                   note=t.note)


class TestCallList(BaseModel):
    __test__ = False
    items: list[TestCallOut]
    totals: dict[str, int] = Field(description="finished test calls per result (the period)")


def _day(raw: str, tz: ZoneInfo, field: str, end: bool = False) -> datetime | None:
    if not raw:
        return None
    try:
        day = datetime.strptime(raw, "%Y-%m-%d").date()
    except ValueError:
        raise InvalidInput(f"{field}: YYYY-MM-DD", {field: raw}) from None
    return datetime.combine(day + timedelta(days=1 if end else 0), time(), tzinfo=tz)


@routes.post(f"{PATH}/schedules", roles=SUPERVISORS, body=ScheduleIn, response=ScheduleOut,
             status=201, errors=[400, 409])
async def post_schedule(request: web.Request, body: ScheduleIn) -> ScheduleOut:
    """Schedule test calls to published numbers: now, or N per day at random times."""
    sched, planned = await schedules.create(
        request.config_dict[DB], request.config_dict[CONFIG].testcalls, body.numbers, body.mode,
        actor_of(request), per_day=body.per_day, hours=body.hours, days=body.days,
        note=body.note)
    return ScheduleOut.of(sched, planned)


@routes.get(f"{PATH}/schedules", roles=SUPERVISORS, response=ScheduleList)
async def get_schedules(request: web.Request) -> ScheduleList:
    """The test schedules, newest first."""
    return ScheduleList(items=[ScheduleOut.of(s) for s in
                               await schedules.listing(request.config_dict[DB])])


@routes.delete(f"{PATH}/schedules/{{id}}", roles=SUPERVISORS, response=ScheduleOut,
               errors=[400, 404])
async def delete_schedule(request: web.Request) -> ScheduleOut:
    """Stop a schedule: its test calls not placed yet are cancelled (the others are kept)."""
    raw = request.match_info["id"]
    schedule_id = parse_id(raw)
    if schedule_id is None:
        raise InvalidInput("schedule id must be a number", {"id": raw})
    return ScheduleOut.of(await schedules.stop(request.config_dict[DB], schedule_id))


@routes.get(PATH, roles=SUPERVISORS, query=TestCallsQuery, response=TestCallList,
            errors=[400])
async def get_test_calls(request: web.Request, query: TestCallsQuery) -> TestCallList:
    """The test calls (newest due first) with their results, and the totals per result."""
    db = request.config_dict[DB]
    tz = ZoneInfo(await current_timezone(db))
    since, until = _day(query.since, tz, "since"), _day(query.until, tz, "until", end=True)
    number = ""
    if query.number:  # a filter: a number not published (or malformed) matches no test call
        try:
            number = (await schedules.published(db, [query.number]))[0]
        except InvalidInput:
            number = query.number
    rows = await report.calls(db, since, until, number, query.result, query.schedule_id,
                              query.limit)
    return TestCallList(items=[TestCallOut.of(t, name) for t, name in rows],
                        totals=await report.totals(db, since, until))
