"""Typed application keys of the follow-up feature (set by ``ivr.followup.app.setup``)."""

from __future__ import annotations

from aiohttp import web

from ivr.asterisk.ami import AmiClient
from ivr.calls.consumer import JournalConsumer
from ivr.calls.live import LiveCalls
from ivr.followup.callback import CallbackTracker
from ivr.followup.escalation import Sweeper
from ivr.followup.pipeline import VoicemailPipeline
from ivr.followup.scheduler import Scheduler
from ivr.followup.webhooks import Notifier

# the voicemail pipeline: ingest, scan, transcription workers, triage rules and deadlines
PIPELINE = web.AppKey("followup_pipeline", VoicemailPipeline)
# moves callbacks along from their CEL events
TRACKER = web.AppKey("followup_callback_tracker", CallbackTracker)
# places callbacks (AMI Originate)
AMI = web.AppKey("followup_ami", AmiClient)
# the live view of calls still going on (a case may be opened from one)
LIVE = web.AppKey("followup_live_calls", LiveCalls)
# the journal's recorder (the workers start once it has caught up)
RECORDER = web.AppKey("followup_recorder", JournalConsumer)
# escalation of cases past a deadline, deadline-near alerts (issue 11)
SWEEPER = web.AppKey("followup_sweeper", Sweeper)
# the notification hook: case events → outbox → webhooks
NOTIFIER = web.AppKey("followup_notifier", Notifier)
# automatic callbacks: enrol, settle, claim and dial the due attempts (issue 10)
SCHEDULER = web.AppKey("followup_scheduler", Scheduler)
