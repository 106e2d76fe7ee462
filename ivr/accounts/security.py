"""The sign-in throttle and the access log (issue 9).

Throttle: every sign-in attempt is counted, before the password is checked (so a burst of
parallel guesses counts in full), under two keys: the account (``user:<name>``, names that do
not exist included, so the answer does not tell them apart) and the client address
(``source:<address>``). From ``ACCOUNT_FREE`` attempts on an account (``SOURCE_FREE`` from a
source) without a success, each failure locks the key for a time that doubles, from
``FIRST_LOCK`` up to ``MAX_LOCK``: the growing delay. While a key is locked, attempts are refused
at once (429, ``login-throttled``, no password checked) and do not extend the lock; after
``QUIET`` without an attempt the count starts again. A success clears the account's count and
takes back its own count from the source's.

An attacker must not be able to keep a real admin out: the account lock ends by itself (at most
``MAX_LOCK``), an admin can lift any lock (audited), and a browser in which the account signed
in before (the ``ivr_known`` cookie, an HMAC of the user name under the login key — see
``ivr.web.shell``) is not held by the account's lock, only by its own source's.

Access log: failed sign-ins and locks (with the source address), locks lifted, and every listen
to or download of a citizen's recording (personal information), for admins to read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from ivr.core.errors import InvalidInput, LoginThrottled, UnknownLock
from ivr.core.timeutil import as_utc, utcnow
from ivr.db.account_models import AccessEntry, LoginThrottle
from ivr.db.session import Db

ACCOUNT_FREE = 5
SOURCE_FREE = 20
FIRST_LOCK = timedelta(seconds=30)
MAX_LOCK = timedelta(minutes=15)
QUIET = timedelta(minutes=30)
KINDS = ("login-failed", "login-locked", "lock-lifted", "audio-listened", "audio-downloaded")


@dataclass(frozen=True)
class Attempt:
    """The throttle keys of one sign-in attempt: ``account`` is None when the attempt comes
    from a browser the account signed in from before (not held by the account's lock)."""
    account: str | None
    source: str

    @classmethod
    def of(cls, username: str, source: str, *, known_browser: bool) -> Attempt:
        return cls(account=None if known_browser else f"user:{username[:60]}",
                   source=f"source:{source[:64]}")

    @property
    def keys(self) -> list[tuple[str, int]]:
        out = [(self.source, SOURCE_FREE)]
        if self.account is not None:
            out.insert(0, (self.account, ACCOUNT_FREE))
        return out


def _lock_for(failures: int, free: int) -> timedelta | None:
    if failures < free:
        return None
    lock: timedelta = min(MAX_LOCK, FIRST_LOCK * 2 ** min(failures - free, 16))
    return lock


async def _ensure_rows(session: AsyncSession, keys: list[str]) -> None:
    """Every key has its row, written first: on SQLite this takes the write lock before anything
    is read (a read-then-write transaction could fail on a concurrent writer instead of
    waiting); on PostgreSQL the rows then exist for ``SELECT … FOR UPDATE``."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    await session.execute(insert(LoginThrottle).values(
        [{"key": k, "failures": 0, "last_at": utcnow()} for k in keys])
        .on_conflict_do_nothing(index_elements=["key"]))


async def begin_attempt(db: Db, attempt: Attempt) -> None:
    """Count the attempt under each key; LoginThrottled (nothing counted) if one is locked."""
    now = utcnow()
    async with db() as session, session.begin():
        await _ensure_rows(session, [key for key, _free in attempt.keys])
        # counts gone quiet are forgotten (names sprayed by an attacker do not pile up)
        await session.execute(delete(LoginThrottle).where(
            LoginThrottle.last_at < now - QUIET,
            or_(LoginThrottle.locked_until.is_(None), LoginThrottle.locked_until < now)))
        rows = {}
        for key, _free in attempt.keys:
            row = await session.get(LoginThrottle, key, with_for_update=True)
            if row is not None and row.locked_until is not None and as_utc(row.locked_until) > now:
                wait = int((as_utc(row.locked_until) - now).total_seconds()) + 1
                raise LoginThrottled(f"too many failed sign-ins: try again in {wait} s",
                                     {"retry_after": wait, "key": key.split(":")[0]})
            rows[key] = row
        for key, _free in attempt.keys:
            row = rows[key]
            if row is None:
                session.add(LoginThrottle(key=key, failures=1, last_at=now))
                continue
            if as_utc(row.last_at) < now - QUIET:
                row.failures = 0
            row.failures += 1
            row.last_at = now


async def failed(db: Db, attempt: Attempt, username: str, source: str) -> None:
    """A wrong password: logged, and each key at or past its free attempts locked."""
    now = utcnow()
    async with db() as session, session.begin():
        session.add(AccessEntry(kind="login-failed", actor=username[:60], source=source[:64],
                                subject=f"user:{username[:60]}"))
        for key, free in attempt.keys:
            row = await session.get(LoginThrottle, key, with_for_update=True)
            lock = _lock_for(row.failures, free) if row is not None else None
            if row is not None and lock is not None:
                row.locked_until = now + lock
                session.add(AccessEntry(kind="login-locked", actor=username[:60],
                                        source=source[:64], subject=key,
                                        detail=f"{row.failures} failures, locked "
                                               f"{int(lock.total_seconds())} s"))


async def succeeded(db: Db, attempt: Attempt, username: str) -> None:
    """Signed in: the account's count is cleared (whichever browser), the source's own attempt
    taken back."""
    async with db() as session, session.begin():
        await session.execute(delete(LoginThrottle).where(
            LoginThrottle.key == f"user:{username[:60]}"))
        row = await session.get(LoginThrottle, attempt.source, with_for_update=True)
        if row is not None and row.failures > 0:
            row.failures -= 1


async def locks(db: Db) -> Sequence[LoginThrottle]:
    """Keys with failures counted or a lock, newest attempt first."""
    async with db() as session:
        return (await session.scalars(select(LoginThrottle).where(LoginThrottle.failures > 0)
                                      .order_by(LoginThrottle.last_at.desc()).limit(500))).all()


async def lift(db: Db, key: str, actor: str) -> None:
    """An admin lifts a lock (and its count); audited."""
    async with db() as session, session.begin():
        row = await session.get(LoginThrottle, key)
        if row is None:
            raise UnknownLock(f"no sign-in lock {key!r}", {"key": key[:80]})
        await session.delete(row)
        session.add(AccessEntry(kind="lock-lifted", actor=actor[:60], subject=key,
                                detail=f"{row.failures} failures"))


async def log_access(db: Db, kind: str, actor: str, source: str, subject: str,
                     detail: str = "") -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown access kind {kind!r}")
    async with db() as session, session.begin():
        session.add(AccessEntry(kind=kind, actor=actor[:60], source=source[:64],
                                subject=subject[:120], detail=detail[:200]))


async def access_log(db: Db, *, kind: str | None = None, limit: int = 200,
                     before: datetime | None = None) -> Sequence[AccessEntry]:
    if kind is not None and kind not in KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(KINDS)}", {"kind": kind})
    async with db() as session:
        query = select(AccessEntry).order_by(AccessEntry.at.desc(), AccessEntry.id.desc())
        if kind is not None:
            query = query.where(AccessEntry.kind == kind)
        if before is not None:
            query = query.where(AccessEntry.at < before)
        return (await session.scalars(query.limit(max(1, min(limit, 1000))))).all()
