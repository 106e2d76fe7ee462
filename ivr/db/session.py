"""Async engine and session factory; Alembic migrations run programmatically.

SQLite (``sqlite+aiosqlite:///path``) by default, PostgreSQL (``postgresql+asyncpg://…``) by URL.
On SQLite every connection gets WAL, foreign keys and a 5 s busy timeout, so the controller and
the CLI can share one database file.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.ext.asyncio import create_async_engine

from ivr.config import Config

__all__ = ["Db", "create_engine", "make_sessionmaker", "upgrade", "upgrade_async", "MIGRATIONS_DIR"]

Db = async_sessionmaker[AsyncSession]
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def _is_sqlite(url: URL) -> bool:
    return url.get_backend_name() == "sqlite"


def ensure_sqlite_dir(db_url: str | URL) -> None:
    """Create the folder of a SQLite database file if it is missing."""
    url = make_url(db_url)
    if not _is_sqlite(url):
        return
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return
    Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=5000")
    finally:
        cursor.close()


def create_engine(config: Config, **kwargs: Any) -> AsyncEngine:
    """The async engine for ``config.db_url`` (extra keyword arguments go to SQLAlchemy)."""
    url = make_url(config.db_url)
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


def _alembic_config(db_url: str) -> Any:
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    # passed as an attribute, not a main option: ConfigParser would interpolate '%' in passwords
    cfg.attributes["db_url"] = db_url
    return cfg


def _upgrade_here(db_url: str, revision: str) -> None:
    from alembic import command

    ensure_sqlite_dir(db_url)
    command.upgrade(_alembic_config(db_url), revision)


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
