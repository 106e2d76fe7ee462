"""The mode IN EFFECT for each official and why, as the pages and the API show it.

The stored mode is the admin's switch; a schedule window (weekly, or on a public holiday) may
override it now, and an official who is not available skips the direct step. The decision is the
planner's own (``ivr.core.policy.effective_mode`` / ``plan_for_mode`` over the same snapshot the
FastAGI route handler reads), so what a page says is what the next call does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from ivr.core.config import Config
from ivr.core.policy import effective_mode, plan_for_mode
from ivr.core.schedule import (
    HOLIDAY,
    Window,
    holiday_boundary,
    mode_at,
    next_boundary,
    week_intervals,
    week_second,
)
from ivr.core.windows import window_parts
from ivr.db.models import Official
from ivr.db.session import Db
from ivr.routing.store import load_snapshot

SOURCES = ("switch", "window", "holiday")
DAY_LABELS = (("周一", "Mon"), ("周二", "Tue"), ("周三", "Wed"), ("周四", "Thu"), ("周五", "Fri"),
              ("周六", "Sat"), ("周日", "Sun"))


@dataclass(frozen=True, slots=True)
class Effective:
    """What the next call to one official does, and why."""
    mode: str  # the mode in effect now
    stored: str  # the admin's switch
    source: str  # switch | window (a weekly window) | holiday (a holiday window)
    days: str  # the window's days (canonical text, "" for the switch)
    start: str
    end: str
    availability: str
    first: str  # the first step of the plan: direct | deputy | pool | voicemail | message
    pool: str  # the pool of the pool step (its name)
    deputy: str  # the deputy's name ("" when none)
    until: datetime | None  # the next schedule boundary (UTC)

    @property
    def overridden(self) -> bool:
        return self.mode != self.stored or self.first != self.mode


def days_label(days: str, lang: str) -> str:
    """``mon-fri`` → ``周一至周五`` / ``Mon–Fri``; ``holiday`` → ``法定节假日``; ``daily`` → ``每天``."""
    parsed = window_parts(days, "00:00", "01:00", "direct")[0]
    en = lang == "en"
    if parsed == frozenset({HOLIDAY}):
        return "public holidays" if en else "法定节假日"
    if parsed == frozenset(range(7)):
        return "daily" if en else "每天"
    parts = []
    for item in days.split(","):
        first, _, last = item.partition("-")
        a = window_parts(first, "00:00", "01:00", "direct")[0]
        label = [DAY_LABELS[d][1 if en else 0] for d in sorted(a)]
        if last:
            b = window_parts(last, "00:00", "01:00", "direct")[0]
            label = [f"{label[0]}{'–' if en else '至'}{DAY_LABELS[min(b)][1 if en else 0]}"]
        parts.extend(label)
    return (", " if en else "、").join(parts)


def _window_in_effect(o: Official, now: datetime, tz: ZoneInfo,
                      holidays: frozenset[object]) -> tuple[str, str, str, str]:
    """(source, days, start, end) of the window that sets the mode now ("switch" if none)."""
    found = ("switch", "", "", "")
    wk = week_second(now, tz)
    local = now.astimezone(tz)
    ordered = sorted(o.windows, key=lambda w: w.id or 0)
    for w in ordered:
        win = Window(*window_parts(w.days, w.start, w.end, w.mode))
        if HOLIDAY in win.days:
            continue
        if mode_at("", week_intervals([win]), wk) == w.mode:
            found = ("window", w.days, w.start, w.end)
    if local.date() in holidays:
        secs = local.hour * 3600 + local.minute * 60 + local.second
        for w in ordered:
            win = Window(*window_parts(w.days, w.start, w.end, w.mode))
            if HOLIDAY in win.days:
                end = win.end if win.end > win.start else 86400
                if win.start <= secs < end:
                    found = ("holiday", w.days, w.start, w.end)
    return found


async def effective_modes(db: Db, config: Config, officials: list[Official],
                          now: datetime | None = None) -> dict[int, Effective]:
    """official id → what the next call does now (the officials loaded with windows, policy
    and deputy; the snapshot is read afresh, as the route handler's after a change)."""
    now = now or datetime.now(UTC)
    snap = await load_snapshot(db, config)
    tz = snap.tz
    names = {o.id: o.display_name for o in officials}
    out: dict[int, Effective] = {}
    for o in officials:
        r = snap.routings.get(o.id)
        if r is None:
            continue
        mode = effective_mode(r, now, tz, snap.holidays)
        source, days, start, end = _window_in_effect(o, now, tz, snap.holidays)
        plan = plan_for_mode(r, mode)
        first = plan.steps[0].kind if plan.steps else "message"
        pool = r.pool_queue.removeprefix("pool-")
        edges = [b for b in (next_boundary(r.intervals, now, tz),
                             holiday_boundary(r.holiday_intervals, now, tz, snap.holidays))
                 if b is not None]
        out[o.id] = Effective(
            mode=mode, stored=r.mode, source=source, days=days, start=start, end=end,
            availability=r.availability, first=first, pool=pool,
            deputy=names.get(o.deputy_id or -1, ""),
            until=min(edges).astimezone(UTC) if edges else None)
    return out
