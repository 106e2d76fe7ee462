"""A second engine on the same SQLite file (the recorder's thread makes one beside the app's)
must not drop the first one's locks: another process closing its connection would then delete
the WAL under the controller, and the controller's later commits would be lost to everyone else
(CI saw the symptom: "disk I/O error" on a page read after ``ivr user add`` ran)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sqlalchemy import text

from ivr.core.config import Config
from ivr.db.session import create_engine


def _other_process(db: Path, sql: str) -> str:
    code = ("import sqlite3, sys; c = sqlite3.connect(sys.argv[1], timeout=5); "
            "r = c.execute(sys.argv[2]).fetchall(); c.commit(); c.close(); print(r)")
    return subprocess.run([sys.executable, "-c", code, str(db), sql], check=True,
                          capture_output=True, text=True, timeout=30).stdout.strip()


async def test_a_second_engine_keeps_the_first_ones_commits_visible(tmp_path: Path) -> None:
    db = tmp_path / "ivr.db"
    config = Config.build(database={"url": f"sqlite+aiosqlite:///{db}"})
    first = create_engine(config)
    try:
        async with first.begin() as conn:  # the app's engine: WAL, its connection stays pooled
            await conn.execute(text("CREATE TABLE t (x INTEGER)"))
            await conn.execute(text("INSERT INTO t VALUES (1)"))
        second = create_engine(config)  # as the recorder's thread does, in the same process
        await second.dispose()
        _other_process(db, "INSERT INTO t VALUES (2)")  # e.g. `ivr user add`, then it closes
        assert db.with_name("ivr.db-wal").exists(), "the WAL was deleted under an open connection"
        async with first.begin() as conn:
            await conn.execute(text("INSERT INTO t VALUES (3)"))
        assert _other_process(db, "SELECT x FROM t ORDER BY x") == "[(1,), (2,), (3,)]"
    finally:
        await first.dispose()
