"""Who may change an official's mode: admins always; the official themselves only when an admin
allowed it — for them (``officials.self_mode``) or city-wide (setting ``self_service_mode``).
Off by default (issue 15). Availability is always the official's own to set.
Both switches are audited (fields ``self_mode``; city-wide: ``self_service_mode``, no official).
"""

from __future__ import annotations

from typing import Any

from ivr.core.errors import InvalidInput, SelfModeOff
from ivr.db.models import Official, Setting
from ivr.db.session import Db
from ivr.directory.services import audit, clean_actor, get_official, load_official

CITY_KEY = "self_service_mode"


async def city_self_mode(db: Db) -> bool:
    async with db() as session:
        row = await session.get(Setting, CITY_KEY)
    return bool(row is not None and row.value is True)


async def may_set_own_mode(db: Db, official: Official) -> bool:
    return bool(official.self_mode) or await city_self_mode(db)


async def check_own_mode(db: Db, ref: str | int) -> None:
    """SelfModeOff (409) unless the official may change their own mode."""
    if not await may_set_own_mode(db, await get_official(db, ref)):
        raise SelfModeOff("changing your own mode is not enabled: ask an administrator",
                        {"self_mode": False})


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise InvalidInput("mode must be true or false", {"mode": str(value)})
    return value


async def set_official_self_mode(db: Db, ref: str | int, value: Any, actor: str,
                                 reason: str = "") -> Official:
    flag = _flag(value)
    actor = clean_actor(actor)
    async with db() as session:
        async with session.begin():
            o = await load_official(session, ref, for_update=True)
            if o.self_mode != flag:
                audit(session, actor, o.id, "self_mode", str(o.self_mode).lower(),
                      str(flag).lower(), reason)
                o.self_mode = flag
        oid = o.id
    return await get_official(db, oid)


async def set_city_self_mode(db: Db, value: Any, actor: str, reason: str = "") -> bool:
    flag = _flag(value)
    actor = clean_actor(actor)
    async with db() as session:
        async with session.begin():
            row = await session.get(Setting, CITY_KEY, with_for_update=True)
            old = bool(row is not None and row.value is True)
            if old != flag:
                audit(session, actor, None, CITY_KEY, str(old).lower(), str(flag).lower(), reason)
                if row is None:
                    session.add(Setting(key=CITY_KEY, value=flag))
                else:
                    row.value = flag
    return flag
