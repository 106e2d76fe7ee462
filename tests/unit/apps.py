"""The controller's real app (``ivr.app.create_app``) for unit tests: no Asterisk (AMI retries
in the background, FastAGI on a free port), with the routing-change hook recorded."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from ivr.app import create_app
from ivr.core.config import Config
from ivr.http import ON_CHANGE
from ivr.lab import ports


def unit_config(tmp_path: Path, **sections: dict[str, object]) -> Config:
    base = Config.build(agi={"port": ports.free_port()},
                        ami={"port": ports.free_port(), "secret": "s", "backoff_initial": 5.0,
                             "backoff_max": 5.0},
                        asterisk={"root": str(tmp_path), "instance": "/inst"})
    return base.replace(**sections)


def real_app(config: Config, changes: list[int | None] | None = None) -> web.Application:
    """``create_app(config)``; with ``changes``, every routing change's official id is appended
    (after the controller's own hook ran)."""
    app = create_app(config)
    if changes is not None:
        inner = app[ON_CHANGE]

        async def on_change(official_id: int | None = None) -> None:
            await inner(official_id)
            changes.append(official_id)
        app[ON_CHANGE] = on_change
    return app
