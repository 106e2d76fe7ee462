"""Automatic callbacks, the pure part (issue 10, docs/followup.md): the allowed hours, the
per-official policy, and when an attempt may be placed. No I/O; the scheduler
(``ivr.followup.scheduler``) and the policy service (``ivr.followup.autocallback``) use it."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

_HOURS = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
_FIRST = re.compile(r"^(own|deputy|pool:[A-Za-z0-9_-]{1,40})$")
_KEYS = {"first", "attempts", "spacing_seconds", "first_delay_seconds", "off"}


def parse_hours(text: str) -> tuple[time, time]:
    """``"08:00-20:00"`` → (start, end); ``"20:00-08:00"`` spans midnight; 24:00 is the end of
    the day. ValueError (the config's check) when it is not that."""
    m = _HOURS.match(text or "")
    if m is None:
        raise ValueError(f"[autocallback] hours: {text!r} is not HH:MM-HH:MM")
    h1, m1, h2, m2 = (int(g) for g in m.groups())
    if h1 > 23 or m1 > 59 or h2 > 24 or m2 > 59 or (h2 == 24 and m2) or (h1, m1) == (h2, m2):
        raise ValueError(f"[autocallback] hours: {text!r} is not a period of the day")
    return time(h1, m1), time(23, 59, 59, 999999) if h2 == 24 else time(h2, m2)


def _inside(t: time, start: time, end: time) -> bool:
    return start <= t < end if start < end else (t >= start or t < end)


def next_allowed(at: datetime, hours: tuple[time, time], tz: ZoneInfo) -> datetime:
    """``at`` if it is inside the allowed hours (city time), else the next opening (UTC-aware
    in, same zone out)."""
    local = at.astimezone(tz)
    start, end = hours
    if _inside(local.time(), start, end):
        return at
    opening = local.replace(hour=start.hour, minute=start.minute, second=0, microsecond=0)
    if opening <= local:
        opening += timedelta(days=1)
    return opening.astimezone(at.tzinfo)


@dataclass(frozen=True, slots=True)
class Policy:
    first: str = "own"  # own | deputy | pool:<name>
    attempts: int = 3
    spacing_seconds: float = 1800.0
    first_delay_seconds: float = 600.0
    off: bool = False

    @property
    def pool(self) -> str | None:
        return self.first.split(":", 1)[1] if self.first.startswith("pool:") else None


def parse_override(text: str, slug: str = "") -> dict[str, str]:
    """``"first=deputy attempts=2"`` → its keys (checked); ValueError naming the official."""
    where = f"[autocallback] officials.{slug}" if slug else "[autocallback]"
    out: dict[str, str] = {}
    for part in re.split(r"[\s,;]+", text.strip()):
        if not part:
            continue
        key, sep, value = part.partition("=")
        if not sep or key not in _KEYS:
            raise ValueError(f"{where}: {part!r} is not one of {', '.join(sorted(_KEYS))}=…")
        out[key] = value
    if "first" in out and not _FIRST.match(out["first"]):
        raise ValueError(f"{where}: first={out['first']!r} is not own, deputy or pool:<name>")
    for key in ("attempts", "spacing_seconds", "first_delay_seconds"):
        if key in out:
            try:
                number = float(out[key])
            except ValueError:
                raise ValueError(f"{where}: {key}={out[key]!r} is not a number") from None
            if number < (1 if key == "attempts" else 0) or (key == "attempts" and number > 10):
                raise ValueError(f"{where}: {key}={out[key]!r} is out of range")
    return out


def policy_for(base: Policy, overrides: Mapping[str, str], slug: str | None) -> Policy:
    """The city-wide policy, with the official's overrides applied."""
    o = parse_override(overrides.get(slug or "", ""), slug or "")
    return Policy(first=o.get("first", base.first),
                  attempts=int(float(o.get("attempts", base.attempts))),
                  spacing_seconds=float(o.get("spacing_seconds", base.spacing_seconds)),
                  first_delay_seconds=float(o.get("first_delay_seconds",
                                                  base.first_delay_seconds)),
                  off=o.get("off", "0") not in ("0", "", "false", "no"))
