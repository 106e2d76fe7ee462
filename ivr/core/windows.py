"""Parsing and validating schedule-window input (days and times of day), as admins type it.

Days: ``daily``, one day (``mon``), a range (``mon-fri``), or a comma-separated list of days and
ranges (``sat,sun``, ``mon-wed,fri``). Ranges do not wrap around the week end (write ``fri,sat,sun,mon``
or ``mon,fri-sun``). Times: ``HH:MM`` or ``HH:MM:SS`` (24-hour); ``24:00`` is allowed as an end.
An end earlier than the start crosses midnight: ``days`` names the day the window starts.
``holiday`` (alone) is a window on the working calendar's public holidays (issue 11), whatever
the weekday; it wins over the weekly windows and does not cross midnight (the end is capped).

Stored forms are canonical (``mon-fri``, ``sat,sun``, ``daily``, ``08:30``, ``18:00:30``); the
planner gets plain numbers from :func:`window_parts`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ivr.core.constants import MODES

DAY_NAMES: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
HOLIDAY = 7  # the "day" of a holiday window
HOLIDAY_NAMES = ("holiday", "holidays")
DAY_SECONDS = 86400
MAX_WINDOWS = 50
_TIME = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$")


class WindowError(ValueError):
    """A schedule window that cannot be understood."""


@dataclass(frozen=True, slots=True)
class WindowInput:
    """A validated window in canonical text form, ready to store."""
    days: str
    start: str
    end: str
    mode: str

    def as_dict(self) -> dict[str, str]:
        return {"days": self.days, "start": self.start, "end": self.end, "mode": self.mode}


def _day(name: str, text: str) -> int:
    try:
        return DAY_NAMES.index(name)
    except ValueError:
        raise WindowError(f"days {text!r}: unknown day {name!r} (use {', '.join(DAY_NAMES)}, "
                          "ranges like mon-fri, or daily)") from None


def parse_days(text: str) -> frozenset[int]:
    """``"mon-fri"`` → ``{0, 1, 2, 3, 4}`` (0 = Monday)."""
    if not isinstance(text, str) or not text.strip():
        raise WindowError("days: empty")
    norm = text.strip().lower().replace(" ", "")
    if norm in ("daily", "all", "everyday"):
        return frozenset(range(7))
    if norm in HOLIDAY_NAMES:
        return frozenset({HOLIDAY})
    days: set[int] = set()
    for item in norm.split(","):
        if item in HOLIDAY_NAMES:
            raise WindowError(f"days {text!r}: a holiday window names no weekday (write a "
                              "separate window with days: holiday)")
        if not item:
            raise WindowError(f"days {text!r}: empty item")
        if "-" in item:
            first, _, last = item.partition("-")
            a, b = _day(first, text), _day(last, text)
            if a > b:
                raise WindowError(f"days {text!r}: range {item!r} runs backwards (ranges do not "
                                  "wrap around the week end; list the days instead)")
            days.update(range(a, b + 1))
        else:
            days.add(_day(item, text))
    return frozenset(days)


def format_days(days: Iterable[int]) -> str:
    """Canonical text: ``daily``, runs of three or more days as ranges, else names."""
    ds = sorted(set(days))
    if not ds:
        raise WindowError("days: empty")
    if ds == [HOLIDAY]:
        return "holiday"
    if ds == list(range(7)):
        return "daily"
    parts: list[str] = []
    i = 0
    while i < len(ds):
        j = i
        while j + 1 < len(ds) and ds[j + 1] == ds[j] + 1:
            j += 1
        if j - i >= 2:
            parts.append(f"{DAY_NAMES[ds[i]]}-{DAY_NAMES[ds[j]]}")
        else:
            parts.extend(DAY_NAMES[d] for d in ds[i:j + 1])
        i = j + 1
    return ",".join(parts)


def parse_time(text: str, *, end: bool = False) -> int:
    """``"18:30"`` → seconds after midnight. ``24:00`` only as an end (``end=True``)."""
    if not isinstance(text, str):
        raise WindowError(f"time {text!r}: expected text like 08:30 (quote times in YAML)")
    m = _TIME.match(text.strip())
    if not m:
        raise WindowError(f"time {text!r}: expected HH:MM or HH:MM:SS")
    h, mi, s = int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)
    if mi > 59 or s > 59:
        raise WindowError(f"time {text!r}: minutes and seconds go up to 59")
    if h == 24 and mi == 0 and s == 0:
        if not end:
            raise WindowError(f"time {text!r}: 24:00 is only allowed as an end")
        return DAY_SECONDS
    if h > 23:
        raise WindowError(f"time {text!r}: hours go up to 23 (24:00 only as an end)")
    return h * 3600 + mi * 60 + s


def format_time(seconds: int) -> str:
    h, rest = divmod(seconds, 3600)
    mi, s = divmod(rest, 60)
    return f"{h:02d}:{mi:02d}" + (f":{s:02d}" if s else "")


def parse_window(raw: Mapping[str, Any]) -> WindowInput:
    """Validate one ``{days, start, end, mode}`` mapping into canonical form."""
    if not isinstance(raw, Mapping):
        raise WindowError("a window is a mapping with days, start, end and mode")
    unknown = set(raw) - {"days", "start", "end", "mode"}
    if unknown:
        raise WindowError(f"unknown window field(s): {', '.join(sorted(map(str, unknown)))}")
    missing = [k for k in ("days", "start", "end", "mode") if raw.get(k) in (None, "")]
    if missing:
        raise WindowError(f"window is missing {', '.join(missing)}")
    mode = raw["mode"]
    if mode not in MODES:
        raise WindowError(f"window mode {mode!r}: expected one of {', '.join(MODES)}")
    days = parse_days(raw["days"])
    start = parse_time(raw["start"])
    end = parse_time(raw["end"], end=True)
    if start == end:
        raise WindowError(f"window {raw['start']}–{raw['end']} is empty (use 00:00–24:00 for a whole day)")
    return WindowInput(format_days(days), format_time(start), format_time(end), str(mode))


def parse_windows(items: Sequence[Mapping[str, Any]] | None) -> list[WindowInput]:
    """Validate a list of windows; errors name the window by its position (1-based)."""
    if items is None:
        return []
    if isinstance(items, (str, bytes)) or not isinstance(items, Sequence):
        raise WindowError("schedule must be a list of windows")
    if len(items) > MAX_WINDOWS:
        raise WindowError(f"at most {MAX_WINDOWS} windows per official")
    out = []
    for i, item in enumerate(items, 1):
        try:
            out.append(parse_window(item))
        except WindowError as exc:
            raise WindowError(f"window {i}: {exc}") from None
    return out


def window_parts(days: str, start: str, end: str, mode: str) -> tuple[frozenset[int], int, int, str]:
    """A stored window as plain numbers: (days 0=Mon…, start secs, end secs, mode); ``end`` may
    be ``<= start`` (crosses midnight) and up to 86400. Matches ``ivr.core.schedule.Window``."""
    return parse_days(days), parse_time(start), parse_time(end, end=True), mode
