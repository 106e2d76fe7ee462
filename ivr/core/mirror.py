"""What the controller mirrors into Asterisk's AstDB (family ``ivr``): pure, from plain data.

Availability (issue 15) is its own field, ``o/<id>/avail`` = ``<state>^<until epoch>`` (epoch
empty: no return time), and the mirrored plans are those of an available official: the dialplan
skips the ``direct`` step while the state is not ``available`` and ``${EPOCH}`` is before the
end, so a meeting ends on time with the controller down (docs/architecture.md). The same for
the deputy step: ``o/<id>/dep`` names the deputy, whose own ``avail`` is read.

Each published number's key (``num/<digits>``) also carries the route in force (issue 16):
``official^menu^language^mode^until^avail^avail_until^dep_avail^dep_avail_until^lang^name^2^plan``
(:func:`route_record`; 2: the format, :data:`NUMBER_FORMAT`; the plan's steps joined by ``^``,
so step 1 is fields 13 to 15 and the dialplan reads it in the same priority). The dialplan
routes from that one value while ``${EPOCH}`` is before ``until`` (the next schedule or holiday
boundary, resolved here in the city's timezone; empty: none) and falls back to the per-official
keys (windows evaluated in the dialplan) after it, so
routing stays right with the controller down across a boundary.

Keys are relative to the family. The writer (ivr.asterisk.astdb) puts them with DBPut and
writes ``meta/synced`` last, so a half-written mirror is never taken for a complete one.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import replace
from datetime import date, datetime
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


def _avail(state: str, until: datetime | None, now: datetime) -> str:
    state = availability_state(state, until, now)
    if state == "available" or until is None:
        return f"{state}^"
    return f"{state}^{int(until.timestamp())}"


def route_record(r: OfficialRouting, now: datetime, tz: ZoneInfo, holidays: Collection[date] = (),
                 language: str = "") -> tuple[str, str, str]:
    """What a call to one of ``r``'s numbers needs, resolved at ``now``:
    ``(mode^until^avail^avail_until^dep_avail^dep_avail_until, name, plan)``.

    ``mode``: the mode in force (weekly and holiday windows, the city's timezone); ``until``:
    epoch seconds of the next boundary of either (empty: none, the mode holds until changed);
    the availabilities as ``o/<id>/avail`` (the deputy's empty: no deputy); the plan is the
    mode's, for an available official and deputy (the dialplan skips their steps while away)."""
    mode = effective_mode(r, now, tz, holidays)
    edges = [b for b in (next_boundary(r.intervals, now, tz),
                         holiday_boundary(r.holiday_intervals, now, tz, holidays)) if b is not None]
    until = str(int(min(edges).timestamp())) if edges else ""
    dep = _avail(r.deputy_availability, r.deputy_until, now) if r.deputy_id else "^"
    available = replace(r, availability="available", deputy_availability="available")
    head = f"{mode}^{until}^{_avail(r.availability, r.availability_until, now)}^{dep}^{language}"
    return head, r.name.replace("^", " "), plan_for_mode(available, mode).encode()


NumberOptions = Mapping[str, tuple[bool, "str | None"]]

# The route's format in ``num/<digits>`` (field 12): the dialplan takes the value as the route in
# force only with this mark, so a value of another format (written by another version) goes the
# per-official keys' way. The plan follows, its steps joined by ``^`` like their fields.
NUMBER_FORMAT = "2"

# Asterisk reads an AMI line into 1025 bytes and drops a longer one (DBPut Val: …): a number
# whose route would not fit keeps the 3 fields and routes by the per-official keys
MAX_NUMBER_VALUE = 900


def number_entries(dial_keys: Mapping[str, int], options: NumberOptions | None = None,
                   records: Mapping[int, tuple[str, str, str]] | None = None) -> dict[str, str]:
    """``{dialed digits: official id}`` → ``num/<digits>`` = ``official^menu^language``
    (menu 1 or 0; language empty: the official's), then the official's :func:`route_record`
    when ``records`` has it (its language field: the number's, else the official's)."""
    out = {}
    for digits, oid in dial_keys.items():
        menu, lang = (options or {}).get(digits, (False, None))
        value = f"{oid}^{1 if menu else 0}^{lang or ''}"
        rec = (records or {}).get(oid)
        if rec is not None:
            head, name, plan = rec
            if lang:  # the number's own language wins over the official's (the last field)
                head = head.rsplit("^", 1)[0] + f"^{lang}"
            full = f"{value}^{head}^{name}^{NUMBER_FORMAT}^{plan.replace('|', '^')}"
            if len(full.encode()) <= MAX_NUMBER_VALUE:
                value = full
        out[f"num/{digits}"] = value
    return out


def mirror_entries(routings: Iterable[OfficialRouting], dial_keys: Mapping[str, int],
                   tz_name: str, now: datetime,
                   options: NumberOptions | None = None,
                   holidays: Collection[date] = (),
                   languages: Mapping[int, str] | None = None) -> dict[str, str]:
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
                                              (languages or {}).get(r.official_id, ""))
    for oid, lang in (languages or {}).items():
        entries[f"o/{oid}/lang"] = lang
    entries.update(number_entries(dial_keys, options, records))
    return entries
