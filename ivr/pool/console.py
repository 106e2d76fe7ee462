"""Operator console: my queue state, the live call (number dialed and whose it is, caller, this
caller's earlier calls), queue waiting count and longest wait — pushed to the page with
Server-Sent Events fed by Asterisk's AMI queue events and the call recorder's re-folded calls.
The page never polls: one EventSource per open console.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import OrderedDict
from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from ivr.asterisk.ami import AmiError, Message
from ivr.calls.fold import CallView
from ivr.db.models import Call, Official, Operator
from ivr.db.session import Db
from ivr.core.errors import IvrError, UnknownOperator
from ivr.pool import service as pool_service
from ivr.web.compat import add_rules
from ivr.http import identity_of
from ivr.web.keys import CONTROLLER, DB_SESSIONMAKER
from ivr.web.pages import csrf_field, esc, page, t

log = logging.getLogger(__name__)
KEEPALIVE = 15.0
QUEUE_EVENTS = ("QueueCallerJoin", "QueueCallerLeave", "QueueCallerAbandon")
AGENT_EVENTS = ("AgentCalled", "AgentConnect", "AgentComplete", "AgentRingNoAnswer")
AGENT_STATE = {"AgentCalled": "ringing", "AgentConnect": "connected", "AgentComplete": "ended",
               "AgentRingNoAnswer": "ended"}


def _ts(msg: Message) -> float:
    try:
        return float(msg.get("Timestamp", ""))
    except ValueError:
        return time.time()


class LiveHub:
    """Fan-out of live queue and call state to the open consoles (one asyncio.Queue each)."""

    def __init__(self, db: Db, ami: Any) -> None:
        self.db, self.ami = db, ami
        self.subscribers: dict[str, set[asyncio.Queue[tuple[str, Any] | None]]] = {}
        self.waiting: dict[str, dict[str, float]] = {}  # queue -> caller uniqueid -> joined at
        self.views: OrderedDict[str, CallView] = OrderedDict()  # linkedid -> latest fold
        self.live: dict[str, dict[str, Any]] = {}  # operator endpoint -> live call payload
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- inputs -----------------------------------------------------------------------------
    def attach(self, ami: Any, recorder: Any) -> None:
        for name in QUEUE_EVENTS:
            ami.subscribe(name, self.on_queue_event)
        for name in AGENT_EVENTS:
            ami.subscribe(name, self.on_agent_event)
        recorder.listeners.append(self.on_view)

    def on_queue_event(self, msg: Message) -> None:
        queue, uid = msg.get("Queue", ""), msg.get("Uniqueid", "")
        waiting = self.waiting.setdefault(queue, {})
        if msg.get("Event") == "QueueCallerJoin":
            waiting[uid] = _ts(msg)
        else:
            waiting.pop(uid, None)
        self.broadcast("queue", self.queue_state())

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
        self.views[view.linkedid] = view
        self.views.move_to_end(view.linkedid)
        while len(self.views) > 2000:
            self.views.popitem(last=False)

    # -- enrichment -------------------------------------------------------------------------
    def _spawn(self, coro: Any) -> None:
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
    def queue_state(self) -> dict[str, dict[str, Any]]:
        return {q: {"waiting": len(w), "oldest": min(w.values()) if w else None}
                for q, w in self.waiting.items()}

    def send(self, endpoint: str, event: str, data: Any) -> None:
        for q in self.subscribers.get(endpoint, ()):
            q.put_nowait((event, data))

    def broadcast(self, event: str, data: Any) -> None:
        for subs in self.subscribers.values():
            for q in subs:
                q.put_nowait((event, data))

    async def seed_queue(self, queue: str) -> None:
        """The callers waiting now, from Asterisk (after a controller restart, say)."""
        if self.ami is None or not self.ami.logged_in.is_set():
            return
        try:
            events = await self.ami.action_list("QueueStatus", Queue=queue, timeout=5)
        except (AmiError, asyncio.TimeoutError, ConnectionError) as exc:
            log.warning("console: QueueStatus %s failed: %s", queue, exc)
            return
        now = time.time()
        entries = {}
        for ev in events:
            if ev.get("Event") == "QueueEntry" and ev.get("Queue") == queue:
                try:
                    entries[ev.get("Uniqueid", "")] = now - float(ev.get("Wait", "0"))
                except ValueError:
                    continue
        self.waiting[queue] = entries

    def close(self) -> None:
        for subs in self.subscribers.values():
            for q in subs:
                q.put_nowait(None)
        for task in list(self._tasks):
            task.cancel()


HUB = web.AppKey("live_hub", LiveHub)


async def earlier_calls(session: Any, caller: str, exclude_linkedid: str = "",
                        limit: int = 10) -> list[dict[str, Any]]:
    rows = (await session.scalars(
        select(Call).where(Call.caller == caller, Call.linkedid != exclude_linkedid)
        .order_by(Call.started_at.desc()).limit(limit))).all()
    ids = {c.official_id for c in rows if c.official_id}
    names = {}
    if ids:
        for o in (await session.scalars(select(Official).where(Official.id.in_(ids)))).all():
            names[o.id] = o.display_name
    return [{"id": c.id, "started_at": c.started_at.isoformat(timespec="seconds") if c.started_at else "",
             "dialed": c.number_dialed, "official": names.get(c.official_id, ""),
             "outcome": c.outcome or "in-progress", "answered_by": c.answered_by or ""} for c in rows]


# --- pages ---------------------------------------------------------------------------------

async def _operator(request: web.Request) -> Operator:
    ident = identity_of(request)
    endpoint = ident.operator_endpoint if ident else None
    async with request.config_dict[DB_SESSIONMAKER]() as session:
        op = await session.scalar(select(Operator).where(Operator.endpoint == endpoint)
                                  .options(selectinload(Operator.pool)))
    if op is None:
        raise UnknownOperator(
            f"此账号未关联话务员分机 / this account has no operator endpoint ({endpoint!r})")
    return op


async def console_page(request: web.Request, *, error: str = "", status: int = 200) -> web.Response:
    op = await _operator(request)
    opts = "".join(f'<option value="{s}"{" selected" if s == op.state else ""}>{esc(t(request, s))}</option>'
                   for s in pool_service.STATES)
    cases_note = f'<p class="note" id="case-note">{esc(t(request, "no_cases"))}</p>'
    case_form = request.config_dict.get(CASE_FORM)
    body = f"""<section class="card" id="my-state">
