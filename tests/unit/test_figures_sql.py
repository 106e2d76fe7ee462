"""The supervision figures computed in the database (ivr.supervision.figures) for a seeded
period, on SQLite and on PostgreSQL, equal the values worked out by hand (in the comments)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from ivr.core.config import Config
from ivr.db.followup_models import CaseEvent, Survey
from ivr.db.models import Call, CallStep, Official
from ivr.db.session import Db, create_engine, make_sessionmaker, upgrade_async
from ivr.directory.importer import import_text
from ivr.followup.cases import new_case
from ivr.supervision import reports
from tests.unit.deadline_helpers import round_the_clock

TZ = "Asia/Shanghai"
ZONE = ZoneInfo(TZ)
DIRECTORY = """
pools: [{name: main}]
officials:
  - {slug: zhang-wei, name: 张伟, department: 市交通运输局, numbers: ["0558-5551001"],
     devices: [{sip: o-zw}]}
  - {slug: li-qiang, name: 李强, department: 市财政局, numbers: ["0558-5551002"],
     devices: [{sip: o-lq}]}
"""
DAY1 = datetime(2026, 3, 2, 9, 0, tzinfo=ZONE)
NOW = datetime(2026, 3, 10, tzinfo=UTC)  # after every deadline of the seed but l3's


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Db]:
    await upgrade_async(db_url)
    engine = create_engine(Config.build(database={"url": db_url}))
    sm = make_sessionmaker(engine)
    await import_text(sm, DIRECTORY, "yaml", "setup")
    yield sm
    await engine.dispose()


# (name, official, local start, mode, outcome, answered_kind, wait, pool step, kind, case)
# case: None, "on_time" (reached before the deadline), "late" (after it), "open_past"
# (nobody reached the citizen, deadline past), "open_future" (deadline not yet reached)
M = timedelta(minutes=1)
SEED = [
    ("z1", "zhang-wei", DAY1, "direct", "answered", "direct", 4, False, "citizen", None),
    ("z2", "zhang-wei", DAY1 + M, "direct", "answered", "direct", 10, False, "citizen", None),
    ("z3", "zhang-wei", DAY1 + 2 * M, "direct", "answered", "pool", 30, True, "citizen", None),
    ("z4", "zhang-wei", DAY1 + 3 * M, "direct", "answered", "direct", 6, False, "citizen", None),
    ("z5", "zhang-wei", DAY1 + 4 * M, "direct", "voicemail", None, None, False, "citizen", None),
    ("z6", "zhang-wei", DAY1 + 5 * M, "direct", "missed", None, None, False, "citizen", "on_time"),
    ("z7", "zhang-wei", DAY1 + 6 * M, "direct", "abandoned", None, 3, False, "citizen", "late"),
    ("z8", "zhang-wei", DAY1 + 7 * M, "direct", "missed", None, None, False, "citizen",
     "open_past"),
    ("z9", "zhang-wei", DAY1 + 8 * M, "direct", "interrupted", None, None, False, "citizen", None),
    ("z10", "zhang-wei", DAY1 + 9 * M, "", "refused", None, None, False, "citizen", None),
    ("z11", "zhang-wei", DAY1 + 10 * M, "direct", "missed", None, None, False, "test", None),
    # the local day's edges: 23:30 on day 1, 00:10 on day 2 (still in the period)
    ("z12", "zhang-wei", datetime(2026, 3, 2, 23, 30, tzinfo=ZONE), "direct", "answered",
     "direct", 2, False, "citizen", None),
    ("z13", "zhang-wei", datetime(2026, 3, 3, 0, 10, tzinfo=ZONE), "direct", "answered",
     "direct", 20, False, "citizen", None),
    ("l1", "li-qiang", DAY1 + 20 * M, "pool", "answered", "pool", 12, True, "citizen", None),
    ("l2", "li-qiang", DAY1 + 21 * M, "deputy", "answered", "deputy", 8, False, "citizen", None),
    ("l3", "li-qiang", DAY1 + 22 * M, "pool", "abandoned", None, 40, True, "citizen",
     "open_future"),
    # outside the period (local 00:00 of the day after it)
    ("l4", "li-qiang", datetime(2026, 3, 4, 0, 0, tzinfo=ZONE), "pool", "missed", None, None,
     True, "citizen", None),
]

# satisfaction surveys: (call, of the call, of its case or of a case an operator "opened" from
# it (kind call, linked by linkedid), rating, when it was rated); a rating counts in its call's
# period, official, department, day and pools, whatever its own date
D = timedelta(days=1)
SURVEYS = [
    ("z1", "call", 1, DAY1 + D), ("z2", "call", 2, DAY1 + D), ("z3", "call", 1, DAY1 + D),
    ("z1", "opened", 1, DAY1 + D),
    ("z4", "call", None, DAY1 + D),  # no key pressed: not a rating
    ("z6", "case", 3, DAY1 + D),  # the survey of z6's resolved case
    ("z13", "call", 2, DAY1 + D),  # local day 2
    ("z9", "call", 1, DAY1 + D),  # an interrupted call: not counted, like its other figures
    ("z11", "call", 3, DAY1 + D),  # a test call: not counted
    ("l1", "call", 3, DAY1 + D),
    ("l2", "call", 1, DAY1 + 5 * D),  # rated after the period: counted, its call is in it
    ("l2", "opened", 2, DAY1 + D), ("l2", "opened", 2, DAY1 + D),  # two cases from one call
    ("l2", "opened", None, DAY1 + D),
    ("l4", "call", 1, DAY1 + 2 * D),  # a call after the period: not counted
    ("l4", "opened", 3, DAY1 + 2 * D),
]


async def _seed(db: Db) -> None:
    async with db() as s, s.begin():
        ids = dict((await s.execute(select(Official.slug, Official.id))).all())
        calls, cases = {}, {}
        for name, slug, start, mode, outcome, kind, wait, pooled, ckind, follow in SEED:
            t = start.astimezone(UTC)
            call = Call(linkedid=name, official_id=ids[slug], mode=mode, outcome=outcome,
                        answered_kind=kind, kind=ckind, waited_secs=wait, started_at=t,
                        ended_at=t + M, number_dialed="05585551001", caller="13900000000",
                        answered_at=t + timedelta(seconds=wait or 0) if kind else None)
            if pooled:
                call.steps.append(CallStep(seq=1, kind="pool", target="pool-main", started_at=t))
            s.add(call)
            await s.flush()
            calls[name] = call
            if follow is None:
                continue
            case = new_case("missed", created_at=t + M, deadlines=round_the_clock(),
                            call_id=call.id, official_id=ids[slug])
            case.deadline = NOW + timedelta(days=1) if follow == "open_future" else t + 2 * M
            if follow in ("on_time", "late"):
                at = t + M + M / 2 if follow == "on_time" else t + 5 * M
                case.events.append(CaseEvent(at=at, actor="op", action="status", old_value="new",
                                             new_value="called_back"))
                case.status = "called_back"
            s.add(case)
            cases[name] = case
        await s.flush()
        for name, of, rating, at in SURVEYS:
            if of in ("call", "case"):
                ref = {"call_id": calls[name].id} if of == "call" else {"case_id": cases[name].id}
            else:
                opened = new_case("call", created_at=calls[name].started_at + M / 2,
                                  deadlines=round_the_clock(), linkedid=name,
                                  official_id=calls[name].official_id)
                s.add(opened)
                await s.flush()
                ref = {"case_id": opened.id}
            s.add(Survey(**ref, number="13900000000", official_id=calls[name].official_id,
                         due_at=at, state="done" if rating else "failed", rating=rating,
                         ended_at=at))


async def test_figures_equal_hand_computed(db: Db, monkeypatch: pytest.MonkeyPatch) -> None:
    await _seed(db)
    monkeypatch.setattr(reports, "utcnow", lambda: NOW)
    since, until = reports.period("2026-03-02", "2026-03-03", TZ)
    f = await reports.figures(db, TZ, since, until)
    z = next(o for o in f.officials if o.slug == "zhang-wei")
    # counted: z1-z8, z12, z13 (z9 interrupted apart, z10 refused, z11 a test call)
    assert (z.calls, z.answered, z.answered_expected, z.answered_other_party) == (10, 6, 5, 1)
    assert (z.answered_by_official, z.answered_by_others) == (5, 1)  # in person or not
    assert (z.voicemail, z.missed, z.abandoned, z.interrupted) == (1, 2, 1, 1)
    assert (z.answered_expected_pct, z.answered_other_party_pct, z.voicemail_pct, z.missed_pct,
            z.abandoned_pct) == (50.0, 10.0, 10.0, 20.0, 10.0)  # they sum to 100 %
    # waits 2 4 6 10 20 30: nearest-rank median the 3rd (6), p90 the 6th (30); mean 72/6
    assert (z.median_answer_seconds, z.p90_answer_seconds, z.asa_seconds) == (6.0, 30.0, 12.0)
    assert (z.answered_within_20s, z.service_level_pct) == (5, 50.0)
    # cases z6 on time, z7 late, z8 not reached with its deadline past
    assert (z.cases, z.followed_on_time, z.followed_late, z.followed_on_time_pct) == (
        3, 1, 2, 33.3)
    li = next(o for o in f.officials if o.slug == "li-qiang")
    # l1 pool mode answered by an operator, l2 deputy mode by the deputy: both expected
    assert (li.calls, li.answered_expected, li.answered_other_party, li.abandoned) == (3, 2, 0, 1)
    assert (li.answered_by_official, li.answered_by_others) == (0, 2)
    assert (li.median_answer_seconds, li.p90_answer_seconds) == (8.0, 12.0)
    assert (li.cases, li.followed_on_time, li.followed_late, li.followed_on_time_pct) == (
        1, 0, 0, None)  # l3's deadline is still ahead
    assert (li.rank, z.rank) == (1, 2)  # 66.7 % answered by the expected party against 50 %
    departments = {d.department: d for d in f.departments}
    assert departments["市交通运输局"].calls == 10 and departments["市财政局"].calls == 3
    assert departments["市财政局"].rank == 1
    pool = f.pools[0]
    # z3 (direct mode, answered in the pool: not the expected party), l1, l3
    assert (pool.queue, pool.calls, pool.answered, pool.answered_expected,
            pool.answered_in_pool, pool.abandoned) == ("pool-main", 3, 2, 1, 2, 1)
    assert (pool.median_answer_seconds, pool.p90_answer_seconds) == (12.0, 30.0)
    assert (f.total.calls, f.total.interrupted, f.total.answered_expected) == (13, 1, 7)
    # the trend per local day: z13 at 00:10 on day 2 is day 2's, z12 at 23:30 day 1's
    assert [(d.day, d.calls, d.interrupted) for d in f.days] == [
        ("2026-03-02", 12, 1), ("2026-03-03", 1, 0)]
    assert f.calls_per_hour[23] == 1 and f.calls_per_hour[0] == 1 and f.calls_per_hour[9] == 12
    assert sum(f.calls_per_hour) == 14
    # one official's figures only
    # satisfaction: z1 1 and its opened case 1, z2 2, z3 1, z6's case 3, z13 2 (z4 unrated, z9
    # interrupted, z11 a test call); li: l1 3, l2 1 (rated after the period) and its opened
    # cases 2, 2 (and one unrated); l4 is after the period
    assert (z.ratings, z.satisfied, z.fairly_satisfied, z.not_satisfied) == (6, 3, 2, 1)
    assert (z.satisfied_pct, z.fairly_satisfied_pct, z.not_satisfied_pct) == (50.0, 33.3, 16.7)
    assert (li.ratings, li.satisfied_pct, li.fairly_satisfied_pct, li.not_satisfied_pct) == (
        4, 25.0, 50.0, 25.0)
    assert (departments["市交通运输局"].ratings, departments["市财政局"].ratings) == (6, 4)
    assert departments["市财政局"].not_satisfied_pct == 25.0
    # the pool: z3 (1) and l1 (3), the calls that entered it
    assert (pool.ratings, pool.satisfied, pool.not_satisfied, pool.satisfied_pct) == (2, 1, 1, 50.0)
    # the whole period: 4 satisfied, 4 fairly, 2 not of 10
    assert (f.total.ratings, f.total.satisfied_pct, f.total.fairly_satisfied_pct,
            f.total.not_satisfied_pct) == (10, 40.0, 40.0, 20.0)
    assert [(d.day, d.ratings) for d in f.days] == [("2026-03-02", 9), ("2026-03-03", 1)]
    csv_rows = reports.to_csv(f).splitlines()
    assert csv_rows[0].endswith(",ratings,satisfied_pct,fairly_satisfied_pct,not_satisfied_pct")
    assert [r for r in csv_rows if r.startswith("total,")][0].endswith(",10,40.0,40.0,20.0")
    mine = await reports.figures(db, TZ, since, until, official_id=li.official_id)
    assert [o.slug for o in mine.officials] == ["li-qiang"] and mine.total.calls == 3
    assert (mine.total.ratings, mine.total.satisfied_pct) == (4, 25.0)
    assert [d.department for d in mine.departments] == ["市财政局"]
