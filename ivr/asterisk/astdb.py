"""Keeps Asterisk's AstDB mirror (family ``ivr``) equal to the routing snapshot.

Writes only what changed. A full sync (after every AMI login) compares with what Asterisk
actually holds (DBGetTree), overwrites in place and deletes stale keys, so the mirror is never
empty while it is rewritten; ``meta/synced`` is written last.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping

from ivr.asterisk.ami import AmiClient, AmiDisconnected, AmiError
from ivr.core.mirror import FAMILY

log = logging.getLogger(__name__)


def _order(key: str) -> tuple[int, str]:
    # officials before the numbers that point at them; the completion marker last
    return (1 if key.startswith("num/") else 2 if key.startswith("meta/synced") else 0, key)


class MirrorWriter:
    def __init__(self, ami: AmiClient) -> None:
        self.ami = ami
        self.written: dict[str, str] = {}
        self.in_sync = False
        self.full_syncs = 0
        self._lock = asyncio.Lock()

    async def full_sync(self, entries: Mapping[str, str]) -> None:
        async with self._lock:
            self.in_sync = False
            existing = await self.ami.db_tree(FAMILY)
            await self._write(entries, existing)
            await self.ami.db_put(FAMILY, "meta/synced", str(int(time.time())))
            self.written = dict(entries)
            self.in_sync = True
            self.full_syncs += 1
            log.info("AstDB mirror resynced: %d keys", len(entries))

    async def apply(self, entries: Mapping[str, str]) -> bool:
        """Write the difference from what was last written. False when AMI is down: the next
        login's full sync will catch up."""
        async with self._lock:
            if not self.in_sync:
                return False
            try:
                await self._write(entries, self.written)
            except (TimeoutError, AmiDisconnected, AmiError) as exc:
                log.warning("mirror update failed (%s); full resync on next login", exc)
                self.in_sync = False
                return False
            self.written = dict(entries)
            return True

    async def _write(self, entries: Mapping[str, str], current: Mapping[str, str]) -> None:
        for key in sorted(entries, key=_order):
            if current.get(key) != entries[key]:
                await self.ami.db_put(FAMILY, key, entries[key])
        for key in sorted(set(current) - set(entries), key=_order, reverse=True):
            if key != "meta/synced":
                await self.ami.db_del(FAMILY, key)
