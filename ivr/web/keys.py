"""TEMPORARY: the old key names, now the typed keys of ivr.http (deleted once features use them)."""

from __future__ import annotations

from aiohttp import web

from ivr.http.keys import CONFIG, DB, ON_CHANGE, ON_DIRECTORY_CHANGE, OnChange

DB_SESSIONMAKER = DB
OnChangeHook = OnChange
OnDirectoryChange = ON_DIRECTORY_CHANGE
# the running controller (ivr.controller.Controller): AMI, FastAGI, recorder (set by ivr.app)
CONTROLLER = web.AppKey("controller", object)

__all__ = ["CONFIG", "CONTROLLER", "DB_SESSIONMAKER", "ON_CHANGE", "ON_DIRECTORY_CHANGE", "OnChangeHook"]
