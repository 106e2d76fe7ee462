"""Automatic callbacks with two controllers (two Asterisk nodes) on ONE PostgreSQL database
(issue 10): both schedulers run; every attempt is claimed by one node (``SKIP LOCKED``) and
dialled once, through that node's Asterisk.

Three citizens give up while 李强's phone rings (three missed cases, on node A). Policy: his own
phone first, 2 attempts, the citizens are busy every time. Both nodes' carrier trunks point at
the one sipp "carrier": it receives exactly 6 INVITEs (3 cases × 2 attempts), 李强's phone
exactly 6; every callback row names the node that claimed its attempt; every case ends
``unreachable``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from ivr.core.config import Config
from ivr.db.followup_models import Callback, CallbackJob
from ivr.db.session import create_engine, make_sessionmaker
from ivr.lab import ports
from ivr.lab.deploy import LabDeployment, create_lab
from tests.e2e.routing_helpers import eventually
from tests.unit.conftest_pg import PgServer, pg_server  # noqa: F401  (session fixture)

pytestmark = pytest.mark.e2e
DIRECTORY = """
version: 1
officials:
  - slug: li-qiang
    name: 李强
    title: 副局长
    numbers: ["0558-5551002"]
    devices: [{{sip: o-li, static_contact: "sip:o-li@127.0.0.1:{li}"}}]
    mode: direct
    chain: [voicemail]
    ring_timeout: 10
"""
CITIZENS = ("13912345671", "13912345672", "13912345673")
AUTO = {"enabled": True, "hours": "00:00-24:00", "first": "own", "first_delay_seconds": 4,
        "attempts": 2, "spacing_seconds": 2, "citizen_ring_seconds": 4, "tick_seconds": 0.3}


@pytest.fixture
def shared_db(pg_server: PgServer) -> Iterator[str]:  # noqa: F811
    name = pg_server.create_database()
    try:
        yield pg_server.url(name)
    finally:
        pg_server.drop_database(name)


@pytest.fixture
async def nodes(asterisk_root: Path, tmp_path: Path, shared_db: str) -> Any:
    li = ports.free_port()
    carrier = ports.free_port("127.0.0.2")
    labs: list[LabDeployment] = []
    try:
        for name, first in (("node-a", True), ("node-b", False)):
            lab = await create_lab(asterisk_root, tmp_path / name, DIRECTORY.format(li=li),
                                   name=name, import_directory=first, node={"name": name},
                                   database={"url": shared_db}, carrier_port=carrier,
                                   autocallback=AUTO)
            lab.extra["li"] = li
            labs.append(lab)
            lab.start_controller()
        for lab in labs:
            await lab.wait_ready()
        yield labs
    finally:
        for lab in labs:
            lab.close()
            print(f"===== {lab.config.node.name}\n{lab.controller_log()[-3000:]}")
            lab.asterisk.remove()


async def test_each_attempt_is_dialled_once(nodes: list[LabDeployment], sipp: Any,
                                            shared_db: str) -> None:
    a, _ = nodes
    carrier = await sipp("uas_busy", local_ip="127.0.0.2", port=a.config.carrier.port,
                         calls=6, timeout=120).start()
    ringing = await sipp("uas_noanswer", port=a.extra["li"], calls=3, timeout=40).start()
    results = await asyncio.gather(*(
        sipp("uac_abandon", remote=a.sip, local_ip="127.0.0.2", service="05585551002",
             keys={"ring_ms": 1500, "caller": caller}, timeout=20).run() for caller in CITIZENS))
    assert all(r.ok for r in results), [r.summary() for r in results]
    assert len((await ringing.wait(20)).received("CANCEL")) == 3
    phone = await sipp("uas_answer", port=a.extra["li"], calls=6, keys={"hold_ms": 60000},
                       timeout=120).start()

    async def all_unreachable() -> list[dict[str, Any]] | None:
        status, body = await a.arequest("GET", "/api/v1/cases?kind=missed")
        assert status == 200, body
        items = body["items"]
        done = [c for c in items if c["callback_duty"] == "unreachable"]
        return items if len(items) == 3 and len(done) == 3 else None
    await eventually(all_unreachable, timeout=90, interval=0.5)

    at_carrier, at_phone = await carrier.wait(30), await phone.wait(30)
    assert len(at_carrier.received("INVITE")) == 6, at_carrier.summary()
    assert len(at_phone.received("INVITE")) == 6, at_phone.summary()
    engine = create_engine(Config.build(database={"url": shared_db}))
    try:
        async with make_sessionmaker(engine)() as s:
            jobs = (await s.scalars(select(CallbackJob).order_by(CallbackJob.id))).all()
            callbacks = {cb.id: cb for cb in (await s.scalars(select(Callback))).all()}
    finally:
        await engine.dispose()
    assert len(jobs) == 6 and len(callbacks) == 6
    assert sorted((j.case_id, j.attempt) for j in jobs) == sorted(
        {(j.case_id, n) for j in jobs for n in (1, 2)})
    for job in jobs:
        assert job.callback_id is not None and job.state == "done", job
        cb = callbacks[job.callback_id]
        assert cb.node == job.node and job.node in ("node-a", "node-b"), (cb.node, job.node)
        assert cb.result == "BUSY", cb.result
    print("attempts per node:", {n: sum(j.node == n for j in jobs) for n in ("node-a", "node-b")})
