"""The follow-up feature's wiring: ``setup`` builds the voicemail pipeline and the callback
tracker, hooks them to the calls' listeners and registers the routes; ``ivr.app`` runs the two
cleanup contexts below in the order the recorder needs.

``voicemail_context`` runs after the controller context and before the recorder's: the
listeners are in place before the recorder reads the journal (calls that ended while the
controller was away become messages and cases too), interrupted jobs are back in the queue and
the recording folder has been scanned. ``voicemail_workers`` starts the workers once the
recorder has caught up with the journal — in the background, so FastAGI does not wait for it:
by then messages found by the scan are linked to their calls (caller, dialed number, hence
language), so the job workers start with complete data.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from ivr.asterisk.ami import AmiClient
from ivr.calls.consumer import JournalConsumer
from ivr.calls.live import LiveCalls
from ivr.core.config import Config
from ivr.db.session import Db
from ivr.followup import calendar_http, call_cases, correction, http, prompts_http, survey_http
from ivr.followup.callback import CallbackTracker
from ivr.followup.escalation import Sweeper
from ivr.followup.keys import (
    AMI,
    LIVE,
    NOTIFIER,
    PIPELINE,
    RECORDER,
    SCHEDULER,
    SWEEPER,
    TRACKER,
)
from ivr.followup.pipeline import VoicemailPipeline
from ivr.followup.queued import Queued
from ivr.followup.scheduler import Scheduler
from ivr.followup.webhooks import Notifier
from ivr.http import ROUTES

log = logging.getLogger(__name__)


def setup(app: web.Application, *, config: Config, db: Db, calls: LiveCalls,
          recorder: JournalConsumer, ami: AmiClient) -> None:
    pipeline = VoicemailPipeline(config, db)
    tracker = CallbackTracker(db)
    calls.listeners.append(pipeline.on_call)
    calls.record_listeners.append(tracker)
    app[PIPELINE] = pipeline
    app[TRACKER] = tracker
    app[LIVE] = calls
    app[RECORDER] = recorder
    app[AMI] = ami
    d = config.deadlines
    app[SWEEPER] = Sweeper(db, pipeline.deadlines, max_levels=d.max_levels,
                           near_minutes=d.near_minutes, interval=d.sweep_seconds)
    app[NOTIFIER] = Notifier(db, config.webhooks, config)
    app[SCHEDULER] = scheduler = Scheduler(db, ami, config)
    calls.record_listeners.append(scheduler.survey_tracker)
    scheduler.queued = Queued(db, ami, config, pipeline.deadlines)
    calls.listeners.append(scheduler.queued)
    for routes in (http.routes, call_cases.routes, prompts_http.routes, calendar_http.routes,
                   correction.routes, survey_http.routes):
        app[ROUTES].add(app, routes)
    calendar_http.setup(app)


async def voicemail_context(app: web.Application) -> AsyncIterator[None]:
    pipeline, tracker = app[PIPELINE], app[TRACKER]
    await pipeline.deadlines.refresh(pipeline.db)  # the working calendar, before any case
    tracker.start()
    await pipeline.prepare()
    yield
    await pipeline.close()
    await tracker.close()


async def voicemail_workers(app: web.Application) -> AsyncIterator[None]:
    pipeline, recorder = app[PIPELINE], app[RECORDER]

    async def start() -> None:
        try:
            await recorder.caught_up(timeout=600)
        except TimeoutError:
            log.warning("the recorder has not caught up with the journal: workers start anyway")
        await pipeline.run()
    task = asyncio.create_task(start(), name="voicemail-start")
    yield
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def deadline_context(app: web.Application) -> AsyncIterator[None]:
    """Escalation sweeps and the notification hook (outbox → webhooks), issue 11; the
    automatic callbacks' scheduler (issue 10)."""
    sweeper, notifier, scheduler = app[SWEEPER], app[NOTIFIER], app[SCHEDULER]
    sweeper.start()
    notifier.start()
    scheduler.start()
    yield
    await scheduler.close()
    await sweeper.close()
    await notifier.close()
