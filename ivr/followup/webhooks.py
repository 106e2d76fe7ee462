"""The notification hook: case events POSTed as signed JSON to the configured targets
(``[webhooks] urls``), through a durable outbox in the database (docs/followup.md).

- **Outbox**: :func:`collect` reads the case events written since its cursor (the setting
  ``webhook_cursor``) and writes one ``webhook_deliveries`` row per notifiable event and target,
  with the cursor, in one transaction: an event recorded is delivered even if the controller
  stops right after (nothing is held in memory). The first run starts at the newest event (no
  flood of history); without targets the notifier does not run.
- **Events**: ``case.created``, ``case.deadline_near``, ``case.overdue``, ``case.escalated``,
  ``callback.unreachable``, ``case.unreachable`` (from the case events ``created``,
  ``deadline_near``, ``overdue``, ``escalated``, ``callback_failed``, and ``unreachable``: the
  automatic callbacks' last attempt failed, issue 10).
- **Delivery**: :func:`deliver_due` POSTs each due row; a 2xx answer delivers it, anything else
  (an error status, a refused connection, a timeout) schedules a retry after
  ``backoff_initial`` × 2ⁿ seconds (at most ``backoff_max``), until ``max_attempts`` (then the
  row is ``failed`` and logged). A row is leased (its next attempt moved past the timeout) with
  a guarded UPDATE before the POST, so two controllers never send it at once.
- **Signature**: ``X-IVR-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>." + body)>``
  with ``X-IVR-Timestamp`` (Unix seconds); ``X-IVR-Idempotency-Key`` (also in the body) is the
  same on every retry of one event: a receiver acts on a key once.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import aiohttp
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from ivr.core.config import Config
from ivr.core.config_followup import WebhooksConfig
from ivr.core.timeutil import as_utc, utcnow
from ivr.db.followup_models import Case, CaseEvent, WebhookDelivery
from ivr.db.models import Official, Setting
from ivr.db.session import Db
from ivr.evidence.heads import publish_due

log = logging.getLogger(__name__)
CURSOR_KEY = "webhook_cursor"
EVENTS = {"created": "case.created", "deadline_near": "case.deadline_near",
          "overdue": "case.overdue", "escalated": "case.escalated",
          "callback_failed": "callback.unreachable", "unreachable": "case.unreachable"}
BATCH = 200


def signature(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def idempotency_key(event: CaseEvent, case: Case) -> str:
    """One key per notified fact: the same fact noticed twice (two controllers) is one key."""
    before = sum(1 for e in case.events if e.action == "escalated" and e.id < event.id)
    if event.action == "created":
        return f"case-{case.id}-created"
    if event.action in ("overdue", "escalated"):
        return f"case-{case.id}-{event.action}-{before + 1}"
    if event.action == "deadline_near":
        return f"case-{case.id}-near-{event.new_value}-{before}"
    return f"case-{case.id}-event-{event.id}"


def _official(o: Official | None) -> dict[str, Any] | None:
    return None if o is None else {"slug": o.slug, "name": o.display_name}


def _iso(value: datetime | None) -> str | None:
    return as_utc(value).isoformat() if value is not None else None


def payload(event: CaseEvent, case: Case, key: str, official: Official | None,
            escalated_to: Official | None) -> dict[str, Any]:
    """The JSON body (docs/followup.md "Notification hook")."""
    return {
        "event": EVENTS[event.action], "idempotency_key": key,
        "occurred_at": _iso(event.at),
        "detail": {"action": event.action, "old": event.old_value, "new": event.new_value,
                   "note": event.note},
        "case": {
            "id": case.id, "kind": case.kind, "status": case.status, "urgency": case.urgency,
            "category": case.category, "number_dialed": case.number_dialed,
            "official": _official(official), "escalated_to": _official(escalated_to),
            "escalation_level": case.escalation_level,
            "contact_deadline": _iso(case.deadline),
            "resolve_deadline": _iso(case.resolve_deadline),
            "escalation_deadline": _iso(case.escalation_deadline),
            "url": f"/cases#case-{case.id}"}}


async def _cursor(session: AsyncSession) -> int:
    row = await session.get(Setting, CURSOR_KEY)
    if row is not None:
        return int(row.value)
    start = int(await session.scalar(select(func.max(CaseEvent.id))) or 0)
    session.add(Setting(key=CURSOR_KEY, value=start))
    await session.flush()
    return start


async def collect(db: Db, targets: Sequence[str]) -> int:
    """Case events since the cursor → outbox rows (one per target); the rows written."""
    written = 0
    async with db() as session, session.begin():
        after = await _cursor(session)
        events = (await session.scalars(select(CaseEvent).where(CaseEvent.id > after)
                                        .order_by(CaseEvent.id).limit(BATCH))).all()
        if not events:
            return 0
        seen: set[tuple[str, str]] = set()
        for event in events:
            if event.action not in EVENTS or not targets:
                continue
            case = await session.scalar(select(Case).where(Case.id == event.case_id)
                                        .options(selectinload(Case.events)))
            if case is None:
                continue
            key = idempotency_key(event, case)
            official = await session.get(Official, case.official_id) if case.official_id else None
            above = await session.get(Official, case.escalated_to) if case.escalated_to else None
            body = payload(event, case, key, official, above)
            for target in targets:
                exists = (target, key) in seen or await session.scalar(
                    select(WebhookDelivery.id).where(WebhookDelivery.target == target,
                                                     WebhookDelivery.idempotency_key == key))
                if not exists:
                    session.add(WebhookDelivery(target=target, event=body["event"],
                                                idempotency_key=key, payload=body,
                                                status="pending", attempts=0,
                                                next_attempt_at=utcnow()))
                    seen.add((target, key))
                    written += 1
        row = await session.get(Setting, CURSOR_KEY)
        assert row is not None
        row.value = events[-1].id
    return written


def backoff(config: WebhooksConfig, attempts: int) -> timedelta:
    return timedelta(seconds=min(config.backoff_initial * 2 ** max(attempts - 1, 0),
                                 config.backoff_max))


async def _send(http: aiohttp.ClientSession, config: WebhooksConfig, url: str,
                row: WebhookDelivery) -> str | None:
    """None when delivered, else the reason."""
    body = json.dumps(row.payload, ensure_ascii=False, separators=(",", ":")).encode()
    stamp = str(int(time.time()))
    headers = {"Content-Type": "application/json", "X-IVR-Event": row.event,
               "X-IVR-Idempotency-Key": row.idempotency_key, "X-IVR-Timestamp": stamp,
               "X-IVR-Signature": signature(config.secret, stamp, body),
               "User-Agent": "ivr-webhook/1"}
    try:
        async with http.post(url, data=body, headers=headers) as response:
            if 200 <= response.status < 300:
                return None
            return f"HTTP {response.status}"
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        return f"{type(exc).__name__}: {exc}"[:500]


async def deliver_due(db: Db, config: WebhooksConfig, http: aiohttp.ClientSession,
                      now: datetime | None = None) -> dict[str, int]:
    """Send every due row once (counts delivered, retried, failed)."""
    now = now or utcnow()
    counts = {"delivered": 0, "retried": 0, "failed": 0}
    async with db() as session:
        rows = (await session.scalars(select(WebhookDelivery).where(
            WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now)
            .order_by(WebhookDelivery.id).limit(BATCH))).all()
    lease = now + timedelta(seconds=config.timeout * 2 + 5)
    for row in rows:
        async with db() as session, session.begin():
            taken = await session.execute(update(WebhookDelivery).where(
                WebhookDelivery.id == row.id, WebhookDelivery.status == "pending",
                WebhookDelivery.attempts == row.attempts).values(
                    next_attempt_at=lease, attempts=row.attempts + 1))
        if taken.rowcount != 1:  # type: ignore[attr-defined]
            continue
        url = config.urls.get(row.target)
        reason = await _send(http, config, url, row) if url else f"no target {row.target!r}"
        attempts = row.attempts + 1
        async with db() as session, session.begin():
            values: dict[str, Any]
            if reason is None:
                values = {"status": "delivered", "delivered_at": utcnow(), "last_error": None}
                counts["delivered"] += 1
            elif attempts >= config.max_attempts:
                values = {"status": "failed", "last_error": reason}
                counts["failed"] += 1
                log.error("webhook %s %s to %s given up after %s attempts: %s", row.event,
                          row.idempotency_key, row.target, attempts, reason)
            else:
                values = {"last_error": reason,
                          "next_attempt_at": utcnow() + backoff(config, attempts)}
                counts["retried"] += 1
                log.warning("webhook %s %s to %s failed (attempt %s): %s", row.event,
                            row.idempotency_key, row.target, attempts, reason)
            await session.execute(update(WebhookDelivery)
                                  .where(WebhookDelivery.id == row.id).values(**values))
    return counts


class Notifier:
    """Moves case events into the outbox and delivers it, every ``poll_seconds``."""

    def __init__(self, db: Db, config: WebhooksConfig, full: Config | None = None) -> None:
        self.db, self.config, self.full = db, config, full
        self.targets = sorted(config.urls)
        self._task: asyncio.Task[None] | None = None
        self._http: aiohttp.ClientSession | None = None

    async def once(self) -> dict[str, int]:
        while await collect(self.db, self.targets):
            pass
        if self.full is not None:  # the evidence chains' heads, once a city day
            try:
                await publish_due(self.db, self.full, self.targets)
            except (OSError, ValueError) as exc:  # e.g. an unreadable [evidence] key_file
                log.error("could not publish the evidence heads: %s", exc)
        if self._http is None:
            self._http = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.config.timeout))
        return await deliver_due(self.db, self.config, self._http)

    def start(self) -> None:
        """Run in the background; without targets nothing runs (nothing is written)."""
        if self.targets:
            self._task = asyncio.create_task(self._run(), name="webhook-notifier")

    async def _run(self) -> None:
        while True:
            try:
                await self.once()
            except Exception:
                log.exception("webhook round failed")
            await asyncio.sleep(self.config.poll_seconds)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._http is not None:
            await self._http.close()
