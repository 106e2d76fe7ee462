"""Web accounts: users with one role, server-side browser sessions, admin-issued API tokens.

Secrets are never stored: a session id and an API token are kept as SHA-256 digests, a password
as a scrypt hash (ivr.web.auth).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ivr.core.timeutil import utcnow
from ivr.db.models import Base, Official


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(40), unique=True)
    display_name: Mapped[str] = mapped_column(String(80), default="")
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(255))
    # operator accounts: the PJSIP endpoint / queue member; official accounts: the official
    operator_endpoint: Mapped[str | None] = mapped_column(String(40))
    official_id: Mapped[int | None] = mapped_column(ForeignKey("officials.id", ondelete="SET NULL"))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    official: Mapped[Official | None] = relationship()


class WebSession(Base):
    __tablename__ = "web_sessions"
    id: Mapped[int] = mapped_column(primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 of the cookie value
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    user: Mapped[User] = relationship()


class ApiToken(Base):
    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))  # shown in lists, to tell tokens apart
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    label: Mapped[str] = mapped_column(String(80), default="")
    created_by: Mapped[str] = mapped_column(String(40), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked: Mapped[bool] = mapped_column(default=False)
    user: Mapped[User] = relationship()


class LoginThrottle(Base):
    """Sign-in attempts per key (``user:<name>`` or ``source:<address>``), counted before the
    password is checked (so parallel guesses count too); a success clears the account's."""
    __tablename__ = "login_throttle"
    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    failures: Mapped[int] = mapped_column(default=0)
    last_at: Mapped[datetime] = mapped_column(default=utcnow)
    locked_until: Mapped[datetime | None] = mapped_column()


class AccessEntry(Base):
    """Who did what that an admin must be able to see: failed sign-ins and locks (with the
    source address), locks lifted, and every listen to or download of a citizen's audio."""
    __tablename__ = "access_log"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    kind: Mapped[str] = mapped_column(String(24), index=True)
    actor: Mapped[str] = mapped_column(String(60), default="")  # account, or the name tried
    source: Mapped[str] = mapped_column(String(64), default="")  # client address
    subject: Mapped[str] = mapped_column(String(120), default="")  # e.g. case 12, user:admin
    detail: Mapped[str] = mapped_column(String(200), default="")
