"""Settings of one published number: its DTMF menu and its language (audited)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from ivr.core.errors import InvalidInput, MalformedNumber, UnknownNumber
from ivr.core.numbers import NumberError, normalize
from ivr.db.models import PublishedNumber
from ivr.db.session import Db
from ivr.directory.services import audit, clean_actor
from ivr.speech import models as speech_models


async def get_number(db: Db, raw_number: str) -> PublishedNumber:
    try:
        number = normalize(raw_number)
    except NumberError as exc:
        raise MalformedNumber(str(exc)) from None
    async with db() as session:
        row = await session.scalar(select(PublishedNumber).where(PublishedNumber.number == number)
                                   .options(selectinload(PublishedNumber.official)))
    if row is None:
        raise UnknownNumber(f"{number} is not a published number")
    return row


async def set_number(db: Db, raw_number: str, actor: str, *, menu: Any = None,
                     language: Any = ..., reason: str = "",
                     on_change: Callable[[int], Awaitable[None]] | None = None) -> PublishedNumber:
    """Change ``menu`` (true/false) and/or ``language`` (zh, en, a language of an installed speech
    model, or None: the official's)."""
    try:
        number = normalize(raw_number)
    except NumberError as exc:
        raise MalformedNumber(str(exc)) from None
    if menu is not None and not isinstance(menu, bool):
        raise InvalidInput("menu must be true or false", {"menu": menu})
    allowed = speech_models.languages()
    if language is not ... and language is not None and language not in allowed:
        raise InvalidInput(f"language must be one of {', '.join(allowed)} or null",
                           {"language": language})
    async with db() as session, session.begin():
        row = await session.scalar(select(PublishedNumber).where(PublishedNumber.number == number))
        if row is None:
            raise UnknownNumber(f"{number} is not a published number")
        changed = False
        if menu is not None and menu != row.menu:
            audit(session, clean_actor(actor), row.official_id, "menu",
                  f"{number}: {row.menu}", f"{number}: {menu}", reason)
            row.menu, changed = menu, True
        if language is not ... and language != row.language:
            audit(session, clean_actor(actor), row.official_id, "language",
                  f"{number}: {row.language}", f"{number}: {language}", reason)
            row.language, changed = language, True
    if changed and on_change is not None:
        await on_change(row.official_id)
    return row
