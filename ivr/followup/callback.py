"""Callbacks: the controller rings an operator's (or official's) phone, then the citizen.

Checked first by ``ivr.followup.callback_guard`` (own phone, dialling plan, altered caller IDs,
limits). AMI ``Originate`` to ``PJSIP/<endpoint>`` with ``IVR_CASE=<case id>`` and
``IVR_PRESENT=<the published number the citizen dialled>``; once that phone answers, it runs
``ivr-callback`` with the citizen's number as extension, which dials the carrier (presenting
``IVR_PRESENT``, ending both legs at ``[outbound] callback_max_seconds``) and emits CEL
``IVR_CALLBACK``, ``IVR_CALLBACK_ANSWERED`` and ``IVR_CALLBACK_END result=<DIALSTATUS>``.
The originated channel gets ``ChannelId = ivrcb-<case>-<token>``: that is the linkedid of every
event of the callback, which is how events find their callback row (live or replayed from the
journal; the handler is idempotent and only moves a callback forward).

States: ``originating`` (the first phone rings) → ``dialing`` (it answered, the citizen rings)
→ ``answered`` (the citizen answered: the case becomes ``called_back``) → ``ended``; or
``failed`` (the first phone did not answer, or AMI refused).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from ivr.asterisk.ami import AmiClient, AmiDisconnected, AmiError
from ivr.calls.events import CelRecord
from ivr.calls.fold import QUEUED_PREFIX
from ivr.core.errors import CallbackFailed, InvalidTransition, IvrError, NoCallbackNumber
from ivr.core.identity import Identity
from ivr.core.outbound import OutboundConfig
from ivr.core.timeutil import utcnow
from ivr.db.followup_models import Callback, Case
from ivr.db.session import Db
from ivr.followup import callback_guard as guard
from ivr.followup.cases import TRANSITIONS, add_event, callback_number, load_case

log = logging.getLogger(__name__)
PREFIX = "ivrcb-"
PREFIXES = (PREFIX, QUEUED_PREFIX)  # a queued callback's legs are a callback's too
CEL_NAMES = frozenset({"IVR_CALLBACK", "IVR_CALLBACK_ANSWERED", "IVR_CALLBACK_END",
                       "HANGUP", "LINKEDID_END"})
_RANK = {"originating": 0, "dialing": 1, "answered": 2, "ended": 3, "failed": 3}
RING_SECONDS = 30
AUTO_PREFIX = "auto:"  # placed_by of an automatic attempt: auto:<callback job id>


async def place_callback(db: Db, ami: AmiClient | None, case_id: int, endpoint: Any,
                         actor: str, *, who: Identity | None = None,
                         outbound: OutboundConfig | None = None, node: str = "",
                         ring_seconds: int | None = None, channel: str | None = None,
                         prefix: str = PREFIX, first_ring: int = 0) -> Callback:
    """Check the callback (``ivr.followup.callback_guard``), record it on the case, then ask
    Asterisk to place it. ``who``: the asker (None or the system identity: any phone, named,
    or ``pool:<name>``: an operator of that pool through app_queue). ``ring_seconds``: how long
    the citizen's phone rings (default 60). A queued callback gives its ``channel`` (a Local
    channel into the queue), its linkedid ``prefix`` and how long it may wait (``first_ring``)."""
    outbound = outbound or OutboundConfig()
    refused: IvrError | None = None
    number = ""
    async with db() as session, session.begin():
        case = await load_case(session, case_id, lock=True)
        caller = case.caller
        try:
            endpoint = await guard.phone_for(session, who, endpoint)
            if case.status == "resolved":
                raise InvalidTransition(f"case {case_id} is resolved: no callback",
                                        {"status": case.status})
            number = callback_number(case.caller) or ""
            if not number:
                raise NoCallbackNumber(f"case {case_id} has no caller number to call back",
                                       {"caller": case.caller})
            number = guard.check_number(number, outbound)
            await guard.check_caller(session, case)
            present = await guard.presented_number(session, case)
            await guard.check_limits(session, case.id, outbound, node)
        except guard.AUDITED as exc:
            refused = exc
        else:
            cb = Callback(case_id=case.id, placed_by=actor[:80], endpoint=endpoint,
                          number=number, node=node,
                          linkedid=f"{prefix}{case.id}-{secrets.token_hex(6)}",
                          state="originating")
            case.callbacks.append(cb)
            add_event(case, actor, "callback", None, endpoint,
                      note=f"calling {number} via {endpoint}, caller ID {present}")
    if refused is not None:
        await guard.audit_refusal(db, actor, case_id, refused, number=number or caller,
                                  endpoint=endpoint if isinstance(endpoint, str) else None)
        raise refused
    try:
        if ami is None:
            raise AmiDisconnected("no AMI connection")
        ring = f",IVR_RING={int(ring_seconds)}" if ring_seconds else ""
        await ami.action("Originate", Channel=channel or first_channel(endpoint),
                         Context="ivr-callback",
                         Exten=number, Priority="1",
                         Variable=f"IVR_CASE={case_id},IVR_PRESENT={present}{ring}",
                         ChannelId=cb.linkedid, CallerID=f'"callback {case_id}" <{number}>',
                         Timeout=str((first_ring or RING_SECONDS) * 1000), Async="true")
    except (TimeoutError, AmiDisconnected, AmiError) as exc:
        await _update(db, cb.linkedid, "failed", result="AMI", note=str(exc))
        raise CallbackFailed(f"Asterisk did not accept the callback: {exc}",
                             {"callback_id": cb.id}) from None
    return cb


def first_channel(endpoint: str) -> str:
    """The channel rung first: a phone, or ``pool:<name>`` — a Local channel that waits in the
    pool's queue (``ivr-callback-queue``), so app_queue picks the operator."""
    if endpoint.startswith(guard.POOL_PREFIX):
        return f"Local/{endpoint[len(guard.POOL_PREFIX):]}@ivr-callback-queue"
    return f"PJSIP/{endpoint}"


