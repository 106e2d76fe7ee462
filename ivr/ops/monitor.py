"""The health monitor of one controller: runs the checks every ``[alerts] interval`` seconds,
keeps the alert book, logs each alert raised or cleared and sends it through the notification
hook (``alert.raised`` / ``alert.cleared`` rows in the webhook outbox, one per ``[webhooks]``
target; the follow-up's notifier delivers, signs and retries them like the case events).
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime
from typing import Any

from ivr.core.config import Config
from ivr.core.timeutil import utcnow
from ivr.db import nodes
from ivr.db.feed import read_revisions
from ivr.db.followup_models import WebhookDelivery
from ivr.db.session import Db
from ivr.ops.alerts import KINDS, AlertBook, Change, Reading
from ivr.ops.checks import Checks, Gauge, NodeProbe
from ivr.ops.scheduled import BackupSchedule

log = logging.getLogger(__name__)


def _iso(t: float | None) -> str | None:
    return None if t is None else datetime.fromtimestamp(t, UTC).isoformat()


def alert_payload(change: Change, node: str) -> dict[str, Any]:
    a = change.alert
    key = f"alert:{node}:{a.kind}:{a.subject}:{a.since:.3f}:{change.what}"
    return {"event": f"alert.{change.what}", "idempotency_key": key, "node": node,
            "alert": a.kind, "title": KINDS[a.kind][0], "title_en": KINDS[a.kind][1],
            "subject": a.subject, "detail": a.detail, "since": _iso(a.since),
            "at": _iso(change.at)}


class Monitor:
    def __init__(self, config: Config, db: Db, probe: NodeProbe) -> None:
        self.config, self.db = config, db
        self.checks = Checks(config, db, probe)
        self.backups = BackupSchedule(config, db)
        self.book = AlertBook()
        self.gauges: list[Gauge] = []
        self.rounds = 0
        self.unsent: list[dict[str, Any]] = []  # notifications the outbox could not take yet
        self._published: dict[str, Any] | None = None  # the node state last written
        self._published_at = 0.0
        self._task: asyncio.Task[None] | None = None

    async def once(self, now: float | None = None) -> list[Change]:
        now = time.time() if now is None else now
        readings, gauges, kinds = await self.checks.run(now)
        if self.backups.enabled:
            failed = self.backups.last_error
            readings.append(Reading("backup_failed", "", failed is not None, float(bool(failed)),
                                    f"the last scheduled backup failed: {failed}",
                                    code=str(failed or "")))
            kinds.add("backup_failed")
        changes = self.book.update(readings, now, kinds)
        await self.publish(now)
        self.gauges = gauges
        self.rounds += 1
        for c in changes:
            level = logging.WARNING if c.what == "raised" else logging.INFO
            log.log(level, "alert %s: %s %s — %s", c.what, c.alert.kind, c.alert.subject,
                    c.alert.detail)
        if self.config.webhooks.urls:
            self.unsent += [alert_payload(c, self.config.node.name) for c in changes]
        if self.unsent:
            await self.notify()
        return changes

    async def publish(self, now: float) -> None:
        """This node's mirror and feed state for the admin pages (ivr.db.nodes): when it
        changes, and every HEARTBEAT seconds; a database that cannot take it is an alert of
        its own, not this round's failure."""
        p = self.checks.probe
        try:
            state = nodes.record(p.mirror_in_sync(), p.ami_connected(), p.feed_seen(),
                                 await read_revisions(self.db))
            if state != self._published or now - self._published_at >= nodes.HEARTBEAT:
                await nodes.publish(self.db, self.config.node.name, state,
                                    datetime.fromtimestamp(now, UTC))
                self._published, self._published_at = state, now
        except Exception as exc:  # noqa: BLE001 - the next round tries again
            log.warning("node state not published: %s", exc)

    async def notify(self) -> None:
        """The notifications into the outbox; kept for the next round while the database
        cannot take them (full, locked, down: often the very alert being sent)."""
        try:
            async with self.db() as session, session.begin():
                for body in self.unsent:
                    for target in sorted(self.config.webhooks.urls):
                        session.add(WebhookDelivery(
                            target=target, event=body["event"], payload=body, status="pending",
                            idempotency_key=body["idempotency_key"], attempts=0,
                            next_attempt_at=utcnow()))
        except Exception as exc:  # noqa: BLE001 - retried next round; the state is on /metrics
            log.warning("alert notifications wait for the database: %s", exc)
            return
        self.unsent = []

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="health-monitor")
        self.backups.start()

    async def _run(self) -> None:
        while True:
            try:
                await self.once()
            except Exception:
                log.exception("health round failed")
            await asyncio.sleep(self.config.alerts.interval)

    async def close(self) -> None:
        await self.backups.close()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
