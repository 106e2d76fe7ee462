"""What the controller mirrors into Asterisk's AstDB (family ``ivr``): pure, from plain data.

Availability (issue 15) is its own field, ``o/<id>/avail`` = ``<state>^<until epoch>`` (epoch
empty: no return time), and the mirrored plans are those of an available official: the dialplan
skips the ``direct`` step while the state is not ``available`` and ``${EPOCH}`` is before the
end, so a meeting ends on time with the controller down (docs/architecture.md). The same for
the deputy step: ``o/<id>/dep`` names the deputy, whose own ``avail`` is read.

Keys are relative to the family. The writer (ivr.asterisk.astdb) puts them with DBPut and
writes ``meta/synced`` last, so a half-written mirror is never taken for a complete one.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import replace
from datetime import date, datetime
from zoneinfo import ZoneInfo

from ivr.core.constants import MODES
from ivr.core.policy import OfficialRouting, availability_at, effective_mode, plan_for_mode
from ivr.core.schedule import encode_holidays, encode_intervals

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


NumberOptions = Mapping[str, tuple[bool, "str | None"]]


def number_entries(dial_keys: Mapping[str, int], options: NumberOptions | None = None) -> dict[str, str]:
    """``{dialed digits: official id}`` → ``num/<digits>`` = ``official^menu^language``
    (menu 1 or 0; language empty: the official's)."""
    out = {}
    for digits, oid in dial_keys.items():
        menu, lang = (options or {}).get(digits, (False, None))
        out[f"num/{digits}"] = f"{oid}^{1 if menu else 0}^{lang or ''}"
    return out


def mirror_entries(routings: Iterable[OfficialRouting], dial_keys: Mapping[str, int],
                   tz_name: str, now: datetime,
                   options: NumberOptions | None = None,
                   holidays: Collection[date] = ()) -> dict[str, str]:
    """``meta/hol``: the public holidays from today on (``YYYYMMDD-YYYYMMDD|…``), read by the
    dialplan with ``o/<id>/hwin``, the official's holiday windows (seconds of the day)."""
    tz = ZoneInfo(tz_name)
    entries: dict[str, str] = {"meta/tz": tz_name,
                               "meta/hol": encode_holidays(holidays, now.astimezone(tz).date())}
    for r in routings:
        entries.update(official_entries(r, now, tz, holidays))
    entries.update(number_entries(dial_keys, options))
    return entries
