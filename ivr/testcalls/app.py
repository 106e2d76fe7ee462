"""The test calls' wiring (issue 13): the API and page routes, the runner (every node; each
test call is claimed by one) and its live trigger on AMI's CEL events."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from ivr.asterisk.ami import AmiClient
from ivr.core.config import Config
from ivr.db.session import Db
from ivr.testcalls import pages
from ivr.testcalls.runner import TestCallRunner

RUNNER = web.AppKey("testcalls_runner", TestCallRunner)


def setup(app: web.Application, *, config: Config, db: Db, ami: AmiClient) -> None:
    runner = TestCallRunner(db, ami, config)
    ami.subscribe("CEL", runner.on_ami_cel)
    app[RUNNER] = runner
    pages.setup(app)
    app.cleanup_ctx.append(runner_context)


async def runner_context(app: web.Application) -> AsyncIterator[None]:
    runner = app[RUNNER]
    runner.start()
    yield
    await runner.close()
