"""The routing snapshot: the directory resolved into planner inputs, held in memory.

The FastAGI route handler reads only this snapshot (no database access per call). It is
rebuilt from the database after every change and pushed to the AstDB mirror.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from ivr.core.config import DEFAULT_TIMEZONE, Config
from ivr.core.mirror import mirror_entries
from ivr.core.numbers import dial_forms
from ivr.core.plan import RoutePlan
from ivr.core.policy import DEFAULT_CHAIN, OfficialRouting, dial_string, plan_route
from ivr.core.schedule import (
    Window,
    holiday_boundary,
    holiday_intervals,
    next_boundary,
    week_intervals,
)
from ivr.core.timeutil import as_utc
from ivr.core.windows import window_parts
from ivr.db.followup_models import CalendarDay
from ivr.db.models import Official, Pool, RoutingPolicy, Setting
from ivr.db.session import Db


@dataclass(frozen=True)
class RoutingSnapshot:
    tz_name: str
    routings: dict[int, OfficialRouting] = field(default_factory=dict)
    dial_keys: dict[str, int] = field(default_factory=dict)  # dialed digits → official id
    languages: dict[int, str] = field(default_factory=dict)
    # dialed digits → (DTMF menu on, the number's own language or None)
    number_options: dict[str, tuple[bool, str | None]] = field(default_factory=dict)
    holidays: frozenset[date] = frozenset()  # the working calendar's public holidays
    default_language: str = "zh"  # [routing] default_language: an official without their own

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.tz_name)

    def route(self, dialed_key: str, now: datetime) -> tuple[OfficialRouting, RoutePlan] | None:
        oid = self.dial_keys.get(dialed_key)
        if oid is None:
            return None
        r = self.routings[oid]
        return r, plan_route(r, now, self.tz, self.holidays)

    def mirror(self, now: datetime) -> dict[str, str]:
        return mirror_entries(self.routings.values(), self.dial_keys, self.tz_name, now,
                              self.number_options, self.holidays, self.languages,
                              self.default_language)

    def next_boundary(self, now: datetime) -> datetime | None:
        edges = [b for r in self.routings.values()
                 if (b := next_boundary(r.intervals, now, self.tz)) is not None]
        edges += [b for r in self.routings.values() if (b := holiday_boundary(
            r.holiday_intervals, now, self.tz, self.holidays)) is not None]
        return min(edges, default=None)

    def next_expiry(self) -> datetime | None:
        """The earliest automatic return to ``available`` still to be written back."""
        return min((r.availability_until for r in self.routings.values()
                    if r.availability != "available" and r.availability_until is not None),
                   default=None)


def as_aware(value: datetime | None) -> datetime | None:
    return None if value is None else as_utc(value)  # SQLite gives naive UTC back


def _display(official: Official) -> str:
    # the name travels in caller-ID names and ^/| separated dialplan fields
    text = official.display_name
    return "".join(" " if c in "^|\"\\" or ord(c) < 32 else c for c in text)[:60]


async def load_snapshot(db: Db, config: Config) -> RoutingSnapshot:
    async with db() as session:
        officials = (await session.scalars(select(Official).options(
            selectinload(Official.numbers), selectinload(Official.devices),
            selectinload(Official.policy).selectinload(RoutingPolicy.pool),
            selectinload(Official.windows)))).all()
        pools = {p.name: p for p in (await session.scalars(select(Pool))).all()}
        settings = {s.key: s.value for s in (await session.scalars(select(Setting))).all()}
        holidays = frozenset((await session.scalars(
            select(CalendarDay.day).where(CalendarDay.kind == "holiday"))).all())
    tz_name = str(settings.get("timezone") or DEFAULT_TIMEZONE)  # the config only seeds it
    default_chain = tuple(settings.get("default_chain") or DEFAULT_CHAIN)
    default_pool = pools.get(config.routing.default_pool)
    by_id = {o.id: o for o in officials}
    routings: dict[int, OfficialRouting] = {}
    dial_keys: dict[str, int] = {}
    languages: dict[int, str] = {}
    number_options: dict[str, tuple[bool, str | None]] = {}
    for o in officials:
        pol = o.policy
        pool = (pol.pool if pol is not None and pol.pool is not None else default_pool)
        deputy = by_id.get(o.deputy_id) if o.deputy_id else None
        deputy_dial = ""
        if deputy is not None:  # dialled while available (plan_route; the mirror's dep)
            deputy_dial = dial_string((d.kind, d.endpoint, d.number, d.confirm) for d in deputy.devices)
        windows = [Window(*window_parts(w.days, w.start, w.end, w.mode)) for w in o.windows]
        ring = pol.ring_timeout if pol is not None else 20
        routings[o.id] = OfficialRouting(
            official_id=o.id, name=_display(o),
            mode=pol.mode if pol is not None else "direct",
            chain=tuple(pol.chain) if pol is not None and pol.chain is not None else default_chain,
            ring_timeout=ring, availability=o.availability,
            availability_until=as_aware(o.availability_until),
            direct_dial=dial_string((d.kind, d.endpoint, d.number, d.confirm) for d in o.devices),
            deputy_dial=deputy_dial, deputy_ring_timeout=ring,
            deputy_id=deputy.id if deputy is not None else 0,
            deputy_availability=deputy.availability if deputy is not None else "available",
            deputy_until=as_aware(deputy.availability_until) if deputy is not None else None,
            pool_queue=pool.queue if pool is not None else f"pool-{config.routing.default_pool}",
            pool_max_wait=pool.max_wait if pool is not None else 60,
            intervals=week_intervals(windows), holiday_intervals=holiday_intervals(windows))
        languages[o.id] = o.language
        for n in o.numbers:
            for key in dial_forms(n.number):
                dial_keys[key] = o.id
                number_options[key] = (n.menu, n.language)
    return RoutingSnapshot(tz_name, routings, dial_keys, languages, number_options, holidays,
                           config.routing.default_language)
