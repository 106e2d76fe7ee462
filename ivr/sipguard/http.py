"""SIP bans for admins: list them, lift one (audited)."""

from __future__ import annotations

from aiohttp import web

from ivr.core.constants import API_PREFIX
from ivr.core.errors import InvalidInput
from ivr.http import DB, ROUTES, Routes
from ivr.http.inputs import actor_of
from ivr.sipguard import service
from ivr.sipguard.guard import GUARD, SipGuard
from ivr.sipguard.schemas import BanList, BanOut

ADMIN = ["admin"]
routes = Routes("sip-bans")


@routes.get(f"{API_PREFIX}/sip-bans", roles=ADMIN, response=BanList)
async def list_bans(request: web.Request) -> BanList:
    """Source addresses banned after repeated failed SIP logins: in force and recent."""
    return BanList(items=[BanOut.of(b) for b in await service.recent_bans(request.config_dict[DB])])


@routes.delete(f"{API_PREFIX}/sip-bans/{{id}}", roles=ADMIN, response=BanOut, errors=[404])
async def lift_ban(request: web.Request) -> BanOut:
    """Lift a ban now: Asterisk accepts that address again once its ACL is reloaded (before
    this answers, on this node; within a second on the others)."""
    raw = request.match_info["id"]
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 18):
        raise InvalidInput("ban id must be a number", {"id": raw})
    return BanOut.of(await request.config_dict[GUARD].lift(int(raw), actor_of(request)))


def setup(app: web.Application, guard: SipGuard) -> None:
    app[GUARD] = guard
    app[ROUTES].add(app, routes)
