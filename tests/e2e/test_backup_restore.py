"""Backup under load, restore into a fresh folder: real Asterisk, real SIP calls (sipp), on
SQLite and on PostgreSQL.

A stream of calls flows through deployment A; once some are recorded, ``ivr backup`` runs while
the others are still ringing. A is then stopped. Deployment B — a fresh folder with its own
ports, Asterisk instance and empty database — is restored from the archive with ``ivr
restore``; its Asterisk and controller start, every record A had before the backup is there,
and a new call routes to the official's phone and is recorded.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ivr.cli import main
from ivr.lab import ports
from ivr.lab.deploy import LabDeployment, create_lab
from tests.e2e.routing_helpers import DIRECTORY, PHONES, eventually, make_lab
from tests.unit.conftest_pg import PgServer, pg_server  # noqa: F401 - the cluster fixture

pytestmark = pytest.mark.e2e
CALLS = 8
NUMBER = "05585551001"  # 张伟, direct to o-zhang


@pytest.fixture(params=["sqlite", "postgresql"])
def databases(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[dict[str, str], dict[str, str]]]:
    """The database sections of A and B: two SQLite files, or two PostgreSQL databases."""
    if request.param == "sqlite":
        yield ({"url": f"sqlite+aiosqlite:///{tmp_path / 'a.db'}"},
               {"url": f"sqlite+aiosqlite:///{tmp_path / 'b.db'}"})
        return
    server: PgServer = request.getfixturevalue("pg_server")
    with server.database() as a, server.database() as b:
        yield {"url": a}, {"url": b}


async def records(lab: LabDeployment) -> list[dict[str, Any]]:
    st, body = await lab.arequest("GET", "/api/v1/calls?limit=200")
    assert st == 200, body
    return [c for c in body["items"] if c.get("outcome")]


async def test_backup_under_load_then_restore_into_a_fresh_folder(
        asterisk_root: Path, tmp_path: Path, sipp: Any,
        databases: tuple[dict[str, str], dict[str, str]]) -> None:
    phone_ports = dict(zip(PHONES, ports.free_ports(len(PHONES)), strict=True))
    a = await make_lab(asterisk_root, tmp_path / "a", phone_ports, database=databases[0])
    b: LabDeployment | None = None
    dest = tmp_path / "backups"
    try:
        uas = await sipp("uas_answer", port=phone_ports["zhang"], calls=CALLS,
                         keys={"hold_ms": 300}, timeout=90).start()
        uac = await sipp("uac_call", remote=a.sip, local_ip="127.0.0.2", service=NUMBER,
                         calls=CALLS, rate=0.7, keys={"hold_ms": 1500}, timeout=90).start()
        before = await eventually(lambda: _at_least(a, 3), timeout=40)
        rc = await asyncio.to_thread(main, ["--config", str(a.workdir / "ivr.toml"), "backup",
                                            str(dest)])
        assert rc == 0
        assert len(await records(a)) < CALLS  # the backup ran while calls were still flowing
        result = await uac.wait(90)
        assert result.ok and result.successful == CALLS, result.summary()
        await uas.wait(10)
        archives = sorted(dest.glob("ivr-backup-*.tar.gz"))
        assert len(archives) == 1, archives
        a.close()

        # B: a fresh folder, its own ports and Asterisk instance, an empty database
        b = await create_lab(asterisk_root, tmp_path / "b", DIRECTORY.format(**phone_ports),
                             import_directory=False, start_asterisk=False, database=databases[1])
        assert b.config.voicemail_dir_inside != a.config.voicemail_dir_inside
        rc = await asyncio.to_thread(main, ["--config", str(b.workdir / "ivr.toml"), "restore",
                                            str(dest)])
        assert rc == 0
        b.asterisk.start()
        b.start_controller()
        await b.wait_ready()

        wanted = {c["linkedid"]: c for c in before}
        async def restored() -> dict[str, Any] | None:
            have = {c["linkedid"]: c for c in await records(b)}
            return have if set(wanted) <= set(have) else None
        have = await eventually(restored, timeout=30)
        for linkedid, c in wanted.items():
            got = have[linkedid]
            assert (got["outcome"], got["answered_by"], got["number_dialed"], got["steps"]) == \
                (c["outcome"], c["answered_by"], c["number_dialed"], c["steps"]), (got, c)

        # B routes: a new call reaches 张伟's phone and is recorded
        uas = await sipp("uas_answer", port=phone_ports["zhang"], calls=1, keys={"hold_ms": 300},
                         timeout=30).start()
        uac = await sipp("uac_call", remote=b.sip, local_ip="127.0.0.2", service=NUMBER, calls=1,
                         keys={"hold_ms": 500}, timeout=30).start()
        result = await uac.wait(30)
        assert result.ok and result.successful == 1, result.summary()
        assert len((await uas.wait(10)).received("INVITE")) == 1

        async def new_record() -> list[dict[str, Any]] | None:
            fresh = [c for c in await records(b) if c["linkedid"] not in have
                     and c["answered_by"] == "o-zhang"]
            return fresh or None
        await eventually(new_record, timeout=20)
    finally:
        for lab in (a, b):
            if lab is not None:
                lab.close()
                print(lab.controller_log()[-4000:])
                lab.asterisk.remove()


async def _at_least(lab: LabDeployment, n: int) -> list[dict[str, Any]] | None:
    done = [c for c in await records(lab) if c["answered_by"] == "o-zhang"]
    return done if len(done) >= n else None
