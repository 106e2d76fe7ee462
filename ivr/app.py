"""The composition root: ``create_app(config)`` builds the typed services (database session
factory, controller with its AMI client, FastAGI server and recorder), hands each feature what it
needs through its ``setup(app, …)``, and runs every long-lived resource as a cleanup context
(migrations, snapshot, recorder, voicemail, FastAGI, AMI, schedule ticker, change feed, SIP
ban expiry)."""

from __future__ import annotations

import argparse
import asyncio
import hmac
import logging
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from ivr.accounts import http as accounts_http
from ivr.accounts import pages as accounts_pages
from ivr.calls import http as calls_http
from ivr.controller import Controller
from ivr.core.config import Config
from ivr.core.constants import API_PREFIX, PUBLIC, SYSTEM
from ivr.db.session import create_engine, make_sessionmaker, upgrade_async
from ivr.db.settings import seed_settings
from ivr.directory import http as directory_http
from ivr.directory import pages as directory_pages
from ivr.followup import admin_pages as followup_admin_pages
from ivr.followup import app as followup
from ivr.followup import pages as followup_pages
from ivr.followup import reports as followup_reports
from ivr.http import CONFIG, DB, ON_CHANGE, ON_DIRECTORY_CHANGE, ROUTES, RouteRegistry, Routes, identity_of
from ivr.http.openapi import document
from ivr.ops import http as ops_http
from ivr.ops.checks import NodeProbe
from ivr.ops.monitor import Monitor
from ivr.phones import http as phones_http
from ivr.phones import pages as phones_pages
from ivr.pool import console as pool_console
from ivr.pool import http as pool_http
from ivr.routing import http as routing_http
from ivr.routing import pages as routing_pages
from ivr.selfservice import admin_pages as selfservice_admin
from ivr.selfservice import http as selfservice_http
from ivr.selfservice import pages as selfservice_pages
from ivr.sipguard import http as sipguard_http
from ivr.sipguard.guard import SipGuard, expiry_context
from ivr.speech import http as speech_http
from ivr.supervision import calls_http as supervision_calls
from ivr.supervision import reports_http as supervision_reports
from ivr.supervision import stats_http, wallboard
from ivr.testcalls import app as testcalls
from ivr.web import shell
from ivr.web.middleware import middleware
from ivr.web.templating import setup_templates

log = logging.getLogger(__name__)
CTRL = web.AppKey("ctrl", Controller)
ENGINE = web.AppKey("engine", AsyncEngine)
routes = Routes("meta")


