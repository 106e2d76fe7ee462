"""Weekly schedule windows as plain data, evaluated the same way as the dialplan does.

A window applies a mode on some weekdays between two times of day in the deployment timezone.
It is flattened to intervals of "week seconds" (0 = Monday 00:00:00 local time) so that the
dialplan can evaluate it with STRFTIME alone while the controller is down. When several windows
cover the same instant, the last one listed wins (the dialplan loops and keeps the last match).

Holiday windows (``days == {HOLIDAY}``, issue 11) are kept apart as intervals of the day
(seconds after local midnight) and apply on the working calendar's public holidays, after the
weekly windows (they win); the holiday dates are mirrored as ``YYYYMMDD-YYYYMMDD`` ranges.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

DAY = 86400
WEEK = 7 * DAY
HOLIDAY = 7  # Window.days of a holiday window (ivr.core.windows.HOLIDAY)

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
        if HOLIDAY in w.days:
            continue
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


def holiday_intervals(windows: tuple[Window, ...] | list[Window]) -> tuple[Interval, ...]:
    """The holiday windows as [start, end) seconds of the day (an end past midnight: capped)."""
    return tuple((w.start, w.end if w.end > w.start else DAY, w.mode)
                 for w in windows if HOLIDAY in w.days)


def mode_on(base_mode: str, intervals: tuple[Interval, ...], hol_intervals: tuple[Interval, ...],
            now: datetime, tz: ZoneInfo, holidays: Collection[date]) -> str:
    """The mode at ``now``: weekly windows, then holiday windows on a holiday (they win)."""
    mode = mode_at(base_mode, intervals, week_second(now, tz))
    local = now.astimezone(tz)
    if hol_intervals and local.date() in holidays:
        mode = mode_at(mode, hol_intervals, local.hour * 3600 + local.minute * 60 + local.second)
    return mode


def holiday_boundary(hol_intervals: tuple[Interval, ...], now: datetime, tz: ZoneInfo,
                     holidays: Collection[date]) -> datetime | None:
    """The next instant the holiday windows start or stop applying (local midnights of holidays
    and the windows' edges on them), or None."""
    if not hol_intervals or not holidays:
        return None
    local = now.astimezone(tz).replace(microsecond=0)
    for offset in range(0, 400):
        day = local.date() + timedelta(days=offset)
        if day not in holidays and (day - timedelta(days=1)) not in holidays:
            continue
        midnight = datetime.combine(day, datetime.min.time(), tz)
        edges = [midnight] + [midnight + timedelta(seconds=s) for a, b, _ in hol_intervals
                              for s in (a, b)] if day in holidays else [midnight]
        later = [e for e in edges if e > local]
        if later:
            return min(later)
    return None


def encode_holidays(holidays: Collection[date], today: date) -> str:
    """The AstDB form of the holidays from ``today`` on: ``YYYYMMDD-YYYYMMDD`` ranges by ``|``."""
    days = sorted(d for d in holidays if d >= today)
    ranges: list[tuple[date, date]] = []
    for d in days:
        if ranges and d == ranges[-1][1] + timedelta(days=1):
            ranges[-1] = (ranges[-1][0], d)
        else:
            ranges.append((d, d))
    return "|".join(f"{a:%Y%m%d}-{b:%Y%m%d}" for a, b in ranges)
