"""The live hub's snapshot of a queue (QueueStatus, taken when a console or a wallboard opens) and
the queue events that arrive while it is in flight: the snapshot may predate them, so they are
replayed over it — a caller who left is not brought back, one who joined is not lost."""

from __future__ import annotations

import asyncio
from typing import Any

from ivr.pool.live import LiveHub


class FakeAmi:
    """QueueStatus answers only when the test says so, with the entries the test gives."""

    def __init__(self) -> None:
        self.logged_in = asyncio.Event()
        self.logged_in.set()
        self.asked = asyncio.Event()
        self.answer: asyncio.Future[list[dict[str, str]]] = (
            asyncio.get_running_loop().create_future())

    async def action_list(self, action: str, **fields: Any) -> list[dict[str, str]]:
        assert action == "QueueStatus"
        self.asked.set()
        return await self.answer


def entry(uid: str, wait: int) -> dict[str, str]:
    return {"Event": "QueueEntry", "Queue": "pool-main", "Uniqueid": uid, "Wait": str(wait)}


def event(name: str, uid: str) -> dict[str, str]:
    return {"Event": name, "Queue": "pool-main", "Uniqueid": uid, "Timestamp": "1000.5"}


async def test_events_during_the_snapshot_are_replayed_over_it() -> None:
    ami = FakeAmi()
    hub = LiveHub(db=None, ami=ami)  # type: ignore[arg-type]  # the seed never reads the db
    seeding = asyncio.ensure_future(hub.seed_queue("pool-main"))
    await ami.asked.wait()
    # while QueueStatus is in flight: caller a leaves, caller c joins
    hub.on_queue_event(event("QueueCallerAbandon", "a"))
    hub.on_queue_event(event("QueueCallerJoin", "c"))
    # the snapshot was taken before both: it still has a, not c
    ami.answer.set_result([entry("a", 30), entry("b", 10)])
    await seeding
    assert set(hub.waiting["pool-main"]) == {"b", "c"}
    assert hub.waiting["pool-main"]["c"] == 1000.5
    assert hub.queue_state()["pool-main"]["waiting"] == 2
    assert hub._seeding == {}


async def test_a_failed_snapshot_keeps_the_state_and_stops_buffering() -> None:
    ami = FakeAmi()
    hub = LiveHub(db=None, ami=ami)  # type: ignore[arg-type]
    hub.on_queue_event(event("QueueCallerJoin", "a"))
    seeding = asyncio.ensure_future(hub.seed_queue("pool-main"))
    await ami.asked.wait()
    hub.on_queue_event(event("QueueCallerJoin", "b"))
    ami.answer.set_exception(TimeoutError())
    await seeding
    assert set(hub.waiting["pool-main"]) == {"a", "b"}
    assert hub._seeding == {}
