"""The follow-up's scope: an official sees and acts on their own officials' cases only."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import select

from ivr.core.errors import Forbidden
from ivr.core.identity import Identity
from ivr.db.followup_models import Case
from ivr.http import DB, Scope


async def _check(request: web.Request, identity: Identity) -> web.Request:
    raw = request.match_info.get("id", "")
    if raw.isdigit() and len(raw) <= 12:
        async with request.config_dict[DB]() as session:
            row = (await session.execute(select(Case.id, Case.official_id)
                                         .where(Case.id == int(raw)))).first()
        if row is not None and row.official_id != identity.official_id:
            raise Forbidden("you may only see your own cases")
    return request


OFFICIAL_CASE = Scope("official_case", frozenset({"official"}), _check)
