"""Two Asterisk nodes, two controllers, ONE PostgreSQL database (the throwaway cluster of
tests/unit/conftest_pg.py): a change made through controller A reaches node B through the
change feed (ivr/db/feed.py); call records of both nodes land in the one database."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from ivr.calls.journal import offset_key
from ivr.core.config import Config
from ivr.db.models import Call, Setting
from ivr.db.session import create_engine, make_sessionmaker
from ivr.lab import ports
from ivr.lab.deploy import LabDeployment, create_lab
from tests.e2e.routing_helpers import DIRECTORY, PHONES, eventually
from tests.unit.conftest_pg import PgServer, pg_server  # noqa: F401  (session fixture)

pytestmark = pytest.mark.e2e

NEW = PHONES + ("op3", "wu")
ADDED = """
version: 1
operators:
  - {{name: 话务员 赵敏, endpoint: op-3, pool: main, static_contact: "sip:op-3@127.0.0.1:{op3}"}}
officials:
  - slug: wu-gang
    name: 吴刚
    title: 局长
    department: 市水务局
    numbers: ["0558-5556001"]
    devices: [{{sip: o-wu, static_contact: "sip:o-wu@127.0.0.1:{wu}"}}]
    mode: direct
    chain: [voicemail]
    ring_timeout: 5
"""


@pytest.fixture
def shared_db(pg_server: PgServer) -> Iterator[str]:  # noqa: F811
    name = pg_server.create_database()
    try:
        yield pg_server.url(name)
    finally:
        pg_server.drop_database(name)


@pytest.fixture
async def nodes(asterisk_root: Path, tmp_path: Path,
                shared_db: str) -> Any:
    phones = dict(zip(NEW, ports.free_ports(len(NEW)), strict=False))
    directory = DIRECTORY.format(**phones)
    labs: list[LabDeployment] = []
    try:
        # the directory is imported once, by the first node; the second renders from the DB
        for name, first in (("node-a", True), ("node-b", False)):
            lab = await create_lab(asterisk_root, tmp_path / name, directory, name=name,
                                   import_directory=first, node={"name": name},
                                   database={"url": shared_db})
            labs.append(lab)
            lab.start_controller()
        for lab in labs:
            await lab.wait_ready()
        for lab in labs:
            lab.extra["phones"] = phones
        yield labs
    finally:
        for lab in labs:
            lab.close()
            print(f"===== {lab.config.node.name}\n{lab.controller_log()[-2500:]}")
            lab.asterisk.remove()


def citizen(sipp: Any, lab: LabDeployment, number: str, hold_ms: int = 1000) -> Any:
    return sipp("uac_call", remote=lab.sip, local_ip="127.0.0.2", service=number,
                keys={"hold_ms": hold_ms}, timeout=40)


async def astdb_is(lab: LabDeployment, key: str, value: str | None) -> bool:
    return await asyncio.to_thread(lab.astdb, key) == value


async def journal_offsets(db_url: str) -> dict[str, Any]:
    """Each node's saved CEL journal position (settings ``cel_journal_offset:<node>``)."""
    engine = create_engine(Config.build(database={"url": db_url}))
    try:
        async with make_sessionmaker(engine)() as s:
            rows = {n: await s.get(Setting, offset_key(n)) for n in ("node-a", "node-b")}
            return {n: (None if row is None else row.value) for n, row in rows.items()}
    finally:
        await engine.dispose()


