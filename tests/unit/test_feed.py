"""The change feed between controllers (ivr/db/feed.py), per-node journal offsets and the
migration lock: on SQLite and on a real PostgreSQL (conftest_pg.py)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from conftest_pg import PgServer
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import create_async_engine

from ivr.calls.journal import OFFSET_KEY, offset_key
from ivr.calls.recorder import CallRecorder
from ivr.controller import Controller
from ivr.core.config import Config
from ivr.core.errors import ChangeNotInEffect
from ivr.db import session as db_session
from ivr.db.feed import ChangeFeed, bump, read_revisions
from ivr.db.models import Setting
from ivr.db.session import Db, create_engine, make_sessionmaker, upgrade
from ivr.pool import service as pool_service
from ivr.routing import services as rs
from tests.unit.dbseed import seeded

DIRECTORY = """
pools: [{name: main}]
operators: [{name: 王芳, endpoint: op-1, pool: main}]
officials:
  - {slug: zhang-wei, name: 张伟, title: 局长, numbers: ["0558-5551001"], devices: [{sip: o-zw}]}
"""


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Db]:
    async with seeded(db_url, DIRECTORY) as sm:
        yield sm


class Applier:
    def __init__(self, fail: int = 0) -> None:
        self.calls: list[frozenset[str]] = []
        self.fail = fail

    async def __call__(self, kinds: frozenset[str]) -> None:
        if self.fail:
            self.fail -= 1
            raise RuntimeError("AMI went away")
        self.calls.append(kinds)


async def test_revisions_seeded_and_bumped_atomically(db: Db) -> None:
    assert await read_revisions(db) == {"routing": 0, "directory": 0, "operators": 0}
    values = await asyncio.gather(*(bump(db, "routing") for _ in range(20)))
    assert sorted(values) == list(range(1, 21))  # every bump got its own value: no lost update
    assert (await read_revisions(db))["routing"] == 20


async def test_bursts_coalesce_into_one_apply_per_poll(db: Db) -> None:
    apply = Applier()
    feed = ChangeFeed(db, apply)
    await feed.prime()
    assert await feed.poll_once() == frozenset() and apply.calls == []
    for _ in range(10):
        await bump(db, "routing")
    await bump(db, "directory")
    assert await feed.poll_once() == {"routing", "directory"}
    assert apply.calls == [{"routing", "directory"}]  # eleven bumps, one reload
    assert await feed.poll_once() == frozenset() and len(apply.calls) == 1


async def test_own_change_is_not_applied_again(db: Db) -> None:
    apply = Applier()
    feed = ChangeFeed(db, apply)
    await feed.prime()
    feed.mark("routing", await bump(db, "routing"))  # this controller reloads by itself
    assert await feed.poll_once() == frozenset() and apply.calls == []


async def test_failed_apply_is_retried_next_poll(db: Db) -> None:
    apply = Applier(fail=1)
    feed = ChangeFeed(db, apply)
    await feed.prime()
    await bump(db, "operators")
    with pytest.raises(RuntimeError):
        await feed.poll_once()
    assert await feed.poll_once() == {"operators"} and apply.calls == [{"operators"}]


async def test_safety_net_reloads_routing_without_bumps(db: Db) -> None:
    apply = Applier()
    feed = ChangeFeed(db, apply, full_every=0.0)
    await feed.prime()
    assert await feed.poll_once() == {"routing"}


async def test_run_loop_survives_errors_and_applies(db: Db) -> None:
    apply = Applier(fail=2)
    feed = ChangeFeed(db, apply, interval=0.01)
    await feed.prime()
    await bump(db, "routing")
    task = asyncio.create_task(feed.run())
    try:
        for _ in range(1000):  # until it applied (observable), at most ~10 s
            if apply.calls:
                break
            await asyncio.sleep(0.01)
    finally:
        task.cancel()
    assert apply.calls[:1] == [{"routing"}]


async def test_operator_state_bumps_in_its_transaction(db: Db) -> None:
    await pool_service.set_state(db, None, "op-1", "ready")
    assert (await read_revisions(db))["operators"] == 1


async def test_change_through_one_controller_reaches_another(db: Db, db_url: str,
                                                             tmp_path: Path) -> None:
    """Two controllers on one database, no Asterisk: A's change bumps the revision and A does
    not reload twice; B's next poll reloads B's snapshot once."""
    config = Config.build(database={"url": db_url}, asterisk={"root": str(tmp_path), "instance": "/ast"})
    a, b = Controller(config, db), Controller(config.replace(node={"name": "b"}), db)
    for ctrl in (a, b):
        await ctrl.feed.prime()
        await ctrl.reload()
    oid = next(iter(a.snapshot.routings))
    # no Asterisk: saved and reloaded, but A's mirror cannot hold it (202, not in effect yet)
    with pytest.raises(ChangeNotInEffect):
        await rs.set_mode(db, "zhang-wei", "pool", "admin", "", on_change=a.on_change)
    assert a.snapshot.routings[oid].mode == "pool"
    assert b.snapshot.routings[oid].mode == "direct"
    assert await a.feed.poll_once() == frozenset()
    assert await b.feed.poll_once() == {"routing"}
    assert b.snapshot.routings[oid].mode == "pool"
    assert await b.feed.poll_once() == frozenset()


def _journal(path: Path, uniqueids: list[str]) -> None:
    """One IVR_CALL event per call, as cel_custom writes it (JSON lines)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as fh:
        for uid in uniqueids:
            fh.write(json.dumps({"eventtype": "IVR_CALL", "userdeftype": "IVR_CALL",
                                 "eventtime": "1700000000.250000", "uniqueid": uid,
                                 "linkedid": uid, "channame": "PJSIP/carrier-00000001",
                                 "exten": "05585551001", "context": "ivr-citizens",
                                 "num": "13900001111", "eventextra": "dialed=05585551001"}) + "\n")


