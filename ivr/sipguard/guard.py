"""The SIP brute-force guard: Asterisk's failed-login security events (AMI, ``security`` read
class) are counted per source address; a source that fails ``[bans] failures`` times within
``window`` seconds is banned for ``duration`` seconds. The ban is a database row; every node
renders the bans in force into its PJSIP ACL ``ivr-bans`` (pjsip.conf) and reloads res_pjsip,
after which Asterisk refuses every request from that address (docs/decisions.md, "SIP bans").

The carrier's addresses and ``[bans] trusted`` are never banned. A ban that expires is dropped
from the ACL by the node's own expiry loop; a ban made or lifted here goes through the
directory-change path, so the other nodes (change feed) follow within a second.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta

from aiohttp import web

from ivr.asterisk.ami import AmiClient, Message
from ivr.core.config import Config, networks
from ivr.core.timeutil import utcnow
from ivr.db.security_models import SipBan
from ivr.db.session import Db
from ivr.sipguard import service
from ivr.sipguard.counter import FAILURE_EVENTS, FailureCounter, source_address

log = logging.getLogger(__name__)
Apply = Callable[[], Awaitable[object]]


class SipGuard:
    def __init__(self, config: Config, db: Db, ami: AmiClient, *, everywhere: Apply,
                 here: Apply) -> None:
        self.config, self.db = config, db
        never = networks(config.carrier.match, "[carrier] match") + \
            networks(config.bans.trusted, "[bans] trusted")
        self.counter = FailureCounter(config.bans.failures, config.bans.window, never)
        self.everywhere, self.here = everywhere, here  # re-render (all nodes / this node)
        self._wake = asyncio.Event()
        for event in FAILURE_EVENTS:
            ami.subscribe(event, self.on_event)

    def on_event(self, event: Message) -> Awaitable[None] | None:
        """A failed login (AMI reader: count at once; only a ban does I/O)."""
        if event.get("Service") != "PJSIP":
            return None
        address = source_address(event.get("RemoteAddress", ""))
        if address is None:
            return None
        count = self.counter.failed(address, time.monotonic())
        return None if count is None else self._ban(address, count)

    async def _ban(self, address: str, count: int) -> None:
        bans = self.config.bans
        row = await service.ban(self.db, address, count, seconds=bans.duration,
                                node=self.config.node.name, max_active=bans.max_active)
        if row is None:
            return
        log.warning("SIP source %s banned for %.0f s after %d failed logins", address,
                    bans.duration, count)
        await self.changed()

    async def lift(self, ban_id: int, actor: str) -> SipBan:
        row = await service.lift(self.db, ban_id, actor)
        log.warning("SIP ban of %s lifted by %s", row.address, actor)
        await self.changed()
        return row

    async def changed(self) -> None:
        await self.everywhere()
        self._wake.set()

    async def expiry_loop(self) -> None:
        """Render again when the first ban in force ends (each node for itself)."""
        while True:
            try:
                await self._expire_next()
            except Exception:  # the database or AMI away: try again shortly
                log.exception("SIP ban expiry")
                await asyncio.sleep(5)

    async def _expire_next(self) -> None:
        self._wake.clear()  # before the query: a ban made meanwhile wakes the wait below
        first = await service.next_expiry(self.db)
        wait = 300.0 if first is None else (first - utcnow()).total_seconds() + 0.05
        try:
            await asyncio.wait_for(self._wake.wait(), min(max(wait, 0.0), 300.0))
            return  # a ban was made or lifted: look again
        except TimeoutError:
            pass
        if first is not None and utcnow() >= first - timedelta(milliseconds=1):
            await self.here()


GUARD = web.AppKey("sip_guard", SipGuard)


async def expiry_context(app: web.Application) -> AsyncIterator[None]:
    task = asyncio.create_task(app[GUARD].expiry_loop(), name="sip-ban-expiry")
    yield
    task.cancel()
