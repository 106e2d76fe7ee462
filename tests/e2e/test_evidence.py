"""Evidence chains on real Asterisk with real SIP calls (sipp), then ``ivr verify`` as an
administrator would run it: it passes on a fresh deployment after traffic; after one field of a
stored call is changed with sqlite3, an audit row deleted, the chain's tail truncated, it fails
naming the entry; a database rewritten with a recomputed chain passes alone but fails against
the heads published before; the heads the notification hook delivered (signed with a key kept
outside the database) verify; anonymising old caller numbers leaves ``ivr verify`` passing.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from ivr.lab import ports
from ivr.lab.deploy import REPO, LabDeployment
from tests.e2e.routing_helpers import call_record, eventually, login_operators, routing_lab

pytestmark = pytest.mark.e2e
CALLER = "13912345678"


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    """A notification-hook target: every JSON body POSTed to it."""
    got: list[dict[str, Any]] = []

    async def hook(request: web.Request) -> web.Response:
        got.append(await request.json())
        return web.Response(status=204)
    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    port = ports.free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}/hook", got
    await runner.cleanup()


@pytest.fixture
async def lab(asterisk_root: Path, tmp_path: Path,
              receiver: tuple[str, list[dict[str, Any]]]) -> AsyncIterator[LabDeployment]:
    key = tmp_path / "outside" / "heads.key"  # not in the database, not the DBA's
    key.parent.mkdir()
    key.write_text("a key the database administrator does not hold\n", encoding="utf-8")
    async for deployment in routing_lab(
            asterisk_root, tmp_path / "lab", evidence={"key_file": str(key), "seal_seconds": 0.5},
            webhooks={"urls": {"audit": receiver[0]}, "poll_seconds": 0.2}):
        yield deployment


def ivr(lab: LabDeployment, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ivr.cli", "--config",
                           str(lab.workdir / "ivr.toml"), *args],
                          capture_output=True, text=True, cwd=REPO, timeout=120)


def verify(lab: LabDeployment, *args: str) -> tuple[int, dict[str, Any]]:
    done = ivr(lab, "verify", "--json", *args)
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, json.loads(done.stdout)


def sqlite(db: Path, sql: str) -> None:
    done = subprocess.run(["sqlite3", str(db), sql], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr


async def test_verify_after_real_calls_and_what_breaks_it(
        lab: LabDeployment, sipp: Any, receiver: tuple[str, list[dict[str, Any]]],
        tmp_path: Path) -> None:
    p = lab.extra["phones"]
    await login_operators(lab, "op-1", "op-2", state="logged_out")  # audited
    phone = await sipp("uas_answer", port=p["zhang"], keys={"hold_ms": 1500}).start()
    answered = sipp("uac_call", remote=lab.sip, local_ip="127.0.0.2", service="05585551001",
                    keys={"hold_ms": 4000, "caller": CALLER})
    # nobody in the pool: the voicemail greeting, cut by the caller: a missed call, a case
    missed = sipp("uac_call", remote=lab.sip, local_ip="127.0.0.2", service="13800138003",
                  keys={"hold_ms": 3000, "caller": "13700000001"})
    for result in await asyncio.gather(answered.run(), missed.run()):
        assert result.ok, result.summary()
    assert (await phone.wait(10)).received("INVITE")
    record = await eventually(lambda: call_record(lab, "05585551001"), timeout=20)
    assert record["outcome"] == "answered" and record["caller"] == CALLER
    assert (await eventually(lambda: call_record(lab, "13800138003"), timeout=20))["outcome"]

    async def case_opened() -> bool:
        status, body = await lab.arequest("GET", "/api/v1/cases?limit=10")
        assert status == 200, body
        return bool(body["items"] if isinstance(body, dict) else body)
    await eventually(case_opened, timeout=20)

    async def intact() -> dict[str, Any] | None:  # the sealer has caught up: everything chained
        code, report = await asyncio.to_thread(verify, lab)
        return report if code == 0 else None
    report = await eventually(intact, timeout=30, interval=0.5)
    assert report["ok"] and report["problems"] == [] and report["rows"] > 20
    assert report["chains"] >= 4  # cel, call, case, audit of this node

    # the heads the notification hook delivered, signed with the key outside the database
    async def delivered() -> dict[str, Any] | None:
        return next((b for b in receiver[1] if b.get("event") == "evidence.heads"), None)
    posted = await eventually(delivered, timeout=20)
    assert posted["heads"]["signature"].startswith("hmac-sha256=")
    posted_file = tmp_path / "posted.json"
    posted_file.write_text(json.dumps(posted), encoding="utf-8")
    code, report = await asyncio.to_thread(verify, lab, "--against", str(posted_file))
    assert code == 0, report
    forged = dict(posted, heads=dict(posted["heads"], published_at="2026-01-01T00:00:00Z"))
    posted_file.write_text(json.dumps(forged), encoding="utf-8")
    code, report = await asyncio.to_thread(verify, lab, "--against", str(posted_file))
    assert code == 1 and "signature" in report["problems"][0], report

    # today's heads kept outside (ivr evidence heads), then the controller stops
    heads_file = tmp_path / "heads.json"
    done = await asyncio.to_thread(ivr, lab, "evidence", "heads", "--out", str(heads_file))
    assert done.returncode == 0 and "(signed)" in done.stdout, done
    lab.stop_controller()
    db = lab.workdir / "ivr.db"
    sqlite(db, "PRAGMA wal_checkpoint(TRUNCATE);")
    pristine = tmp_path / "pristine.db"
    shutil.copy(db, pristine)

    def fresh() -> None:
        for extra in ("-wal", "-shm"):
            Path(f"{db}{extra}").unlink(missing_ok=True)
        shutil.copy(pristine, db)

    call_id = record["id"]
    cases = [  # what an administrator does with sqlite3 → what ivr verify must name
        (f"UPDATE calls SET answered_by = 'o-li' WHERE id = {call_id};",
         f"(call {call_id}): differs from the sealed record in: answered_by"),
        ("DELETE FROM audit_log WHERE id = (SELECT max(id) FROM audit_log);",
         "deleted without a retention entry"),
        ("DELETE FROM evidence WHERE stream = 'cel' AND seq = "
         "(SELECT max(seq) FROM evidence WHERE stream = 'cel');",
         "its tail was truncated"),
    ]
    for sql, named in cases:
        fresh()
        sqlite(db, sql)
        done = await asyncio.to_thread(ivr, lab, "verify")
        assert done.returncode == 1, (sql, done.stdout)
        assert named in done.stderr.splitlines()[0], (sql, done.stderr)

    # a rewrite with a recomputed chain: consistent in itself, not with the published heads
    fresh()
    sqlite(db, f"UPDATE calls SET answered_by = 'o-li' WHERE id = {call_id}; "
               "DELETE FROM evidence; DELETE FROM evidence_heads;")
    done = await asyncio.to_thread(ivr, lab, "evidence", "seal", "--batch", "100000")
    assert done.returncode == 0, done
    assert (await asyncio.to_thread(verify, lab))[0] == 0
    code, report = await asyncio.to_thread(verify, lab, "--against", str(heads_file))
    assert code == 1 and "differs from the published head" in report["problems"][0], report

    # retention: caller numbers older than a few seconds anonymised; the chains still verify
    fresh()
    done = await asyncio.to_thread(ivr, lab, "retention", "run", "--caller-days", "0.00001",
                                   "--actor", "cli:e2e")
    assert done.returncode == 0 and "caller:" in done.stdout, done
    code, report = await asyncio.to_thread(verify, lab)
    assert code == 0, report
    # the heads published before still hold: anonymising appended, it rewrote no entry
    code, report = await asyncio.to_thread(verify, lab, "--against", str(heads_file))
    assert code == 0, report
    dump = subprocess.run(["sqlite3", str(db), "SELECT caller || caller_raw FROM calls;"
                           "SELECT count(*) FROM evidence WHERE stream = 'retention';"],
                          capture_output=True, text=True, timeout=30).stdout.split()
    assert CALLER not in dump and int(dump[-1]) >= 1, dump
