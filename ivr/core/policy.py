"""The routing decision: pure functions from plain data (policy, availability, time) to a plan."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from zoneinfo import ZoneInfo

from ivr.core.constants import MODES
from ivr.core.plan import RoutePlan, Step
from ivr.core.schedule import Interval, mode_on

DEFAULT_CHAIN: tuple[str, ...] = ("deputy", "pool", "voicemail")
UNAVAILABLE_PROMPT = "ivr-unavailable"
CARRIER_ENDPOINT = "carrier"
LEG_CONTEXT = "ivr-leg"  # the dialplan context of a Local leg (extensions/confirm.tmpl)


@dataclass(frozen=True, slots=True)
class OfficialRouting:
    """Everything the planner needs about one official, already resolved to dialable strings."""
    official_id: int
    name: str
    mode: str
    chain: tuple[str, ...] = DEFAULT_CHAIN
    ring_timeout: int = 20
    availability: str = "available"
    availability_until: datetime | None = None  # the automatic return to available (aware)
    direct_dial: str = ""  # "" when the official has no device
    deputy_dial: str = ""  # "" when there is no deputy or the deputy has no device
    deputy_ring_timeout: int = 20
    deputy_id: int = 0  # 0: no deputy
    deputy_availability: str = "available"  # away: the deputy step is skipped, as direct
    deputy_until: datetime | None = None
    pool_queue: str = "pool-main"
    pool_max_wait: int = 60
    voicemail_secs: int = 120
    intervals: tuple[Interval, ...] = field(default=())
    holiday_intervals: tuple[Interval, ...] = field(default=())  # seconds of a holiday


def dial_string(devices: Iterable[tuple[str, str | None, str | None, bool]],
                trunk: str = CARRIER_ENDPOINT) -> str:
    """``(kind, endpoint, e164, confirm)`` devices → a parallel-ring Dial() string.

    SIP phones are dialled by endpoint name, mobiles through the carrier trunk by their number.
    When a device confirms (the callee presses 1 before the call is theirs), every leg of the
    Dial runs through its own Local channel into ``ivr-leg`` (docs/architecture.md, "Confirmed
    legs"): ``Local/<c|p><s|m><endpoint or number>@ivr-leg`` — ``c`` confirms, ``p`` does not;
    ``s`` a SIP phone, ``m`` a mobile on the carrier. Then each leg keeps its own ring timeout
    and an unconfirmed leg drops out while the others ring on.
    """
    legs = [(kind, endpoint if kind == "sip" else number, confirm)
            for kind, endpoint, number, confirm in devices
            if (kind == "sip" and endpoint) or (kind == "mobile" and number)]
    if any(confirm for _, _, confirm in legs):
        return "&".join(f"Local/{'c' if confirm else 'p'}{'s' if kind == 'sip' else 'm'}{name}"
                        f"@{LEG_CONTEXT}" for kind, name, confirm in legs)
    return "&".join(f"PJSIP/{name}" if kind == "sip" else f"PJSIP/{name}@{trunk}"
                    for kind, name, _ in legs)


def plan_for_mode(r: OfficialRouting, mode: str) -> RoutePlan:
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}")
    order = [mode] + [k for k in r.chain if k != mode]
    steps: list[Step] = []
    for kind in order:
        if kind == "direct":
            if r.availability == "available" and r.direct_dial:
                steps.append(Step("direct", r.direct_dial, r.ring_timeout))
        elif kind == "deputy":
            if r.deputy_dial and r.deputy_availability == "available":
                steps.append(Step("deputy", r.deputy_dial, r.deputy_ring_timeout))
        elif kind == "pool":
            steps.append(Step("pool", r.pool_queue, r.pool_max_wait))
        elif kind == "voicemail":
            steps.append(Step("voicemail", str(r.official_id), r.voicemail_secs))
            break  # the caller has been heard: nothing follows a message
    if not steps or steps[-1].kind != "voicemail":
        steps.append(Step("message", UNAVAILABLE_PROMPT, 0))
    return RoutePlan(r.official_id, r.name, mode, tuple(steps))


def effective_mode(r: OfficialRouting, now: datetime, tz: ZoneInfo,
                   holidays: Collection[date] = ()) -> str:
    return mode_on(r.mode, r.intervals, r.holiday_intervals, now, tz, holidays)


def availability_state(state: str, until: datetime | None, now: datetime) -> str:
    """The availability in force at ``now``: a meeting, leave or dnd whose return time has
    passed is ``available`` again (whether or not the scheduler has written that back yet)."""
    if state != "available" and until is not None and now >= until:
        return "available"
    return state


def availability_at(r: OfficialRouting, now: datetime) -> str:
    return availability_state(r.availability, r.availability_until, now)


def plan_route(r: OfficialRouting, now: datetime, tz: ZoneInfo,
               holidays: Collection[date] = ()) -> RoutePlan:
    return plan_for_mode(replace(r, availability=availability_at(r, now), deputy_availability=(
        availability_state(r.deputy_availability, r.deputy_until, now))),
        effective_mode(r, now, tz, holidays))


def default_plan(pool_queue: str = "pool-main", max_wait: int = 60) -> str:
    """The route when nothing is known (mirror never synced): the pool, then a clear message."""
    return "|".join(s.encode() for s in (Step("pool", pool_queue, max_wait),
                                         Step("message", UNAVAILABLE_PROMPT, 0)))
