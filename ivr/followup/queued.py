"""Queued callbacks (issue 10): a caller waiting in a pool presses 1 to keep their place and
hang up; the place goes back into the same queue as a Local channel, so app_queue decides the
turn; the operator who takes it rings first, then the citizen (docs/followup.md).

The offer is made only to callers the controller allows (``Controller.queued_callback_offer``:
the callback guard would dial their number) after ``[autocallback] queue_offer_seconds``; the
dialplan (``ivr-step-pool-qcb``) sends ``IVR_QCB_REQUEST queue=<queue>;pos=<QUEUEPOSITION>``
and ends the call. Once the call's record is written (it has ``view.queued``), :class:`Queued`
opens its missed case (as for any unanswered call; idempotent), marks the case's callback duty
``queued`` — so the automatic callbacks leave it alone — and places the callback through
:func:`ivr.followup.callback.place_callback` (the guard once more) with the channel
``Local/<position>-<queue>@ivr-qcb-queue`` and linkedid ``ivrqc-…``: a call record of kind
``queued-callback``, a ``callbacks`` row on the case moved by the callback tracker.
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import select, update

from ivr.asterisk.ami import AmiClient
from ivr.calls.fold import QUEUED_PREFIX, CallView
from ivr.core.config import Config
from ivr.core.errors import IvrError
from ivr.db.followup_models import Case
from ivr.db.models import Call
from ivr.db.session import Db
from ivr.followup.callback import place_callback
from ivr.followup.deadlines import Deadlines
from ivr.followup.ingest import _missed_case

log = logging.getLogger(__name__)
QUEUE_PREFIX = "pool-"  # app_queue's name of a pool


class Queued:
    """A ``LiveCalls`` listener: places the queued callback of each recorded call that asked."""

    def __init__(self, db: Db, ami: AmiClient | None, config: Config,
                 deadlines: Deadlines) -> None:
        self.db, self.ami, self.config, self.deadlines = db, ami, config, deadlines
        self._tasks: set[asyncio.Task[int | None]] = set()

    def __call__(self, view: CallView) -> None:
        if view.outcome is not None and view.queued and view.kind == "citizen":
            task = asyncio.create_task(self.place(view.linkedid, view.queued),
                                       name=f"queued-callback-{view.linkedid}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def place(self, linkedid: str, queued: str) -> int | None:
        """The callback's case id, or None (placed already, refused, no such call)."""
        queue, _, pos = queued.partition("^")
        if not queue.startswith(QUEUE_PREFIX) or not pos.isdigit():
            return None
        await _missed_case(self.db, self.deadlines, linkedid)
        async with self.db() as session, session.begin():
            case_id = await session.scalar(select(Case.id).join(Call, Case.call_id == Call.id)
                                           .where(Call.linkedid == linkedid))
            if case_id is None:
                return None
            won = await session.execute(update(Case).where(
                Case.id == case_id, Case.callback_duty.is_(None)).values(callback_duty="queued"))
            if won.rowcount != 1:  # type: ignore[attr-defined]
                return None  # placed already (a replay, another pass)
        try:
            await place_callback(
                self.db, self.ami, case_id, f"pool:{queue[len(QUEUE_PREFIX):]}",
                f"queued:{linkedid}"[:80], outbound=self.config.outbound,
                node=self.config.node.name,
                ring_seconds=self.config.autocallback.citizen_ring_seconds,
                channel=f"Local/{pos}-{queue}@ivr-qcb-queue", prefix=QUEUED_PREFIX,
                first_ring=self.config.autocallback.queue_hold_seconds)
        except IvrError as exc:
            log.warning("queued callback of %s not placed: %s", linkedid, exc.message)
            return None
        log.info("queued callback of %s placed in %s at position %s", linkedid, queue, pos)
        return case_id

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
