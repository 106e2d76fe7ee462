"""The routing routes: an official's audited routing changes (mode, availability, schedule,
fallback chain, ring timeout, deputy, pool), a published number's menu and language, and the
audit log. Every change awaits the routing hook (snapshot, mirror, change feed): 202
``not-in-effect`` when this node's AstDB mirror could not take it (saved, not in effect yet)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any, TypedDict
from zoneinfo import ZoneInfo

from aiohttp import web

from ivr.core.constants import API_PREFIX
from ivr.core.errors import ChangeNotInEffect, InvalidInput, InvalidReturnTime
from ivr.core.timeutil import utcnow
from ivr.db.models import Official
from ivr.db.settings import current_timezone
from ivr.directory.schemas import OfficialOut
from ivr.directory.services import list_officials
from ivr.http import CONFIG, DB, ROUTES, OnChange, Routes, identity_of
from ivr.http.inputs import NUMBER_PARAM, actor_of, local_time
from ivr.http.keys import on_change_of
from ivr.http.localtime import when
from ivr.http.schemas import Items
from ivr.http.scopes import OFFICIAL_PATH
from ivr.routing import services as routing
from ivr.routing.effective import effective_modes
from ivr.routing.numbers_service import language_warning, set_number
from ivr.routing.schemas import (
    AuditOut,
    AuditQuery,
    AvailabilityIn,
    ChainIn,
    ChangedOut,
    ChangeIn,
    DeputyIn,
    DeviceConfirmIn,
    EffectiveOut,
    ModeIn,
    NumberIn,
    NumberOut,
    PoolChoiceIn,
    RingTimeoutIn,
    ScheduleIn,
)
from ivr.routing.selfmode import check_own_mode

routes = Routes("routing")
P = API_PREFIX
OFFICIAL = f"{P}/officials/{{slug}}"
ADMIN = ["admin"]
SELF = ["admin", "official"]  # an official: their own record only (scope OFFICIAL_PATH)


class _Who(TypedDict):
    actor: str
    reason: Any
    on_change: OnChange | None


def _who(request: web.Request, body: ChangeIn) -> _Who:
    """The arguments every routing change takes besides its value."""
    return {"actor": actor_of(request, body), "reason": body.reason,
            "on_change": on_change_of(request)}


@routes.get(f"{P}/effective", roles=["admin", "supervisor"], response=Items[EffectiveOut],
            summary="Every official's mode in effect now and why")
async def get_effective(request: web.Request) -> Items[EffectiveOut]:
    """The mode in effect now for every official (schedule window, holiday window or the
    admin's switch), their availability and where calls go first."""
    db = request.config_dict[DB]
    officials = await list_officials(db)
    effs = await effective_modes(db, request.config_dict[CONFIG], officials)
    tz = ZoneInfo(await current_timezone(db))
    out = []
    for o in officials:
        e = effs.get(o.id)
        if e is None:
            continue
        out.append(EffectiveOut(
            slug=o.slug, name=o.display_name, mode=e.mode, stored=e.stored, source=e.source,
            window={"days": e.days, "start": e.start, "end": e.end} if e.days else None,
            availability=e.availability, first_step=e.first, pool=e.pool, deputy=e.deputy,
            next_change=when(e.until, tz, "zh", seconds=True) if e.until else None))
    return Items[EffectiveOut](items=out)


@routes.put(f"{OFFICIAL}/mode", roles=SELF, scope=OFFICIAL_PATH, body=ModeIn,
            response=ChangedOut, errors=[202, 409])
async def put_mode(request: web.Request, body: ModeIn) -> ChangedOut:
    """Switch the base mode (audited). An official: their own, when an admin allowed it (for
    them or city-wide; off by default), else 409 ``self-mode-off``. ``mirror_written`` false:
    saved, but Asterisk's mirror was not written (``warning``)."""
    db = request.config_dict[DB]
    who = identity_of(request)
    if who is not None and who.role == "official":
        await check_own_mode(db, request.match_info["slug"])
    report: list[str] = []
    return _changed(await routing.set_mode(db, request.match_info["slug"], body.mode,
                                           report=report, **_who(request, body)), report)


def _changed(official: Official, report: list[str]) -> ChangedOut:
    if report:  # saved, not in effect: 202 as for every routing change (docs/decisions.md)
        raise ChangeNotInEffect(f"saved, not in effect yet: {MIRROR_WARNING}", {"official": official.slug})
    return ChangedOut(**OfficialOut.of(official).model_dump(), mirror_written=True, warning=None)


@routes.put(f"{OFFICIAL}/availability", roles=SELF, scope=OFFICIAL_PATH, body=AvailabilityIn,
            response=ChangedOut, errors=[202])
async def put_availability(request: web.Request, body: AvailabilityIn) -> ChangedOut:
    """Set availability (meeting, dnd and leave skip the direct step; audited), with its
    automatic return to available: ``until`` (a time) or ``minutes``. An official: their own.
    ``mirror_written`` false: saved, but Asterisk's mirror was not written (``warning``)."""
    until = await availability_until(request, body)
    report: list[str] = []
    return _changed(await routing.set_availability(
        request.config_dict[DB], request.match_info["slug"], body.availability, note=body.note,
        until=until, report=report, **_who(request, body)), report)


MIRROR_WARNING = ("已保存，但未能写入电话系统（Asterisk）：控制器恢复连接后自动同步 / "
                  "Saved, but not written to Asterisk: it is resynced when the controller reconnects")


async def availability_until(request: web.Request, body: AvailabilityIn) -> datetime | None:
    """``until`` (local time without offset) or ``minutes`` from now, never both."""
    if body.until is not None and body.minutes is not None:
        raise InvalidReturnTime("give until or minutes, not both", {"field": "minutes"})
    if body.minutes is not None:
        m = body.minutes
        if isinstance(m, float) and m.is_integer():  # JSON's 90.0 is the integer 90
            m = int(m)
        if isinstance(m, bool) or not isinstance(m, int) or not 1 <= m <= 527040:
            raise InvalidInput("minutes must be a whole number 1..527040", {"minutes": str(m)})
        return utcnow() + timedelta(minutes=m)
    return await local_time(request, body.until)


@routes.put(f"{OFFICIAL}/schedule", roles=ADMIN, body=ScheduleIn, response=OfficialOut, errors=[202])
async def put_schedule(request: web.Request, body: ScheduleIn) -> OfficialOut:
    """Replace the schedule windows (the last listed wins; audited)."""
    return OfficialOut.of(await routing.set_schedule(
        request.config_dict[DB], request.match_info["slug"], body.windows,
        **_who(request, body)))


@routes.put(f"{OFFICIAL}/chain", roles=ADMIN, body=ChainIn, response=OfficialOut, errors=[202])
async def put_chain(request: web.Request, body: ChainIn) -> OfficialOut:
    """Set the fallback chain (null: the city default; audited)."""
    return OfficialOut.of(await routing.set_chain(
        request.config_dict[DB], request.match_info["slug"], body.chain, **_who(request, body)))


@routes.put(f"{OFFICIAL}/ring-timeout", roles=ADMIN, body=RingTimeoutIn, response=OfficialOut, errors=[202])
async def put_ring_timeout(request: web.Request, body: RingTimeoutIn) -> OfficialOut:
    """Set the ring timeout in seconds (audited)."""
    return OfficialOut.of(await routing.set_ring_timeout(
        request.config_dict[DB], request.match_info["slug"], body.ring_timeout,
        **_who(request, body)))


@routes.put(f"{OFFICIAL}/deputy", roles=ADMIN, body=DeputyIn, response=OfficialOut,
            errors=[202, 409])
async def put_deputy(request: web.Request, body: DeputyIn) -> OfficialOut:
    """Set the deputy (slug, or null; audited)."""
    return OfficialOut.of(await routing.set_deputy(
        request.config_dict[DB], request.match_info["slug"], body.deputy, **_who(request, body)))


@routes.put(f"{OFFICIAL}/pool", roles=ADMIN, body=PoolChoiceIn, response=OfficialOut, errors=[202])
async def put_pool(request: web.Request, body: PoolChoiceIn) -> OfficialOut:
    """Set the operator pool (name, or null for the default; audited)."""
    return OfficialOut.of(await routing.set_pool(
        request.config_dict[DB], request.match_info["slug"], body.pool, **_who(request, body)))


@routes.put(f"{OFFICIAL}/devices/{{device}}/confirm", roles=ADMIN, body=DeviceConfirmIn,
            response=OfficialOut, errors=[202, 404])
async def put_device_confirm(request: web.Request, body: DeviceConfirmIn) -> OfficialOut:
    """Whether the callee on a device (endpoint name or mobile number) must press 1 before the
    call is theirs (a carrier's voicemail never counts as answering; audited)."""
    return OfficialOut.of(await routing.set_device_confirm(
        request.config_dict[DB], request.match_info["slug"], request.match_info["device"],
        body.confirm, **_who(request, body)))


@routes.put(f"{P}/numbers/{{number}}", roles=ADMIN, body=NumberIn, response=NumberOut, errors=[202],
            params={"number": NUMBER_PARAM})
async def put_number(request: web.Request, body: NumberIn) -> NumberOut:
    """Set a published number's DTMF menu and language (audited).

    The menu: 1 message, 0 operator, 9 repeat; the language: a selectable one (GET
    /languages), or null for the official's; ``warning`` says when no speech model of it is
    installed (accepted: its messages are marked for listening). The number in national or
    E.164 form."""
    row = await set_number(request.config_dict[DB], request.match_info["number"],
                           actor_of(request, body), menu=body.menu,
                           language=body.language if "language" in body.model_fields_set else ...,
                           reason=body.reason if isinstance(body.reason, str) else "",
                           on_change=on_change_of(request))
    return NumberOut.of(row, await asyncio.to_thread(language_warning, row.language))


@routes.get(f"{P}/audit", roles=["admin", "supervisor"], query=AuditQuery,
            response=Items[AuditOut], errors=[404])
async def get_audit(request: web.Request, query: AuditQuery) -> Items[AuditOut]:
    """Audit log, newest first."""
    entries = await routing.audit_log(
        request.config_dict[DB], official=query.official, field=query.field,
        since=await local_time(request, query.since), until=await local_time(request, query.until),
        limit=query.limit, offset=query.offset)
    return Items[AuditOut](items=[AuditOut.of(a) for a in entries])


def setup(app: web.Application) -> None:
    app[ROUTES].add(app, routes)