<h2>{esc(t(request, "my_state"))}: <span id="state" data-state="{esc(op.state)}">{esc(t(request, op.state))}</span>
{f'<small id="paused-reason">({esc(op.paused_reason)})</small>' if op.state == "paused" else ""}</h2>
<p>{esc(t(request, "operator_of"))}: <code>{esc(op.endpoint)}</code> · {esc(t(request, "queue"))}: <code>{esc(op.pool.queue)}</code></p>
<form method="post" action="/console/state" id="state-form">{csrf_field(request)}
<select name="state" id="state-select">{opts}</select>
<input name="reason" id="state-reason" maxlength="80" placeholder="{esc(t(request, "pause_reason"))}">
<button type="submit" id="state-submit">{esc(t(request, "set_state"))}</button></form></section>
<section class="card" id="queue" data-queue="{esc(op.pool.queue)}">
<h2>{esc(t(request, "queue"))} {esc(op.pool.queue)}</h2>
<p>{esc(t(request, "waiting"))}: <strong id="q-waiting">0</strong> ·
{esc(t(request, "longest"))}: <strong id="q-longest" data-oldest="">0</strong> s</p></section>
<section class="card" id="live-call" data-state="none">
<h2>{esc(t(request, "live_call"))}: <span id="call-state">{esc(t(request, "no_call"))}</span></h2>
<dl><dt>{esc(t(request, "whose"))}</dt><dd id="call-official">–</dd>
<dt>{esc(t(request, "dialed"))}</dt><dd id="call-dialed">–</dd>
<dt>{esc(t(request, "caller"))}</dt><dd id="call-caller">–</dd></dl>
<h3>{esc(t(request, "earlier"))}</h3>
<table id="earlier"><thead><tr><th>{esc(t(request, "at"))}</th><th>{esc(t(request, "dialed"))}</th>
<th>{esc(t(request, "official"))}</th><th>{esc(t(request, "outcome"))}</th></tr></thead><tbody></tbody></table>
{case_form(request) if case_form else cases_note}</section>
<div id="i18n" hidden data-text="{esc(json.dumps({k: t(request, k) for k in ("ringing", "connected", "ended", "no_call")}, ensure_ascii=False))}"></div>"""
    return page(request, "console", body, error=error, status=status, scripts=["ivr.js", "cases.js"])


async def get_console(request: web.Request) -> web.Response:
    return await console_page(request)


async def post_state(request: web.Request) -> web.Response:
    op = await _operator(request)
    form = await request.post()
    state, reason = str(form.get("state", "")), str(form.get("reason", "")).strip()
    if state == "paused" and not reason:
        return await console_page(request, status=400,
                                  error="暂停时请填写原因 / a pause needs a reason")
    ctrl = request.config_dict.get(CONTROLLER)
    try:
        await pool_service.set_state(request.config_dict[DB_SESSIONMAKER], getattr(ctrl, "ami", None),
                                     op.endpoint, state, reason)
    except IvrError as exc:
        return await console_page(request, error=str(exc), status=exc.status)
    raise web.HTTPSeeOther("/console")


async def console_events(request: web.Request) -> web.StreamResponse:
    """Server-Sent Events for this operator: ``queue`` (waiting count, oldest join time) and
    ``call`` (the live call offered to or connected with this operator)."""
    op = await _operator(request)
    hub = request.config_dict[HUB]
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store",
                                       "X-Accel-Buffering": "no"})
    await resp.prepare(request)
    q: asyncio.Queue[tuple[str, Any] | None] = asyncio.Queue()
    hub.subscribers.setdefault(op.endpoint, set()).add(q)
    try:
        await hub.seed_queue(op.pool.queue)
        await _emit(resp, "queue", hub.queue_state())
        if op.endpoint in hub.live:
            await _emit(resp, "call", hub.live[op.endpoint])
        while True:
            try:
                item = await asyncio.wait_for(q.get(), KEEPALIVE)
            except asyncio.TimeoutError:
                await resp.write(b": keepalive\n\n")
                continue
            if item is None:
                break
            await _emit(resp, *item)
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        hub.subscribers.get(op.endpoint, set()).discard(q)
    return resp


async def _emit(resp: web.StreamResponse, event: str, data: Any) -> None:
    await resp.write(f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode())


# Issue 3's cases module may register a callable(request) -> HTML of the quick case form.
CASE_FORM = web.AppKey("console_case_form", object)


async def _hub_ctx(app: web.Application) -> Any:
    ctrl = app.get(CONTROLLER)
    hub = LiveHub(app[DB_SESSIONMAKER], getattr(ctrl, "ami", None))
    if ctrl is not None:
        hub.attach(ctrl.ami, ctrl.recorder)
    app[HUB] = hub
    yield
    hub.close()


async def _on_shutdown(app: web.Application) -> None:
    hub = app.get(HUB)
    if hub is not None:
        hub.close()


add_rules([
    ("GET", "/console", ["operator"], None),
    ("POST", "/console/state", ["operator"], None),
    ("GET", "/console/events", ["operator"], None),
])


def setup_console(app: web.Application) -> None:
    app.cleanup_ctx.append(_hub_ctx)
    app.on_shutdown.append(_on_shutdown)
    app.router.add_get("/console", get_console)
    app.router.add_post("/console/state", post_state)
    app.router.add_get("/console/events", console_events)
