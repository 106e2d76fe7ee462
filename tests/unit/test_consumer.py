"""The recorder's thread (ivr/calls/consumer.py) on a real SQLite database and journal file:
it follows the journal as it grows, hands what it wrote to the main loop, and when the database
refuses writes (locked) it tries the same chunk again until it goes through — no restart."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ivr.calls.consumer import JournalConsumer
from ivr.calls.recorder import Recorded
from ivr.core.config import Config, ConfigError
from ivr.db.models import Base
from ivr.db.session import create_engine
from tests.unit.test_recorder import INSTANCE, T0, answered_call, write_journal


@pytest.fixture
async def config(tmp_path: Path) -> AsyncIterator[Config]:
    cfg = Config.build(database={"url": f"sqlite+aiosqlite:///{tmp_path / 'ivr.db'}"},
                       asterisk={"root": str(tmp_path / "root"), "instance": INSTANCE},
                       records={"poll_seconds": 0.05})
    engine = create_engine(cfg)
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    await engine.dispose()
    yield cfg


class Outputs:
    def __init__(self) -> None:
        self.views: list[tuple[str, str | None]] = []
        self.changed = asyncio.Event()

    def __call__(self, out: Recorded) -> None:
        assert asyncio.get_running_loop()  # delivered on the main loop
        self.views += [(v.linkedid, v.outcome) for v in out.views]
        self.changed.set()

    async def until(self, n: int) -> None:
        while len(self.views) < n:
            self.changed.clear()
            await asyncio.wait_for(self.changed.wait(), 30)


async def test_follows_the_journal_as_it_grows(config: Config) -> None:
    out = Outputs()
    consumer = JournalConsumer(config, out)
    consumer.start()
    try:
        await consumer.caught_up()  # no journal yet: nothing to wait for
        write_journal(config, answered_call("1795366780.1").lines())
        await out.until(1)
        write_journal(config, answered_call("1795366800.2", t0=T0 + 20).lines(), mode="a")
        await out.until(2)
        await consumer.caught_up()
        assert out.views == [("1795366780.1", "answered"), ("1795366800.2", "answered")]
        assert consumer.stats()["records"] == 2 and consumer.stats()["failures"] == 0
    finally:
        await consumer.stop()


async def test_database_locked_then_catches_up_by_itself(config: Config, tmp_path: Path) -> None:
    out = Outputs()
    consumer = JournalConsumer(config, out)
    consumer.start()
    try:
        write_journal(config, answered_call("1795366780.1").lines())
        await out.until(1)
        # another process holds the write lock: every write fails after the busy timeout
        lock = sqlite3.connect(tmp_path / "ivr.db", isolation_level=None)
        lock.execute("BEGIN EXCLUSIVE")
        write_journal(config, answered_call("1795366800.2", t0=T0 + 20).lines(), mode="a")
        while consumer.failures == 0:
            await asyncio.sleep(0.05)  # polling observable state: the failure counter
        assert out.views == [("1795366780.1", "answered")]
        assert "locked" in consumer.stats()["last_error"]
        lock.execute("ROLLBACK")
        lock.close()
        await out.until(2)
        assert out.views[1] == ("1795366800.2", "answered")
        assert consumer.stats()["failing_for"] == 0
    finally:
        await consumer.stop()


async def test_call_runs_on_the_recorders_loop(config: Config) -> None:
    consumer = JournalConsumer(config, Outputs())
    consumer.start()
    try:
        write_journal(config, answered_call("1795366780.1").lines()[:3])
        await consumer.caught_up()
        assert await consumer.call(lambda r: r.open_calls()) == {"1795366780.1"}
    finally:
        await consumer.stop()


async def test_recorder_threads_yield_the_cpu(config: Config) -> None:
    """[records] nice: the recorder's thread and the database driver's thread it starts run at
    that niceness; the main loop's thread keeps its own."""
    main = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    want = min(19, main + 7)
    assert want > main, "the test process already runs at the lowest priority"
    consumer = JournalConsumer(config.replace(records={"nice": want}), Outputs())
    consumer.start()
    try:
        write_journal(config, answered_call("1795366781.1").lines()[:3])
        await consumer.caught_up()

        async def look(_: object) -> dict[str, int]:
            return {t.name: os.getpriority(os.PRIO_PROCESS, t.native_id)
                    for t in threading.enumerate() if t.native_id is not None}
        seen = await consumer.call(look)
        assert seen["ivr-recorder"] == want
        # aiosqlite's connection thread, started from the recorder's loop
        driver = [n for name, n in seen.items() if "_connection_worker_thread" in name]
        assert driver and set(driver) == {want}, seen
        assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == main
    finally:
        await consumer.stop()


def test_nice_out_of_range_is_refused(config: Config) -> None:
    with pytest.raises(ConfigError, match=r"\[records\] nice"):
        config.replace(records={"nice": 20})
