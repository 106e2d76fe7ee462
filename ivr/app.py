"""The aiohttp application: ``create_app(config)`` wires every long-lived resource as a
cleanup context (database, controller state, AMI, FastAGI, call recorder, schedule ticker)."""

from __future__ import annotations

import argparse
import asyncio
import logging
from typing import AsyncIterator

from aiohttp import web

from ivr.core.config import Config
from ivr.controller import Controller
from ivr.db.session import create_engine, make_sessionmaker, upgrade_async
from ivr.db.settings import seed_settings
from ivr.web.keys import CONFIG, CONTROLLER, DB_SESSIONMAKER, ON_CHANGE, ON_DIRECTORY_CHANGE

log = logging.getLogger(__name__)
CTRL = web.AppKey("ctrl", Controller)


async def _database(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    await upgrade_async(config.database.url)
    engine = create_engine(config)
    app[DB_SESSIONMAKER] = make_sessionmaker(engine)
    await seed_settings(app[DB_SESSIONMAKER], config)  # a fresh database: the config's timezone
    yield
    await engine.dispose()


async def _controller(app: web.Application) -> AsyncIterator[None]:
    ctrl = Controller(app[CONFIG], app[DB_SESSIONMAKER])
    app[CTRL] = ctrl
    app[CONTROLLER] = ctrl
    app[ON_CHANGE] = ctrl.on_change
    app[ON_DIRECTORY_CHANGE] = ctrl.on_directory_change
    await ctrl.feed.prime()  # revisions first: a change committed after this is seen
    await ctrl.reload()  # the snapshot, before the first call can arrive
    yield


async def _recorder(app: web.Application) -> AsyncIterator[None]:
    ctrl = app[CTRL]
    await ctrl.recorder.replay_journal()  # calls that happened while we were away
    task = asyncio.create_task(ctrl.recorder.run(), name="recorder")
    yield
    task.cancel()


async def _fastagi(app: web.Application) -> AsyncIterator[None]:
    ctrl, config = app[CTRL], app[CONFIG]
    await ctrl.agi.start(config.agi.host, config.agi.port)
    yield
    await ctrl.agi.close()


async def _ami(app: web.Application) -> AsyncIterator[None]:
    ctrl = app[CTRL]
    ctrl.ami.start()
    yield
    await ctrl.ami.close()


async def _scheduler(app: web.Application) -> AsyncIterator[None]:
    task = asyncio.create_task(app[CTRL].schedule_loop(), name="schedule")
    yield
    task.cancel()


async def _feed(app: web.Application) -> AsyncIterator[None]:
    task = asyncio.create_task(app[CTRL].feed.run(), name="change-feed")
    yield
    task.cancel()


async def health(request: web.Request) -> web.Response:
    ctrl = request.app[CTRL]
    return web.json_response({
        "ami": ctrl.ami.logged_in.is_set(), "ami_logins": ctrl.ami.logins,
        "mirror_in_sync": ctrl.mirror.in_sync, "resyncs": ctrl.resyncs,
        "agi": ctrl.agi.stats, "events_ingested": ctrl.recorder.ingested,
        "officials": len(ctrl.snapshot.routings), "node": ctrl.config.node.name,
        "feed": {"seen": ctrl.feed.seen, "polls": ctrl.feed.polls, "applied": ctrl.feed.applied}})


def create_app(config: Config) -> web.Application:
    from ivr.web.api import setup_api
    from ivr.routing.numbers_http import setup_numbers_api
    from ivr.pool.http import setup_pool_api
    from ivr.followup.prompts_http import setup_prompts_api
    from ivr.followup.app import voicemail_context, voicemail_workers
    from ivr.followup.http import setup_cases_api
    from ivr.web.ui import setup_web

    app = web.Application()
    app[CONFIG] = config
    app.cleanup_ctx.extend([_database, _controller, voicemail_context, _recorder,
                            voicemail_workers, _fastagi, _ami, _scheduler, _feed])
    app.router.add_get("/healthz", health)
    setup_api(app)
    setup_pool_api(app)
    setup_numbers_api(app)
    setup_prompts_api(app)
    setup_cases_api(app)
    setup_web(app)  # pages, accounts, central authorization of every route (ivr.web.auth)
    return app


def cli_serve(args: argparse.Namespace) -> int:
    config = Config.load(getattr(args, "config", None))
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    web.run_app(create_app(config), host=config.http.host, port=config.http.port,
                print=lambda *_: log.info("ivr serving on http://%s:%s", config.http.host, config.http.port))
    return 0


if __name__ == "__main__":
    raise SystemExit(cli_serve(argparse.Namespace(config=None)))
