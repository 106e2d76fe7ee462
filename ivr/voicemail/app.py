"""Cleanup context of the voicemail pipeline and callback tracker (wired in ivr.app).

Must run after the controller context and before the recorder's: the listeners are in place
before the CEL journal replay, so calls that ended while the controller was away become
messages and cases too.
"""

from __future__ import annotations

from typing import Any, AsyncIterator

from aiohttp import web

from ivr.voicemail.callback import CallbackTracker
from ivr.voicemail.pipeline import VoicemailPipeline
from ivr.web.cases_api import PIPELINE
from ivr.web.keys import CONFIG, CONTROLLER, DB_SESSIONMAKER


async def voicemail_context(app: web.Application) -> AsyncIterator[None]:
    ctrl: Any = app[CONTROLLER]
    db = app[DB_SESSIONMAKER]
    pipeline = VoicemailPipeline(app[CONFIG], db)
    tracker = CallbackTracker(db)
    ctrl.recorder.listeners.append(pipeline.on_call)
    ctrl.recorder.record_listeners.append(tracker)
    app[PIPELINE] = pipeline
    tracker.start()
    await pipeline.start()
    yield
    await pipeline.close()
    await tracker.close()
