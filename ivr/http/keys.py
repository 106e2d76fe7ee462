"""Typed application keys shared by the features (each feature keeps its own keys too)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ivr.core.config import Config
from ivr.http.routes import RouteRegistry

# the routing hook answers False when the change is committed but the mirror was not written
OnChange = Callable[[int | None], Awaitable[object]]
# endpoints -> each one's registration status (registered, static, unregistered, unreachable,
# unknown: ivr/pool/registrations.py), for pages of features that cannot import it
PhoneStatus = Callable[[list[str]], Awaitable[dict[str, str]]]
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
# the phones' registration, set when a controller runs (ivr.pool.http.setup)
PHONE_STATUS = web.AppKey[PhoneStatus]("phone_status")
# the registration statuses as the pages show them (every page that shows one adds these)
PHONE_STATUS_TEXTS: dict[str, tuple[str, str]] = {
    "phone.status.registered": ("已注册", "registered"),
    "phone.status.static": ("已注册（固定地址）", "registered (static contact)"),
    "phone.status.unregistered": ("未注册", "not registered"),
    "phone.status.unreachable": ("无法连通", "unreachable"),
    "phone.status.unknown": ("未知", "unknown"),
}


async def phone_status(request: web.Request, endpoints: list[str]) -> dict[str, str]:
    """Each endpoint's registration status (``unknown`` without a controller)."""
    hook = request.config_dict.get(PHONE_STATUS)
    if hook is None:
        return dict.fromkeys(endpoints, "unknown")
    return await hook(endpoints)


def on_change_of(request: web.Request) -> OnChange | None:
    """The routing-change hook to pass to a routing service (None: no controller running)."""
    return request.config_dict.get(ON_CHANGE)


async def directory_changed(request: web.Request) -> None:
    """Await the directory-change hook after a committed change of phones, operators or pools."""
    hook = request.config_dict.get(ON_DIRECTORY_CHANGE)
    if hook is not None:
        await hook()
