"""``ivr backup DEST``: one consistent snapshot of a deployment in one archive.

The archive ``ivr-backup-<node>-<UTC stamp>.tar.gz`` holds, in this order of capture:

- ``database.sqlite3`` (SQLite's online backup API: a consistent copy while the controller
  writes) or ``database.pgdump`` (``pg_dump -Fc``: one transaction's snapshot);
- ``voicemail/`` and ``prompts/`` (the recordings and the prompts/greetings, copied after the
  database, so every file a row names is there);
- ``journal/ivr-cel.json``: the CEL journal up to its last whole line, copied after the
  database, so a call that ended just before the snapshot (not yet recorded) is recorded
  after a restore;
- ``config/ivr.toml`` (the loaded config: its secrets) and ``asterisk-etc/`` (the rendered
  Asterisk configuration, for reference: a restore renders it again for the target);
- ``manifest.json``: what was captured, from where, with a SHA-256 of every file.

Written under a ``.partial`` name and renamed: an archive under its final name is complete.
``--keep-daily N --keep-monthly M`` then removes older archives of DEST (retention.py).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL, make_url

from ivr.calls.journal import complete_end
from ivr.core.config import Config
from ivr.ops.retention import PREFIX, SUFFIX, prune_dir

FORMAT = 1
MANIFEST = "manifest.json"
SQLITE_FILE = "database.sqlite3"
PG_FILE = "database.pgdump"
JOURNAL = "journal/ivr-cel.json"
TREES = ("voicemail", "prompts")


class BackupError(RuntimeError):
    """A backup or restore could not be made (the message says why)."""


def tree_paths(config: Config) -> dict[str, Path]:
    """The folders of files a backup carries, as the host sees them."""
    return {"voicemail": config.voicemail_dir,
            "prompts": config.host_path(config.prompts_dir_inside)}


def sqlite_path(url: URL) -> Path:
    if not url.database or url.database == ":memory:" or url.database.startswith("file:"):
        raise BackupError(f"cannot back up the SQLite database {url.database!r}: not a file")
    return Path(url.database).expanduser()


def pg_env(url: URL) -> tuple[list[str], dict[str, str]]:
    """The connection options of pg_dump/pg_restore for ``url`` (the password in the env)."""
    args = ["--host", url.host or "127.0.0.1", "--port", str(url.port or 5432),
            "--dbname", url.database or ""]
    if url.username:
        args += ["--username", url.username]
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    return args, env


def run_tool(cmd: list[str], env: dict[str, str]) -> None:
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=3600)
    except FileNotFoundError:
        raise BackupError(f"{cmd[0]} is not installed (Debian: apt-get install "
                          "postgresql-client)") from None
    if proc.returncode != 0:
        raise BackupError(f"{cmd[0]} failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")


def snapshot_database(url_text: str, out_dir: Path) -> str:
    """The database into ``out_dir``; its file name."""
    url = make_url(url_text)
    if url.get_backend_name() == "sqlite":
        src = sqlite3.connect(f"file:{sqlite_path(url)}?mode=ro", uri=True, timeout=30)
        dst = sqlite3.connect(out_dir / SQLITE_FILE)
        try:
            src.backup(dst, pages=4096)  # online: the controller goes on writing meanwhile
        finally:
            dst.close()
            src.close()
        return SQLITE_FILE
    args, env = pg_env(url)
    run_tool(["pg_dump", "--format=custom", "--no-owner", "--no-privileges",
              "--file", str(out_dir / PG_FILE), *args], env)
    return PG_FILE


def schema_revision(db_file: Path) -> str | None:
    """The Alembic revision of a SQLite snapshot (None for a dump: it is in the manifest)."""
    conn = sqlite3.connect(f"file:{db_file}?mode=ro", uri=True)
    try:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        return str(row[0]) if row else None
    except sqlite3.Error:
        return None
    finally:
        conn.close()


def copy_journal(journal: Path, dest: Path) -> int:
    """The journal's whole lines into ``dest``; how many bytes."""
    end = complete_end(journal)
    if end is None:
        return 0
    dest.parent.mkdir(parents=True, exist_ok=True)
    remaining = end["offset"]
    with open(journal, "rb") as src, open(dest, "wb") as out:
        while remaining > 0:
            chunk = src.read(min(remaining, 1 << 20))
            if not chunk:
                break
            out.write(chunk)
            remaining -= len(chunk)
    return end["offset"] - remaining


