"""Each node's routing state as the admins see it (issue 16: "show per-node state to admins").

Every controller publishes, from its health monitor, a small record in ``settings`` under
``node_state:<node>``: whether its AstDB mirror is in sync (what its /healthz says as
``mirror_in_sync``), whether AMI is logged in, and its change-feed position — the revisions it
has applied and those the database had when it looked (``behind``: the kinds it has not applied
yet). It writes when the state changes and at least every :data:`HEARTBEAT` seconds; a record
older than :data:`STALE_AFTER` is a node that stopped reporting. The pages read them all
(:func:`node_states`): one database, every node's state, whichever node serves the page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from ivr.db.models import Setting
from ivr.db.session import Db

PREFIX = "node_state:"
HEARTBEAT = 30.0  # seconds between two writes of an unchanged state
STALE_AFTER = timedelta(seconds=120)


@dataclass(frozen=True)
class NodeState:
    node: str
    mirror_in_sync: bool
    ami: bool
    seen: dict[str, int]  # the feed's revisions this node has applied
    current: dict[str, int]  # the database's revisions when it looked
    at: datetime  # when it reported
    stale: bool  # it has not reported for STALE_AFTER

    @property
    def behind(self) -> list[str]:
        """The kinds of change this node has not applied yet."""
        return sorted(k for k, v in self.current.items() if self.seen.get(k, 0) < v)

    @property
    def ok(self) -> bool:
        return self.mirror_in_sync and not self.behind and not self.stale


def record(mirror_in_sync: bool, ami: bool, seen: dict[str, int],
           current: dict[str, int]) -> dict[str, Any]:
    """What a node publishes (without the time)."""
    return {"mirror_in_sync": bool(mirror_in_sync), "ami": bool(ami),
            "seen": {k: int(v) for k, v in sorted(seen.items())},
            "current": {k: int(v) for k, v in sorted(current.items())}}


async def publish(db: Db, node: str, state: dict[str, Any], now: datetime | None = None) -> None:
    """Write this node's state (``record(...)``) with the time it was taken."""
    value = {**state, "at": (now or datetime.now(UTC)).isoformat(timespec="seconds")}
    async with db() as session, session.begin():
        await session.merge(Setting(key=f"{PREFIX}{node}"[:120], value=value))


def _state(node: str, value: Any, now: datetime) -> NodeState | None:
    if not isinstance(value, dict):
        return None
    try:
        at = datetime.fromisoformat(str(value.get("at", "")))
    except ValueError:
        return None
    at = at if at.tzinfo else at.replace(tzinfo=UTC)

    def revs(key: str) -> dict[str, int]:
        raw = value.get(key)
        return {str(k): int(v) for k, v in raw.items() if isinstance(v, int)} \
            if isinstance(raw, dict) else {}
    return NodeState(node=node, mirror_in_sync=value.get("mirror_in_sync") is True,
                     ami=value.get("ami") is True, seen=revs("seen"), current=revs("current"),
                     at=at, stale=now - at > STALE_AFTER)


async def node_states(db: Db, now: datetime | None = None) -> list[NodeState]:
    """Every node's last report, by name."""
    now = now or datetime.now(UTC)
    async with db() as session:
        rows = (await session.scalars(select(Setting).where(Setting.key.startswith(PREFIX))
                                      .order_by(Setting.key))).all()
    out = [_state(row.key[len(PREFIX):], row.value, now) for row in rows]
    return [s for s in out if s is not None]