async def test_change_through_a_reaches_b(nodes: list[LabDeployment], sipp: Any,
                                          shared_db: str) -> None:
    a, b = nodes
    p = a.extra["phones"]
    st, zhang = await a.arequest("GET", "/api/v1/officials/zhang-wei")
    assert st == 200, zhang
    oid = zhang["id"]
    assert a.astdb(f"o/{oid}/mode") == b.astdb(f"o/{oid}/mode") == "direct"

    # 1. a mode switch through A: B's mirror follows (feed poll: 1 s; how fast is bench/'s)
    st, body = await a.arequest("PUT", "/api/v1/officials/zhang-wei/mode",
                                {"mode": "pool", "reason": "双节点", "actor": "admin"})
    assert st == 200, body
    assert a.astdb(f"o/{oid}/mode") == "pool"  # A: before the API answered
    await eventually(lambda: astdb_is(b, f"o/{oid}/mode", "pool"), timeout=15, interval=0.05)

    # 2. a new operator and a new official imported through A; op-3 logged in through A
    st, result = await a.arequest("POST", "/api/v1/directory/import", text=ADDED.format(**p))
    assert st == 200, result
    st, body = await a.arequest("PUT", "/api/v1/operators/op-3/state", {"state": "ready"})
    assert st == 200, body

    async def b_has_them() -> bool:
        queue = await asyncio.to_thread(b.asterisk.cli, "queue show pool-main")
        endpoint = await asyncio.to_thread(b.asterisk.cli, "pjsip show endpoint o-wu")
        return ("PJSIP/op-3" in queue and "Unable to find" not in endpoint
                and await asyncio.to_thread(b.astdb, "num/05585556001") is not None)
    await eventually(b_has_them, timeout=15, interval=0.1)

    # 3. calls into B follow the new mode and reach the new phones; one call into A too
    op3 = await sipp("uas_answer", port=p["op3"], calls=1, keys={"hold_ms": 500}).start()
    wu = await sipp("uas_answer", port=p["wu"], calls=2, keys={"hold_ms": 500}).start()
    results = await asyncio.gather(citizen(sipp, b, "05585551001").run(),
                                   citizen(sipp, b, "05585556001").run(),
                                   citizen(sipp, a, "05585556001").run())
    for r in results:
        assert r.ok, r.summary()
    assert (await op3.wait(5)).received("INVITE") and len((await wu.wait(5)).received("INVITE")) == 2

    # 4. the records of both nodes, in the one database, each tagged with its node
    async def records() -> list[dict[str, Any]] | None:
        st, calls = await b.arequest("GET", "/api/v1/calls?limit=10")
        done = [c for c in calls["items"] if c["outcome"]]
        return done if len(done) == 3 else None
    calls = await eventually(records, timeout=20)
    by = {(c["node"], c["number_dialed"]): c for c in calls}
    assert set(by) == {("node-b", "05585551001"), ("node-b", "05585556001"),
                       ("node-a", "05585556001")}, calls
    zb = by[("node-b", "05585551001")]
    assert (zb["route_source"], zb["mode"], zb["steps"][0]["kind"]) == ("mirror", "pool", "pool"), zb
    assert zb["answered_by"] == "op-3", zb
    for node in ("node-a", "node-b"):
        w = by[(node, "05585556001")]
        assert (w["route_source"], w["answered_by"]) == ("mirror", "o-wu"), w
    st, calls_a = await a.arequest("GET", "/api/v1/calls?limit=10")
    assert {c["linkedid"] for c in calls_a["items"]} == {c["linkedid"] for c in calls}

    # 5. B restarts: it reads only its own journal, from its own offset; nothing doubles
    b.stop_controller()
    b.start_controller()
    await b.wait_ready()

    async def both_at_their_ends() -> dict[str, Any] | None:
        offsets = await journal_offsets(shared_db)
        for node, d in (("node-a", a), ("node-b", b)):
            st = os.stat(d.config.cel_journal)
            if offsets[node] != {"inode": st.st_ino, "offset": st.st_size}:
                return None
        return offsets
    # each recorder follows its own journal to its end (A all along, B after its restart)
    offsets = await eventually(both_at_their_ends, timeout=20)
    assert offsets["node-a"] != offsets["node-b"]
    engine = create_engine(Config.build(database={"url": shared_db}))
    try:
        async with make_sessionmaker(engine)() as s:
            stored = (await s.scalars(select(Call))).all()
    finally:
        await engine.dispose()
    assert sorted((c.node, c.number_dialed) for c in stored) == sorted(by)
    hb = b.health()
    assert hb is not None and hb["node"] == "node-b"


async def test_postgres_restarted_under_load(nodes: list[LabDeployment], sipp: Any,
                                             pg_server: PgServer) -> None:  # noqa: F811
    """PostgreSQL goes down (immediate stop, as a crash) while calls flow into both nodes and
    comes back once they are over: every call gets exactly one record, each on its own node,
    within 30 s — no controller restarted."""
    a, b = nodes
    p = a.extra["phones"]
    calls = 8
    zhang = await sipp("uas_answer", port=p["zhang"], calls=calls, keys={"hold_ms": 300},
                       timeout=60).start()
    li = await sipp("uas_answer", port=p["li"], calls=calls, keys={"hold_ms": 300},
                    timeout=60).start()
    flows = [sipp("uac_call", remote=lab.sip, local_ip="127.0.0.2", service=number, calls=calls,
                  rate=0.7, keys={"hold_ms": 1000}, timeout=60)
             for lab, number in ((a, "05585551001"), (b, "05585551002"))]
    started = [await f.start() for f in flows]
    await asyncio.to_thread(pg_server.stop)
    try:
        results = [await f.wait(60) for f in started]
    finally:
        await asyncio.to_thread(pg_server.launch)
    for r in results:
        assert r.ok and r.successful == calls, r.summary()
    assert len((await zhang.wait(10)).received("INVITE")) == calls
    assert len((await li.wait(10)).received("INVITE")) == calls

    async def recorded() -> list[dict[str, Any]] | None:
        st, body = await a.arequest("GET", "/api/v1/calls?limit=100")
        if st != 200:
            return None  # the first request after the restart may meet a dead connection
        done = [c for c in body["items"] if c["outcome"]]
        return done if len(done) >= 2 * calls else None
    done = await eventually(recorded, timeout=30)
    assert len(done) == 2 * calls and len({c["linkedid"] for c in done}) == 2 * calls
    by = {(c["node"], c["answered_by"], c["outcome"]) for c in done}
    assert by == {("node-a", "o-zhang", "answered"), ("node-b", "o-li", "answered")}, done
    for lab in (a, b):
        rec = (await asyncio.to_thread(lab.health) or {})["recorder"]
        assert rec["failures"] > 0 and rec["failing_for"] == 0, rec  # it failed, and recovered
