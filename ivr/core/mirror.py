"""What the controller mirrors into Asterisk's AstDB (family ``ivr``): pure, from plain data.

Availability (issue 15) is its own field, ``o/<id>/avail`` = ``<state>^<until epoch>`` (epoch
empty: no return time), and the mirrored plans are those of an available official: the dialplan
skips the ``direct`` step while the state is not ``available`` and ``${EPOCH}`` is before the
end, so a meeting ends on time with the controller down (docs/architecture.md). The same for
the deputy step: ``o/<id>/dep`` names the deputy, whose own ``avail`` is read.

Each published number's key (``num/<digits>``) also carries the route in force (issue 16),
resolved here so that the usual call evaluates no expression to find it:
``official^menu^language^mode^until^away^dep_away^lang^name^3^label^dial_tmo^leg_tmo^plan``
(:func:`number_entries`; 3: the format, :data:`NUMBER_FORMAT`; where the executor starts and
the first step's timeouts, :func:`first_step`; the plan's steps joined by ``^``, so step 1 is
fields 14 to 16 and the dialplan reads it in the same priority). The dialplan routes from that
one value while ``${EPOCH}`` is before ``until`` (the next schedule or holiday boundary,
resolved here in the city's timezone, or the official's or deputy's return time; empty: none)
and falls back to the per-official keys (windows and availability evaluated in the dialplan)
after it, so routing stays right with the controller down across a boundary.

Keys are relative to the family. The writer (ivr.asterisk.astdb) puts them with DBPut and
writes ``meta/synced`` last, so a half-written mirror is never taken for a complete one.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import replace
from datetime import date, datetime
from typing import NamedTuple
from zoneinfo import ZoneInfo

from ivr.core.constants import MODES
from ivr.core.policy import OfficialRouting, availability_at, availability_state, effective_mode, plan_for_mode
from ivr.core.schedule import encode_holidays, encode_intervals, holiday_boundary, next_boundary

FAMILY = "ivr"


def official_entries(r: OfficialRouting, now: datetime, tz: ZoneInfo,
                     holidays: Collection[date] = ()) -> dict[str, str]:
    prefix = f"o/{r.official_id}"
    entries = {
        f"{prefix}/name": r.name,
        f"{prefix}/mode": r.mode,
        f"{prefix}/win": encode_intervals(r.intervals),
        f"{prefix}/hwin": encode_intervals(r.holiday_intervals),
        f"{prefix}/effective": effective_mode(r, now, tz, holidays),
        f"{prefix}/avail": availability_entry(r, now),
        f"{prefix}/dep": str(r.deputy_id) if r.deputy_id else "",
    }
    available = replace(r, availability="available", deputy_availability="available")
    for mode in MODES:
        entries[f"{prefix}/plan/{mode}"] = plan_for_mode(available, mode).encode()
    return entries


def availability_entry(r: OfficialRouting, now: datetime) -> str:
    """``<state>^<until epoch>``: ``available^`` once the return time has passed."""
    state = availability_at(r, now)
    until = r.availability_until
    if state == "available" or until is None:
        return f"{state}^"
    return f"{state}^{int(until.timestamp())}"


# The name in a number's value: ^ separates the fields, and the entry's MSet (render.ROUTE_READ)
# splits its arguments counting ( and [ even inside quotes, so an unbalanced one would swallow
# the caller's fields after it; the full-width forms read the same on a phone's display.
_NAME_IN_VALUE = str.maketrans({"^": " ", "(": "（", ")": "）", "[": "［", "]": "］"})
# nothing a value may hold that would change how the entry's MSet splits it (else the short form)
_MSET_UNSAFE = frozenset('()[]"\\')


class RouteRecord(NamedTuple):
    """What a call to one official's numbers needs while the route in force holds."""
    mode: str  # the mode in force (weekly and holiday windows, the city's timezone)
    until: str  # epoch seconds of its next boundary; empty: none, it holds until changed
    away: bool  # the official's direct step is skipped (meeting, leave, dnd)
    dep_away: bool  # the same for the deputy's step
    language: str  # the official's prompt language, else the city's default
    name: str  # without ^ ( ) [ ] (their full-width forms)
    plan: str  # the mode's plan for an available official and deputy (kind^target^timeout|…)


def route_record(r: OfficialRouting, now: datetime, tz: ZoneInfo, holidays: Collection[date] = (),
                 language: str = "", default_language: str = "zh") -> RouteRecord:
    """The route in force for ``r``'s numbers at ``now``, and until when it holds: the next
    schedule or holiday boundary, or the official's or the deputy's return from a meeting,
    leave or dnd, whichever comes first (after it the dialplan reads the per-official keys)."""
    mode = effective_mode(r, now, tz, holidays)
    away = availability_at(r, now) != "available"
    dep_away = bool(r.deputy_id) and availability_state(
        r.deputy_availability, r.deputy_until, now) != "available"
    edges = [b for b in (next_boundary(r.intervals, now, tz),
                         holiday_boundary(r.holiday_intervals, now, tz, holidays),
                         r.availability_until if away else None,
                         r.deputy_until if dep_away else None) if b is not None]
    until = str(int(min(edges).timestamp())) if edges else ""
    available = replace(r, availability="available", deputy_availability="available")
    return RouteRecord(mode, until, away, dep_away, language or default_language,
                       r.name.translate(_NAME_IN_VALUE), plan_for_mode(available, mode).encode())


