"""``ivr restore SRC``: a backup archive (or the newest one of a folder) back into a deployment.

The target is the deployment of ``--config`` (or, with ``--write-config PATH``, the backup's own
config written to PATH first: a new machine with the old one's secrets and paths). The
controller of the target must be stopped (a restore refuses while its HTTP port answers).

Steps: check every file against the manifest; put the database in place (SQLite: the online
backup API into the target file; PostgreSQL: ``pg_restore --clean``) and migrate it to this
version's head (a backup of an older version is upgraded); copy the recordings and prompts
into the target's folders and move the recordings' paths when the target's Asterisk instance
folder differs; copy the CEL journal when the target has none; render the Asterisk
configuration for the target. A target database that already holds officials or calls is
replaced only with ``--force``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import sqlite3
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.engine import make_url

from ivr.asterisk.render import render_all, write_all
from ivr.core.config import Config
from ivr.db.followup_models import Voicemail
from ivr.db.models import Call, Official
from ivr.db.session import Db, create_engine, make_sessionmaker, upgrade
from ivr.directory.asterisk_input import load_render_input
from ivr.ops.backup import (
    JOURNAL,
    MANIFEST,
    PG_FILE,
    SQLITE_FILE,
    BackupError,
    pg_env,
    run_tool,
    sha256,
    sqlite_path,
    tree_paths,
)
from ivr.ops.retention import taken_at


def pick(src: Path) -> Path:
    """``src`` itself, or the newest archive of the folder ``src``."""
    if src.is_dir():
        archives = sorted((t, p) for p in src.iterdir() if (t := taken_at(p.name)) is not None)
        if not archives:
            raise BackupError(f"no backup archive (ivr-backup-*.tar.gz) in {src}")
        return archives[-1][1]
    if not src.is_file():
        raise BackupError(f"{src}: no such backup archive")
    return src


def unpack(archive: Path, into: Path) -> dict[str, Any]:
    """Extract and check every file against the manifest; the manifest."""
    with tarfile.open(archive, "r:gz") as tar:
        tar.extractall(into, filter="data")  # no absolute paths, no links out of ``into``
    try:
        manifest: dict[str, Any] = json.loads((into / MANIFEST).read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise BackupError(f"{archive}: no readable manifest ({exc})") from None
    for name, meta in manifest["files"].items():
        path = into / name
        if not path.is_file() or sha256(path) != meta["sha256"]:
            raise BackupError(f"{archive}: {name} is missing or damaged (SHA-256 differs)")
    return manifest


def controller_answers(config: Config) -> bool:
    """Whether the target's controller is running (its HTTP port accepts a connection)."""
    try:
        with socket.create_connection((config.http.host, config.http.port), timeout=1):
            return True
    except OSError:
        return False


async def _count(db: Db) -> int:
    async with db() as s:
        officials = await s.scalar(select(func.count()).select_from(Official)) or 0
        calls = await s.scalar(select(func.count()).select_from(Call)) or 0
    return int(officials) + int(calls)


async def target_in_use(config: Config) -> bool:
    """Whether the target database already holds officials or calls (False: absent, empty)."""
    engine = create_engine(config)
    try:
        return await _count(make_sessionmaker(engine)) > 0
    except Exception:  # noqa: BLE001 - no schema yet (a new database): nothing to lose
        return False
    finally:
        await engine.dispose()


def restore_database(url_text: str, unpacked: Path, manifest: dict[str, Any]) -> None:
    url = make_url(url_text)
    backend = manifest["database"]["backend"]
    if backend != url.get_backend_name():
        raise BackupError(f"the backup holds a {backend} database, the target is "
                          f"{url.get_backend_name()}: restore into a {backend} database")
    if backend == "sqlite":
        target = sqlite_path(url)
        target.parent.mkdir(parents=True, exist_ok=True)
        src = sqlite3.connect(unpacked / SQLITE_FILE)
        dst = sqlite3.connect(target, timeout=30)
        try:
            src.backup(dst)  # replaces the target's pages, its WAL included
        finally:
            dst.close()
            src.close()
        return
    args, env = pg_env(url)
    run_tool(["pg_restore", "--clean", "--if-exists", "--no-owner", "--no-privileges",
              "--single-transaction", "--exit-on-error", *args, str(unpacked / PG_FILE)], env)


