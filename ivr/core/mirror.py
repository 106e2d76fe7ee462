"""What the controller mirrors into Asterisk's AstDB (family ``ivr``): pure, from plain data.

Keys are relative to the family. The writer (ivr.asterisk.astdb) puts them with DBPut and
writes ``meta/synced`` last, so a half-written mirror is never taken for a complete one.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from datetime import date, datetime
from zoneinfo import ZoneInfo

from ivr.core.constants import MODES
from ivr.core.policy import OfficialRouting, effective_mode, plan_for_mode
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
    }
    for mode in MODES:
        entries[f"{prefix}/plan/{mode}"] = plan_for_mode(r, mode).encode()
    return entries


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
