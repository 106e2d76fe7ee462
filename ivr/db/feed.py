"""The change feed between controllers that share one database.

Every committed change that matters to the nodes increments a counter row in ``revisions``
(in SQL: ``value = value + 1``, atomic on SQLite and PostgreSQL):

| revision | bumped by | a controller that sees it move |
|---|---|---|
| ``routing`` | every routing change (the app's ON_CHANGE hook → ``Controller.on_change``) | reloads its snapshot, writes the difference to its AstDB mirror |
| ``directory`` | phones, operators, pools, imports (``Controller.on_directory_change``) | renders PJSIP/queues, reloads the changed modules, reloads the snapshot, reconciles queue members |
| ``operators`` | an operator's state (``ivr.pool.service.set_state``, in the same transaction) | reconciles its queue members with the database |

Each controller polls the three counters (one small SELECT, every ``feed_interval`` seconds,
same on SQLite and PostgreSQL) and runs its handler **once per poll** with the set of kinds that
moved, however many bumps happened since: bursts coalesce into one reload per node. The bump
happens after the change is committed and before the changing controller reloads, so a
controller that sees revision *n* reads every change counted up to *n*. The feed never runs on
the FastAGI path: calls are answered from the in-memory snapshot whatever the feed is doing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import cast

from sqlalchemy import Table, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ivr.db.models import Revision
from ivr.db.session import Db

log = logging.getLogger(__name__)
KINDS = ("routing", "directory", "operators")
Apply = Callable[[frozenset[str]], Awaitable[None]]


async def bump_in(session: AsyncSession, kind: str) -> int:
    """Increment revision ``kind`` inside the caller's transaction; the new value."""
    rev = cast(Table, Revision.__table__)
    value = await session.scalar(update(rev).where(rev.c.name == kind)
                                 .values(value=rev.c.value + 1).returning(rev.c.value))
    if value is None:  # the migration seeds every kind; a row deleted by hand comes back
        session.add(Revision(name=kind, value=1))
        value = 1
    return int(value)


async def bump(db: Db, kind: str) -> int:
    """Increment revision ``kind`` in its own transaction (after the change is committed)."""
    async with db() as session, session.begin():
        return await bump_in(session, kind)


async def read_revisions(db: Db) -> dict[str, int]:
    rev = cast(Table, Revision.__table__)
    async with db() as session:
        return {name: int(value) for name, value in
                (await session.execute(select(rev.c.name, rev.c.value))).all()}


class ChangeFeed:
    """Polls the revisions and calls ``apply(kinds that moved)`` at most once per poll.

    ``apply`` failing leaves the kinds unseen: the next poll retries. Every ``full_every``
    seconds without a routing reload, ``routing`` is applied anyway (a safety net for a change
    whose bump was lost, e.g. a controller that died between commit and bump)."""

    def __init__(self, db: Db, apply: Apply, interval: float = 1.0,
                 full_every: float = 300.0) -> None:
        self.db, self.apply = db, apply
        self.interval, self.full_every = interval, full_every
        self.seen: dict[str, int] = {}
        self.polls = self.applied = 0
        self._last_full = time.monotonic()
        self._failing = False

    async def prime(self) -> None:
        """Take the current revisions as seen (before the initial snapshot is loaded)."""
        self.seen = await read_revisions(self.db)
        self._last_full = time.monotonic()

    def mark(self, kind: str, value: int) -> None:
        """This controller bumped ``kind`` to ``value`` and applies the change itself."""
        self.seen[kind] = max(self.seen.get(kind, 0), value)
        if kind in ("routing", "directory"):
            self._last_full = time.monotonic()

    async def poll_once(self) -> frozenset[str]:
        current = await read_revisions(self.db)
        self.polls += 1
        changed = frozenset(k for k, v in current.items() if self.seen.get(k) != v)
        due = time.monotonic() - self._last_full >= self.full_every
        kinds = changed | {"routing"} if due else changed
        if not kinds:
            return kinds
        await self.apply(kinds)
        self.applied += 1
        for k in changed:
            self.seen[k] = current[k]  # bumps made while apply ran are seen next poll
        if kinds & {"routing", "directory"}:
            self._last_full = time.monotonic()
        return kinds

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                kinds = await self.poll_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not self._failing:  # once per outage, not once a second
                    log.warning("change feed: %s; retrying every %.1fs", exc, self.interval)
                self._failing = True
                continue
            if self._failing:
                log.info("change feed: back")
                self._failing = False
            if kinds:
                log.info("change feed: applied %s", ",".join(sorted(kinds)))