async def rewrite_paths(config: Config, old_inside: str) -> int:
    """Recordings' paths under the backup's voicemail folder, moved to the target's."""
    new_inside = config.voicemail_dir_inside
    if old_inside == new_inside:
        return 0
    engine = create_engine(config)
    n = 0
    try:
        async with make_sessionmaker(engine)() as s, s.begin():
            for table, column in ((Voicemail, Voicemail.path), (Call, Call.voicemail_file)):
                result = await s.execute(
                    update(table).where(column.startswith(old_inside + "/"))
                    .values({column: func.replace(column, old_inside + "/", new_inside + "/")})
                    .execution_options(synchronize_session=False))
                n += int(getattr(result, "rowcount", 0) or 0)
    finally:
        await engine.dispose()
    return n


async def render_asterisk(config: Config) -> int:
    engine = create_engine(config)
    try:
        files = render_all(await load_render_input(make_sessionmaker(engine), config))
    finally:
        await engine.dispose()
    write_all(files, config.asterisk_etc)
    return len(files)


def restore_files(config: Config, unpacked: Path) -> dict[str, int]:
    counts = {}
    for name, target in tree_paths(config).items():
        src = unpacked / name
        target.mkdir(parents=True, exist_ok=True)
        shutil.copytree(src, target, dirs_exist_ok=True)
        counts[name] = sum(1 for p in src.rglob("*") if p.is_file())
    journal = config.cel_journal
    if (unpacked / JOURNAL).is_file() and (not journal.exists() or journal.stat().st_size == 0):
        journal.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(unpacked / JOURNAL, journal)  # read from its start: a new inode
        counts["journal"] = 1
    return counts


def write_config(unpacked: Path, path: Path, force: bool) -> None:
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if force else os.O_EXCL)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        raise BackupError(f"{path} exists; not overwritten (--force replaces it)") from None
    with os.fdopen(fd, "wb") as fh:
        fh.write((unpacked / "config" / "ivr.toml").read_bytes())


def restore(config_path: str | None, src: Path, *, write_to: Path | None = None,
            force: bool = False) -> dict[str, Any]:
    archive = pick(src)
    with tempfile.TemporaryDirectory(prefix="ivr-restore-") as tmp:
        unpacked = Path(tmp)
        manifest = unpack(archive, unpacked)
        if write_to is not None:
            write_config(unpacked, write_to, force)
            config_path = str(write_to)
        config = Config.load(config_path)
        if controller_answers(config):
            raise BackupError(f"a controller answers on {config.http.host}:{config.http.port}: "
                              "stop it first (the restore replaces its database under it)")
        if not force and asyncio.run(target_in_use(config)):
            raise BackupError("the target database already holds officials or calls; stop its "
                              "controller and pass --force to replace it")
        restore_database(config.database.url, unpacked, manifest)
        upgrade(config.database.url)
        moved = asyncio.run(rewrite_paths(config, manifest["paths"]["voicemail_inside"]))
        counts = restore_files(config, unpacked)
    rendered = asyncio.run(render_asterisk(config))
    return {"archive": str(archive), "created_at": manifest["created_at"],
            "node": manifest["node"], "files": counts, "paths_rewritten": moved,
            "rendered": rendered}


def cli_restore(args: argparse.Namespace) -> int:
    """``ivr restore SRC [--write-config PATH] [--force]``."""
    try:
        done = restore(getattr(args, "config", None), Path(args.src),
                       write_to=Path(args.write_config) if args.write_config else None,
                       force=args.force)
    except BackupError as exc:
        print(f"ivr: restore failed: {exc}", file=sys.stderr)
        return 1
    print(f"restored {done['archive']} (taken {done['created_at']} on {done['node']}): "
          + ", ".join(f"{v} {k}" for k, v in done["files"].items())
          + f"; {done['paths_rewritten']} recording paths moved; {done['rendered']} Asterisk "
          "files rendered. Start Asterisk, then the controller.")
    return 0
