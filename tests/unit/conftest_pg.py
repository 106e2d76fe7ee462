"""A throwaway PostgreSQL server for the DB-backed unit tests (imported by tests/unit/conftest.py).

Fixtures:
  pg_server   session; starts one cluster (Debian ``postgresql`` binaries: initdb into a temporary
              folder, pg_ctl start on a free loopback port, socket in that folder, fsync off), yields
              a :class:`PgServer`, stops it and removes the folder. As root the server runs as the
              ``postgres`` user (``runuser``). Missing binaries or asyncpg FAIL the tests (never
              skip): scripts/run-tests.sh installs the ``postgresql`` package, ``.[test]`` asyncpg.
  db_url      parametrized over ``sqlite`` and ``postgresql``: a fresh, empty database per test
              (a file under tmp_path, or a new database in the session's cluster, dropped after).
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import itertools
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from ivr.lab import ports

__all__ = ["PgServer", "pg_server", "db_url", "BACKENDS"]

BACKENDS = ("sqlite", "postgresql")
USER = "ivr"
T = TypeVar("T")
_names = itertools.count(1)


def pg_bindir() -> Path | None:
    """The folder of initdb/pg_ctl: on PATH, else the newest /usr/lib/postgresql/<v>/bin."""
    on_path = shutil.which("pg_ctl")
    if on_path and shutil.which("initdb"):
        return Path(on_path).resolve().parent
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
                   key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    return Path(found[-1]).parent if found else None


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from sync code, even when an event loop is running here."""
    result: list[T] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            result.append(asyncio.run(coro))
        except BaseException as exc:  # re-raised in the caller's thread
            errors.append(exc)
    thread = threading.Thread(target=target, name="pg-admin")
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return result[0]


@dataclass
class PgServer:
    bindir: Path
    root: Path
    port: int
    as_user: list[str]
    started_in: float = 0.0

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def log(self) -> Path:
        return self.root / "server.log"

    def url(self, database: str) -> str:
        return f"postgresql+asyncpg://{USER}@127.0.0.1:{self.port}/{database}"

    def _run(self, *cmd: str) -> None:
        proc = subprocess.run([*self.as_user, *cmd], capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            tail = self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""
            raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}"
                               f"{proc.stderr}\n{tail}")

    def start(self) -> None:
        t0 = time.monotonic()
        self._run(str(self.bindir / "initdb"), "-D", str(self.data), "-U", USER, "-A", "trust",
                  "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions")
        self.launch()
        self.started_in = time.monotonic() - t0

    def launch(self) -> None:
        """Start the server on its existing data folder (after :meth:`stop`: a restart)."""
        options = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.log),
                  "-o", options, "-w", "-t", "60", "start")

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate",
                      "-w", "stop")

    async def _admin(self, sql: str) -> None:
        import asyncpg

        conn = await asyncpg.connect(host="127.0.0.1", port=self.port, user=USER,
                                     database="postgres")
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    def create_database(self) -> str:
        name = f"t{os.getpid()}_{next(_names)}"
        run_sync(self._admin(f'CREATE DATABASE "{name}"'))
        return name

    def drop_database(self, name: str) -> None:
        run_sync(self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    @contextlib.contextmanager
    def database(self) -> Iterator[str]:
        """The URL of a new empty database, dropped afterwards."""
        name = self.create_database()
        try:
            yield self.url(name)
        finally:
            self.drop_database(name)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    bindir = pg_bindir()
    if bindir is None:
        pytest.fail("PostgreSQL server binaries (initdb, pg_ctl) not found: install the Debian "
                    "package `postgresql` (scripts/run-tests.sh does)", pytrace=False)
    try:
        import asyncpg  # noqa: F401
    except ImportError:
        pytest.fail("asyncpg is not installed: pip install -e '.[test]'", pytrace=False)
    as_user: list[str] = []
    parent = None
    if os.geteuid() == 0:  # initdb and postgres refuse to run as root
        as_user, parent = ["runuser", "-u", "postgres", "--"], "/tmp"
    root = Path(tempfile.mkdtemp(prefix="ivr-pg-", dir=parent))
    if as_user:
        shutil.chown(root, "postgres", "postgres")
    server = PgServer(bindir, root, ports.free_port(), as_user)
    try:
        server.start()
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
        shutil.rmtree(root, ignore_errors=True)
        pytest.fail(f"could not start a PostgreSQL server ({bindir}): {exc}", pytrace=False)
    try:
        yield server
    finally:
        try:
            server.stop()
        finally:
            ports.release(server.port)
            shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh empty database, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'ivr.db'}"
        return
    server: PgServer = request.getfixturevalue("pg_server")
    with server.database() as url:
        yield url
