"""The exceptions list: citizen calls not answered by the expected party and not followed up by
the contact deadline, oldest first (docs/supervision.md, "Exceptions").

The expected party is the mode in effect for that call (``calls.mode``): ``direct`` → the
official in person, ``deputy`` → the deputy, ``pool`` → an operator. A call is an exception when
it was missed, abandoned, went to voicemail, or was answered by someone else — and no case of it
reached the citizen (first status ``called_back``/``resolved``) by its contact deadline, the
deadline having passed (a case still inside its deadline is not yet an exception)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, exists, or_, select
from sqlalchemy.orm import selectinload

from ivr.core.timeutil import as_utc
from ivr.db.followup_models import Case, CaseEvent
from ivr.db.models import Call
from ivr.db.session import Db
from ivr.supervision.calls_query import CallFilter, Row, every, expected_answer, filtered, item
from ivr.supervision.calls_query import local as local_time
from ivr.supervision.figures import CONTACTED
from ivr.supervision.schemas import ExceptionCall

EXPECTED_PARTY = {"direct": "official", "": "official", "deputy": "deputy", "pool": "operator",
                  "voicemail": "none"}
UNANSWERED = ("missed", "abandoned", "voicemail")


def contacted_by(deadline: Any) -> Any:
    """SQL: the case reached the citizen by ``deadline``."""
    return exists().where(CaseEvent.case_id == Case.id, CaseEvent.action == "status",
                          CaseEvent.new_value.in_(CONTACTED), CaseEvent.at <= deadline)


def only_exceptions(q: Select[Any], now: datetime) -> Select[Any]:
    """``q`` (calls) narrowed to the exceptions as of ``now``."""
    in_time = exists().where(Case.call_id == Call.id, or_(Case.deadline >= now,
                                                          contacted_by(Case.deadline)))
    return q.where(Call.kind == "citizen", or_(
        Call.outcome.in_(UNANSWERED),
        and_(Call.outcome == "answered", ~expected_answer())), ~in_time)


def reason(call: Call) -> str:
    if call.outcome == "abandoned":
        return "abandoned"
    return "other_party" if call.outcome == "answered" else "nobody_answered"


async def follow_ups(db: Db, call_ids: list[int]) -> dict[int, tuple[str, datetime | None]]:
    """Why each call's follow-up failed, and its case's contact deadline."""
    async with db() as session:
        cases = (await session.scalars(
            select(Case).where(Case.call_id.in_(call_ids))
            .options(selectinload(Case.events), selectinload(Case.callbacks)))).all()
    out: dict[int, tuple[str, datetime | None]] = {}
    for case in cases:
        assert case.call_id is not None
        contacts = [as_utc(e.at) for e in case.events
                    if e.action == "status" and e.new_value in CONTACTED]
        if contacts:
            why = "contacted_late"
        elif case.callbacks and not any(cb.answered_at for cb in case.callbacks):
            why = "callback_unreachable"
        else:
            why = "case_overdue"
        out[case.call_id] = (why, as_utc(case.deadline))
    return out


def expected_party(row: Row) -> str:
    return EXPECTED_PARTY.get(row.call.mode, "official")


async def items(db: Db, rows: list[Row], tz: str) -> list[ExceptionCall]:
    """The exceptions as listed: the call, the reason, the follow-up's failure, the deadline."""
    ups = await follow_ups(db, [r.call.id for r in rows])
    out = []
    for r in rows:
        why, deadline = ups.get(r.call.id, ("no_case", None))
        out.append(ExceptionCall(**item(r, tz).model_dump(), reason=reason(r.call),
                                 follow_up=why, expected_party=expected_party(r),
                                 deadline=local_time(deadline, tz) or None))
    return out


async def query(db: Db, f: CallFilter, tz: str, now: datetime) -> Select[Any]:
    """The exceptions ``f`` selects as of ``now``, oldest first."""
    return only_exceptions(await filtered(db, f, tz, oldest_first=True), now)


async def all_items(db: Db, f: CallFilter, tz: str, now: datetime,
                    batch: int = 1000) -> AsyncIterator[ExceptionCall]:
    """Every exception of ``f`` (keyset batches), oldest first."""
    rows: list[Row] = []
    async for r in every(db, await query(db, f, tz, now), ascending=True):
        rows.append(r)
        if len(rows) == batch:
            for e in await items(db, rows, tz):
                yield e
            rows = []
    for e in await items(db, rows, tz):
        yield e
