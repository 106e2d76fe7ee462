"""The follow-up feature's wiring: ``setup`` builds the voicemail pipeline and the callback
tracker, hooks them to the call recorder and registers the routes; ``ivr.app`` runs the two
cleanup contexts below in the order the recorder needs.

``voicemail_context`` runs after the controller context and before the recorder's: the
listeners are in place before the CEL journal replay (calls that ended while the controller was
away become messages and cases too), interrupted jobs are back in the queue and the recording
folder has been scanned. ``voicemail_workers`` runs after the recorder's: by then the replay has
linked messages found by the scan to their calls (caller, dialed number, hence language), so the
job workers start with complete data.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from ivr.asterisk.ami import AmiClient
from ivr.calls.recorder import CallRecorder
from ivr.core.config import Config
from ivr.db.session import Db
from ivr.followup import call_cases, correction, http, prompts_http
from ivr.followup.callback import CallbackTracker
from ivr.followup.keys import AMI, PIPELINE, RECORDER, TRACKER
from ivr.followup.pipeline import VoicemailPipeline
from ivr.http import ROUTES


def setup(app: web.Application, *, config: Config, db: Db, recorder: CallRecorder,
          ami: AmiClient) -> None:
    pipeline = VoicemailPipeline(config, db)
    tracker = CallbackTracker(db)
    recorder.listeners.append(pipeline.on_call)
    recorder.record_listeners.append(tracker)
    app[PIPELINE] = pipeline
    app[TRACKER] = tracker
    app[RECORDER] = recorder
    app[AMI] = ami
    for routes in (http.routes, call_cases.routes, prompts_http.routes, correction.routes):
        app[ROUTES].add(app, routes)


async def voicemail_context(app: web.Application) -> AsyncIterator[None]:
    pipeline, tracker = app[PIPELINE], app[TRACKER]
    tracker.start()
    await pipeline.prepare()
    yield
    await pipeline.close()
    await tracker.close()


async def voicemail_workers(app: web.Application) -> AsyncIterator[None]:
    await app[PIPELINE].run()
    yield
