"""Secrets at rest (issue 9): phones' passwords stored only as digest HA1 (also after migrating
a database that held them in clear), and the files holding secrets private whoever writes them
and whatever the umask: ``ivr init`` (0600), the SQLite database (0600), ``ivr render`` (0640,
group of the folder)."""

from __future__ import annotations

import os
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from ivr.cli import main
from ivr.core.sipauth import sip_ha1
from ivr.db.session import upgrade

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "directory.yaml"


@pytest.fixture
def open_umask() -> Iterator[None]:
    old = os.umask(0)  # the worst case: nothing masked
    yield
    os.umask(old)


def _mode(p: Path) -> int:
    return p.stat().st_mode & 0o777


def test_files_with_secrets_are_private_whatever_the_umask(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, open_umask: None) -> None:
    for var in ("IVR_CONFIG", "IVR_DB_URL", "IVR_API_TOKEN", "IVR_API_URL"):
        monkeypatch.delenv(var, raising=False)
    cfg, db = tmp_path / "ivr.toml", tmp_path / "var" / "ivr.db"
    cfg.write_text("old", encoding="utf-8")
    cfg.chmod(0o644)
    lines: list[str] = []
    assert main(["init", "--out", str(cfg), "--force", "--db-url",
                 f"sqlite+aiosqlite:///{db}"], out=lines.append) == 0
    assert _mode(cfg) == 0o600
    assert main(["--config", str(cfg), "db", "upgrade"], out=lines.append) == 0
    assert _mode(db) == 0o600
    db.chmod(0o644)  # written by someone else: made private again at the next start
    assert main(["--config", str(cfg), "import", str(EXAMPLE), "--actor", "t",
                 "--show-secrets"], out=lines.append) == 0
    assert _mode(db) == 0o600
    secrets = dict(re.findall(r"new endpoint (\S+)  secret (\S+)", "\n".join(lines)))
    assert len(secrets) == 5, lines
    out = tmp_path / "etc"
    out.mkdir()
    (out / "pjsip.conf").write_text("stale", encoding="utf-8")
    (out / "pjsip.conf").chmod(0o644)
    assert main(["--config", str(cfg), "render", "--out", str(out)], out=lines.append) == 0
    for f in out.iterdir():
        assert _mode(f) == 0o640 and f.stat().st_gid == out.stat().st_gid, f
    assert main(["--config", str(cfg), "render", "--out", str(out)], out=lines.append) == 0
    (out / "manager.conf").chmod(0o644)  # unchanged content: still given its mode back
    assert main(["--config", str(cfg), "render", "--out", str(out)], out=lines.append) == 0
    assert _mode(out / "manager.conf") == 0o640
    # the phones' passwords are nowhere at rest: HA1s in pjsip.conf and in the database
    pjsip, dump = (out / "pjsip.conf").read_text(), db.read_bytes()
    assert "password =" not in pjsip
    for endpoint, secret in secrets.items():
        assert f"md5_cred = {sip_ha1(endpoint, secret)}\n" in pjsip
        assert secret not in pjsip and secret.encode() not in dump


def test_migration_hashes_stored_passwords(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    url = f"sqlite+aiosqlite:///{path}"
    upgrade(url, "0008")
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO officials (id, slug, name, title, department, availability, "
                     "availability_note, language, created_at) "
                     "VALUES (1, 'a', '甲', '', '', 'available', '', '', '2026-01-01 00:00:00')")
        conn.execute("INSERT INTO devices (official_id, kind, endpoint, secret, priority) "
                     "VALUES (1, 'sip', 'o-a', 'clear-password-a', 0), "
                     "(1, 'mobile', NULL, NULL, 1)")
        conn.execute("INSERT INTO pools (id, name, strategy, max_wait) VALUES (1, 'main', 'ringall', 60)")
        conn.execute("INSERT INTO operators (name, endpoint, secret, pool_id, state, paused_reason) "
                     "VALUES ('op', 'op-1', 'clear-password-op', 1, 'logged_out', '')")
    upgrade(url)
    with sqlite3.connect(path) as conn:
        devices = conn.execute("SELECT endpoint, sip_ha1 FROM devices ORDER BY id").fetchall()
        operators = conn.execute("SELECT endpoint, sip_ha1 FROM operators").fetchall()
    assert devices == [("o-a", sip_ha1("o-a", "clear-password-a")), (None, None)]
    assert operators == [("op-1", sip_ha1("op-1", "clear-password-op"))]
    assert b"clear-password" not in path.read_bytes() or _only_in_free_pages(path)


def _only_in_free_pages(path: Path) -> bool:
    """The old values may linger in SQLite's free pages until a VACUUM; none in the tables."""
    with sqlite3.connect(path) as conn:
        conn.execute("VACUUM")
    return b"clear-password" not in path.read_bytes()
