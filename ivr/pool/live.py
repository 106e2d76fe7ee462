"""The live console state: queue waiting counts from Asterisk's AMI queue events, the call offered
to or connected with each operator (AMI agent events, enriched from the call recorder's folds and
the stored records), fanned out to every open console (one asyncio.Queue per EventSource).

``ivr.pool.console`` serves it as Server-Sent Events; the console page never polls.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from ivr.asterisk.ami import AmiClient, AmiError, Message
from ivr.calls.fold import CallView
from ivr.calls.live import LiveCalls
from ivr.core.config import DEFAULT_TIMEZONE
from ivr.db.models import Call, Official, Operator, Setting
from ivr.db.session import Db
from ivr.db.settings import TIMEZONE_KEY
from ivr.http import localtime

log = logging.getLogger(__name__)
QUEUE_EVENTS = ("QueueCallerJoin", "QueueCallerLeave", "QueueCallerAbandon")
AGENT_EVENTS = ("AgentCalled", "AgentConnect", "AgentComplete", "AgentRingNoAnswer")
MEMBER_EVENTS = ("QueueMemberAdded", "QueueMemberRemoved", "QueueMemberPause")
AGENT_STATE = {"AgentCalled": "ringing", "AgentConnect": "connected", "AgentComplete": "ended",
               "AgentRingNoAnswer": "ended"}
LIVE_CALL_MAX = timedelta(hours=4)  # a call "in progress" longer than this is a lost end
# what a subscriber receives: (SSE event name, JSON-able data), or None when the hub closes
Item = tuple[str, Any] | None


def _apply(waiting: dict[str, float], msg: Message) -> None:
    """A queue event on the callers waiting in its queue (uniqueid -> joined at)."""
    if msg.get("Event") == "QueueCallerJoin":
        waiting[msg.get("Uniqueid", "")] = _ts(msg)
    else:
        waiting.pop(msg.get("Uniqueid", ""), None)


def _ts(msg: Message) -> float:
    try:
        return float(msg.get("Timestamp", ""))
    except ValueError:
        return time.time()


class LiveHub:
    """Fan-out of live queue and call state to the open consoles (one asyncio.Queue each)."""

    def __init__(self, db: Db, ami: AmiClient | None) -> None:
        self.db, self.ami = db, ami
        self.subscribers: dict[str, set[asyncio.Queue[Item]]] = {}
        self.waiting: dict[str, dict[str, float]] = {}  # queue -> caller uniqueid -> joined at
        self.linked: dict[str, str] = {}  # a waiting caller's uniqueid -> its call's linkedid
        self.views: OrderedDict[str, CallView] = OrderedDict()  # linkedid -> latest fold
        self.live: dict[str, dict[str, Any]] = {}  # operator endpoint -> live call payload
        self.phones: dict[str, str] = {}  # endpoint -> registration status, as last changed
        self.watchers: set[asyncio.Queue[Item]] = set()  # wallboards: every event, every operator
        # queue -> the queue events that arrived while a QueueStatus snapshot was in flight, one
        # list per snapshot (seed_queue replays them over the snapshot, which may predate them)
        self._seeding: dict[str, list[list[Message]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    # -- inputs -----------------------------------------------------------------------------
    def attach(self, ami: AmiClient, calls: LiveCalls) -> None:
        for name in QUEUE_EVENTS:
            ami.subscribe(name, self.on_queue_event)
        for name in AGENT_EVENTS:
            ami.subscribe(name, self.on_agent_event)
        for name in MEMBER_EVENTS:
            ami.subscribe(name, self.on_member_event)
        calls.listeners.append(self.on_view)

    def on_queue_event(self, msg: Message) -> None:
        queue, uid = msg.get("Queue", ""), msg.get("Uniqueid", "")
        for pending in self._seeding.get(queue, ()):
            pending.append(msg)
        _apply(self.waiting.setdefault(queue, {}), msg)
        if msg.get("Event") == "QueueCallerJoin":
            self.linked[uid] = msg.get("Linkedid") or uid
        else:
            self.linked.pop(uid, None)
        self.broadcast("queue", self.queue_state())

    def on_member_event(self, msg: Message) -> None:
        """An operator logged in, paused, resumed or logged out in app_queue: wallboards."""
        for q in self.watchers:
            q.put_nowait(("members", None))

    def on_agent_event(self, msg: Message) -> None:
        iface = msg.get("Interface") or msg.get("MemberName", "")
        endpoint = iface.split("/", 1)[1] if "/" in iface else iface
        state = AGENT_STATE.get(msg.get("Event", ""), "ringing")
        linkedid = msg.get("Linkedid") or msg.get("Uniqueid", "")
        current = self.live.get(endpoint)
        if state == "ended":
            if current is not None and current.get("linkedid") == linkedid:
                current["state"] = "ended"
                self.send(endpoint, "call", current)
            return
        cid_name = msg.get("CallerIDName", "")
        payload = {"linkedid": linkedid, "state": state, "queue": msg.get("Queue", ""),
                   "caller": msg.get("CallerIDNum", ""),
                   "official_hint": cid_name.split("/", 1)[0] if "/" in cid_name else cid_name,
                   "since": _ts(msg)}
        if current is not None and current.get("linkedid") == linkedid:
            current.update(state=state)
            payload = current
        self.live[endpoint] = payload
        self.send(endpoint, "call", payload)
        if "official" not in payload:
            self._spawn(self._enrich(endpoint, linkedid))

    def on_view(self, view: CallView) -> None:
        known = self.views.get(view.linkedid)
        if known is not None and known.outcome is not None and view.outcome is None:
            return  # the record is final: a live fold of late AMI events does not undo it
        if known is None or known.outcome != view.outcome:  # a call began or ended: wallboards
            for q in self.watchers:
                q.put_nowait(("calls", None))
        self.views[view.linkedid] = view
        self.views.move_to_end(view.linkedid)
        while len(self.views) > 2000:
            self.views.popitem(last=False)

    def on_registration(self, endpoint: str, status: str) -> None:
        """A phone (un)registered: its operator's console gets their state (maybe paused or
        resumed by the system) and the phone's status; every page gets ``phones``."""
        self.phones[endpoint] = status
        self.broadcast("phones", dict(self.phones))
        self._spawn(self._send_operator(endpoint, status))

    async def _send_operator(self, endpoint: str, status: str) -> None:
        async with self.db() as session:
            op = await session.scalar(select(Operator).where(Operator.endpoint == endpoint))
        if op is not None:
            self.send(endpoint, "operator", {"state": op.state, "paused_reason": op.paused_reason,
                                             "auto_paused": op.auto_paused, "phone": status})

    # -- enrichment -------------------------------------------------------------------------
    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _enrich(self, endpoint: str, linkedid: str) -> None:
        try:
            details = await self.call_details(linkedid)
        except Exception:
            log.exception("console: could not look up call %s", linkedid)
            return
        current = self.live.get(endpoint)
        if current is None or current.get("linkedid") != linkedid:
            return
        current.update(details)
        self.send(endpoint, "call", current)

    async def call_details(self, linkedid: str, wait: float = 3.0) -> dict[str, Any]:
        """Number dialed, whose it is, caller and this caller's earlier calls (from the fold the
        recorder made of this call's events, else the stored call record)."""
        deadline = time.monotonic() + wait
        dialed, official_id, caller = "", None, ""
        while True:
            view = self.views.get(linkedid)
            if view is not None and view.official_id is not None:
                dialed, official_id, caller = view.number_dialed, view.official_id, view.caller
                break
            async with self.db() as session:
                call = await session.scalar(select(Call).where(Call.linkedid == linkedid))
            if call is not None and call.official_id is not None:
                dialed, official_id, caller = call.number_dialed, call.official_id, call.caller
                break
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
        out: dict[str, Any] = {"dialed": dialed}
        if caller:
            out["caller"] = caller
        async with self.db() as session:
            if official_id is not None:
                o = await session.scalar(select(Official).where(Official.id == official_id)
                                         .options(selectinload(Official.numbers)))
                if o is not None:
                    out["official"] = {"id": o.id, "slug": o.slug, "name": o.name,
                                       "display_name": o.display_name, "department": o.department}
            who = caller or (self.live_caller(linkedid) or "")
            out["earlier"] = await earlier_calls(session, who, linkedid) if who else []
        return out

    def live_caller(self, linkedid: str) -> str | None:
        for payload in self.live.values():
            if payload.get("linkedid") == linkedid:
                return payload.get("caller")
        return None

    # -- outputs ----------------------------------------------------------------------------
    def live_calls(self) -> set[str]:
        """The linkedids of the calls going on now, as the live events show them: callers
        waiting in a queue, calls ringing or connected to an operator, and citizens' calls the
        recorder's live folds have without an outcome yet (ringing an official, in the menu,
        leaving a message). A call in several of these is counted once."""
        out = {self.linked.get(uid, uid) for w in self.waiting.values() for uid in w}
        out |= {p["linkedid"] for p in self.live.values()
                if p.get("state") in ("ringing", "connected") and p.get("linkedid")}
        oldest = datetime.now(UTC) - LIVE_CALL_MAX  # a fold whose end AMI never told
        out |= {lid for lid, v in self.views.items() if v.outcome is None and v.kind == "citizen"
                and (v.started_at is None or v.started_at >= oldest)}
        # a call recorded (over) is not in progress, whatever an agent event left behind (a
        # caller who hangs up while an operator's phone rings ends no agent's ringing)
        return out - {lid for lid, v in self.views.items() if v.outcome is not None}

    def queue_state(self) -> dict[str, dict[str, Any]]:
        return {q: {"waiting": len(w), "oldest": min(w.values()) if w else None}
                for q, w in self.waiting.items()}

    def subscribe(self, endpoint: str) -> asyncio.Queue[Item]:
        """A queue of what the console of ``endpoint`` should show from now on."""
        q: asyncio.Queue[Item] = asyncio.Queue()
        self.subscribers.setdefault(endpoint, set()).add(q)
        return q

    def unsubscribe(self, endpoint: str, q: asyncio.Queue[Item]) -> None:
        self.subscribers.get(endpoint, set()).discard(q)

    def watch(self) -> asyncio.Queue[Item]:
        """A queue of every event sent to any console (a wallboard)."""
        q: asyncio.Queue[Item] = asyncio.Queue()
        self.watchers.add(q)
        return q

    def unwatch(self, q: asyncio.Queue[Item]) -> None:
        self.watchers.discard(q)

    def send(self, endpoint: str, event: str, data: Any) -> None:
        for q in self.subscribers.get(endpoint, ()):
            q.put_nowait((event, data))
        for q in self.watchers:
            q.put_nowait((event, data))

    def broadcast(self, event: str, data: Any) -> None:
        for subs in self.subscribers.values():
            for q in subs:
                q.put_nowait((event, data))
        for q in self.watchers:
            q.put_nowait((event, data))

    async def seed_queue(self, queue: str) -> None:
        """The callers waiting now, from Asterisk (after a controller restart, say)."""
        if self.ami is None or not self.ami.logged_in.is_set():
            return
        pending: list[Message] = []
        self._seeding.setdefault(queue, []).append(pending)
        try:
            events = await self.ami.action_list("QueueStatus", Queue=queue, timeout=5)
        except (TimeoutError, AmiError, ConnectionError) as exc:
            log.warning("console: QueueStatus %s failed: %s", queue, exc)
            return
        finally:
            self._seeding[queue].remove(pending)
            if not self._seeding[queue]:
                del self._seeding[queue]
        now = time.time()
        entries = {}
        for ev in events:
            if ev.get("Event") == "QueueEntry" and ev.get("Queue") == queue:
                try:
                    entries[ev.get("Uniqueid", "")] = now - float(ev.get("Wait", "0"))
                except ValueError:
                    continue
        for msg in pending:  # joins and leaves the snapshot may not have seen yet: both idempotent
            _apply(entries, msg)
        self.waiting[queue] = entries

    def close(self) -> None:
        for subs in [*self.subscribers.values(), self.watchers]:
            for q in subs:
                q.put_nowait(None)
        for task in list(self._tasks):
            task.cancel()


