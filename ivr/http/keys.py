"""Typed application keys shared by the features (each feature keeps its own keys too)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ivr.core.config import Config
from ivr.http.routes import RouteRegistry

# the routing hook answers False when the change is committed but the mirror was not written
OnChange = Callable[[int | None], Awaitable[object]]
OnDirectoryChange = Callable[[], Awaitable[None]]

# the deployment configuration
CONFIG = web.AppKey("config", Config)
# the session factory: one AsyncSession per request or task
DB = web.AppKey[async_sessionmaker[AsyncSession]]("db")
# every declared route: aiohttp routes, the authorisation table, the OpenAPI document
ROUTES = web.AppKey("routes", RouteRegistry)
# awaited after every committed routing change (snapshot reload, mirror update, change feed)
ON_CHANGE = web.AppKey[OnChange]("on_change")
# awaited after a committed change of phones, operators or pools (render and reload Asterisk)
ON_DIRECTORY_CHANGE = web.AppKey[OnDirectoryChange]("on_directory_change")


def on_change_of(request: web.Request) -> OnChange | None:
    """The routing-change hook to pass to a routing service (None: no controller running)."""
    return request.config_dict.get(ON_CHANGE)


async def directory_changed(request: web.Request) -> None:
    """Await the directory-change hook after a committed change of phones, operators or pools."""
    hook = request.config_dict.get(ON_DIRECTORY_CHANGE)
    if hook is not None:
        await hook()
