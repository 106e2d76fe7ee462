"""Settings of one published number: its DTMF menu and its language (audited)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from ivr.core.errors import InvalidInput, MalformedNumber, UnknownNumber
from ivr.core.numbers import NumberError, normalize
from ivr.db.models import PublishedNumber
from ivr.db.session import Db
from ivr.directory.services import audit, clean_actor
from ivr.speech import languages as speech_languages


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
                     on_change: Callable[[int], Awaitable[object]] | None = None) -> PublishedNumber:
    """Change ``menu`` (true/false) and/or ``language`` (a selectable one, see
    ``ivr.speech.languages``, or None: the official's). A language whose model is only catalogued
    is accepted; :func:`language_warning` says why its messages will need listening."""
    try:
        number = normalize(raw_number)
    except NumberError as exc:
        raise MalformedNumber(str(exc)) from None
    if menu is not None and not isinstance(menu, bool):
        raise InvalidInput("menu must be true or false", {"menu": menu})
    if language is not ... and language is not None:
        await asyncio.to_thread(speech_languages.check, language)
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


def language_warning(language: str | None) -> str | None:
    """Why a number's language will not be transcribed (no model installed), or None."""
    if language is None:
        return None
    return next((i.warning for i in speech_languages.describe() if i.code == language), None)
