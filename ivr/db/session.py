"""Async engine and session factory; Alembic migrations run programmatically.

SQLite (``sqlite+aiosqlite:///path``) by default, PostgreSQL (``postgresql+asyncpg://…``) by URL;
``postgresql://…`` means asyncpg too (the only async PostgreSQL driver we install: extra ``postgres``).
On SQLite every connection gets WAL, foreign keys and a 5 s busy timeout, so the controller and
the CLI can share one database file.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
import os
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import event, pool, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from ivr.core.config import Config, ConfigError
from ivr.core.errors import IvrError

__all__ = ["Db", "create_engine", "make_sessionmaker", "snapshot", "upgrade", "upgrade_async",
           "MIGRATIONS_DIR", "database_url"]

Db = async_sessionmaker[AsyncSession]
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# pg_advisory_lock key held around `alembic upgrade`: controllers starting together on one
# PostgreSQL database migrate one after the other (the second then finds nothing to do)
MIGRATION_LOCK_KEY = 0x1F0C_0006_0001
log = logging.getLogger(__name__)


def _is_sqlite(url: URL) -> bool:
    return url.get_backend_name() == "sqlite"


def database_url(db_url: str | URL) -> URL:
    """The URL to connect with: ``postgresql://`` gets the asyncpg driver; a clear error when the
    driver is not installed (rather than an import error deep in SQLAlchemy)."""
    url = make_url(db_url)
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+asyncpg")
    if url.drivername == "postgresql+asyncpg" and importlib.util.find_spec("asyncpg") is None:
        raise ConfigError("db_url is PostgreSQL but asyncpg is not installed: "
                          "pip install 'ivr[postgres]'")
    return url


def ensure_sqlite_dir(db_url: str | URL) -> None:
    """Create the folder of a SQLite database file if it is missing, and the file itself with
    mode 0600 (it holds the directory, call records, accounts): SQLite gives its -wal and -shm
    files the database file's mode. An existing file is made 0600 too, whoever created it.

    An existing file is never opened here: closing any descriptor of a file drops every POSIX
    lock this process holds on it, SQLite's included. Another process would then take itself
    for the last connection and delete the WAL under this one, whose later commits would go to
    an unlinked file (lost to every other process; seen as "disk I/O error" by readers)."""
    url = make_url(db_url)
    if not _is_sqlite(url):
        return
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return
    path = Path(database).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    for f in (path, path.with_name(f"{path.name}-wal"), path.with_name(f"{path.name}-shm")):
        with contextlib.suppress(FileNotFoundError):
            os.chmod(f, 0o600)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=5000")
    finally:
        cursor.close()


def create_engine(config: Config, **kwargs: Any) -> AsyncEngine:
    """The async engine for ``config.database.url`` (extra keyword arguments go to SQLAlchemy)."""
    url = database_url(config.database.url)
    if _is_sqlite(url):
        ensure_sqlite_dir(url)
        kwargs.setdefault("connect_args", {}).setdefault("timeout", 5)
    else:
        kwargs.setdefault("pool_pre_ping", True)
    engine = create_async_engine(url, **kwargs)
    if _is_sqlite(url):
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def make_sessionmaker(engine: AsyncEngine) -> Db:
    return async_sessionmaker(engine, expire_on_commit=False)


@contextlib.asynccontextmanager
async def snapshot(db: Db) -> AsyncIterator[AsyncSession]:
    """A read-only session whose queries all see one committed state, for a view assembled from
    several queries (a case, its history and its message's job): without it, a writer committing
    between two of them shows the reader half of a change.

    SQLite's Python driver starts no transaction before a SELECT, so each query would read its own
    snapshot: an explicit deferred ``BEGIN`` makes the first read take one for the session (WAL
    readers block nobody). PostgreSQL's default READ COMMITTED does the same per statement: the
    transaction is REPEATABLE READ, READ ONLY. Rolled back at the end (nothing to keep)."""
    async with db() as session:
        conn = await session.connection()
        if conn.dialect.name == "sqlite":
            await conn.exec_driver_sql("BEGIN")
        else:
            await conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield session


def _alembic_config(db_url: str) -> Any:
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    # passed as an attribute, not a main option: ConfigParser would interpolate '%' in passwords
    cfg.attributes["db_url"] = db_url
    return cfg


@contextlib.contextmanager
def migration_lock(db_url: str | URL) -> Iterator[None]:
    """On PostgreSQL: hold ``pg_advisory_lock(MIGRATION_LOCK_KEY)`` on a connection of its own
    (released at exit, or by the server if this process dies). Nothing to do on SQLite, where
    the migration's own write transaction serialises writers. Runs its own event loop: call it
    from a thread without a running loop (as ``_upgrade_here`` is)."""
    url = database_url(db_url)
    if _is_sqlite(url):
        yield
        return
    loop = asyncio.new_event_loop()
    engine = create_async_engine(url, poolclass=pool.NullPool)
    try:
        conn = loop.run_until_complete(engine.connect())
        try:
            got = loop.run_until_complete(conn.scalar(
                text("SELECT pg_try_advisory_lock(:k)"), {"k": MIGRATION_LOCK_KEY}))
            if not got:
                log.info("another controller is migrating the database; waiting for it")
                loop.run_until_complete(conn.execute(text("SELECT pg_advisory_lock(:k)"),
                                                     {"k": MIGRATION_LOCK_KEY}))
            loop.run_until_complete(conn.commit())  # the lock is the session's, not the txn's
            yield
        finally:
            with contextlib.suppress(Exception):
                loop.run_until_complete(conn.execute(text("SELECT pg_advisory_unlock(:k)"),
                                                     {"k": MIGRATION_LOCK_KEY}))
            loop.run_until_complete(conn.close())
    finally:
        loop.run_until_complete(engine.dispose())
        loop.close()


def _upgrade_here(db_url: str, revision: str) -> None:
    from alembic import command

    url = database_url(db_url)
    ensure_sqlite_dir(url)
    with migration_lock(url):
        command.upgrade(_alembic_config(url.render_as_string(hide_password=False)), revision)


def upgrade(db_url: str, revision: str = "head") -> None:
    """Run the Alembic migrations up to ``revision`` (default: head).

    Safe to call from inside a running event loop (it then runs in a helper thread, since the
    migration environment drives its own loop); from async code prefer :func:`upgrade_async`.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        _upgrade_here(db_url, revision)
        return
    errors: list[BaseException] = []

    def run() -> None:
        try:
            _upgrade_here(db_url, revision)
        except BaseException as exc:  # re-raised in the caller's thread
            errors.append(exc)

    thread = threading.Thread(target=run, name="ivr-db-upgrade")
    thread.start()
    thread.join()
    if errors:
        raise errors[0]


async def upgrade_async(db_url: str, revision: str = "head") -> None:
    await asyncio.to_thread(_upgrade_here, db_url, revision)


async def with_db(config: Config, work: Callable[[Db], Awaitable[int]]) -> int:
    """Run ``work`` with a session factory on the deployment's database (command-line tools)."""
    engine = create_engine(config)
    try:
        return await work(make_sessionmaker(engine))
    except (OperationalError, ProgrammingError) as exc:  # missing tables: SQLite / PostgreSQL
        raise IvrError(f"database error ({exc.orig}); has `ivr db upgrade` been run?") from None
    finally:
        await engine.dispose()
