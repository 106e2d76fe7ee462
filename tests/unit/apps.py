"""The controller's real app (``ivr.app.create_app``) for unit tests: no Asterisk (AMI retries
in the background, FastAGI on a free port), with the routing-change hook recorded. The AstDB
mirror writes go to a dict that stands for Asterisk's AstDB (in sync from the start), so a
routing change is acknowledged (200) as with a live Asterisk; ``mirror=False`` leaves the mirror
out of sync, as with AMI down (202 not-in-effect)."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from ivr.app import CTRL, create_app
from ivr.core.config import Config
from ivr.http import ON_CHANGE
from ivr.lab import ports


def unit_config(tmp_path: Path, **sections: dict[str, object]) -> Config:
    base = Config.build(agi={"port": ports.free_port()},
                        ami={"port": ports.free_port(), "secret": "s", "backoff_initial": 5.0,
                             "backoff_max": 5.0},
                        asterisk={"root": str(tmp_path), "instance": "/inst"})
    return base.replace(**sections)


class AstDb:
    """The AMI calls of the mirror writer, kept in ``keys``."""

    def __init__(self) -> None:
        self.keys: dict[str, str] = {}

    async def db_tree(self, family: str) -> dict[str, str]:
        return dict(self.keys)

    async def db_put(self, family: str, key: str, value: str) -> None:
        self.keys[key] = value

    async def db_del(self, family: str, key: str) -> None:
        self.keys.pop(key, None)


def with_astdb(app: web.Application) -> web.Application:
    """The controller's mirror writes go to an ``AstDb`` (in sync): changes are in effect."""
    ctrl = app[CTRL]
    ctrl.mirror.ami = AstDb()  # type: ignore[assignment]
    ctrl.mirror.in_sync = True
    return app


def real_app(config: Config, changes: list[int | None] | None = None, *,
             mirror: bool = True) -> web.Application:
    """``create_app(config)``; with ``changes``, every routing change's official id is appended
    (after the controller's own hook ran)."""
    app = create_app(config)
    if mirror:
        with_astdb(app)
    if changes is not None:
        inner = app[ON_CHANGE]

        async def on_change(official_id: int | None = None) -> None:
            await inner(official_id)
            changes.append(official_id)
        app[ON_CHANGE] = on_change
    return app
