"""Cleanup contexts of the voicemail pipeline and callback tracker (wired in ivr.app).

``voicemail_context`` runs after the controller context and before the recorder's: the
listeners are in place before the CEL journal replay (calls that ended while the controller was
away become messages and cases too), interrupted jobs are back in the queue and the recording
folder has been scanned. ``voicemail_workers`` runs after the recorder's: by then the replay has
linked messages found by the scan to their calls (caller, dialed number, hence language), so the
job workers start with complete data.
"""

from __future__ import annotations

from typing import Any, AsyncIterator

from aiohttp import web

from ivr.followup.callback import CallbackTracker
from ivr.followup.pipeline import VoicemailPipeline
from ivr.followup.http import PIPELINE
from ivr.web.keys import CONFIG, CONTROLLER, DB_SESSIONMAKER

TRACKER = web.AppKey("callback_tracker", CallbackTracker)


async def voicemail_context(app: web.Application) -> AsyncIterator[None]:
    ctrl: Any = app[CONTROLLER]
    db = app[DB_SESSIONMAKER]
    pipeline = VoicemailPipeline(app[CONFIG], db)
    tracker = CallbackTracker(db)
    ctrl.recorder.listeners.append(pipeline.on_call)
    ctrl.recorder.record_listeners.append(tracker)
    app[PIPELINE] = pipeline
    app[TRACKER] = tracker
    tracker.start()
    await pipeline.prepare()
    yield
    await pipeline.close()
    await tracker.close()


async def voicemail_workers(app: web.Application) -> AsyncIterator[None]:
    pipeline: Any = app[PIPELINE]
    await pipeline.run()
    yield
