"""Figures of the follow-up for the supervision dashboard (``ivr.supervision.reports.OverdueCounter``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from ivr.core.timeutil import utcnow
from ivr.db.followup_models import Case
from ivr.db.session import Db
from ivr.followup.cases import OPEN_STATES


async def overdue_by_official(db: Db, since: datetime, until: datetime) -> dict[int, int]:
    """Cases created in the period that are overdue now (open past their deadline), per official."""
    async with db() as session:
        rows = (await session.execute(
            select(Case.official_id, func.count()).where(
                Case.created_at >= since, Case.created_at < until, Case.status.in_(OPEN_STATES),
                Case.deadline < utcnow()).group_by(Case.official_id))).all()
    return {oid: n for oid, n in rows if oid is not None}
