"""The supervisors' wallboard: per pool the callers waiting now and the longest wait, operators
ready / paused / on a call / phone not registered, and today's calls by outcome (city day) —
pushed to the page by Server-Sent Events (``/wallboard/events``) from the consoles' live hub
(``ivr.pool.live``): every queue, agent, registration or call event recomputes the board once
(bursts coalesce). Big type for a wall screen; the page never polls.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from ivr.core.constants import OUTCOMES
from ivr.db.models import Call, Pool
from ivr.db.settings import current_timezone
from ivr.http import DB, ROUTES, Routes
from ivr.http.pages import MESSAGES, NAV, render, t
from ivr.pool.live import HUB, Item, LiveHub
from ivr.pool.registrations import REGISTRATIONS, PhoneState

VIEWERS = ["supervisor", "admin"]
KEEPALIVE = 15.0
OPERATOR_COUNTS = ("ready", "paused", "on_call", "unregistered")
TODAY = (*OUTCOMES, "in_progress")
TEXTS: dict[str, tuple[str, str]] = {
    "wallboard.title": ("实时大屏", "Wallboard"),
    "wallboard.pool": ("话务组", "Pool"),
    "wallboard.waiting": ("排队人数", "Waiting"),
    "wallboard.longest": ("最长等待(秒)", "Longest wait (s)"),
    "wallboard.ready": ("就绪", "Ready"),
    "wallboard.paused": ("暂停", "Paused"),
    "wallboard.on_call": ("通话中", "On a call"),
    "wallboard.unregistered": ("电话未注册", "Phone not registered"),
    "wallboard.today": ("今日来电", "Calls today"),
    "wallboard.total": ("合计", "Total"),
    "wallboard.outcome.answered": ("已接听", "answered"),
    "wallboard.outcome.voicemail": ("留言", "voicemail"),
    "wallboard.outcome.missed": ("未接", "missed"),
    "wallboard.outcome.abandoned": ("放弃", "abandoned"),
    "wallboard.outcome.refused": ("拒接", "refused"),
    "wallboard.outcome.interrupted": ("中断", "interrupted"),
    "wallboard.outcome.in_progress": ("进行中", "in progress"),
    "wallboard.live": ("实时", "live"),
}
routes = Routes("wallboard")


def _counts(pool: Pool, hub: LiveHub, phones: dict[str, PhoneState]) -> dict[str, int]:
    counts = dict.fromkeys(OPERATOR_COUNTS, 0)
    for op in pool.operators:
        if op.state == "logged_out":
            continue
        phone = phones.get(op.endpoint)
        live = hub.live.get(op.endpoint) or {}
        if phone is not None and phone.status != "unknown" and not phone.registered:
            counts["unregistered"] += 1
        elif live.get("state") in ("ringing", "connected"):
            counts["on_call"] += 1
        elif op.state == "paused":
            counts["paused"] += 1
        else:
            counts["ready"] += 1
    return counts


async def board(request: web.Request) -> dict[str, Any]:
    """The wallboard's content now."""
    db, hub = request.config_dict[DB], request.config_dict[HUB]
    zone = ZoneInfo(await current_timezone(db))
    start = datetime.combine(datetime.now(zone).date(), time(0), zone)
    async with db() as session:
        pools = (await session.scalars(select(Pool).order_by(Pool.name)
                                       .options(selectinload(Pool.operators)))).all()
        rows = (await session.execute(
            select(Call.outcome, func.count()).where(Call.started_at >= start.astimezone(UTC),
                                                     Call.kind == "citizen",
                                                     Call.outcome.is_not(None))
            .group_by(Call.outcome))).all()
        unfinished = set((await session.scalars(
            select(Call.linkedid).where(Call.started_at >= start.astimezone(UTC),
                                        Call.kind == "citizen", Call.outcome.is_(None)))).all())
    registrations = request.config_dict.get(REGISTRATIONS)
    phones = await registrations.states() if registrations is not None else {}
    queues = hub.queue_state()
    out = []
    for p in pools:
        q = queues.get(p.queue) or {"waiting": 0, "oldest": None}
        out.append({"name": p.name, "queue": p.queue, "waiting": q["waiting"],
                    "oldest": q["oldest"], **_counts(p, hub, phones)})
    today = dict.fromkeys(TODAY, 0)
    for outcome, n in rows:
        key = outcome if outcome in today else "in_progress"
        today[key] += int(n)
    # in progress: the live calls (queued, ringing, talking: a call is stored once it is over)
    # and any stored call still without an outcome, each once
    today["in_progress"] += len(hub.live_calls() | unfinished)
    return {"pools": out, "today": today, "total": sum(today.values()), "day": start.date().isoformat()}


@routes.get("/wallboard", roles=VIEWERS)
async def wallboard_page(request: web.Request) -> web.Response:
    """The wallboard (supervisors, admins): live by Server-Sent Events."""
    texts = {key[len("wallboard."):]: t(request, key) for key in TEXTS}
    return render(request, "supervision/wallboard.html",
                  {"board": await board(request), "counts": OPERATOR_COUNTS, "today": TODAY,
                   "i18n": json.dumps(texts, ensure_ascii=False)},
                  title="wallboard.title", scripts=["wallboard.js"])


@routes.get("/wallboard/events", roles=VIEWERS)
async def wallboard_events(request: web.Request) -> web.StreamResponse:
    """Server-Sent Events: ``board`` (the whole board) at once, then after every change."""
    hub = request.config_dict[HUB]
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                       "Cache-Control": "no-store", "X-Accel-Buffering": "no"})
    await resp.prepare(request)
    q = hub.watch()
    try:
        for p in (await board(request))["pools"]:
            await hub.seed_queue(p["queue"])
        await _emit(resp, await board(request))
        while True:
            try:
                item: Item = await asyncio.wait_for(q.get(), KEEPALIVE)
            except TimeoutError:
                await resp.write(b": keepalive\n\n")
                continue
            while item is not None and not q.empty():  # a burst: one board for all of it
                item = q.get_nowait()
            if item is None:
                break
            await _emit(resp, await board(request))
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        hub.unwatch(q)
    return resp


async def _emit(resp: web.StreamResponse, data: dict[str, Any]) -> None:
    await resp.write(f"event: board\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode())


def setup(app: web.Application) -> None:
    app[MESSAGES].add(TEXTS)
    app[NAV].add(VIEWERS, "/wallboard", "wallboard.title")
    app[ROUTES].add(app, routes)
