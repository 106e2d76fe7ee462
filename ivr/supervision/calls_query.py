"""The supervisors' calls list: one filter (:class:`CallFilter`) turned into one SQL query for
the page (keyset pagination: newest first by ``(started_at, id)``), its CSV (the whole filtered
set, read in keyset batches) and the API; a call's detail (steps, case, voicemail).

Indexes (migration 0017): ``ix_calls_started_id`` (the unfiltered list), ``ix_calls_official_
started``, ``ix_calls_number_started``, ``ix_calls_caller_started``, ``ix_call_steps_kind_target``
(the pool filter)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field
from pydantic.config import JsonDict
from sqlalchemy import Select, and_, exists, or_, select
from sqlalchemy.orm import selectinload

from ivr.core.constants import CALL_KINDS, OUTCOMES
from ivr.core.errors import InvalidInput, UnknownOfficial, UnknownPool
from ivr.core.ids import parse_id
from ivr.core.timeutil import PERIOD_TIME_PATTERN
from ivr.db.followup_models import Case, Voicemail
from ivr.db.models import Call, CallStep, Official, Pool
from ivr.db.session import Db
from ivr.routing.services import get_call
from ivr.supervision.figures import EXPECTED_KIND
from ivr.supervision.reports import period
from ivr.supervision.schemas import SupervisedCall

# the outcomes of the model, and the answered ones split by who answered
OUTCOME_FILTERS = (*OUTCOMES, "answered-expected", "answered-others", "in-progress")
PAGE = 50
CSV_BATCH = 1000


_TIME: JsonDict = {"pattern": PERIOD_TIME_PATTERN}
# digits, * and #, maybe a leading +, spaced by blanks, dashes or brackets (``_digits``)
_DIALLED: JsonDict = {"pattern": r"^[ ()-]*(\+[ ()-]*)?[0-9*#() -]*$"}
_AFTER: JsonDict = {"pattern": r"^$|^[0-9]{1,18}$"}  # a call id (``ivr.http.openapi``'s id)


class CallFilter(BaseModel):
    """What the calls page, its CSV and ``GET /api/v1/supervision/calls`` filter on."""
    since: str = Field("", max_length=40, json_schema_extra=_TIME,
                       description="a date (YYYY-MM-DD) or an ISO 8601 time, inclusive "
                                   "(default: 6 days ago), city timezone")
    until: str = Field("", max_length=40, json_schema_extra=_TIME,
                       description="a date (YYYY-MM-DD, inclusive) or an ISO 8601 time (exclusive)")
    official: str = Field("", max_length=80, description="slug or id")
    department: str = Field("", max_length=120)
    pool: str = Field("", max_length=40, description="pool name: calls that entered its queue")
    outcome: str = Field("", max_length=24, json_schema_extra={"enum": ["", *OUTCOME_FILTERS]})
    kind: str = Field("", max_length=24, json_schema_extra={"enum": ["", *CALL_KINDS]})
    number: str = Field("", max_length=40, json_schema_extra=_DIALLED, description="the published number dialled")
    caller: str = Field("", max_length=40, json_schema_extra=_DIALLED,
                        description="the caller's number (its beginning)")
    after: str = Field("", max_length=20, json_schema_extra=_AFTER, description="cursor: the last call id of the page "
                                                      "before (keyset pagination)")
    limit: int = Field(PAGE, ge=1, le=500, description="page size")


def is_id(raw: str) -> bool:
    """A row id as text: ASCII digits that fit a 64-bit integer (``ivr.core.ids``: ``²`` passes
    ``isdigit()`` but not ``int()``; larger ones overflow the database's integer)."""
    return parse_id(raw) is not None


def expected_answer() -> Any:
    """SQL: the call was answered by the party its mode expects."""
    return and_(Call.outcome == "answered", or_(*[
        and_(Call.mode == mode, Call.answered_kind == kind) for mode, kind in EXPECTED_KIND.items()]))


def _digits(raw: str, name: str) -> str:
    value = re.sub(r"[ ()-]", "", raw)
    if value and not re.fullmatch(r"\+?[0-9*#]{0,40}", value):
        raise InvalidInput(f"{name} must be digits", {name: raw})
    return value


async def filtered(db: Db, f: CallFilter, tz: str, oldest_first: bool = False) -> Select[Any]:
    """The calls ``f`` selects, newest first (or oldest first), without a page limit."""
    since, until = period(f.since, f.until, tz)
    q = select(Call).where(Call.started_at >= since.astimezone(UTC),
                           Call.started_at < until.astimezone(UTC))
    async with db() as session:
        if f.official.strip():
            ref = f.official.strip()
            clause = Official.id == int(ref) if is_id(ref) else Official.slug == ref
            oid = await session.scalar(select(Official.id).where(clause))
            if oid is None:
                raise UnknownOfficial(f"unknown official {ref!r}", {"official": ref})
            q = q.where(Call.official_id == oid)
        if f.pool.strip():
            pool = await session.scalar(select(Pool).where(Pool.name == f.pool.strip()))
            if pool is None:
                raise UnknownPool(f"unknown pool {f.pool!r}", {"pool": f.pool})
            q = q.where(exists().where(CallStep.call_id == Call.id, CallStep.kind == "pool",
                                       CallStep.target == pool.queue))
    if f.department.strip():
        q = q.where(Call.official_id.in_(select(Official.id).where(
            Official.department == f.department.strip())))
    if f.outcome:
        if f.outcome not in OUTCOME_FILTERS:
            raise InvalidInput(f"outcome {f.outcome!r}: expected one of "
                               f"{', '.join(OUTCOME_FILTERS)}", {"outcome": f.outcome})
        if f.outcome == "in-progress":
            q = q.where(Call.outcome.is_(None))
        elif f.outcome == "answered-expected":
            q = q.where(expected_answer())
        elif f.outcome == "answered-others":
            q = q.where(Call.outcome == "answered", ~expected_answer())
        else:
            q = q.where(Call.outcome == f.outcome)
    if f.kind:
        if f.kind not in CALL_KINDS:
            raise InvalidInput(f"kind {f.kind!r}: expected one of {', '.join(CALL_KINDS)}",
                               {"kind": f.kind})
        q = q.where(Call.kind == f.kind)
    if number := _digits(f.number, "number"):
        q = q.where(Call.number_dialed == number)
    if caller := _digits(f.caller, "caller"):
        q = q.where(Call.caller.startswith(caller, autoescape=True))
    if oldest_first:
        return q.order_by(Call.started_at, Call.id)
    return q.order_by(Call.started_at.desc(), Call.id.desc())


def after(q: Select[Any], cursor: int, ascending: bool = False) -> Select[Any]:
    """The rows of ``q`` after the call ``cursor`` in its order: the keyset condition."""
    at = select(Call.started_at).where(Call.id == cursor).scalar_subquery()
    if ascending:
        return q.where(or_(Call.started_at > at, and_(Call.started_at == at, Call.id > cursor)))
    return q.where(or_(Call.started_at < at, and_(Call.started_at == at, Call.id < cursor)))


@dataclass(frozen=True)
class Row:
    call: Call
    official: str
    department: str
    case_id: int | None
    case_status: str | None
    expected: bool


async def page(db: Db, q: Select[Any], cursor: str, limit: int,
               ascending: bool = False) -> tuple[list[Row], str | None]:
    """One page of ``q`` after ``cursor`` and the next page's cursor (None: the last page)."""
    if cursor and not is_id(cursor):
        raise InvalidInput("after must be a call id", {"after": cursor})
    rows = await _rows(db, after(q, int(cursor), ascending) if cursor else q, limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (str(rows[-1].call.id) if more and rows else None)


async def _rows(db: Db, q: Select[Any], limit: int) -> list[Row]:
    async with db() as session:
        calls = list((await session.scalars(q.limit(limit))).all())
        ids = [c.id for c in calls]
        wanted = {c.official_id for c in calls if c.official_id is not None}
        officials = {o.id: o for o in (await session.scalars(
            select(Official).where(Official.id.in_(wanted)))).all()}
        cases = {r.call_id: (r.id, r.status) for r in (await session.execute(
            select(Case.call_id, Case.id, Case.status).where(Case.call_id.in_(ids)))).all()}
        expected = set((await session.scalars(
            select(Call.id).where(Call.id.in_(ids), expected_answer()))).all())
    out = []
    for c in calls:
        o = officials.get(c.official_id) if c.official_id is not None else None
        case_id, status = cases.get(c.id, (None, None))
        out.append(Row(c, o.display_name if o else "", o.department if o else "", case_id,
                       status, c.id in expected))
    return out


def item(row: Row, tz: str) -> SupervisedCall:
    """A listed call as the page, the CSV and the API show it (times on the city's clock)."""
    c = row.call
    return SupervisedCall(
        id=c.id, started_at=local(c.started_at, tz), official=row.official,
        department=row.department, number_dialed=c.number_dialed, caller=c.caller, kind=c.kind,
        mode=c.mode, outcome=c.outcome, answered_role=c.answered_role, answered_by=c.answered_by,
        expected=row.expected, waited_secs=c.waited_secs, abandoned_during=c.abandoned_during,
        voicemail_secs=c.voicemail_secs, case_id=row.case_id, case_status=row.case_status)


async def every(db: Db, q: Select[Any], ascending: bool = False) -> AsyncIterator[Row]:
    """Every row of ``q``, read in keyset batches (the CSV: the whole filtered set)."""
    cursor = ""
    while True:
        rows, cursor_next = await page(db, q, cursor, CSV_BATCH, ascending)
        for r in rows:
            yield r
        if cursor_next is None:
            return
        cursor = cursor_next


@dataclass(frozen=True)
class Detail:
    call: Call
    official: Official | None
    cases: list[Case]
    voicemail: Voicemail | None


async def detail(db: Db, call_id: int) -> Detail:
    """A call with its steps, its case(s) with their history and callbacks, its voicemail."""
    call = await get_call(db, call_id)
    async with db() as session:
        official = await session.get(Official, call.official_id) if call.official_id else None
        cases = list((await session.scalars(
            select(Case).where(or_(Case.call_id == call.id, Case.linkedid == call.linkedid))
            .options(selectinload(Case.events), selectinload(Case.callbacks))
            .order_by(Case.id))).all())
        vm = await session.scalar(select(Voicemail).where(Voicemail.call_id == call.id))
    return Detail(call, official, cases, vm)


def local(t: datetime | None, tz: str) -> str:
    """A stored time on the city's wall clock, to the second."""
    if t is None:
        return ""
    aware = t if t.tzinfo else t.replace(tzinfo=UTC)
    return aware.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M:%S")
