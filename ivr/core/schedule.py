"""Weekly schedule windows as plain data, evaluated the same way as the dialplan does.

A window applies a mode on some weekdays between two times of day in the deployment timezone.
It is flattened to intervals of "week seconds" (0 = Monday 00:00:00 local time) so that the
dialplan can evaluate it with STRFTIME alone while the controller is down. When several windows
cover the same instant, the last one listed wins (the dialplan loops and keeps the last match).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

DAY = 86400
WEEK = 7 * DAY

Interval = tuple[int, int, str]  # [start, end) in week seconds, mode


@dataclass(frozen=True, slots=True)
class Window:
    days: frozenset[int]  # 0 = Monday … 6 = Sunday
    start: int  # seconds after local midnight
    end: int  # seconds after local midnight, up to 86400; end <= start crosses midnight
    mode: str


def week_intervals(windows: tuple[Window, ...] | list[Window]) -> tuple[Interval, ...]:
    out: list[Interval] = []
    for w in windows:
        for d in sorted(w.days):
            s = d * DAY + w.start
            e = d * DAY + w.end if w.end > w.start else (d + 1) * DAY + w.end
            if e > WEEK:  # Sunday night into Monday morning
                out.append((s, WEEK, w.mode))
                out.append((0, e - WEEK, w.mode))
            else:
                out.append((s, e, w.mode))
    return tuple(out)


def week_second(now: datetime, tz: ZoneInfo) -> int:
    local = now.astimezone(tz)
    return local.weekday() * DAY + local.hour * 3600 + local.minute * 60 + local.second


def mode_at(base_mode: str, intervals: tuple[Interval, ...], wk: int) -> str:
    mode = base_mode
    for start, end, m in intervals:
        if start <= wk < end:
            mode = m
    return mode


def next_boundary(intervals: tuple[Interval, ...], now: datetime, tz: ZoneInfo) -> datetime | None:
    """The next instant after ``now`` at which some interval starts or ends, or None."""
    if not intervals:
        return None
    wk = week_second(now, tz)
    deltas = []
    for start, end, _ in intervals:
        for edge in (start, end % WEEK):
            delta = (edge - wk) % WEEK
            deltas.append(delta if delta > 0 else WEEK)
    base = now.astimezone(tz).replace(microsecond=0)
    return base + timedelta(seconds=min(deltas))


def encode_intervals(intervals: tuple[Interval, ...]) -> str:
    """The AstDB form: ``start-end-mode`` joined by ``|``."""
    return "|".join(f"{s}-{e}-{m}" for s, e, m in intervals)
