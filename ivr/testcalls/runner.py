"""Placing and judging the test calls (issue 13), on every controller, every
``[testcalls] tick_seconds`` (docs/supervision.md, "Test calls"):

1. **plan** today's test calls of the daily schedules (``ivr.testcalls.schedules``);
2. **recover** the test calls claimed more than :data:`STALE` ago and never marked dialled (the
   node stopped in between; nothing was placed): back to ``pending``;
3. **settle** the dialled test calls whose call record is written: the result from the record
   (a callee answered, or where the route ended) and the test call's own CEL events
   (``IVR_TEST_ASK``: the announcement played; ``IVR_TEST_ACK key=``); one whose record never
   came ``lost_after_seconds`` after it was placed is ``lost`` — recorded, never dropped;
4. **claim** the test calls due (``ivr.followup.scheduler.claim``: one node each) and place
   them: marked ``dialled`` with their linkedid ``ivrtc-<id>-<token>`` first, then AMI Originate
   of ``Local/<the number as a citizen dials it>@ivr-citizens`` presenting ``[testcalls]
   caller`` — the citizens' entry, route, fallbacks and confirmation, and nothing a phone sees.

Live (:meth:`TestCallRunner.on_ami_cel`): when the Local channel's near half is answered, the
far half's step kind (AMI Getvar ``IVR_KIND``) says whether a callee is connected (direct,
deputy, pool) or a message or the voicemail answered; the near half is told over AMI Setvar
(``IVR_TC`` go / end) and announces, or hangs up (extensions/testcall.tmpl).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from ivr.asterisk.ami import AmiClient, AmiDisconnected, AmiError, Message
from ivr.calls.events import from_ami, parse_extra
from ivr.calls.fold import TEST_PREFIX
from ivr.core.config import Config
from ivr.core.numbers import dial_forms
from ivr.core.testcalls import ANSWERABLE, FAILED, LOST, judge
from ivr.core.timeutil import as_utc, utcnow
from ivr.db.models import Call, CallStep, CelEvent
from ivr.db.session import Db
from ivr.db.testcall_models import TestCall, TestSchedule
from ivr.followup.scheduler import claim
from ivr.testcalls import schedules

log = logging.getLogger(__name__)
STALE = timedelta(minutes=2)
EVENTS = ("IVR_TEST_ASK", "IVR_TEST_ACK", "IVR_TEST_END")


async def recover(db: Db, now: datetime) -> int:
    """Claimed and never dialled (the claiming node stopped before its Originate): pending."""
    async with db() as session, session.begin():
        done = await session.execute(update(TestCall).where(
            TestCall.state == "claimed", TestCall.claimed_at < now - STALE).values(
            state="pending", node="", claimed_at=None))
    return int(done.rowcount)  # type: ignore[attr-defined]


async def _finish(db: Db, test_id: int, **values: Any) -> None:
    async with db() as session, session.begin():
        await session.execute(update(TestCall).where(
            TestCall.id == test_id, TestCall.state == "dialled").values(state="done", **values))


async def settle(db: Db, now: datetime, lost_after: float) -> int:
    """Judge the dialled test calls whose record is written (or which are lost); how many."""
    async with db() as session:
        rows = (await session.execute(
            select(TestCall.id, TestCall.linkedid, TestCall.placed_at, Call)
            .outerjoin(Call, Call.linkedid == TestCall.linkedid)
            .where(TestCall.state == "dialled").order_by(TestCall.id))).all()
    settled = 0
    for test_id, linkedid, placed_at, call in rows:
        placed = as_utc(placed_at) if placed_at else now
        if call is None or call.outcome is None:
            if placed < now - timedelta(seconds=lost_after):
                await _finish(db, test_id, result=LOST, ended_at=now,
                              note="no call record: the call was lost (a restart or a crash)")
                settled += 1
            continue
        async with db() as session:
            events = (await session.execute(
                select(CelEvent.userdeftype, CelEvent.eventtime, CelEvent.extra)
                .where(CelEvent.linkedid == linkedid, CelEvent.userdeftype.in_(EVENTS))
                .order_by(CelEvent.eventtime))).all()
            steps = (await session.execute(
                select(CallStep.seq, CallStep.kind, CallStep.result).where(
                    CallStep.call_id == call.id).order_by(CallStep.seq))).all()
        asked = any(name == "IVR_TEST_ASK" for name, _, _ in events)
        acks = [(t, parse_extra(extra)[1].get("key", "")) for name, t, extra in events
                if name == "IVR_TEST_ACK"]
        key, key_at = (acks[0][1], acks[0][0]) if acks else (None, None)
        last = f"{steps[-1][0]}:{steps[-1][1]}:{steps[-1][2] or ''}"[:64] if steps else ""
        answered = call.outcome == "answered" and call.answered_kind in ANSWERABLE
        j = judge(call.outcome, answered, asked, key, last)
        started = as_utc(call.started_at)
        await _finish(
            db, test_id, result=j.result, ended=j.ended, call_id=call.id,
            official_id=call.official_id,
            answered_by=call.answered_by if answered else None,
            answered_role=call.answered_role if answered else None,
            answered_secs=round((as_utc(call.answered_at) - started).total_seconds(), 1)
            if answered and call.answered_at else None,
            ack_key=key, ack_secs=round(key_at - started.timestamp(), 1) if key_at and key else None,
            ended_at=as_utc(call.ended_at) if call.ended_at else now,
            note=f"call {call.outcome}" + (f", key {key!r}" if key not in (None, "", "1") else ""))
        settled += 1
    return settled


class TestCallRunner:
    """The steps above every ``tick_seconds``, and the live announcement trigger."""
    __test__ = False

    def __init__(self, db: Db, ami: AmiClient | None, config: Config) -> None:
        self.db, self.ami, self.config = db, ami, config
        self.settings = config.testcalls
        self.node = config.node.name
        # never before its call can have ended: ringing, then answered for max_seconds at most
        self.lost_after = max(self.settings.lost_after_seconds, float(
            self.settings.ring_seconds + self.settings.max_seconds + 300))
        self._task: asyncio.Task[None] | None = None
        self._live: set[asyncio.Task[None]] = set()

    async def once(self, now: datetime | None = None) -> dict[str, int]:
        now = now or utcnow()
        done = {"planned": await schedules.plan_days(self.db, now),
                "recovered": await recover(self.db, now),
                "settled": await settle(self.db, now, self.lost_after),
                "placed": 0}
        if self.settings.enabled:
            for test_id in await claim(self.db, self.node, now, model=TestCall):
                done["placed"] += await self.place(test_id, now)
        return done

    async def place(self, test_id: int, now: datetime) -> bool:
        """Place one claimed test call (True if Asterisk accepted it)."""
        async with self.db() as session, session.begin():
            tc = await session.get(TestCall, test_id)
            if tc is None or tc.state != "claimed":
                return False
            sched = await session.get(TestSchedule, tc.schedule_id)
            if sched is None or not sched.active:
                tc.state = "cancelled"
                return False
            tc.state, tc.placed_at = "dialled", now
            tc.linkedid = f"{TEST_PREFIX}{tc.id}-{secrets.token_hex(6)}"
            linkedid, number = tc.linkedid, tc.number
        caller = self.settings.caller
        try:
            if self.ami is None:
                raise AmiDisconnected("no AMI connection")
            await self.ami.action(
                "Originate", Channel=f"Local/{dial_forms(number)[-1]}@ivr-citizens",
                Context="ivr-testcall", Exten="s", Priority="1", ChannelId=linkedid,
                CallerID=f'"{caller}" <{caller}>', Timeout=str(self.settings.ring_seconds * 1000),
                Async="true")
        except (TimeoutError, AmiDisconnected, AmiError) as exc:
            await _finish(self.db, test_id, result=FAILED, ended_at=now,
                          note=f"Asterisk did not accept the test call: {exc}"[:255])
            log.warning("test call %s not placed: %s", test_id, exc)
            return False
        log.info("test call %s to %s placed by %s", test_id, number, self.node)
        return True

    def on_ami_cel(self, msg: Message) -> None:
        """AMI's CEL copy: the near half of a test call's Local channel was answered."""
        rec = from_ami(msg)
        if rec is None or rec.eventtype != "ANSWER" or not rec.linkedid.startswith(TEST_PREFIX) \
                or rec.uniqueid != rec.linkedid or not rec.channel.endswith(";1"):
            return
        task = asyncio.create_task(self.connected(rec.channel), name="test-call-answered")
        self._live.add(task)
        task.add_done_callback(self._live.discard)

    async def connected(self, near: str) -> None:
        """Tell the near half whether a callee is on the line (go) or not (end)."""
        assert self.ami is not None
        far = near[:-1] + "2"
        try:
            kind = (await self.ami.action("Getvar", Channel=far, Variable="IVR_KIND")).get(
                "Value", "")
            go = kind in ANSWERABLE
            if go:
                lang = (await self.ami.action("Getvar", Channel=far, Variable="IVR_LANG")).get(
                    "Value", "")
                await self.ami.action("Setvar", Channel=near, Variable="IVR_LANG", Value=lang)
            await self.ami.action("Setvar", Channel=near, Variable="IVR_TC",
                                  Value="go" if go else "end")
        except (TimeoutError, AmiDisconnected, AmiError) as exc:  # it hangs up by itself
            log.warning("test call %s: could not tell it to announce: %s", near, exc)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="test-calls")

    async def _run(self) -> None:
        while True:
            try:
                await self.once()
            except Exception:
                log.exception("test calls tick failed")
            await asyncio.sleep(self.settings.tick_seconds)

    async def close(self) -> None:
        for task in (self._task, *self._live):
            if task is not None:
                task.cancel()
        await asyncio.gather(*(t for t in (self._task, *self._live) if t is not None),
                             return_exceptions=True)


__all__ = ["TestCallRunner", "settle", "recover"]
