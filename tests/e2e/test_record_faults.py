"""Records survive faults while calls flow: real Asterisk, real SIP calls (sipp). Database
faults restart nothing — the recorder catches up by itself once the database is back; a killed
controller is started again as systemd would, and nothing else is done.

The database lives on a small tmpfs of its own (the CEL journal stays on Asterisk's disk, as in
a deployment). Each fault lasts as long as a stream of calls (~15 s): first another process holds
SQLite's write lock, then the database's filesystem is full. Ground truth is what the sipp
phones saw (each call answered by whom), compared with the records afterwards.
"""

from __future__ import annotations

import asyncio
import errno
import signal
import sqlite3
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ivr.lab import ports
from ivr.lab.deploy import LabDeployment
from tests.e2e.routing_helpers import PHONES, eventually, make_lab

pytestmark = pytest.mark.e2e
CALLS = 10  # per fault, one every 1.4 s: the fault lasts the ~15 s the calls take
RATE = 0.7


@pytest.fixture
def dbfs(tmp_path: Path) -> Iterator[Path]:
    """A 48 MiB tmpfs for the database only."""
    mnt = tmp_path / "dbfs"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48m,mode=0700", "tmpfs", str(mnt)],
                   check=True)
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


@pytest.fixture
async def lab(asterisk_root: Path, tmp_path: Path, dbfs: Path) -> AsyncIterator[LabDeployment]:
    phone_ports = dict(zip(PHONES, ports.free_ports(len(PHONES)), strict=True))
    deployment = await make_lab(asterisk_root, tmp_path / "lab", phone_ports,
                                database={"url": f"sqlite+aiosqlite:///{dbfs / 'ivr.db'}"})
    deployment.extra["phones"] = phone_ports
    yield deployment
    deployment.close()
    print(deployment.controller_log()[-6000:])
    deployment.asterisk.remove()


def fill(path: Path) -> None:
    """Write zeros to ``path`` until its filesystem is full (big blocks, then pages)."""
    with open(path, "wb", buffering=0) as fh:
        for block in (b"\0" * (1 << 20), b"\0" * 4096):
            try:
                while True:
                    fh.write(block)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise


async def answered_by(lab: LabDeployment, device: str) -> list[dict[str, Any]]:
    st, body = await lab.arequest("GET", "/api/v1/calls?limit=200")
    assert st == 200, body
    return [c for c in body["items"] if c["answered_by"] == device]


async def all_recorded(lab: LabDeployment, device: str) -> list[dict[str, Any]]:
    """Once the database is back: the records of the CALLS calls ``device`` answered, one each
    (within 30 s, nothing restarted)."""
    async def done() -> list[dict[str, Any]] | None:
        calls = await answered_by(lab, device)
        return calls if len(calls) >= CALLS else None
    calls: list[dict[str, Any]] = await eventually(done, timeout=30)
    assert len(calls) == CALLS and len({c["linkedid"] for c in calls}) == CALLS, calls
    return calls


async def recorder_failing(lab: LabDeployment, before: int) -> dict[str, Any] | None:
    health = await asyncio.to_thread(lab.health)
    rec = (health or {}).get("recorder") or {}
    return rec if rec.get("failures", 0) > before else None


async def calls_during(lab: LabDeployment, sipp: Any, number: str, phone: str,
                       meanwhile: Callable[[], Awaitable[None]] | None = None) -> int:
    """CALLS calls to ``number``, answered by the sipp phone ``phone``; how many it answered.
    ``meanwhile`` runs while they flow."""
    uas = await sipp("uas_answer", port=lab.extra["phones"][phone], calls=CALLS,
                     keys={"hold_ms": 300}, timeout=60).start()
    uac = await sipp("uac_call", remote=lab.sip, local_ip="127.0.0.2", service=number,
                     calls=CALLS, rate=RATE, keys={"hold_ms": 1000}, timeout=60).start()
    if meanwhile is not None:
        await meanwhile()
    result = await uac.wait(60)
    assert result.ok and result.successful == CALLS, result.summary()
    got = await uas.wait(10)
    return len(got.received("INVITE"))


async def test_records_catch_up_after_a_locked_then_full_database(lab: LabDeployment, sipp: Any,
                                                                  dbfs: Path) -> None:
    db_file = dbfs / "ivr.db"
    health = await asyncio.to_thread(lab.health)
    assert health is not None
    failures = health["recorder"]["failures"]

    # 1. another process holds the write lock while the calls flow
    lock = sqlite3.connect(db_file, isolation_level=None, check_same_thread=False)
    lock.execute("BEGIN EXCLUSIVE")
    try:
        answered = await calls_during(lab, sipp, "05585551001", "zhang")
        state = await eventually(lambda: recorder_failing(lab, failures), timeout=20)
        assert "locked" in state["last_error"], state
        assert await answered_by(lab, "o-zhang") == []  # nothing could be written
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    assert answered == CALLS

    calls = await all_recorded(lab, "o-zhang")
    for c in calls:
        assert (c["outcome"], c["answered_role"], [(s["kind"], s["result"]) for s in c["steps"]]) \
            == ("answered", "official", [("direct", "ANSWER")]), c
    failures = (await asyncio.to_thread(lab.health) or {})["recorder"]["failures"]

    # 2. the database's filesystem is full while the calls flow
    filler = dbfs / "filler"
    await asyncio.to_thread(fill, filler)
    try:
        answered = await calls_during(lab, sipp, "05585551002", "li")
        state = await eventually(lambda: recorder_failing(lab, failures), timeout=20)
        assert "full" in state["last_error"], state
        assert await answered_by(lab, "o-li") == []
    finally:
        filler.unlink()
    assert answered == CALLS

    calls = await all_recorded(lab, "o-li")
    assert all(c["outcome"] == "answered" for c in calls), calls
    # exactly one record per call, nothing else written twice; the recorder is healthy again
    st, body = await lab.arequest("GET", "/api/v1/calls?limit=200")
    assert st == 200 and len(body["items"]) == 2 * CALLS, body
    rec = (await asyncio.to_thread(lab.health) or {})["recorder"]
    assert rec["failing_for"] == 0 and rec["open_calls"] == 0, rec
    assert "could not record the journal" in lab.controller_log()


async def test_controller_killed_while_calls_flow(lab: LabDeployment, sipp: Any) -> None:
    """SIGKILL in the middle of a stream of calls, started again at once (as systemd would):
    every call has exactly one record, those that ended while it was down included."""
    async def kill_midway() -> None:
        async def some() -> list[dict[str, Any]] | None:
            done = await answered_by(lab, "o-zhang")
            return done if len(done) >= 2 else None
        await eventually(some, timeout=30)  # a few calls recorded, more on their way
        lab.signal_controller(signal.SIGKILL)
        lab.start_controller()
        await lab.wait_ready()
    assert await calls_during(lab, sipp, "05585551001", "zhang", kill_midway) == CALLS
    calls = await all_recorded(lab, "o-zhang")
    assert all((c["outcome"], c["number_dialed"]) == ("answered", "05585551001") for c in calls)
    st, body = await lab.arequest("GET", "/api/v1/calls?limit=200")
    assert st == 200 and len(body["items"]) == CALLS, body
