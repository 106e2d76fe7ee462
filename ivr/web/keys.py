"""Typed aiohttp application keys shared by the web parts (others may add keys here)."""

from __future__ import annotations

from typing import Awaitable, Callable

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ivr.core.config import Config

OnChangeHook = Callable[[int], Awaitable[None]]

# the session factory (ivr.db.session.make_sessionmaker)
DB_SESSIONMAKER = web.AppKey[async_sessionmaker[AsyncSession]]("db_sessionmaker")
# the deployment configuration (api_token, timezone, …)
CONFIG = web.AppKey("config", Config)
# awaited with an official's id after every committed routing change (mirror update); optional
ON_CHANGE = web.AppKey[OnChangeHook]("on_change")

# the running controller (ivr.controller.Controller): AMI, FastAGI, recorder (set by ivr.app)
CONTROLLER = web.AppKey("controller", object)

# awaited after a committed change of phones, operators or pools (re-render and reload Asterisk)
OnDirectoryChange = Callable[[], Awaitable[None]]
ON_DIRECTORY_CHANGE = web.AppKey[OnDirectoryChange]("on_directory_change")
