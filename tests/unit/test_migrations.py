"""Alembic migrations: run to head on a fresh SQLite file, match the models, pragmas applied."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine as create_sync_engine, inspect, text

from ivr.config import Config
from ivr.db.models import Base
from ivr.db.session import create_engine, upgrade, upgrade_async


def _sync_url(path: Path) -> str:
    return f"sqlite:///{path}"


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
    assert version == "0001"


def test_upgrade_is_idempotent(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'ivr.db'}"
    upgrade(url)
    upgrade(url)


def test_migrations_match_models(tmp_path: Path) -> None:
    """Autogenerate finds nothing to do: 0001 (and later revisions) cover the models."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    db = tmp_path / "ivr.db"
    upgrade(f"sqlite+aiosqlite:///{db}")
    engine = create_sync_engine(_sync_url(db))
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(ctx, Base.metadata)
    finally:
        engine.dispose()
    assert diff == []


async def test_upgrade_inside_running_loop(tmp_path: Path) -> None:
    upgrade(f"sqlite+aiosqlite:///{tmp_path / 'a.db'}")  # runs in a helper thread
    await upgrade_async(f"sqlite+aiosqlite:///{tmp_path / 'b.db'}")
    assert (tmp_path / "a.db").exists() and (tmp_path / "b.db").exists()


async def test_engine_sets_sqlite_pragmas(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'p.db'}"
    upgrade(url)
    engine = create_engine(Config(db_url=url))
    try:
        async with engine.connect() as conn:
            assert (await conn.execute(text("PRAGMA journal_mode"))).scalar_one() == "wal"
            assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar_one() == 1
            assert (await conn.execute(text("PRAGMA busy_timeout"))).scalar_one() == 5000
    finally:
        await engine.dispose()