NumberOptions = Mapping[str, tuple[bool, "str | None"]]

# The route's format in ``num/<digits>`` (field 10): the dialplan takes the value as the route in
# force only with this mark, so a value of another format (written by another version) goes the
# per-official keys' way. The plan follows, its steps joined by ``^`` like their fields.
NUMBER_FORMAT = "3"

# The step kinds the dialplan has a context for (``[ivr-step-<kind>]``; tests/unit/test_render.py
# checks the rendered dialplan): a step of another kind is skipped, as the executor does.
DIALPLAN_STEP_KINDS = frozenset({"direct", "deputy", "message", "pool", "pool-qcb", "voicemail"})

# Asterisk reads an AMI line into 1025 bytes and drops a longer one (DBPut Val: …): a number
# whose route would not fit keeps the 3 fields and routes by the per-official keys
MAX_NUMBER_VALUE = 900


def first_step(menu: bool, rec: RouteRecord) -> str:
    """``label^dial timeout^leg timeout`` of the route's first step, as the executor would find
    them (``STEP_LABEL`` and ``next`` in ivr/asterisk): the menu first; no step: done; a kind
    without a context, or the official's (deputy's) step while away: next; a direct or deputy
    step is dialled (no Dial timeout for Local legs, which end on their own leg timeout)."""
    kind, target, tmo = (rec.plan.split("|", 1)[0].split("^") + ["", "", ""])[:3]
    leg = tmo if kind in ("direct", "deputy") else ""
    dial = "" if target.startswith("Local/") else tmo
    if menu:
        label = "menu"
    elif not kind:
        label = "done"
    elif (kind not in DIALPLAN_STEP_KINDS or (kind == "direct" and rec.away)
          or (kind == "deputy" and rec.dep_away)):
        label = "next"
    else:
        label = "dial" if kind in ("direct", "deputy") else "step"
    return f"{label}^{dial}^{leg}"


def number_entries(dial_keys: Mapping[str, int], options: NumberOptions | None = None,
                   records: Mapping[int, RouteRecord] | None = None) -> dict[str, str]:
    """``{dialed digits: official id}`` → ``num/<digits>`` = ``official^menu^language``
    (menu 1 or 0; language empty: the official's), then, when ``records`` has the official,
    ``mode^until^away^dep_away^language^name^3^label^dial timeout^leg timeout^plan``: the
    route in force (:class:`RouteRecord`; the number's language wins), the format mark, where
    the executor starts (:func:`first_step`) and the plan, its steps joined by ``^``."""
    out = {}
    for digits, oid in dial_keys.items():
        menu, lang = (options or {}).get(digits, (False, None))
        value = f"{oid}^{1 if menu else 0}^{lang or ''}"
        rec = (records or {}).get(oid)
        if rec is not None:
            full = (f"{value}^{rec.mode}^{rec.until}^{int(rec.away)}^{int(rec.dep_away)}"
                    f"^{lang or rec.language}^{rec.name}^{NUMBER_FORMAT}^{first_step(menu, rec)}"
                    f"^{rec.plan.replace('|', '^')}")
            if len(full.encode()) <= MAX_NUMBER_VALUE and not _MSET_UNSAFE & set(full):
                value = full
        out[f"num/{digits}"] = value
    return out


def mirror_entries(routings: Iterable[OfficialRouting], dial_keys: Mapping[str, int],
                   tz_name: str, now: datetime,
                   options: NumberOptions | None = None,
                   holidays: Collection[date] = (),
                   languages: Mapping[int, str] | None = None,
                   default_language: str = "zh") -> dict[str, str]:
    """``meta/hol``: the public holidays from today on (``YYYYMMDD-YYYYMMDD|…``), read by the
    dialplan with ``o/<id>/hwin``, the official's holiday windows (seconds of the day).
    ``languages``: each official's language (``o/<id>/lang`` and the numbers' route records)."""
    tz = ZoneInfo(tz_name)
    entries: dict[str, str] = {"meta/tz": tz_name,
                               "meta/hol": encode_holidays(holidays, now.astimezone(tz).date())}
    records = {}
    for r in routings:
        entries.update(official_entries(r, now, tz, holidays))
        records[r.official_id] = route_record(r, now, tz, holidays,
                                              (languages or {}).get(r.official_id, ""),
                                              default_language)
    for oid, lang in (languages or {}).items():
        entries[f"o/{oid}/lang"] = lang
    entries.update(number_entries(dial_keys, options, records))
    return entries
