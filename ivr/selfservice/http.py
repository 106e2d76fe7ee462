"""The self-service switches admins hold (issue 15): whether an official may change their own
mode — per official, or city-wide. Off by default; availability is always the official's own
(``PUT /officials/{slug}/availability``, ivr.routing.http)."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel, Field

from ivr.core.constants import API_PREFIX
from ivr.directory.schemas import OfficialOut
from ivr.http import DB, ROUTES, Routes
from ivr.http.inputs import actor_of, loose
from ivr.routing.selfmode import city_self_mode, set_city_self_mode, set_official_self_mode

routes = Routes("selfservice")
ADMIN = ["admin"]


class SelfModeIn(BaseModel):
    mode: Any = loose({"type": "boolean", "description": "the official(s) may change their own mode"})
    reason: Any = loose({"type": "string", "maxLength": 500}, "")


class CitySelfModeOut(BaseModel):
    mode: bool = Field(description="every official may change their own mode")


def _reason(body: SelfModeIn) -> str:
    return body.reason.strip()[:500] if isinstance(body.reason, str) else ""


@routes.put(f"{API_PREFIX}/officials/{{slug}}/self-service", roles=ADMIN, body=SelfModeIn,
            response=OfficialOut, errors=[404])
async def put_official_self_mode(request: web.Request, body: SelfModeIn) -> OfficialOut:
    """Allow (or not) this official to change their own mode (audited ``self_mode``)."""
    return OfficialOut.of(await set_official_self_mode(
        request.config_dict[DB], request.match_info["slug"], body.mode,
        actor_of(request, body), _reason(body)))


@routes.get(f"{API_PREFIX}/self-service", roles=ADMIN, response=CitySelfModeOut)
async def get_city_self_mode(request: web.Request) -> CitySelfModeOut:
    """Whether every official may change their own mode."""
    return CitySelfModeOut(mode=await city_self_mode(request.config_dict[DB]))


@routes.put(f"{API_PREFIX}/self-service", roles=ADMIN, body=SelfModeIn, response=CitySelfModeOut)
async def put_city_self_mode(request: web.Request, body: SelfModeIn) -> CitySelfModeOut:
    """Allow (or not) every official to change their own mode (audited ``self_service_mode``)."""
    return CitySelfModeOut(mode=await set_city_self_mode(
        request.config_dict[DB], body.mode, actor_of(request, body), _reason(body)))


def setup(app: web.Application) -> None:
    app[ROUTES].add(app, routes)
