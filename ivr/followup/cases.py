"""Cases: the follow-up of every unanswered call. State machine and deadlines (pure), services.

Workflow: ``new → assigned → called_back → resolved``. A case may also be called back straight
from ``new`` (whoever picks it up calls at once) and re-assigned while ``assigned`` or after an
unsuccessful call (``called_back → assigned``). ``resolved`` is final. Every change is kept in
``case_events`` with who and when. Two deadlines in working time (``ivr.followup.deadlines``,
docs/followup.md): ``deadline`` to contact the citizen and ``resolve_deadline``. A case is
overdue when its contact deadline passed and nobody has called the citizen back yet (status
``new`` or ``assigned``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from ivr.core.errors import (
    InvalidCaseInput,
    InvalidTransition,
    UnknownCall,
    UnknownCase,
    UnknownCategory,
)
from ivr.core.ids import MAX_ID, parse_id
from ivr.core.timeutil import as_utc, utcnow
from ivr.db.followup_models import CASE_STATES, URGENCIES, Case, CaseEvent
from ivr.db.models import Call, Official
from ivr.db.session import Db, snapshot
from ivr.followup.deadlines import Deadlines

TRANSITIONS: dict[str, frozenset[str]] = {
    "new": frozenset({"assigned", "called_back"}),
    "assigned": frozenset({"called_back"}),
    "called_back": frozenset({"resolved", "assigned"}),
    "resolved": frozenset(),
}
OPEN_STATES = ("new", "assigned")  # nobody has reached the citizen yet


# ---------------------------------------------------------------- pure rules

def check_transition(old: str, new: str) -> None:
    """Raise InvalidTransition (409) unless ``old → new`` is allowed."""
    if new not in CASE_STATES:
        raise InvalidCaseInput(f"unknown status {new!r}: expected one of {', '.join(CASE_STATES)}",
                               {"status": new})
    if new not in TRANSITIONS.get(old, frozenset()):
        allowed = ", ".join(sorted(TRANSITIONS.get(old, ()))) or "none (final)"
        raise InvalidTransition(f"a case cannot go from {old} to {new}; from {old}: {allowed}",
                                {"from": old, "to": new})


def is_overdue(status: str, deadline: datetime, now: datetime) -> bool:
    return status in OPEN_STATES and as_utc(deadline) < now


def callback_number(caller: str | None) -> str | None:
    """The citizen's number to dial back: digits and one leading + only; None if there is none."""
    raw = (caller or "").strip()
    plus = raw.startswith("+")
    digits = "".join(c for c in raw if c.isdigit() and c.isascii())
    if not 3 <= len(digits) <= 19:
        return None
    return ("+" if plus else "") + digits


# ---------------------------------------------------------------- services

def add_event(case: Case, actor: str, action: str, old: str | None = None,
              new: str | None = None, note: str = "", at: datetime | None = None) -> None:
    case.events.append(CaseEvent(at=at or utcnow(), actor=actor[:80], action=action,
                                 old_value=old, new_value=new, note=note))
    case.updated_at = at or utcnow()


def new_case(kind: str, *, created_at: datetime, deadlines: Deadlines, actor: str = "system",
             **fields: Any) -> Case:
    case = Case(kind=kind, status="new", urgency="normal", created_at=created_at,
                updated_at=created_at, matched_keywords=[], listen_reasons=[], events=[],
                callbacks=[], alerts=[], escalation_level=0, **fields)
    deadlines.apply(case)
    add_event(case, actor, "created", None, "new", note=kind, at=created_at)
    return case


def set_status(case: Case, status: str, actor: str, note: str = "") -> None:
    check_transition(case.status, status)
    old, case.status = case.status, status
    add_event(case, actor, "status", old, status, note)


async def flag_no_transcript(session: AsyncSession, voicemail_id: int, reason: str) -> Case | None:
    """The message's transcription was given up: a person must listen to it (the case's listen
    flag, the reason among its listen reasons, an event). None when the message has no case."""
    case_id = await session.scalar(select(Case.id).where(Case.voicemail_id == voicemail_id))
    if case_id is None:
        return None
    case = await load_case(session, case_id)
    case.needs_listening = True
    case.listen_reasons = [*case.listen_reasons, f"no transcript: {reason}"[:300]]
    add_event(case, "system", "transcription_failed", note=reason[:1000])
    return case


async def load_case(session: AsyncSession, case_id: int, *, lock: bool = False) -> Case:
    stmt = select(Case).where(Case.id == case_id).options(selectinload(Case.events),
                                                          selectinload(Case.callbacks))
    if lock:
        stmt = stmt.with_for_update()
    case = await session.scalar(stmt)
    if case is None:
        raise UnknownCase(f"no case {case_id}", {"id": case_id})
    return case


async def change_status(db: Db, case_id: int, status: str, actor: str, note: str = "") -> Case:
    """Checked transition; on any error nothing is written."""
    async with db() as session, session.begin():
        case = await load_case(session, case_id, lock=True)
        set_status(case, status, actor, note)
    return case


async def assign(db: Db, case_id: int, assignee: str, actor: str) -> Case:
    if not isinstance(assignee, str) or not assignee.strip() or len(assignee) > 80:
        raise InvalidCaseInput("assigned_to must be a name of 1 to 80 characters",
                               {"assigned_to": assignee})
    async with db() as session, session.begin():
        case = await load_case(session, case_id, lock=True)
        if case.status != "assigned":
            check_transition(case.status, "assigned")
            old, case.status = case.status, "assigned"
            add_event(case, actor, "status", old, "assigned")
        previous, case.assigned_to = case.assigned_to, assignee.strip()
        add_event(case, actor, "assigned", previous, case.assigned_to)
    return case


