"""``ivr backup`` / ``ivr restore`` on real databases (SQLite, PostgreSQL via pg_dump/pg_restore)
and real files; the retention of archives. Under load, with Asterisk: tests/e2e/test_backup_restore.py.
"""

from __future__ import annotations

import gzip
import io
import json
import socket
import sqlite3
import tarfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from conftest_pg import PgServer, run_sync
from sqlalchemy import func, select

from ivr.cli import main
from ivr.core.config import Config
from ivr.db.followup_models import Voicemail
from ivr.db.models import Official
from ivr.db.session import MIGRATIONS_DIR, create_engine, make_sessionmaker, upgrade
from ivr.lab import ports
from ivr.ops.retention import prune_dir, to_keep

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "directory.yaml"


def _config(tmp: Path, name: str, url: str) -> Path:
    root = tmp / f"root-{name}"
    (root / f"inst-{name}" / "etc").mkdir(parents=True)
    path = tmp / f"{name}.toml"
    path.write_text(f'[database]\nurl = "{url}"\n[http]\napi_token = "tok-{name}"\n'
                    f'port = {ports.free_port()}\n'
                    f'[ami]\nsecret = "s-{name}"\n'
                    f'[asterisk]\nroot = "{root}"\ninstance = "/inst-{name}"\n', encoding="utf-8")
    return path


