"""Escalation of cases past a deadline, and the deadline-near alerts (docs/followup.md).

Every ``[deadlines] sweep_seconds`` the sweeper looks at the cases not resolved:

- the deadline that applies (:func:`next_due`): the contact deadline while nobody reached the
  citizen, else the resolve deadline; once escalated, the second deadline (``escalated``) for
  the same reason;
- ``near_minutes`` before it: a ``deadline_near`` event (once per deadline);
- past it: the case is escalated one level (at most ``max_levels``): ``overdue`` and
  ``escalated`` events, the case goes to the superior of the official (then to the superior's
  superior) — their inbox shows it with its history, as the supervisors' does — a ``reminded``
  event for the official, and the second deadline counted from now in working time.

Every step is a case event (the audit trail of the case, with actor ``system``); the
notification hook turns them into webhook deliveries. Two controllers sweeping at once escalate
a case once: the level is raised by a guarded UPDATE.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update

from ivr.core.timeutil import as_utc, utcnow
from ivr.db.followup_models import Case
from ivr.db.models import Official
from ivr.db.session import Db
from ivr.followup.cases import OPEN_STATES, add_event, load_case
from ivr.followup.deadlines import Deadlines

log = logging.getLogger(__name__)
ACTOR = "system"


def next_due(case: Case, max_levels: int) -> tuple[str, datetime] | None:
    """(reason, instant) of the deadline that applies now, or None (resolved, top level)."""
    if case.status == "resolved" or case.escalation_level >= max_levels:
        return None
    reason, second = case.escalation_reason, case.escalation_deadline
    if second is not None and (reason == "resolve" or case.status in OPEN_STATES):
        return reason or "contact", as_utc(second)
    if reason is None and case.status in OPEN_STATES:
        return "contact", as_utc(case.deadline)
    if reason != "resolve" and case.resolve_deadline is not None:
        return "resolve", as_utc(case.resolve_deadline)
    return None


def _label(o: Official | None) -> str | None:
    return o.slug if o is not None else None


async def _escalate(db: Db, case_id: int, level: int, reason: str, due: datetime,
                    deadlines: Deadlines, now: datetime) -> bool:
    async with db() as session, session.begin():
        raised = await session.execute(update(Case).where(
            Case.id == case_id, Case.escalation_level == level).values(escalation_level=level + 1))
        if raised.rowcount != 1:  # type: ignore[attr-defined]
            return False  # another controller did it
        case = await load_case(session, case_id)
        official = await session.get(Official, case.official_id) if case.official_id else None
        below = await session.get(Official, case.escalated_to) if level and case.escalated_to \
            else official
        superior = await session.get(Official, below.superior_id) \
            if below is not None and below.superior_id else None
        previous = await session.get(Official, case.escalated_to) if case.escalated_to else None
        case.escalation_reason = reason
        case.escalated_to = superior.id if superior is not None else case.escalated_to
        case.escalation_deadline = deadlines.due("escalated", now, case.kind, case.urgency)
        add_event(case, ACTOR, "overdue", None, reason,
                  note=f"{reason} deadline {due.isoformat(timespec='minutes')} passed", at=now)
        to = superior.slug if superior is not None else (_label(previous) or "supervisors")
        add_event(case, ACTOR, "escalated", _label(previous), to,
                  note=f"level {level + 1}; second deadline "
                       f"{case.escalation_deadline.isoformat(timespec='minutes')}", at=now)
        if official is not None:
            add_event(case, ACTOR, "reminded", None, official.slug,
                      note=f"the official is reminded: case escalated to {to}", at=now)
    log.info("case %s escalated to level %s (%s deadline passed)", case_id, level + 1, reason)
    return True


async def _alert(db: Db, case_id: int, key: str, reason: str, due: datetime,
                 now: datetime) -> None:
    async with db() as session, session.begin():
        case = await load_case(session, case_id)
        if key in (case.alerts or []):
            return
        case.alerts = [*(case.alerts or []), key]
        add_event(case, ACTOR, "deadline_near", None, reason,
                  note=f"{reason} deadline {due.isoformat(timespec='minutes')}", at=now)


async def sweep(db: Db, deadlines: Deadlines, *, max_levels: int, near: timedelta,
                now: datetime | None = None) -> dict[str, int]:
    """One pass: alerts sent and cases escalated (counts)."""
    now = now or utcnow()
    soon = now + near
    done = {"near": 0, "escalated": 0}
    async with db() as session:
        cases = (await session.scalars(select(Case).where(
            Case.status != "resolved", Case.escalation_level < max_levels,
            or_(Case.deadline <= soon, Case.resolve_deadline <= soon,
                Case.escalation_deadline <= soon)).order_by(Case.id))).all()
    for case in cases:
        due = next_due(case, max_levels)
        if due is None:
            continue
        reason, at = due
        if at <= now:
            if await _escalate(db, case.id, case.escalation_level, reason, at, deadlines, now):
                done["escalated"] += 1
        elif at <= soon:
            key = f"near:{reason}:{case.escalation_level}"
            if key not in (case.alerts or []):
                await _alert(db, case.id, key, reason, at, now)
                done["near"] += 1
    return done


class Sweeper:
    """Runs :func:`sweep` every ``interval`` seconds, reloading the calendar first."""

    def __init__(self, db: Db, deadlines: Deadlines, *, max_levels: int, near_minutes: float,
                 interval: float) -> None:
        self.db, self.deadlines = db, deadlines
        self.max_levels, self.near = max_levels, timedelta(minutes=near_minutes)
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    async def once(self, now: datetime | None = None) -> dict[str, int]:
        await self.deadlines.refresh(self.db)
        return await sweep(self.db, self.deadlines, max_levels=self.max_levels, near=self.near,
                           now=now)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="deadline-sweeper")

    async def _run(self) -> None:
        while True:
            try:
                await self.once()
            except Exception:
                log.exception("deadline sweep failed")
            await asyncio.sleep(self.interval)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