@dataclass(frozen=True, slots=True)
class CaseFilter:
    official: str | None = None  # slug or id
    category: str | None = None
    urgency: str | None = None
    status: str | None = None
    kind: str | None = None
    overdue: bool | None = None
    escalated: bool | None = None
    limit: int = 100
    offset: int = 0


async def _official_id(session: AsyncSession, ref: str) -> int:
    if (as_id := parse_id(ref)) is not None:
        return as_id
    oid = await session.scalar(select(Official.id).where(Official.slug == ref))
    return -1 if oid is None else oid


async def list_cases(db: Db, f: CaseFilter, now: datetime | None = None) -> Sequence[Case]:
    if f.status is not None and f.status not in CASE_STATES:
        raise InvalidCaseInput(f"status must be one of {', '.join(CASE_STATES)}", {"status": f.status})
    if f.urgency is not None and f.urgency not in URGENCIES:
        raise InvalidCaseInput(f"urgency must be one of {', '.join(URGENCIES)}", {"urgency": f.urgency})
    if not 1 <= f.limit <= 1000 or not 0 <= f.offset <= MAX_ID:
        raise InvalidCaseInput(f"limit must be 1..1000 and offset 0..{MAX_ID}")
    now = now or utcnow()
    async with snapshot(db) as session:  # the cases and their callbacks: one state
        stmt: Select[Case] = select(Case)
        if f.official:  # the official's cases, and those escalated to them (their superior)
            oid = await _official_id(session, f.official)
            stmt = stmt.where(or_(Case.official_id == oid, Case.escalated_to == oid))
        if f.escalated is not None:
            stmt = stmt.where(Case.escalation_level > 0 if f.escalated
                              else Case.escalation_level == 0)
        for column, value in ((Case.category, f.category), (Case.urgency, f.urgency),
                              (Case.status, f.status), (Case.kind, f.kind)):
            if value is not None:
                stmt = stmt.where(column == value)
        if f.overdue is True:
            stmt = stmt.where(Case.status.in_(OPEN_STATES), Case.deadline < now)
        elif f.overdue is False:
            stmt = stmt.where(~(Case.status.in_(OPEN_STATES) & (Case.deadline < now)))
        stmt = stmt.order_by(Case.deadline, Case.id).limit(f.limit).offset(f.offset)
        return (await session.scalars(stmt.options(selectinload(Case.callbacks),
                                                   selectinload(Case.events)))).all()


# ---------------------------------------------------------------- cases opened from a call

SUMMARY_MAX = 2000


@dataclass(frozen=True, slots=True)
class CallRef:
    """What a case needs to know of the call it is opened from (stored record or live view)."""
    linkedid: str
    number_dialed: str
    caller: str
    official_id: int | None


async def find_call(db: Db, *, linkedid: str | None = None, call_id: int | None = None,
                    live: CallRef | None = None) -> CallRef:
    """The stored call (by id or linkedid), else the live one the caller passes; UnknownCall."""
    async with db() as session:
        clause = Call.id == call_id if call_id is not None else Call.linkedid == (linkedid or "")
        call = await session.scalar(select(Call).where(clause))
    if call is not None:
        return CallRef(call.linkedid, call.number_dialed or "", call.caller or "", call.official_id)
    if call_id is None and live is not None and live.linkedid == linkedid:
        return live
    raise UnknownCall(f"no call {call_id if call_id is not None else linkedid!r}",
                      {"call": call_id if call_id is not None else linkedid})


def check_call_case(category: Any, summary: Any, urgency: Any,
                    categories: Sequence[str]) -> tuple[str, str, str]:
    """Validated (category, summary, urgency) of a case opened from a call."""
    if not isinstance(category, str):
        raise InvalidCaseInput("category: expected text", {"field": "category"})
    if category not in categories:
        raise UnknownCategory(f"category must be one of {', '.join(categories)}",
                              {"field": "category", "category": category})
    if not isinstance(summary, str) or not summary.strip():
        raise InvalidCaseInput("a summary is required", {"field": "summary"})
    if len(summary) > SUMMARY_MAX:
        raise InvalidCaseInput(f"the summary may have at most "
                               f"{SUMMARY_MAX} characters", {"field": "summary"})
    if urgency is None or urgency == "":
        urgency = "normal"
    if urgency not in URGENCIES:
        raise InvalidCaseInput(f"urgency must be one of {', '.join(URGENCIES)}",
                               {"field": "urgency", "urgency": urgency})
    return category, summary.strip(), urgency


async def open_call_case(db: Db, call: CallRef, *, category: Any, summary: Any, urgency: Any,
                         actor: str, categories: Sequence[str], deadlines: Deadlines,
                         now: datetime | None = None) -> Case:
    """A case of kind ``call`` opened by an operator from a live or just-ended call: the category
    they chose, their summary, assigned at once to the official whose number was dialed (status
    ``assigned``), deadline by urgency. Bad input raises before anything is written."""
    category, summary, urgency = check_call_case(category, summary, urgency, categories)
    now = now or utcnow()
    async with db() as session, session.begin():
        official = (await session.get(Official, call.official_id)
                    if call.official_id is not None else None)
        case = new_case("call", created_at=now, deadlines=deadlines, actor=actor,
                        linkedid=call.linkedid,
                        official_id=official.id if official else None, caller=call.caller[:40],
                        number_dialed=call.number_dialed[:40], category=category,
                        summary=summary)
        case.urgency = urgency
        deadlines.apply(case)
        case.triaged_at = now
        add_event(case, actor, "triaged", None, f"{category}/{urgency}", note="by the operator",
                  at=now)
        if official is not None:
            set_status(case, "assigned", actor)
            case.assigned_to = (official.display_name or official.name)[:80]
            add_event(case, actor, "assigned", None, case.assigned_to)
        session.add(case)
    return case
