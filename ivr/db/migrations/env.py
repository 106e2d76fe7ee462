"""Alembic environment: async engine, URL from the caller (ivr.db.session.upgrade) or config."""

from __future__ import annotations

import asyncio
import os

from alembic import context
from sqlalchemy import pool
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import create_async_engine

import ivr.db.account_models  # noqa: F401,E402  (web accounts tables)
import ivr.db.evidence_models  # noqa: F401,E402  (evidence chains)
import ivr.db.followup_models  # noqa: F401,E402  (voicemail tables on the same metadata)
import ivr.db.security_models  # noqa: F401,E402  (SIP bans)
import ivr.db.supervision_models  # noqa: F401,E402  (monthly reports)
import ivr.db.testcall_models  # noqa: F401,E402  (test calls)
from ivr.db.models import Base

config = context.config
target_metadata = Base.metadata


def _db_url() -> str:
    url = config.attributes.get("db_url") or os.environ.get("IVR_DB_URL")
    if url:
        return str(url)
    ini_url = config.get_main_option("sqlalchemy.url")
    if ini_url:
        return ini_url
    from ivr.core.config import Config

    return Config.load().database.url


def _configure(**kwargs: object) -> None:
    url = make_url(_db_url())
    context.configure(target_metadata=target_metadata,
                      render_as_batch=url.get_backend_name() == "sqlite",
                      compare_type=True, **kwargs)  # type: ignore[arg-type]


def run_migrations_offline() -> None:
    _configure(url=_db_url(), literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def _run_sync(connection: Connection) -> None:
    _configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    engine = create_async_engine(_db_url(), poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run_sync)
            await connection.commit()
    finally:
        await engine.dispose()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:  # a caller handed us a sync connection
        _run_sync(connection)
    else:
        asyncio.run(_run_async())


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
