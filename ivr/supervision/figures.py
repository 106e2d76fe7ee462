"""The supervision figures in the database: one SQL aggregation (GROUP BY) per grouping —
official, department, pool, the whole period, the local day and the local hour — over the same
base query of the period's citizen calls. It feeds the dashboard page, its CSV, the monthly
report and ``GET /api/v1/stats`` (docs/supervision.md, "Figures").

The outcome model is docs/architecture.md's "Call outcomes": over citizen calls (kind
``citizen``) with an outcome, ``refused`` excluded, ``interrupted`` counted apart; answered by
the expected party (the mode in effect for the call: ``direct`` → the official in person,
``deputy`` → the deputy, ``pool`` → an operator) + answered by others + voicemail + missed +
abandoned = calls. Percentiles of the time to answer are nearest-rank (the smallest wait with at
least p % of the answered calls at or below it): ``percentile_disc`` over grouping sets on
PostgreSQL, read off one GROUP BY of the waits (stored to a tenth of a second) on SQLite.
*Followed up on time*: the call's case reached the citizen (its first status change to
``called_back`` or ``resolved``) by its contact deadline (``cases.deadline``).
*Satisfaction*: the ratings (1 satisfied, 2 fairly, 3 not; ``surveys.rating``) of the surveys of
the counted calls and of their cases (``call_id``, or opened from the call: ``linkedid``), in
the period, official, department and pools of the call — not of the survey (docs/supervision.md,
"Satisfaction").
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Column,
    ColumnElement,
    DateTime,
    Float,
    Integer,
    MetaData,
    Select,
    String,
    Table,
    and_,
    case,
    func,
    literal,
    or_,
    select,
    text,
    tuple_,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import InstrumentedAttribute, aliased
from sqlalchemy.sql.expression import FunctionElement

from ivr.db.followup_models import Case, CaseEvent, Survey
from ivr.db.models import Call, CallStep, Official

SERVICE_LEVEL_SECONDS = 20
COUNTED_KINDS = ("citizen",)
# the statuses that mean somebody reached the citizen (ivr.followup.cases: not OPEN_STATES)
CONTACTED = ("called_back", "resolved")
# the party expected to answer, by the mode in effect for the call (answered_kind)
EXPECTED_KIND = {"direct": "direct", "deputy": "deputy", "pool": "pool", "": "direct"}
RATINGS = (1, 2, 3)  # surveys.rating: satisfied, fairly satisfied, not satisfied


class epoch(FunctionElement[int]):  # noqa: N801  (an SQL function's name)
    """Whole seconds since 1970 of a stored time (UTC), in either database."""
    type = Integer()
    inherit_cache = True


@compiles(epoch, "sqlite")
def _epoch_sqlite(element: epoch, compiler: Any, **kw: Any) -> str:
    return f"CAST(strftime('%s', {compiler.process(element.clauses, **kw)}) AS INTEGER)"


@compiles(epoch, "postgresql")
def _epoch_pg(element: epoch, compiler: Any, **kw: Any) -> str:
    return f"CAST(floor(EXTRACT(EPOCH FROM {compiler.process(element.clauses, **kw)})) AS BIGINT)"


@dataclass(frozen=True)
class Period:
    since: datetime
    until: datetime
    tz: str

    def offsets(self) -> list[tuple[int, int]]:
        """(UTC epoch from which, offset seconds) of the city's zone over the period: one
        entry, or more where the offset changes (daylight saving)."""
        zone = ZoneInfo(self.tz)
        t, end = self.since.astimezone(UTC), self.until.astimezone(UTC)
        spans = [(int(t.timestamp()), _offset(t, zone))]
        while t < end:
            nxt = min(t + timedelta(days=1), end)
            if _offset(nxt, zone) != spans[-1][1]:
                lo, hi = t, nxt  # bisect to the second of the change
                while hi - lo > timedelta(seconds=1):
                    mid = lo + (hi - lo) / 2
                    lo, hi = (mid, hi) if _offset(mid, zone) == spans[-1][1] else (lo, mid)
                spans.append((int(hi.timestamp()), _offset(hi, zone)))
            t = nxt
        return spans


def _offset(t: datetime, zone: ZoneInfo) -> int:
    off = t.astimezone(zone).utcoffset()
    return int(off.total_seconds()) if off is not None else 0


def local_seconds(period: Period) -> ColumnElement[int]:
    """The call's arrival as seconds since 1970 on the city's wall clock."""
    e = epoch(Call.started_at)
    spans = period.offsets()
    if len(spans) == 1:
        return e + spans[0][1]
    offset = case(*[(e >= start, off) for start, off in reversed(spans[1:])], else_=spans[0][1])
    return e + offset


def base(period: Period, official_id: int | None = None) -> Select[Any]:
    """One row per counted call of the period, with what the figures need."""
    contact = (select(func.min(CaseEvent.at))
               .where(CaseEvent.case_id == Case.id, CaseEvent.action == "status",
                      CaseEvent.new_value.in_(CONTACTED))
               .correlate(Case).scalar_subquery())
    expected = or_(*[and_(Call.mode == mode, Call.answered_kind == kind)
                     for mode, kind in EXPECTED_KIND.items()])
    local = local_seconds(period)
    by_call, by_case, linked = _rating_sources(period)
    q = (select(Call.id.label("call_id"), Call.official_id, Official.department, Call.outcome,
                case((and_(Call.outcome == "answered", expected), 1), else_=0).label("expected"),
                case((Call.answered_kind == "direct", 1), else_=0).label("in_person"),
                case((Call.answered_kind == "pool", 1), else_=0).label("by_operator"),
                Call.waited_secs, (local // 86400).label("day"),
                ((local // 3600) % 24).label("hour"),
                Case.id.label("case_id"), Case.deadline, contact.label("contact_at"),
                *[(_is(by_call.rating, n) + _is(by_case.rating, n)
                   + func.coalesce(linked.c[f"n{n}"], 0)).label(f"rated_{n}") for n in RATINGS])
         .select_from(Call).outerjoin(Official, Official.id == Call.official_id)
         .outerjoin(Case, Case.call_id == Call.id)
         .outerjoin(by_call, and_(by_call.call_id == Call.id, by_call.rating.is_not(None)))
         .outerjoin(by_case, and_(by_case.case_id == Case.id, by_case.rating.is_not(None)))
         .outerjoin(linked, linked.c.linkedid == Call.linkedid)
         .where(Call.started_at >= period.since.astimezone(UTC),
                Call.started_at < period.until.astimezone(UTC),
                Call.outcome.is_not(None), Call.outcome != "refused",
                Call.kind.in_(COUNTED_KINDS)))
    if official_id is not None:
        q = q.where(Call.official_id == official_id)
    return q


def _rating_sources(period: Period) -> tuple[Any, Any, Any]:
    """Where a call's ratings come from: its own survey, the survey of its case (``call_id``;
    both unique: one row each at most), and the ratings of the cases an operator opened from it
    (kind ``call``, linked by ``linkedid``, maybe several: counted per linkedid; created during
    or after the call, so not before the period)."""
    by_call, by_case = aliased(Survey, name="call_survey"), aliased(Survey, name="case_survey")
    opened, rated = aliased(Case, name="opened"), aliased(Survey, name="opened_survey")
    linked = (select(opened.linkedid.label("linkedid"),
                     *[func.sum(_is(rated.rating, n)).label(f"n{n}") for n in RATINGS])
              .join(rated, rated.case_id == opened.id)
              .where(rated.rating.is_not(None), opened.linkedid.is_not(None),
                     opened.call_id.is_(None), opened.created_at >= period.since.astimezone(UTC))
              .group_by(opened.linkedid).subquery("linked_ratings"))
    return by_call, by_case, linked


def _is(rating: ColumnElement[Any] | InstrumentedAttribute[Any], n: int) -> ColumnElement[int]:
    return case((rating == n, 1), else_=0)


# the columns of base(), as the temporary table stores them
BASE_COLUMNS: tuple[tuple[str, Any], ...] = (
    ("call_id", Integer), ("official_id", Integer), ("department", String(120)),
    ("outcome", String(16)), ("expected", Integer), ("in_person", Integer),
    ("by_operator", Integer), ("waited_secs", Float), ("day", Integer), ("hour", Integer),
    ("case_id", Integer), ("deadline", DateTime(timezone=True)),
    ("contact_at", DateTime(timezone=True)), *[(f"rated_{n}", Integer) for n in RATINGS])


@asynccontextmanager
async def materialized(session: AsyncSession, rows: Select[Any]) -> AsyncIterator[Select[Any]]:
    """``rows`` (a :func:`base` select) stored once in a temporary table of this session's
    connection (read by every grouping; one scan of the period's calls and their cases), as a
    select of that table; dropped afterwards."""
    table = Table(f"sv_base_{next(_temp_names)}", MetaData(),
                  *[Column(name, kind) for name, kind in BASE_COLUMNS], prefixes=["TEMPORARY"])
    postgres = session.get_bind().dialect.name == "postgresql"
    if postgres:  # the month's sorts in memory (the default 4 MB spills them to disk); no JIT:
        # the first contact's subplan makes the estimate look huge, and compiling the plan cost
        # ~0.7 s of a 1.6 s scan at 1M calls (EXPLAIN ANALYZE; docs/decisions.md)
        await session.execute(text(f"SET LOCAL work_mem = '{PG_WORK_MEM}'"))
        await session.execute(text("SET LOCAL jit = off"))
    await session.run_sync(lambda s: table.create(s.connection()))
    try:
        await session.execute(table.insert().from_select([n for n, _ in BASE_COLUMNS], rows))
        if postgres:  # temporary tables are never analysed by autovacuum
            await session.execute(text(f"ANALYZE {table.name}"))
        yield select(table)
    finally:
        await session.run_sync(lambda s: table.drop(s.connection()))


_temp_names = itertools.count(1)
PG_WORK_MEM = "64MB"


def _n(cond: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((cond, 1), else_=0)), 0)


SUMS = ("calls", "answered", "answered_expected", "answered_by_official", "by_operator",
        "voicemail", "missed", "abandoned", "interrupted", "wait_sum", "wait_n", "within",
        "cases", "on_time", "late", *[f"rated_{n}" for n in RATINGS])


async def sums(session: AsyncSession, rows: Select[Any], keys: Sequence[str], now: datetime,
               ) -> dict[tuple[Any, ...], dict[str, Any]]:
    """The counts (and sums of waits) per value of the columns ``keys`` of ``rows`` (a
    :func:`base`-shaped select): one GROUP BY; coarser groups are their sums (:func:`rollup`)."""
    b = rows.subquery("b")
    ks = [b.c[k] for k in keys]
    counted = b.c.outcome != "interrupted"
    answered = b.c.outcome == "answered"
    timed = and_(answered, b.c.waited_secs.is_not(None))
    q = select(
        *ks, _n(counted).label("calls"), _n(answered).label("answered"),
        _n(b.c.expected == 1).label("answered_expected"),
        _n(and_(answered, b.c.in_person == 1)).label("answered_by_official"),
        _n(and_(answered, b.c.by_operator == 1)).label("by_operator"),
        _n(b.c.outcome == "voicemail").label("voicemail"),
        _n(b.c.outcome == "missed").label("missed"),
        _n(b.c.outcome == "abandoned").label("abandoned"),
        _n(b.c.outcome == "interrupted").label("interrupted"),
        func.coalesce(func.sum(case((timed, b.c.waited_secs))), 0).label("wait_sum"),
        _n(timed).label("wait_n"),
        _n(and_(answered, b.c.waited_secs <= SERVICE_LEVEL_SECONDS)).label("within"),
        _n(and_(counted, b.c.case_id.is_not(None))).label("cases"),
        _n(and_(counted, b.c.contact_at <= b.c.deadline)).label("on_time"),
        _n(and_(counted, or_(b.c.contact_at > b.c.deadline,
                             and_(b.c.contact_at.is_(None), b.c.deadline < now)))).label("late"),
        *[func.coalesce(func.sum(case((counted, b.c[f"rated_{n}"]), else_=0)), 0).label(
            f"rated_{n}") for n in RATINGS],
    ).group_by(*ks)
    return {tuple(r[:len(keys)]): {name: r._mapping[name] for name in SUMS}
            for r in (await session.execute(q)).all()}


def rollup(fine: dict[tuple[Any, ...], dict[str, Any]], index: int | None,
           ) -> dict[Any, dict[str, Any]]:
    """The sums of :func:`sums` added up per the ``index``-th key (None: one group, key 1)."""
    out: dict[Any, dict[str, Any]] = {}
    for key, r in fine.items():
        into = out.setdefault(1 if index is None else key[index], dict.fromkeys(SUMS, 0))
        for name in SUMS:
            into[name] += r[name] or 0
    return out


async def percentiles(session: AsyncSession, rows: Select[Any], keys: Sequence[str],
                      intos: Sequence[dict[Any, dict[str, Any]]],
                      whole_into: dict[Any, dict[str, Any]] | None = None) -> None:
    """The nearest-rank median and 90th percentile of the wait to answer per value of each of
    ``keys`` (into the matching ``intos``) and, given ``whole_into``, of all rows (key 1).
    PostgreSQL: ``percentile_disc`` (the nearest rank) over grouping sets, one scan, a row per
    group; SQLite has no ordered-set aggregates: read off :func:`wait_counts`."""
    if session.get_bind().dialect.name != "postgresql":
        counts = await wait_counts(session, rows, keys)
        for index, into in [*enumerate(intos), *([(None, whole_into)] if whole_into is not None
                                                 else [])]:
            add_percentiles(counts, index, into)
        return
    b = rows.subquery("b")
    ks = [b.c[k] for k in keys]
    sets = [tuple_(k) for k in ks] + ([tuple_()] if whole_into is not None else [])
    q = (select(*ks, *[func.grouping(k).label(f"g{i}") for i, k in enumerate(ks)],
                *[func.percentile_disc(p / 100).within_group(b.c.waited_secs).label(f"p{p}")
                  for p in (50, 90)])
         .where(b.c.outcome == "answered", b.c.waited_secs.is_not(None))
         .group_by(func.grouping_sets(*sets)))
    for r in (await session.execute(q)).all():
        grouped = [i for i in range(len(ks)) if r._mapping[f"g{i}"] == 0]
        target = intos[grouped[0]] if grouped else whole_into
        if target is not None:
            target.setdefault(r[grouped[0]] if grouped else 1, dict.fromkeys(SUMS, 0)).update(
                p50=r.p50, p90=r.p90)


async def wait_counts(session: AsyncSession, rows: Select[Any], keys: Sequence[str],
                      ) -> dict[tuple[Any, ...], dict[float, int]]:
    """How many answered calls waited each time (a tenth of a second, as stored) per value of
    the columns ``keys``: one GROUP BY. The percentiles are read off these counts
    (:func:`add_percentiles`), for these keys and the coarser groups alike."""
    b = rows.subquery("b")
    ks = [b.c[k] for k in keys]
    q = (select(*ks, b.c.waited_secs, func.count())
         .where(b.c.outcome == "answered", b.c.waited_secs.is_not(None))
         .group_by(*ks, b.c.waited_secs))
    out: dict[tuple[Any, ...], dict[float, int]] = {}
    for r in (await session.execute(q)).all():
        out.setdefault(tuple(r[:len(keys)]), {})[float(r[len(keys)])] = int(r[-1])
    return out


def add_percentiles(counts: dict[tuple[Any, ...], dict[float, int]], index: int | None,
                    into: dict[Any, dict[str, Any]]) -> None:
    """The nearest-rank median and 90th percentile of the wait to answer per value of the
    ``index``-th key of :func:`wait_counts` (None: one group, key 1), added to ``into``."""
    merged: dict[Any, dict[float, int]] = {}
    for key, waits in counts.items():
        m = merged.setdefault(1 if index is None else key[index], {})
        for w, n in waits.items():
            m[w] = m.get(w, 0) + n
    for key, m in merged.items():
        into.setdefault(key, dict.fromkeys(SUMS, 0)).update(
            p50=nearest_rank(m, 50), p90=nearest_rank(m, 90))


def nearest_rank(counts: dict[float, int], p: int) -> float:
    """The smallest wait with at least ``p`` % of the calls at or below it."""
    rank, seen = (sum(counts.values()) * p + 99) // 100, 0
    for w in sorted(counts):
        seen += counts[w]
        if seen >= rank:
            return w
    raise ValueError("no waits")


async def hour_counts(session: AsyncSession, rows: Select[Any]) -> list[int]:
    """Calls (interrupted ones too) by local hour of arrival, 0-23."""
    b = rows.subquery("b")
    hourly = [0] * 24
    for hour, n in (await session.execute(select(b.c.hour, func.count()).group_by(b.c.hour))):
        hourly[int(hour)] = int(n)
    return hourly


def pool_rows(rows: Select[Any]) -> Select[Any]:
    """:func:`base` rows once per pool queue the call entered (column ``queue``)."""
    b = rows.subquery("calls_in")
    return (select(*b.c, CallStep.target.label("queue"))
            .join(CallStep, and_(CallStep.call_id == b.c.call_id, CallStep.kind == "pool"))
            .distinct())


def whole(rows: Select[Any]) -> Select[Any]:
    """:func:`base` rows with one more column ``all`` (the same value for every call)."""
    b = rows.subquery("every")
    return select(*b.c, literal(1).label("all"))


def pct(k: int, n: int) -> float | None:
    return round(100.0 * k / n, 1) if n else None


def figures_row(r: dict[str, Any] | None) -> dict[str, Any]:
    """The figures of one group (zeros for a group without calls) — StatsRow's fields."""
    r = r or {}
    g = {name: int(r.get(name) or 0) for name in (
        "calls", "answered", "answered_expected", "answered_by_official", "voicemail", "missed",
        "abandoned", "interrupted", "within", "cases", "on_time", "late", "wait_n",
        *[f"rated_{k}" for k in RATINGS])}
    n, other_party = g["calls"], g["answered"] - g["answered_expected"]
    asa = float(r["wait_sum"]) / g["wait_n"] if g["wait_n"] else None
    return dict(
        calls=n, answered=g["answered"], answered_pct=pct(g["answered"], n),
        answered_expected=g["answered_expected"],
        answered_expected_pct=pct(g["answered_expected"], n),
        answered_other_party=other_party, answered_other_party_pct=pct(other_party, n),
        answered_by_official=g["answered_by_official"],
        answered_by_others=g["answered"] - g["answered_by_official"],
        voicemail=g["voicemail"], voicemail_pct=pct(g["voicemail"], n),
        missed=g["missed"], missed_pct=pct(g["missed"], n),
        abandoned=g["abandoned"], abandoned_pct=pct(g["abandoned"], n),
        interrupted=g["interrupted"],
        asa_seconds=round(float(asa), 1) if asa is not None else None,
        median_answer_seconds=_secs(r.get("p50")), p90_answer_seconds=_secs(r.get("p90")),
        answered_within_20s=g["within"], service_level_pct=pct(g["within"], n),
        cases=g["cases"], followed_on_time=g["on_time"], followed_late=g["late"],
        followed_on_time_pct=pct(g["on_time"], g["on_time"] + g["late"]),
        **satisfaction(g["rated_1"], g["rated_2"], g["rated_3"]))


def satisfaction(satisfied: int, fairly: int, not_satisfied: int) -> dict[str, Any]:
    """The satisfaction figures of a group from its counts of ratings 1, 2 and 3."""
    n = satisfied + fairly + not_satisfied
    return dict(ratings=n, satisfied=satisfied, satisfied_pct=pct(satisfied, n),
                fairly_satisfied=fairly, fairly_satisfied_pct=pct(fairly, n),
                not_satisfied=not_satisfied, not_satisfied_pct=pct(not_satisfied, n))


def _secs(v: Any) -> float | None:
    return round(float(v), 1) if v is not None else None


def day_of(number: int) -> date:
    """The local date of a ``day`` value of :func:`base` (days since 1970 on the wall clock)."""
    return date(1970, 1, 1) + timedelta(days=int(number))


def ranking(rows: Sequence[dict[str, Any]]) -> list[int | None]:
    """Rank (1 = best) of each row with calls: by answered by the expected party %, then
    followed up on time %, then fewer abandoned; rows without calls are not ranked."""
    def score(r: dict[str, Any]) -> tuple[float, float, float]:
        return (-(r["answered_expected_pct"] or 0.0), -(r["followed_on_time_pct"] or 0.0),
                r["abandoned_pct"] or 0.0)
    order = sorted((i for i, r in enumerate(rows) if r["calls"]), key=lambda i: score(rows[i]))
    ranks: list[int | None] = [None] * len(rows)
    for place, i in enumerate(order, start=1):
        ranks[i] = place
    return ranks
