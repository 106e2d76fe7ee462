"""Chain heads published outside the database: the anchor a recomputed chain cannot match.

The heads (stream, node, seq, entry hash of every chain's newest entry) are

- posted once a day through the notification hook (event ``evidence.heads``, one outbox row per
  target and city day: ``ivr.followup.webhooks`` calls :func:`publish_due`);
- printed in the monthly supervision report;
- printed by ``ivr evidence heads`` (a file to keep, e.g. on paper or with the auditors).

Signed with HMAC-SHA256 when ``[evidence] key_file`` names a key: a file the database
administrator cannot read, so heads cannot be forged by whoever can rewrite the database.
``ivr verify --against FILE`` checks the signature (with the key) and that every published head
is still the entry at its seq.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from ivr.core.config import Config
from ivr.core.timeutil import utcnow
from ivr.db.followup_models import WebhookDelivery
from ivr.db.session import Db
from ivr.evidence.canon import canonical
from ivr.evidence.chain import heads

EVENT = "evidence.heads"


def load_key(config: Config) -> bytes | None:
    path = config.evidence.key_file
    if not path:
        return None
    key = Path(path).read_bytes().strip()
    return key or None


def sign(key: bytes, body: Mapping[str, Any]) -> str:
    return "hmac-sha256=" + hmac.new(key, canonical(dict(body)), hashlib.sha256).hexdigest()


async def signed_heads(db: Db, key: bytes | None, now: datetime | None = None) -> dict[str, Any]:
    """The heads now, signed with ``key`` when there is one."""
    async with db() as session:
        body: dict[str, Any] = {"published_at": now or utcnow(), "heads": await heads(session)}
    body = json.loads(canonical(body))  # times as text, as a receiver sees them
    if key is not None:
        body["signature"] = sign(key, {k: v for k, v in body.items() if k != "signature"})
    return body


def check_signature(published: Mapping[str, Any], key: bytes | None) -> str | None:
    """Why the signature does not hold (None: it does, or there is no key to check with)."""
    given = published.get("signature")
    if key is None:
        return None
    if not given:
        return "the published heads are not signed"
    body = {k: v for k, v in published.items() if k != "signature"}
    if not hmac.compare_digest(str(given), sign(key, body)):
        return "the signature of the published heads does not hold (forged or altered)"
    return None


def load_published(text: str) -> dict[str, Any]:
    """A heads file (``ivr evidence heads``) or a delivered ``evidence.heads`` payload."""
    data = json.loads(text)
    if isinstance(data, dict) and isinstance(data.get("heads"), dict):
        data = data["heads"]  # the webhook payload wraps them
    if not isinstance(data, dict) or not isinstance(data.get("heads"), list):
        raise ValueError("not a heads file: expected {\"heads\": [...]}")
    return data


async def publish_due(db: Db, config: Config, targets: Sequence[str]) -> int:
    """Today's (city day) heads into the outbox, once per target (the unique
    (target, idempotency key) makes two controllers write it once); the rows written."""
    if not targets or not config.evidence.publish:
        return 0
    day = utcnow().astimezone(ZoneInfo(config.database.timezone)).date().isoformat()
    key = f"evidence-heads-{day}"
    async with db() as session:
        done = set((await session.scalars(select(WebhookDelivery.target).where(
            WebhookDelivery.idempotency_key == key))).all())
    todo = [t for t in targets if t not in done]
    if not todo:
        return 0
    body = await signed_heads(db, load_key(config))
    payload = {"event": EVENT, "idempotency_key": key, "occurred_at": body["published_at"],
               "day": day, "heads": body}
    async with db() as session, session.begin():
        for target in todo:
            session.add(WebhookDelivery(target=target, event=EVENT, idempotency_key=key,
                                        payload=payload, status="pending", attempts=0,
                                        next_attempt_at=utcnow()))
    return len(todo)
