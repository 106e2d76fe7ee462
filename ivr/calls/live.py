"""Calls as they happen, for live views only: AMI's copy of the CEL events, folded in memory.

Nothing here is stored: records come from the journal (``ivr.calls.recorder``), whose output
reaches listeners through :meth:`LiveCalls.on_recorded`. So a listener sees a call twice over:
while it goes on (``view.outcome`` None, from AMI) and once its record is written
(``view.outcome`` set, ``view.call_id`` set, from the journal) — the one fold of the record.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from ivr.asterisk.ami import Message
from ivr.calls.events import CelRecord, from_ami
from ivr.calls.fold import CallView, fold
from ivr.calls.recorder import Recorded

log = logging.getLogger(__name__)


class LiveCalls:
    # After an event, wait this long for more before folding again (one fold per call per
    # burst: a call's set-up sends its events one by one). Live views lag by this much.
    BATCH_DELAY_S = 0.25
    MAX_CALLS = 5000  # calls in progress remembered (AMI may miss an end: the oldest go first)

    def __init__(self) -> None:
        # in-progress folds (AMI) and final records (journal); see the module
        self.listeners: list[Callable[[CallView], Any]] = []
        # each event stored for the first time, in journal order (callback tracking)
        self.record_listeners: list[Callable[[CelRecord], Any]] = []
        self.live: OrderedDict[str, list[CelRecord]] = OrderedDict()
        self._dirty: set[str] = set()
        self._flush: asyncio.TimerHandle | None = None

    def on_ami_cel(self, msg: Message) -> None:
        rec = from_ami(msg)
        if rec is None:
            return
        if rec.eventtype == "LINKEDID_END":
            self.live.pop(rec.linkedid, None)
            self._dirty.discard(rec.linkedid)
            return
        events = self.live.get(rec.linkedid)
        if events is None:
            if rec.eventtype != "USER_DEFINED":
                return  # not ours (every call of ours starts with an IVR_* event)
            events = self.live[rec.linkedid] = []
            while len(self.live) > self.MAX_CALLS:
                self.live.popitem(last=False)
        events.append(rec)
        self._dirty.add(rec.linkedid)
        if self._flush is None:
            self._flush = asyncio.get_running_loop().call_later(self.BATCH_DELAY_S, self._fold)

    def _fold(self) -> None:
        self._flush = None
        dirty, self._dirty = self._dirty, set()
        for linkedid in dirty:
            events = self.live.get(linkedid)
            if events and any(e.name == "IVR_CALL" for e in events):
                view = fold(linkedid, events)
                view.outcome = None  # decided once the call is over, by the record
                self._tell(view)

    def view(self, linkedid: str) -> CallView | None:
        """The call as far as it has gone (no record yet), or None."""
        events = self.live.get(linkedid)
        if not events or not any(e.name == "IVR_CALL" for e in events):
            return None
        view = fold(linkedid, events)
        view.outcome = None
        return view

    def on_recorded(self, recorded: Recorded) -> None:
        """The recorder's output (called on the main loop by ``ivr.calls.consumer``)."""
        for record in recorded.records:
            for on_record in self.record_listeners:
                try:
                    on_record(record)
                except Exception:
                    log.exception("a record listener failed on %s", record.name)
        for view in recorded.views:
            self.live.pop(view.linkedid, None)
            self._dirty.discard(view.linkedid)
            self._tell(view)

    def _tell(self, view: CallView) -> None:
        for on_view in self.listeners:
            try:
                on_view(view)
            except Exception:
                log.exception("a call listener failed on %s", view.linkedid)