@pytest.fixture
def target_url(db_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A second empty database of the same backend as ``db_url``."""
    if db_url.startswith("sqlite"):
        yield f"sqlite+aiosqlite:///{tmp_path / 'target.db'}"
        return
    server: PgServer = request.getfixturevalue("pg_server")
    with server.database() as url:
        yield url


def run(cfg: Path, *args: str) -> int:
    return main(["--config", str(cfg), *args], out=lambda _line: None)


async def _seed_voicemail(config: Config) -> None:
    engine = create_engine(config)
    try:
        async with make_sessionmaker(engine)() as s, s.begin():
            s.add(Voicemail(path=f"{config.voicemail_dir_inside}/m1.wav", linkedid="L1"))
    finally:
        await engine.dispose()


async def _state(config: Config) -> tuple[int, list[str]]:
    engine = create_engine(config)
    try:
        async with make_sessionmaker(engine)() as s:
            officials = await s.scalar(select(func.count()).select_from(Official))
            paths = list(await s.scalars(select(Voicemail.path)))
    finally:
        await engine.dispose()
    return int(officials or 0), paths


def test_backup_and_restore_round_trip(db_url: str, target_url: str, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IVR_CONFIG", raising=False)
    a_cfg, b_cfg = _config(tmp_path, "a", db_url), _config(tmp_path, "b", target_url)
    a, b = Config.load(a_cfg), Config.load(b_cfg)
    assert run(a_cfg, "db", "upgrade") == 0 and run(a_cfg, "import", str(EXAMPLE)) == 0
    run_sync(_seed_voicemail(a))
    a.voicemail_dir.mkdir(parents=True)
    (a.voicemail_dir / "m1.wav").write_bytes(b"RIFF-audio")
    prompts = a.host_path(a.prompts_dir_inside) / "zh"
    prompts.mkdir(parents=True)
    (prompts / "greeting.wav").write_bytes(b"RIFF-greeting")
    a.cel_journal.parent.mkdir(parents=True)
    a.cel_journal.write_bytes(b'{"e": 1}\n{"e": 2}\n{"e": 3, "cut sh')  # a line being written

    # the evidence chains (issue 13) travel in the database: sealed and published before
    assert run(a_cfg, "evidence", "seal") == 0
    heads = tmp_path / "heads.json"
    assert run(a_cfg, "evidence", "heads", "--out", str(heads)) == 0
    assert json.loads(heads.read_text(encoding="utf-8"))["heads"]  # the import's audit entries

    dest = tmp_path / "backups"
    assert run(a_cfg, "backup", str(dest)) == 0
    (archive,) = dest.glob("ivr-backup-*.tar.gz")
    assert archive.stat().st_mode & 0o077 == 0  # it holds the secrets

    assert run(b_cfg, "restore", str(dest)) == 0
    officials, paths = run_sync(_state(b))
    assert officials == 5
    assert paths == [f"{b.voicemail_dir_inside}/m1.wav"]  # moved to the target's folder
    assert (b.voicemail_dir / "m1.wav").read_bytes() == b"RIFF-audio"
    assert (b.host_path(b.prompts_dir_inside) / "zh" / "greeting.wav").read_bytes() == b"RIFF-greeting"
    assert b.cel_journal.read_bytes() == b'{"e": 1}\n{"e": 2}\n'
    assert "[op-1]" in (b.asterisk_etc / "pjsip.conf").read_text()  # the restored directory
    assert 's-b' in (b.asterisk_etc / "manager.conf").read_text()  # rendered for the target
    # the restored chains verify, and still hold the heads published before the backup
    assert run(b_cfg, "verify", "--against", str(heads)) == 0

    # never under a running controller (its HTTP port answers)
    with socket.create_server((b.http.host, b.http.port)):
        assert run(b_cfg, "restore", str(archive), "--force") == 1
    # a database that holds officials is replaced only with --force
    assert run(b_cfg, "restore", str(archive)) == 1
    assert run(b_cfg, "restore", str(archive), "--force") == 0
    assert run_sync(_state(b))[0] == 5


def test_restore_refuses_a_damaged_archive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IVR_CONFIG", raising=False)
    a_cfg = _config(tmp_path, "a", f"sqlite+aiosqlite:///{tmp_path / 'a.db'}")
    b_cfg = _config(tmp_path, "b", f"sqlite+aiosqlite:///{tmp_path / 'b.db'}")
    assert run(a_cfg, "db", "upgrade") == 0 and run(a_cfg, "import", str(EXAMPLE)) == 0
    assert run(a_cfg, "backup", str(tmp_path / "bk")) == 0
    (archive,) = (tmp_path / "bk").glob("*.tar.gz")
    damaged = tmp_path / "damaged.tar.gz"
    with tarfile.open(archive) as src, gzip.open(damaged, "wb") as raw, \
            tarfile.open(fileobj=raw, mode="w") as dst:
        for member in src.getmembers():
            data = src.extractfile(member) if member.isfile() else None
            if member.name == "config/ivr.toml" and data is not None:
                body = data.read().replace(b"tok-a", b"tok-x")
                member.size = len(body)
                dst.addfile(member, io.BytesIO(body))
                continue
            dst.addfile(member, data)
    assert run(b_cfg, "restore", str(damaged)) == 1
    assert not Path(tmp_path / "b.db").exists() or run_sync(_state(Config.load(b_cfg)))[0] == 0
    assert run(b_cfg, "restore", str(tmp_path / "nothing-here")) == 1


def test_retention_keeps_the_newest_of_each_day_and_month(tmp_path: Path) -> None:
    start = datetime(2026, 1, 1, 2, 0, tzinfo=UTC)
    stamps = [start + timedelta(hours=12 * i) for i in range(120)]  # two a day, 60 days
    keep = to_keep(stamps, daily=7, monthly=3)
    days = sorted({t.date() for t in keep})
    assert max(stamps) in keep
    # the newest of each of the last 7 days, plus the newest of January (February's is in)
    assert len(keep) == 8 and days[-7:] == sorted({t.date() for t in stamps})[-7:]
    assert datetime(2026, 1, 31, 14, 0, tzinfo=UTC) in keep
    assert to_keep(stamps, 0, 0) == {max(stamps)}

    for t in stamps[-4:]:
        (tmp_path / f"ivr-backup-node-1-{t.strftime('%Y%m%dT%H%M%SZ')}.tar.gz").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("kept")
    removed = prune_dir(tmp_path, daily=1, monthly=0)
    assert [p.name[-23:] for p in removed] == [t.strftime("%Y%m%dT%H%M%SZ") + ".tar.gz"
                                               for t in stamps[-4:-1]]
    assert sorted(p.name for p in tmp_path.iterdir())[0] == "ivr-backup-node-1-" + \
        stamps[-1].strftime("%Y%m%dT%H%M%SZ") + ".tar.gz"


def test_an_older_schema_is_upgraded_by_the_restore(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IVR_CONFIG", raising=False)
    a_cfg = _config(tmp_path, "a", f"sqlite+aiosqlite:///{tmp_path / 'a.db'}")
    b_cfg = _config(tmp_path, "b", f"sqlite+aiosqlite:///{tmp_path / 'b.db'}")
    upgrade(Config.load(a_cfg).database.url, "0011")  # a deployment of an older version
    assert run(a_cfg, "backup", str(tmp_path / "bk")) == 0
    (archive,) = (tmp_path / "bk").glob("*.tar.gz")
    with tarfile.open(archive) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
    assert manifest["database"]["revision"] == "0011"
    assert run(b_cfg, "restore", str(archive)) == 0
    con = sqlite3.connect(tmp_path / "b.db")
    try:
        (revision,) = con.execute("SELECT version_num FROM alembic_version").fetchone()
    finally:
        con.close()
    assert revision == ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head() != "0011"