HUB = web.AppKey("live_hub", LiveHub)


async def earlier_calls(session: AsyncSession, caller: str, exclude_linkedid: str = "",
                        limit: int = 10) -> list[dict[str, Any]]:
    rows = (await session.scalars(
        select(Call).where(Call.caller == caller, Call.linkedid != exclude_linkedid)
        .order_by(Call.started_at.desc()).limit(limit))).all()
    setting = await session.get(Setting, TIMEZONE_KEY)
    try:
        tz = ZoneInfo(str(setting.value if setting is not None else DEFAULT_TIMEZONE))
    except (KeyError, ValueError):
        tz = ZoneInfo(DEFAULT_TIMEZONE)
    ids = {c.official_id for c in rows if c.official_id}
    names: dict[int | None, str] = {}
    if ids:
        for o in (await session.scalars(select(Official).where(Official.id.in_(ids)))).all():
            names[o.id] = o.display_name
    return [{"id": c.id, "started_at": c.started_at.isoformat(timespec="seconds") if c.started_at else "",
             "at": localtime.when(c.started_at, tz, "zh"),  # the city's time, for the console
             "dialed": c.number_dialed, "official": names.get(c.official_id, ""),
             "outcome": c.outcome or "in-progress", "answered_by": c.answered_by or ""} for c in rows]
