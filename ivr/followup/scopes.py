"""The follow-up's scope: an official sees and acts on their own officials' cases only, and on
the cases escalated to them (they are the superior)."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import select

from ivr.core.errors import Forbidden
from ivr.core.identity import Identity
from ivr.core.ids import parse_id
from ivr.db.followup_models import Case
from ivr.http import DB, Scope


async def _official_case(request: web.Request, identity: Identity) -> web.Request:
    case_id = parse_id(request.match_info.get("id", ""))
    if case_id is not None:
        async with request.config_dict[DB]() as session:
            row = (await session.execute(select(Case.id, Case.official_id, Case.escalated_to)
                                         .where(Case.id == case_id))).first()
        if row is not None and identity.official_id not in (row.official_id, row.escalated_to):
            raise Forbidden("you may only see your own cases")
    return request


# a case named by {id} in the path (API and the inbox page's status form)
OFFICIAL_CASE = Scope("official_case", frozenset({"official"}), _official_case)
