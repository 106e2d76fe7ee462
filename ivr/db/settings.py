"""The city-wide timezone: one source, the directory setting ``timezone`` in the database.

Admins change it (directory import, ``settings.timezone``); the config's ``[database] timezone``
only seeds a database that has none yet (:func:`seed_settings`, run by ``ivr db upgrade`` and at
controller start). Routing, the mirror, the API's and the statistics' local times all read it here
or from the routing snapshot, which loads it with the other settings.
"""

from __future__ import annotations

import logging

from sqlalchemy.exc import IntegrityError

from ivr.core.config import DEFAULT_TIMEZONE, Config
from ivr.db.models import Setting
from ivr.db.session import Db

log = logging.getLogger(__name__)
TIMEZONE_KEY = "timezone"


async def current_timezone(db: Db) -> str:
    """The city's IANA zone (an unseeded database: :data:`DEFAULT_TIMEZONE`)."""
    async with db() as session:
        row = await session.get(Setting, TIMEZONE_KEY)
    return str(row.value) if row is not None and row.value else DEFAULT_TIMEZONE


async def seed_settings(db: Db, config: Config) -> bool:
    """Write the config's timezone into a database that has none; True if it was written."""
    async with db() as session:
        if await session.get(Setting, TIMEZONE_KEY) is not None:
            return False
        session.add(Setting(key=TIMEZONE_KEY, value=config.database.timezone))
        try:
            await session.commit()
        except IntegrityError:  # another controller seeded it at the same moment
            return False
    log.info("seeded the city timezone: %s", config.database.timezone)
    return True
