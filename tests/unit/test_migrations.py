"""Alembic migrations: run to head on a fresh database (SQLite and PostgreSQL), match the models;
SQLite: missing folder created, pragmas applied."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from ivr.core.config import Config
from ivr.db.models import Base
from ivr.db.session import create_engine, upgrade, upgrade_async


def _sync_url(path: Path) -> str:
    return f"sqlite:///{path}"


def _head() -> str:
    from alembic.script import ScriptDirectory

    from ivr.db.session import MIGRATIONS_DIR

    head = ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()
    assert head is not None
    return head


def test_upgrade_creates_missing_folder_and_all_tables(tmp_path: Path) -> None:
    db = tmp_path / "nested" / "dir" / "ivr.db"
    upgrade(f"sqlite+aiosqlite:///{db}")
    assert db.exists()
    engine = create_sync_engine(_sync_url(db))
    try:
        tables = set(inspect(engine).get_table_names())
        with engine.connect() as conn:
            version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    finally:
        engine.dispose()
    assert set(Base.metadata.tables) <= tables
    assert version == _head()


def _schema(conn: Connection) -> dict[str, list[tuple[str, str]]]:
    insp = inspect(conn)
    return {t: sorted((c["name"], str(c["type"])) for c in insp.get_columns(t))
            for t in insp.get_table_names()}


async def test_upgrade_is_idempotent(db_url: str) -> None:
    """A second upgrade at head changes nothing: same version, same tables and columns, and
    the rows written in between are still there."""
    upgrade(db_url)
    engine = create_engine(Config.build(database={"url": db_url}))
    try:
        async with engine.begin() as conn:
            first = await conn.run_sync(_schema)
            await conn.execute(text("INSERT INTO settings (key, value) VALUES ('probe', '[1]')"))
        upgrade(db_url)
        async with engine.connect() as conn:
            second = await conn.run_sync(_schema)
            version = (await conn.execute(text("SELECT version_num FROM alembic_version"))).all()
            probe = (await conn.execute(text("SELECT value FROM settings WHERE key = 'probe'"))).all()
    finally:
        await engine.dispose()
    assert set(Base.metadata.tables) <= set(first)
    assert second == first
    assert [tuple(v) for v in version] == [(_head(),)]
    assert len(probe) == 1 and probe[0][0] in ([1], "[1]")


def _diff(conn: Connection) -> list[Any]:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    ctx = MigrationContext.configure(conn, opts={"compare_type": True})
    return list(compare_metadata(ctx, Base.metadata))


async def test_migrations_match_models(db_url: str) -> None:
    """Autogenerate finds nothing to do: 0001 (and later revisions) cover the models."""
    await upgrade_async(db_url)
    engine = create_engine(Config.build(database={"url": db_url}))
    try:
        async with engine.connect() as conn:
            assert await conn.run_sync(_diff) == []
    finally:
        await engine.dispose()


async def test_upgrade_inside_running_loop(db_url: str) -> None:
    upgrade(db_url)  # runs in a helper thread
    await upgrade_async(db_url)
    engine = create_engine(Config.build(database={"url": db_url}))
    try:
        async with engine.connect() as conn:
            tables = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
    finally:
        await engine.dispose()
    assert set(Base.metadata.tables) <= tables


async def test_engine_sets_sqlite_pragmas(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'p.db'}"
    upgrade(url)
    engine = create_engine(Config.build(database={"url": url}))
    try:
        async with engine.connect() as conn:
            assert (await conn.execute(text("PRAGMA journal_mode"))).scalar_one() == "wal"
            assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar_one() == 1
            assert (await conn.execute(text("PRAGMA busy_timeout"))).scalar_one() == 5000
    finally:
        await engine.dispose()