async def _database(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    await upgrade_async(config.database.url)
    await seed_settings(app[DB], config)  # a fresh database: the config's timezone
    yield
    await app[ENGINE].dispose()


async def _controller(app: web.Application) -> AsyncIterator[None]:
    ctrl = app[CTRL]
    await ctrl.feed.prime()  # revisions first: a change committed after this is seen
    await ctrl.reload()  # the snapshot, before the first call can arrive
    yield


async def _recorder(app: web.Application) -> AsyncIterator[None]:
    """The journal's recorder, in its own thread: FastAGI never waits for it, at start or after."""
    ctrl = app[CTRL]
    ctrl.recorder.start()
    yield
    await ctrl.recorder.stop()


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
    await ctrl.registrations.close()


async def _scheduler(app: web.Application) -> AsyncIterator[None]:
    task = asyncio.create_task(app[CTRL].schedule_loop(), name="schedule")
    expiry = asyncio.create_task(app[CTRL].expiry_loop(), name="availability-expiry")
    yield
    task.cancel()
    expiry.cancel()


async def _feed(app: web.Application) -> AsyncIterator[None]:
    task = asyncio.create_task(app[CTRL].feed.run(), name="change-feed")
    yield
    task.cancel()


def health_details(ctrl: Controller) -> dict[str, Any]:
    """The controller's health in full (the one place its fields are listed): AMI, mirror,
    FastAGI, recorder, change feed. ``status`` is ok when AMI is logged in and the mirror in sync."""
    ok = ctrl.ami.logged_in.is_set() and ctrl.mirror.in_sync
    return {
        "status": "ok" if ok else "not ok",
        "ami": ctrl.ami.logged_in.is_set(), "ami_logins": ctrl.ami.logins,
        "ami_refused": ctrl.ami.refused,
        "mirror_in_sync": ctrl.mirror.in_sync, "resyncs": ctrl.resyncs,
        "resync_failures": ctrl.resync_failures, "resync_pending": sorted(ctrl.resync_pending),
        "agi": ctrl.agi.stats, "recorder": ctrl.recorder.stats(),
        "officials": len(ctrl.snapshot.routings), "node": ctrl.config.node.name,
        "feed": {"seen": ctrl.feed.seen, "polls": ctrl.feed.polls, "applied": ctrl.feed.applied}}


def _sees_health_details(request: web.Request) -> bool:
    """Admins (session or token), the deployment's API token, or ``[http] health_token``."""
    who = identity_of(request)
    if who is not None and who.role in ("admin", SYSTEM):
        return True
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    http = request.app[CONFIG].http
    return scheme.lower() == "bearer" and any(
        hmac.compare_digest(given.strip().encode(), token.encode())
        for token in (http.health_token, http.api_token) if token)


@routes.get("/healthz", roles=PUBLIC)
async def health(request: web.Request) -> web.Response:
    """ok / not ok for anyone; the details (counters, node name) for admins or with a token."""
    details = health_details(request.app[CTRL])
    if _sees_health_details(request):
        return web.json_response(details)
    return web.json_response({"status": details["status"]})


@routes.get(f"{API_PREFIX}/openapi.json", roles=PUBLIC)
async def get_openapi(request: web.Request) -> web.Response:
    """This document."""
    return web.json_response(document(request.app[ROUTES]))


def create_app(config: Config) -> web.Application:
    engine = create_engine(config)
    db = make_sessionmaker(engine)
    ctrl = Controller(config, db)
    app = web.Application(middlewares=[middleware])
    app[CONFIG] = config
    app[ENGINE] = engine
    app[DB] = db
    app[ROUTES] = RouteRegistry()
    app[CTRL] = ctrl
    app[ON_CHANGE] = ctrl.on_change
    app[ON_DIRECTORY_CHANGE] = ctrl.on_directory_change
    setup_templates(app, ["ivr.web", "ivr.routing", "ivr.directory", "ivr.accounts", "ivr.pool",
                          "ivr.supervision", "ivr.followup", "ivr.speech", "ivr.ops", "ivr.phones",
                          "ivr.testcalls", "ivr.selfservice"])
    app.cleanup_ctx.extend([_database, _controller, followup.voicemail_context, _recorder,
                            followup.voicemail_workers, followup.deadline_context, _fastagi, _ami,
                            _scheduler, _feed, expiry_context])
    app[ROUTES].add(app, routes)
    shell.setup(app)  # sign-in, language, static files, the error page
    directory_http.setup(app)
    routing_http.setup(app)
    selfservice_http.setup(app)
    selfservice_admin.setup(app)
    calls_http.setup(app)
    pool_http.setup(app, ami=ctrl.ami, registrations=ctrl.registrations)
    followup.setup(app, config=config, db=db, calls=ctrl.calls, recorder=ctrl.recorder,
                   ami=ctrl.ami)
    accounts_http.setup(app)
    speech_http.setup(app)
    routing_pages.setup(app)
    selfservice_pages.setup(app)  # before the dashboard: an official's first link is /me
    directory_pages.setup(app)
    accounts_pages.setup(app)
    followup_admin_pages.setup(app, schedule_page=routing_pages.schedule_page)
    pool_console.setup(app, ami=ctrl.ami, calls=ctrl.calls, registrations=ctrl.registrations)
    phones_http.setup(app)
    phones_pages.setup(app)
    stats_http.setup(app, overdue=followup_reports.overdue_by_official)
    supervision_calls.setup(app)
    supervision_reports.setup(app)
    wallboard.setup(app)
    followup_pages.setup(app)
    testcalls.setup(app, config=config, db=db, ami=ctrl.ami)
    sipguard_http.setup(app, SipGuard(config, db, ctrl.ami, everywhere=ctrl.on_directory_change,
                                      here=ctrl.sync_asterisk_config))

    ops_http.setup(app, Monitor(config, db, _probe(ctrl)))  # alerts, /metrics
    return app


def _probe(ctrl: Controller) -> NodeProbe:
    """What the health checks read of the controller."""
    async def core_status() -> dict[str, str]:
        return dict(await ctrl.ami.action("CoreStatus"))
    return NodeProbe(ami_connected=ctrl.ami.logged_in.is_set, ami_logins=lambda: ctrl.ami.logins,
                     mirror_in_sync=lambda: ctrl.mirror.in_sync, recorder=ctrl.recorder.stats,
                     core_status=core_status, feed_seen=lambda: dict(ctrl.feed.seen))


def cli_serve(args: argparse.Namespace) -> int:
    config = Config.load(getattr(args, "config", None))
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    web.run_app(create_app(config), host=config.http.host, port=config.http.port,
                print=lambda *_: log.info("ivr serving on http://%s:%s", config.http.host, config.http.port))
    return 0


if __name__ == "__main__":
    raise SystemExit(cli_serve(argparse.Namespace(config=None)))