async def test_journal_offset_per_node(db: Db, db_url: str, tmp_path: Path) -> None:
    configs = {n: Config.build(database={"url": db_url}, node={"name": n},
                               asterisk={"root": str(tmp_path / n), "instance": "/ast"}) for n in ("node-a", "node-b")}
    _journal(configs["node-a"].cel_journal, ["node-a-1.1", "node-a-1.2"])
    _journal(configs["node-b"].cel_journal, ["node-b-1.1"])
    ra, rb = (CallRecorder(db, configs[n]) for n in ("node-a", "node-b"))
    assert (await ra.drain(), await rb.drain()) == (2, 1)
    assert (await ra.drain(), await rb.drain()) == (0, 0)  # own offsets kept
    _journal(configs["node-b"].cel_journal, ["node-b-1.2"])
    assert (await ra.drain(), await rb.drain()) == (0, 1)
    async with db() as s:
        rows = {r.key: r.value for r in (await s.scalars(select(Setting))).all()}
        nodes = dict((await s.execute(text("SELECT uniqueid, node FROM cel_events"))).all())
    for n, config in configs.items():
        st = config.cel_journal.stat()
        assert rows[offset_key(n)] == {"inode": st.st_ino, "offset": st.st_size}
    assert OFFSET_KEY not in rows  # the shared pre-0006 row is no longer written
    assert nodes == {"node-a-1.1": "node-a", "node-a-1.2": "node-a",
                     "node-b-1.1": "node-b", "node-b-1.2": "node-b"}


async def test_legacy_offset_is_the_start_of_a_node_without_its_own(db: Db, db_url: str,
                                                                    tmp_path: Path) -> None:
    config = Config.build(database={"url": db_url}, node={"name": "solo"},
                          asterisk={"root": str(tmp_path), "instance": "/ast"})
    _journal(config.cel_journal, ["solo-1.1", "solo-1.2"])
    st = config.cel_journal.stat()
    async with db() as s, s.begin():  # written by a controller before migration 0006
        s.add(Setting(key=OFFSET_KEY, value={"inode": st.st_ino, "offset": st.st_size}))
    _journal(config.cel_journal, ["solo-1.3"])
    assert await CallRecorder(db, config).drain() == 1  # only what is new


# -- migrations at start: serialised on PostgreSQL ---------------------------------------------
async def _waiting_for_migration_lock(url: str) -> bool:
    """A session is blocked on pg_advisory_lock(MIGRATION_LOCK_KEY) (pg_locks, not granted)."""
    key = db_session.MIGRATION_LOCK_KEY
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            waiting = (await conn.execute(text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
                "AND classid::bigint = :hi AND objid::bigint = :lo"),
                {"hi": key >> 32, "lo": key & 0xFFFF_FFFF})).scalar_one()
    finally:
        await engine.dispose()
    return bool(waiting)


def test_upgrade_waits_for_the_migration_lock(pg_server: PgServer) -> None:
    name = pg_server.create_database()
    url = pg_server.url(name)
    try:
        held = threading.Event()
        release = threading.Event()

        async def hold() -> None:
            engine = create_async_engine(url)
            async with engine.connect() as conn:
                await conn.execute(text("SELECT pg_advisory_lock(:k)"),
                                   {"k": db_session.MIGRATION_LOCK_KEY})
                held.set()
                await asyncio.to_thread(release.wait, 30)
                await conn.execute(text("SELECT pg_advisory_unlock(:k)"),
                                   {"k": db_session.MIGRATION_LOCK_KEY})
            await engine.dispose()

        holder = threading.Thread(target=lambda: asyncio.run(hold()))
        holder.start()
        assert held.wait(30)
        done = threading.Event()
        upgrader = threading.Thread(target=lambda: (upgrade(url), done.set()))
        upgrader.start()
        # the upgrader's session is seen waiting for the lock in pg_locks, not just given time
        deadline = time.monotonic() + 30
        while not asyncio.run(_waiting_for_migration_lock(url)):
            assert time.monotonic() < deadline and not done.is_set(), \
                "upgrade never waited for the migration lock another process held"
            time.sleep(0.05)
        assert not done.is_set(), "upgrade ran while another process held the migration lock"
        release.set()
        holder.join(30)
        upgrader.join(60)
        assert done.is_set()
    finally:
        pg_server.drop_database(name)


def test_concurrent_upgrades_on_postgresql(pg_server: PgServer) -> None:
    name = pg_server.create_database()
    url = pg_server.url(name)
    try:
        errors: list[BaseException] = []

        def run() -> None:
            try:
                upgrade(url)
            except BaseException as exc:  # pragma: no cover - the failure being tested for
                errors.append(exc)
        threads = [threading.Thread(target=run) for _ in range(4)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 60  # without the lock they fail, or wait on each other
        for t in threads:
            t.join(max(0.1, deadline - time.monotonic()))
        assert errors == [] and not any(t.is_alive() for t in threads)

        async def head() -> tuple[str, dict[str, int]]:
            engine = create_engine(Config.build(database={"url": url}))
            try:
                async with engine.connect() as conn:
                    version = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar_one()
                return version, await read_revisions(make_sessionmaker(engine))
            finally:
                await engine.dispose()
        version, revisions = asyncio.run(head())
        assert version >= "0006" and revisions == {"routing": 0, "directory": 0, "operators": 0}
    finally:
        pg_server.drop_database(name)
