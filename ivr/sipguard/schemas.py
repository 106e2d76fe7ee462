"""The SIP bans API's bodies."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from ivr.core.timeutil import utcnow
from ivr.db.security_models import SipBan


def _utc(t: datetime | None) -> datetime | None:
    return None if t is None else t if t.tzinfo else t.replace(tzinfo=utcnow().tzinfo)


class BanOut(BaseModel):
    id: int
    address: str = Field(description="the banned source address")
    reason: str
    failures: int = Field(description="failed SIP logins counted when it was banned")
    node: str = Field(description="the Asterisk node that saw them")
    banned_at: datetime
    expires_at: datetime
    lifted_at: datetime | None = None
    lifted_by: str | None = None
    active: bool = Field(description="in force now: Asterisk refuses every request from it")

    @classmethod
    def of(cls, b: SipBan) -> BanOut:
        expires, lifted = _utc(b.expires_at), _utc(b.lifted_at)
        assert expires is not None
        return cls(id=b.id, address=b.address, reason=b.reason, failures=b.failures, node=b.node,
                   banned_at=_utc(b.banned_at) or expires, expires_at=expires, lifted_at=lifted,
                   lifted_by=b.lifted_by, active=lifted is None and expires > utcnow())


class BanList(BaseModel):
    items: list[BanOut] = Field(description="bans in force and recent ones, newest first")
