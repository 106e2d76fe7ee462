"""A migrated database with a directory imported, for the unit tests that start from a city's
officials (tests/unit/test_feed.py, test_selfservice.py)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from ivr.core.config import Config
from ivr.db.session import Db, create_engine, make_sessionmaker, upgrade
from ivr.directory.importer import import_text


@contextlib.asynccontextmanager
async def seeded(db_url: str, directory: str) -> AsyncIterator[Db]:
    """The database at ``db_url`` migrated, ``directory`` (YAML) imported: its sessionmaker."""
    upgrade(db_url)
    engine = create_engine(Config.build(database={"url": db_url}))
    try:
        sm = make_sessionmaker(engine)
        await import_text(sm, directory, "yaml", "setup")
        yield sm
    finally:
        await engine.dispose()
