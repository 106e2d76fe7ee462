"""Operator console: my queue state, the live call (number dialed and whose it is, caller, this
caller's earlier calls), queue waiting count and longest wait — pushed to the page with
Server-Sent Events (``GET /console/events``) from the live hub (``ivr.pool.live``). The page
never polls: one EventSource per open console.

Another feature may add a panel under the live call (``CASE_FORM``: the quick case form of
``ivr.followup``): a template of its own and that template's context, never HTML.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from ivr.asterisk.ami import AmiClient
from ivr.calls.live import LiveCalls
from ivr.core.constants import OUTCOMES
from ivr.core.errors import InvalidOperatorState, IvrError, UnknownOperator
from ivr.db.models import Operator
from ivr.http import DB, ROUTES, Routes, require_identity
from ivr.http.keys import PHONE_STATUS_TEXTS
from ivr.http.pages import MESSAGES, NAV, error_text, render, t
from ivr.pool import service as pool_service
from ivr.pool.live import HUB, Item, LiveHub
from ivr.pool.registrations import REGISTRATIONS, STATUSES, Registrations

__all__ = ["CASE_FORM", "HUB", "LiveHub", "Panel", "routes", "setup"]

KEEPALIVE = 15.0
routes = Routes("console")

TEXTS: dict[str, tuple[str, str]] = {
    "console.title": ("话务台", "Operator console"),
    "console.my_state": ("我的接听状态", "My queue state"), "console.set_state": ("设置", "Set"),
    "console.state.ready": ("已签入队列·就绪", "in the queue, ready"),
    "console.state.paused": ("暂停接听", "paused"),
    "console.state.logged_out": ("未签入队列（不接来电）", "not in the queue (no calls)"),
    "console.seconds": ("秒", "s"),
    "console.outcome.answered": ("已接听", "answered"),
    "console.outcome.voicemail": ("留言", "voicemail"),
    "console.outcome.missed": ("未接", "missed"),
    "console.outcome.abandoned": ("来电者挂断", "abandoned"),
    "console.outcome.refused": ("已拒绝", "refused"),
    "console.outcome.interrupted": ("中断", "interrupted"),
    "console.outcome.in-progress": ("进行中", "in progress"),
    "console.pause_reason": ("暂停原因", "Pause reason"), "console.endpoint": ("分机", "Endpoint"),
    "console.queue": ("队列", "Queue"), "console.waiting": ("排队人数", "Waiting"),
    "console.longest": ("最长等待", "Longest wait"),
    "console.live_call": ("当前来电", "Live call"), "console.no_call": ("暂无来电", "No call"),
    "console.whose": ("号码归属", "Whose number"), "console.dialed": ("拨打号码", "Number dialed"),
    "console.caller": ("来电号码", "Caller"),
    "console.earlier": ("此来电者的历史来电", "This caller's earlier calls"),
    "console.at": ("时间", "At"), "console.official": ("领导", "Official"),
    "console.outcome": ("结果", "Outcome"),
    "console.ringing": ("振铃中", "ringing"), "console.connected": ("通话中", "connected"),
    "console.ended": ("已结束", "ended"),
    "console.no_cases": ("工单功能尚未启用", "Cases are not available yet"),
    "console.phone": ("我的电话", "My phone"),
}
# the live call's states as the script shows them (ivr/web/static/ivr.js reads #i18n)
LIVE_STATES = ("ringing", "connected", "ended", "no_call")


@dataclass(frozen=True)
class Panel:
    """A part of the console page that another feature renders: its template (which extends
    nothing; the console includes it with ``panel`` set to ``context``) and its context."""
    template: str
    context: Mapping[str, Any]


CasePanel = Callable[[web.Request], Panel]
# the quick "open a case from this call" form, set by the cases feature (ivr.followup.pages)
CASE_FORM = web.AppKey[CasePanel]("console_case_form")


async def _operator(request: web.Request) -> Operator:
    endpoint = require_identity(request).operator_endpoint
    async with request.config_dict[DB]() as session:
        op = await session.scalar(select(Operator).where(Operator.endpoint == endpoint)
                                  .options(selectinload(Operator.pool)))
    if op is None:
        raise UnknownOperator(f"this account has no operator endpoint ({endpoint!r})")
    return op


async def _console_page(request: web.Request, *, error: str = "", status: int = 200) -> web.Response:
    op = await _operator(request)
    hook = request.config_dict.get(CASE_FORM)
    texts = {state: t(request, f"console.{state}") for state in LIVE_STATES}
    texts.update({f"state.{s}": t(request, f"console.state.{s}") for s in pool_service.STATES})
    texts.update({f"phone.{s}": t(request, f"phone.status.{s}") for s in STATUSES})
    registrations = request.config_dict.get(REGISTRATIONS)
    phone = (await registrations.states([op.endpoint]))[op.endpoint].status \
        if registrations is not None else "unknown"
    texts.update({f"outcome.{o}": t(request, f"console.outcome.{o}")
                  for o in (*OUTCOMES, "in-progress")})
    return render(request, "pool/console.html", {
        "op": op, "states": pool_service.STATES, "phone": phone,
        "case_form": hook(request) if hook is not None else None,
        "i18n": json.dumps(texts, ensure_ascii=False),
    }, title="console.title", error=error, status=status, scripts=["ivr.js", "cases.js"])


@routes.get("/console", roles="operator")
async def get_console(request: web.Request) -> web.Response:
    """The operator console page."""
    return await _console_page(request)


@routes.post("/console/state", roles="operator")
async def post_state(request: web.Request) -> web.Response:
    """Set my queue state from the console form (ready, paused with a reason, logged out)."""
    op = await _operator(request)
    form = await request.post()
    state, reason = str(form.get("state", "")), str(form.get("reason", "")).strip()
    try:
        if state == "paused" and not reason:
            raise InvalidOperatorState("a pause needs a reason", {"field": "reason"})
        registrations = request.config_dict.get(REGISTRATIONS)
        registered = await registrations.is_registered(op.endpoint) if registrations else None
        await pool_service.set_state(request.config_dict[DB], request.config_dict[HUB].ami,
                                     op.endpoint, state, reason, registered)
    except IvrError as exc:
        return await _console_page(request, error=error_text(request, exc), status=exc.status)
    raise web.HTTPSeeOther("/console")


@routes.get("/console/events", roles="operator")
async def console_events(request: web.Request) -> web.StreamResponse:
    """Server-Sent Events for this operator: ``queue`` (waiting count, oldest join time),
    ``call`` (the live call offered to or connected with this operator) and ``operator`` (my
    state, pause reason and phone registration, when the phone (un)registers)."""
    op = await _operator(request)
    hub = request.config_dict[HUB]
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store",
                                       "X-Accel-Buffering": "no"})
    await resp.prepare(request)
    q = hub.subscribe(op.endpoint)
    try:
        await hub.seed_queue(op.pool.queue)
        await _emit(resp, ("queue", hub.queue_state()))
        if op.endpoint in hub.live:
            await _emit(resp, ("call", hub.live[op.endpoint]))
        while True:
            try:
                item = await asyncio.wait_for(q.get(), KEEPALIVE)
            except TimeoutError:
                await resp.write(b": keepalive\n\n")
                continue
            if item is None:
                break
            await _emit(resp, item)
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        hub.unsubscribe(op.endpoint, q)
    return resp


async def _emit(resp: web.StreamResponse, item: Item) -> None:
    if item is not None:
        event, data = item
        await resp.write(f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode())


async def _close_hub(app: web.Application) -> None:
    app[HUB].close()  # ends every open event stream, so shutdown does not wait for them


def setup(app: web.Application, *, ami: AmiClient, calls: LiveCalls,
          registrations: Registrations | None = None) -> None:
    """The console pages and the live hub fed by ``ami`` (queue and agent events),
    ``calls`` (the calls folded from their events: live, then as recorded) and
    ``registrations`` (phones registering and unregistering)."""
    hub = LiveHub(app[DB], ami)
    hub.attach(ami, calls)
    if registrations is not None:
        registrations.listeners.append(hub.on_registration)
    app[HUB] = hub
    app.on_shutdown.append(_close_hub)
    app[MESSAGES].add(TEXTS)
    app[MESSAGES].add(PHONE_STATUS_TEXTS)
    app[NAV].add(["operator"], "/console", "console.title")
    app[ROUTES].add(app, routes)