def files_of(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("*")):
        if path.is_file():
            yield path


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def stamp(now: datetime) -> str:
    return now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def capture(config: Config, staging: Path, now: datetime) -> dict[str, Any]:
    """Everything into ``staging``; the manifest (also written there)."""
    db_name = snapshot_database(config.database.url, staging)
    backend = make_url(config.database.url).get_backend_name()
    for name, src in tree_paths(config).items():
        target = staging / name
        if src.is_dir():
            shutil.copytree(src, target, ignore=shutil.ignore_patterns("*.tmp", "*.partial"))
        else:
            target.mkdir()
    journal_bytes = copy_journal(config.cel_journal, staging / JOURNAL)
    (staging / "config").mkdir()
    cfg = staging / "config" / "ivr.toml"
    cfg.write_text(config.to_toml(), encoding="utf-8")
    cfg.chmod(0o600)
    if config.asterisk_etc.is_dir():
        shutil.copytree(config.asterisk_etc, staging / "asterisk-etc", symlinks=True)
    manifest = {
        "format": FORMAT, "created_at": now.astimezone(UTC).isoformat(), "node": config.node.name,
        "database": {"backend": backend, "file": db_name,
                     "revision": schema_revision(staging / db_name) if backend == "sqlite" else None},
        "paths": {"voicemail_inside": config.voicemail_dir_inside,
                  "prompts_inside": config.prompts_dir_inside},
        "journal_bytes": journal_bytes,
        "files": {str(p.relative_to(staging)): {"size": p.stat().st_size, "sha256": sha256(p)}
                  for p in files_of(staging) if not p.is_symlink()},
    }
    (staging / MANIFEST).write_text(json.dumps(manifest, indent=1, ensure_ascii=False), "utf-8")
    return manifest


def backup(config: Config, dest: Path, now: datetime | None = None) -> tuple[Path, dict[str, Any]]:
    """Write one archive into ``dest``; its path and manifest."""
    now = now or datetime.now(UTC)
    dest.mkdir(parents=True, exist_ok=True)
    final = dest / f"{PREFIX}{config.node.name}-{stamp(now)}{SUFFIX}"
    partial = final.with_name(final.name + ".partial")
    with tempfile.TemporaryDirectory(prefix=".ivr-backup-", dir=dest) as tmp:
        staging = Path(tmp) / "b"
        staging.mkdir(mode=0o700)
        manifest = capture(config, staging, now)
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # holds secrets
        with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz",
                                                      compresslevel=6) as tar:
            for entry in sorted(staging.iterdir()):
                tar.add(entry, arcname=entry.name)
            raw.flush()
            os.fsync(raw.fileno())
    os.replace(partial, final)
    return final, manifest


def cli_backup(args: argparse.Namespace) -> int:
    """``ivr backup DEST [--keep-daily N --keep-monthly M]``."""
    config = Config.load(getattr(args, "config", None))
    try:
        path, manifest = backup(config, Path(args.dest))
    except BackupError as exc:
        print(f"ivr: backup failed: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {path} ({len(manifest['files'])} files, database {manifest['database']['backend']}, "
          f"journal {manifest['journal_bytes']} bytes)")
    if args.keep_daily or args.keep_monthly:
        for old in prune_dir(Path(args.dest), args.keep_daily, args.keep_monthly):
            print(f"removed {old} (retention: {args.keep_daily} daily, {args.keep_monthly} monthly)")
    return 0
