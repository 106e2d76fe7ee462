"""SIP bans: source addresses refused by Asterisk after repeated failed logins (ivr/sipguard).

A ban is a row until it expires or an admin lifts it (never deleted: the history is the audit of
who was banned, why, and who lifted it). Every node renders the bans in force into its PJSIP ACL.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from ivr.core.timeutil import utcnow
from ivr.db.models import Base


class SipBan(Base):
    __tablename__ = "sip_bans"
    id: Mapped[int] = mapped_column(primary_key=True)
    address: Mapped[str] = mapped_column(String(64), index=True)  # an IPv4/IPv6 address
    reason: Mapped[str] = mapped_column(String(200), default="")
    failures: Mapped[int] = mapped_column(default=0)  # failed logins counted when banned
    node: Mapped[str] = mapped_column(String(64), default="")  # the node that saw them
    banned_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    lifted_at: Mapped[datetime | None] = mapped_column(default=None)
    lifted_by: Mapped[str | None] = mapped_column(String(80), default=None)
