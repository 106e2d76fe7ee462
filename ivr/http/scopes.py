"""Scopes: narrow a role to its own data on a route (an official to their official and calls,
an operator to their own endpoint). A route names its scope in its declaration."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import select

from ivr.core.errors import Forbidden
from ivr.core.identity import Identity
from ivr.core.ids import parse_id
from ivr.db.models import Call
from ivr.http.keys import DB
from ivr.http.routes import Scope


async def _official_path(request: web.Request, identity: Identity) -> web.Request:
    if not identity.owns_official(request.match_info.get("slug", "")):
        raise Forbidden("you may only see your own official")
    return request


async def _official_query(request: web.Request, identity: Identity) -> web.Request:
    asked = request.query.get("official")
    if asked and not identity.owns_official(asked):
        raise Forbidden("you may only see your own official")
    if identity.official_id is None:
        raise Forbidden("this account is not linked to an official")
    return request.clone(rel_url=request.rel_url.update_query(official=str(identity.official_id)))


async def _official_call(request: web.Request, identity: Identity) -> web.Request:
    call_id = parse_id(request.match_info.get("id", ""))
    if call_id is not None:
        async with request.config_dict[DB]() as session:
            row = (await session.execute(select(Call.id, Call.official_id)
                                         .where(Call.id == call_id))).first()
        if row is not None and row.official_id != identity.official_id:
            raise Forbidden("you may only see your own calls")
    return request


async def _operator_path(request: web.Request, identity: Identity) -> web.Request:
    if request.match_info.get("endpoint") != identity.operator_endpoint:
        raise Forbidden("you may only change your own operator state")
    return request


OFFICIAL_PATH = Scope("official_path", frozenset({"official"}), _official_path)
OFFICIAL_QUERY = Scope("official_query", frozenset({"official"}), _official_query)
OFFICIAL_CALL = Scope("official_call", frozenset({"official"}), _official_call)
OPERATOR_PATH = Scope("operator_path", frozenset({"operator"}), _operator_path)