async def _update(db: Db, linkedid: str, state: str, *, result: str | None = None,
                  when: datetime | None = None, note: str = "") -> None:
    async with db() as session, session.begin():
        cb = await session.scalar(select(Callback).where(Callback.linkedid == linkedid))
        if cb is None or _RANK[state] < _RANK[cb.state] or cb.state in ("ended", "failed"):
            return
        if state == cb.state and result is None:
            return
        when = when or utcnow()
        cb.state = state
        if result is not None:
            cb.result = result[:24]
        if state == "answered" and cb.answered_at is None:
            cb.answered_at = when
        if state in ("ended", "failed"):
            cb.ended_at = cb.ended_at or when
            if state == "ended" and cb.answered_at is not None:
                cb.result = "ANSWER"
        case = await load_case(session, cb.case_id)
        automatic = cb.placed_by.startswith(AUTO_PREFIX)  # its duty is settled by the scheduler
        if state == "answered" and not automatic and "called_back" in TRANSITIONS[case.status]:
            old, case.status = case.status, "called_back"
            add_event(case, cb.placed_by, "status", old, "called_back",
                      note=f"citizen answered the callback via {cb.endpoint}", at=when)
        elif state in ("failed", "ended") and cb.answered_at is None:
            add_event(case, "system", "callback_failed", None, cb.result,
                      note=note or f"callback via {cb.endpoint} not answered", at=when)


async def on_record(db: Db, rec: CelRecord) -> None:
    """Apply one CEL event to its callback (idempotent; events may come twice or late)."""
    if not rec.linkedid.startswith(PREFIXES) or rec.name not in CEL_NAMES:
        return
    when = datetime.fromtimestamp(rec.eventtime, UTC)
    if rec.name == "IVR_CALLBACK":
        await _update(db, rec.linkedid, "dialing", when=when)
    elif rec.name == "IVR_CALLBACK_ANSWERED":
        await _update(db, rec.linkedid, "answered", when=when)
    elif rec.name == "IVR_CALLBACK_END":
        status = rec.fields.get("result", "") or "UNKNOWN"
        await _update(db, rec.linkedid, "ended", result=status, when=when)
    elif rec.uniqueid == rec.linkedid:  # the first phone's channel ended
        async with db() as session:
            cb = await session.scalar(select(Callback).where(Callback.linkedid == rec.linkedid))
        if cb is not None and cb.state == "originating":  # it never answered
            cause = rec.fields.get("hangupcause", "")
            await _update(db, rec.linkedid, "failed", result="PHONE_NOANSWER", when=when,
                          note=f"{cb.endpoint} did not answer (hangup cause {cause or '?'})")
        elif cb is not None and cb.state in ("dialing", "answered"):
            await _update(db, rec.linkedid, "ended", when=when)


class CallbackTracker:
    """Feeds ``CallRecorder.record_listeners`` events to :func:`on_record`, in order (or, for
    another originated kind — the surveys —, its ``prefix``, event ``names`` and ``handler``)."""

    def __init__(self, db: Db, prefix: str | tuple[str, ...] = PREFIXES,
                 names: frozenset[str] = CEL_NAMES,
                 handler: Callable[[Db, CelRecord], Awaitable[None]] | None = None) -> None:
        self.db, self.prefix, self.names = db, prefix, names
        self.handler = handler or on_record
        self.queue: asyncio.Queue[CelRecord] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    def __call__(self, rec: CelRecord) -> None:
        if rec.linkedid.startswith(self.prefix) and rec.name in self.names:
            self.queue.put_nowait(rec)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="originated-call-tracker")

    async def _run(self) -> None:
        while True:
            rec = await self.queue.get()
            try:
                await self.handler(self.db, rec)
            except Exception:
                log.exception("could not apply %s to %s", rec.name, rec.linkedid)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


__all__ = ["place_callback", "on_record", "CallbackTracker", "Case"]
