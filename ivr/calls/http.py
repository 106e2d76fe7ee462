"""The call-record routes: calls (newest first, filtered) and one call with its steps. An
official sees only their own calls (scopes OFFICIAL_QUERY and OFFICIAL_CALL)."""

from __future__ import annotations

from aiohttp import web

from ivr.calls.schemas import CallOut, CallsQuery
from ivr.core.constants import API_PREFIX
from ivr.core.errors import InvalidInput
from ivr.core.ids import parse_id
from ivr.http import DB, ROUTES, Routes
from ivr.http.inputs import local_time
from ivr.http.schemas import Items
from ivr.http.scopes import OFFICIAL_CALL, OFFICIAL_QUERY
from ivr.routing import services as routing

routes = Routes("calls")
READERS = ["admin", "supervisor", "operator", "official"]


@routes.get(f"{API_PREFIX}/calls", roles=READERS, scope=OFFICIAL_QUERY, query=CallsQuery,
            response=Items[CallOut], errors=[404])
async def list_calls(request: web.Request, query: CallsQuery) -> Items[CallOut]:
    """Call records, newest first."""
    calls = await routing.list_calls(
        request.config_dict[DB], official=query.official, outcome=query.outcome,
        since=await local_time(request, query.since), until=await local_time(request, query.until),
        limit=query.limit, offset=query.offset, kind=query.kind)
    return Items[CallOut](items=[CallOut.of(c) for c in calls])


@routes.get(f"{API_PREFIX}/calls/{{id}}", roles=READERS, scope=OFFICIAL_CALL, response=CallOut,
            errors=[400])
async def get_call(request: web.Request) -> CallOut:
    """One call with its steps."""
    raw = request.match_info["id"]
    call_id = parse_id(raw)
    if call_id is None:
        raise InvalidInput("call id must be a number", {"id": raw})
    return CallOut.of(await routing.get_call(request.config_dict[DB], call_id))


def setup(app: web.Application) -> None:
    app[ROUTES].add(app, routes)
