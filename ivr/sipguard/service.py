"""SIP bans in the database: who is banned, until when, lifted by whom (audited)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.sql import Select

from ivr.core.errors import UnknownBan
from ivr.core.timeutil import utcnow
from ivr.db.models import AuditEntry
from ivr.db.security_models import SipBan
from ivr.db.session import Db


def _aware(t: datetime) -> datetime:
    """SQLite returns naive UTC datetimes, PostgreSQL aware ones."""
    return t if t.tzinfo is not None else t.replace(tzinfo=utcnow().tzinfo)


def in_force(now: datetime | None = None) -> Select[SipBan]:
    """Bans not lifted and not expired."""
    now = now or utcnow()
    return select(SipBan).where(SipBan.lifted_at.is_(None), SipBan.expires_at > now)


async def active_bans(db: Db, now: datetime | None = None) -> list[SipBan]:
    async with db() as session:
        return list((await session.scalars(in_force(now).order_by(SipBan.id))).all())


async def recent_bans(db: Db, limit: int = 200) -> list[SipBan]:
    """Bans in force and past ones, newest first."""
    async with db() as session:
        return list((await session.scalars(select(SipBan).order_by(SipBan.id.desc())
                                           .limit(limit))).all())


async def ban(db: Db, address: str, failures: int, *, seconds: float, node: str,
              max_active: int) -> SipBan | None:
    """Ban ``address`` for ``seconds`` (audited as the system); None when it already is.
    Beyond ``max_active`` bans in force, the ones expiring first are ended early."""
    now = utcnow()
    async with db() as session, session.begin():
        current = (await session.scalars(in_force(now).order_by(SipBan.expires_at))).all()
        if any(b.address == address for b in current):
            return None
        for old in current[:max(0, len(current) - max_active + 1)]:
            old.lifted_at, old.lifted_by = now, "system (too many bans)"
        row = SipBan(address=address, failures=failures, node=node, banned_at=now,
                     expires_at=now + timedelta(seconds=seconds),
                     reason=f"{failures} failed SIP logins")
        session.add(row)
        session.add(AuditEntry(actor="system", field="sip_ban", old_value=None,
                               new_value=address, reason=row.reason))
    return row


async def lift(db: Db, ban_id: int, actor: str, reason: str = "") -> SipBan:
    """End a ban now (audited)."""
    async with db() as session, session.begin():
        row = await session.get(SipBan, ban_id)
        if row is None:
            raise UnknownBan(f"no SIP ban {ban_id}", {"id": ban_id})
        if row.lifted_at is None and _aware(row.expires_at) > utcnow():
            row.lifted_at, row.lifted_by = utcnow(), actor
            session.add(AuditEntry(actor=actor, field="sip_ban", old_value=row.address,
                                   new_value=None, reason=reason or "lifted"))
    return row


async def next_expiry(db: Db) -> datetime | None:
    """When the first ban in force ends (then Asterisk's ACL must be rendered again)."""
    async with db() as session:
        first = (await session.scalars(in_force().order_by(SipBan.expires_at).limit(1))).first()
    return None if first is None else _aware(first.expires_at)
