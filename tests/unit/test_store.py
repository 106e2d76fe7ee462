"""The routing snapshot (ivr/routing/store.py) on a real SQLite directory, and its AstDB mirror
content (ivr/core/mirror.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import update

from ivr.core.config import Config
from ivr.core.constants import MODES
from ivr.core.mirror import (
    FAMILY,
    NUMBER_FORMAT,
    RouteRecord,
    first_step,
    mirror_entries,
    number_entries,
    official_entries,
    route_record,
)
from ivr.core.plan import Step, decode_steps
from ivr.core.policy import OfficialRouting, plan_for_mode, plan_route
from ivr.core.schedule import DAY, WEEK, encode_intervals
from ivr.db.models import Base, Official
from ivr.db.session import Db, create_engine, make_sessionmaker
from ivr.db.settings import seed_settings
from ivr.directory.importer import import_text
from ivr.routing.store import RoutingSnapshot, load_snapshot

H = 3600
SH = ZoneInfo("Asia/Shanghai")

DIRECTORY = """
version: 1
settings:
  timezone: Asia/Shanghai
  default_chain: [deputy, pool, voicemail]
pools:
  - {name: main, strategy: leastrecent, max_wait: 45}
  - {name: night, strategy: ringall, max_wait: 90}
officials:
  - slug: zhang
    name: 张伟
    numbers: ["0558-5551001", "+86 558 5551011"]
    devices:
      - {sip: o-zhang}
      - {mobile: "13800001001"}
    deputy: li
    mode: direct
    ring_timeout: 30
  - slug: li
    name: 李强
    numbers: ["13900001002"]
    devices: [{sip: o-li}]
    mode: direct
    chain: [pool, voicemail]
  - slug: wang
    name: 王敏
    numbers: ["+865585551003"]
    devices: [{sip: o-wang}]
    deputy: away
    pool: night
    schedule:
      - {days: mon-fri, start: "18:00", end: "08:30", mode: pool}
      - {days: sun, start: "22:00", end: "06:00", mode: voicemail}
  - slug: away
    name: 赵休
    numbers: ["0558-5551004"]
    devices: [{sip: o-away}]
    availability: leave
    mode: pool
  - slug: bare
    name: 陈静
    numbers: ["0558-5551005"]
    mode: direct
    chain: [deputy]
"""


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Db]:
    # the schema from the models (not the migrations, which have their own tests): fast, and
    # independent of migration work in progress
    url = f"sqlite+aiosqlite:///{tmp_path / 'ivr.db'}"
    engine = create_engine(Config.build(database={"url": url}))
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    yield make_sessionmaker(engine)
    await engine.dispose()


@pytest.fixture
async def snap(db: Db) -> RoutingSnapshot:
    await import_text(db, DIRECTORY, "yaml", "tester")
    return await load_snapshot(db, Config())


def by_name(s: RoutingSnapshot) -> dict[str, OfficialRouting]:
    return {r.name: r for r in s.routings.values()}


async def test_dial_keys_national_and_e164(snap: RoutingSnapshot) -> None:
    o = by_name(snap)
    zhang, li, wang = o["张伟"].official_id, o["李强"].official_id, o["王敏"].official_id
    assert snap.dial_keys["05585551001"] == zhang
    assert snap.dial_keys["865585551001"] == zhang
    assert snap.dial_keys["05585551011"] == zhang
    assert snap.dial_keys["865585551011"] == zhang
    assert snap.dial_keys["13900001002"] == li  # a mobile: 11 digits, no leading 0
    assert snap.dial_keys["8613900001002"] == li
    assert snap.dial_keys["05585551003"] == wang
    assert snap.dial_keys["865585551003"] == wang
    assert len(snap.dial_keys) == 12
    assert all(k.isdigit() for k in snap.dial_keys)


async def test_routing_fields(snap: RoutingSnapshot) -> None:
    o = by_name(snap)
    zhang = o["张伟"]
    assert snap.tz_name == "Asia/Shanghai"
    assert zhang.mode == "direct"
    assert zhang.chain == ("deputy", "pool", "voicemail")  # settings.default_chain
    assert zhang.ring_timeout == 30 and zhang.deputy_ring_timeout == 30
    # the mobile confirms by default: every leg of the step is a Local leg; a desk phone alone
    # is dialled as it is
    assert zhang.direct_dial == "Local/pso-zhang@ivr-leg&Local/cm+8613800001001@ivr-leg"
    assert zhang.deputy_dial == "PJSIP/o-li"
    assert zhang.availability == "available"
    assert o["李强"].chain == ("pool", "voicemail")
    assert o["李强"].deputy_dial == ""
    assert o["陈静"].direct_dial == ""
    assert snap.languages[zhang.official_id] == "zh"


async def test_default_pool_and_own_pool(snap: RoutingSnapshot) -> None:
    o = by_name(snap)
    assert (o["张伟"].pool_queue, o["张伟"].pool_max_wait) == ("pool-main", 45)
    assert (o["王敏"].pool_queue, o["王敏"].pool_max_wait) == ("pool-night", 90)


async def test_default_pool_missing_from_db(db: Db) -> None:
    await import_text(db, """
officials:
  - {slug: solo, name: 单人, numbers: ["0558-5551009"], devices: [{sip: o-solo}]}
""", "yaml", "tester")
    config = Config.build(routing={"default_pool": "main"}, database={"timezone": "Europe/Berlin"})
    snap = await load_snapshot(db, config)
    (r,) = snap.routings.values()
    assert (r.pool_queue, r.pool_max_wait) == ("pool-main", 60)
    assert r.chain == ("deputy", "pool", "voicemail")
    # one source: the database's setting; the config's value only seeds a database without one
    assert snap.tz_name == "Asia/Shanghai"  # unseeded: the default, not the config's Berlin
    assert await seed_settings(db, config)
    assert (await load_snapshot(db, config)).tz_name == "Europe/Berlin"


async def test_deputy_unavailable_is_not_dialled(snap: RoutingSnapshot) -> None:
    o = by_name(snap)
    wang = o["王敏"]
    assert wang.deputy_availability == "leave"  # deputy "away" is on leave
    assert wang.deputy_dial  # kept for when they return (the mirror's dep, plan_route)
    assert o["赵休"].availability == "leave"
    plan = plan_for_mode(wang, "direct")
    assert [s.kind for s in plan.steps] == ["direct", "pool", "voicemail"]
    # the official on leave: no direct step
    assert [s.kind for s in plan_for_mode(o["赵休"], "direct").steps] == ["pool", "voicemail"]


async def test_windows_to_intervals(snap: RoutingSnapshot) -> None:
    wang = by_name(snap)["王敏"]
    expected = tuple((d * DAY + 18 * H, (d + 1) * DAY + 8 * H + 1800, "pool") for d in range(5))
    expected += ((6 * DAY + 22 * H, WEEK, "voicemail"), (0, 6 * H, "voicemail"))
    assert wang.intervals == expected
    assert by_name(snap)["张伟"].intervals == ()


async def test_route_known_and_unknown(snap: RoutingSnapshot) -> None:
    mon_noon = datetime(2026, 11, 2, 12, 0, tzinfo=SH)
    mon_night = datetime(2026, 11, 2, 20, 0, tzinfo=SH)
    sun_late = datetime(2026, 11, 8, 23, 0, tzinfo=SH)
    mon_early = datetime(2026, 11, 9, 5, 0, tzinfo=SH)
    found = snap.route("05585551003", mon_noon)
    assert found is not None
    r, plan = found
    assert r.name == "王敏" and plan.mode == "direct"
    assert plan.steps[0] == Step("direct", "PJSIP/o-wang", 20)
    assert plan.steps[-1] == Step("voicemail", str(r.official_id), 120)
    night = snap.route("865585551003", mon_night)
    assert night is not None and night[1].mode == "pool"
    assert night[1].steps[0] == Step("pool", "pool-night", 90)
    for t in (sun_late, mon_early):
        found = snap.route("05585551003", t)
        assert found is not None and found[1].mode == "voicemail"
        assert [s.kind for s in found[1].steps] == ["voicemail"]
    for unknown in ("05585559999", "", "+865585551003", "5585551003", "0086585551003"):
        assert snap.route(unknown, mon_noon) is None


async def test_route_message_when_nothing_can_run(snap: RoutingSnapshot) -> None:
    found = snap.route("05585551005", datetime(2026, 11, 2, 12, 0, tzinfo=SH))
    assert found is not None
    assert found[1].steps == (Step("message", "ivr-unavailable", 0),)


async def test_snapshot_next_boundary(snap: RoutingSnapshot) -> None:
    mon_noon = datetime(2026, 11, 2, 12, 0, tzinfo=SH)
    assert snap.next_boundary(mon_noon) == datetime(2026, 11, 2, 18, 0, tzinfo=SH)
    assert RoutingSnapshot("Asia/Shanghai").next_boundary(mon_noon) is None


async def test_snapshot_mirror(snap: RoutingSnapshot) -> None:
    now = datetime(2026, 11, 2, 20, 0, tzinfo=SH)
    m = snap.mirror(now)
    wang = by_name(snap)["王敏"]
    p = f"o/{wang.official_id}"
    assert m["meta/tz"] == "Asia/Shanghai"
    assert m[f"{p}/name"] == "王敏"
    assert m[f"{p}/mode"] == "direct"
    assert m[f"{p}/effective"] == "pool"
    assert m[f"{p}/lang"] == "zh"
    assert m[f"{p}/win"] == encode_intervals(wang.intervals)
    assert m[f"{p}/win"].startswith("64800-117000-pool|")
    # the mirrored plans: everyone available; avail and dep tell the dialplan who is away
    everyone = replace(wang, availability="available", deputy_availability="available")
    assert m[f"{p}/avail"] == "available^" and m[f"o/{wang.deputy_id}/avail"] == "leave^"
    assert m[f"{p}/dep"] == str(wang.deputy_id)
    for mode in MODES:
        steps = decode_steps(m[f"{p}/plan/{mode}"])
        assert steps == plan_for_mode(everyone, mode).steps
        assert steps[-1].kind in ("voicemail", "message")
    # official^menu^language, then the route in force (route_record): 20:00 on a Monday is in
    # the pool window until 08:30 the next day; the deputy on leave without an end
    until = int(datetime(2026, 11, 3, 8, 30, tzinfo=SH).timestamp())
    assert m["num/05585551003"] == (f"{wang.official_id}^0^^pool^{until}^0^1^zh^王敏^3^step^90^^"
                                    + plan_for_mode(everyone, "pool").encode().replace("|", "^"))
    assert m["num/865585551003"] == m["num/05585551003"]
    assert sum(k.startswith("num/") for k in m) == 12
    assert "meta/synced" not in m
    assert all(not k.startswith("/") and not k.startswith(FAMILY) for k in m)
    # one official's keys: name, mode, win, hwin (holiday windows), effective, avail, dep,
    # lang, 4 plans
    assert sum(k.startswith(f"{p}/") for k in m) == 12


def test_mirror_entries_pure() -> None:
    r = OfficialRouting(official_id=3, name="甲", mode="pool", direct_dial="PJSIP/o-3")
    now = datetime(2026, 11, 2, 12, 0, tzinfo=SH)
    entries = official_entries(r, now, SH)
    assert entries == {
        "o/3/name": "甲", "o/3/mode": "pool", "o/3/win": "", "o/3/hwin": "",
        "o/3/effective": "pool", "o/3/avail": "available^", "o/3/dep": "",
        "o/3/plan/direct": "direct^PJSIP/o-3^20|pool^pool-main^60|voicemail^3^120",
        "o/3/plan/pool": "pool^pool-main^60|voicemail^3^120",
        "o/3/plan/deputy": "pool^pool-main^60|voicemail^3^120",
        "o/3/plan/voicemail": "voicemail^3^120",
    }
    assert number_entries({"05585551001": 3, "865585551001": 3}) == {
        "num/05585551001": "3^0^", "num/865585551001": "3^0^"}
    full = mirror_entries([r], {"05585551001": 3}, "Asia/Shanghai", now)
    assert full == {"meta/tz": "Asia/Shanghai", "meta/hol": "", **entries,
                    "num/05585551001": "3^0^^pool^^0^0^zh^甲^3^step^60^^pool^pool-main^60^voicemail^3^120"}


def test_a_name_cannot_change_how_the_entry_splits_the_number_value() -> None:
    """The entry's MSet (render.ROUTE_READ) splits its arguments counting ( and [ even inside
    quotes, and the caller's original ID follows the value: a name's brackets are written
    full-width, and a value that holds one anyway is not written whole (the short form: the
    dialplan takes the slow way), so nothing swallows IVR_CALLER_RAW."""
    now = datetime(2026, 11, 2, 12, 0, tzinfo=SH)
    r = OfficialRouting(official_id=3, name="王(副)[办", mode="direct", direct_dial="PJSIP/o-3")
    rec = route_record(r, now, SH)
    assert rec.name == "王（副）［办"
    assert number_entries({"1001": 3}, None, {3: rec})["num/1001"].split("^")[8] == "王（副）［办"
    for bad in ("王(副", 'a"b', "a\\b", "]"):
        assert number_entries({"1001": 3}, None, {3: rec._replace(name=bad)}) == {"num/1001": "3^0^"}


def test_number_carries_the_route_in_force_until_its_boundary() -> None:
    """num/<digits>: the mode in force and until when it holds (the next weekly or holiday
    boundary in the city's time, or a return from a meeting, whichever first), who is away, the
    language (the number's wins, else the official's, else the city's), the name without ^,
    where the executor starts with the first step's timeouts, and the mode's plan last."""
    now = datetime(2026, 11, 2, 12, 0, tzinfo=SH)  # a Monday
    until = now + timedelta(hours=1)
    r = OfficialRouting(official_id=3, name="甲^乙", mode="direct", direct_dial="PJSIP/o-3",
                        availability="meeting", availability_until=until, deputy_id=4,
                        deputy_dial="PJSIP/o-4", deputy_availability="leave",
                        intervals=((12 * H + 1800, 13 * H, "voicemail"),))
    rec = route_record(r, now, SH, (), "en", "zh")
    half = int((now + timedelta(minutes=30)).timestamp())
    plan = plan_for_mode(replace(r, availability="available", deputy_availability="available"),
                         "direct").encode()
    assert rec == RouteRecord("direct", str(half), True, True, "en", "甲 乙", plan)
    assert route_record(r, now, SH).language == "zh"  # the city's default
    # inside the window: voicemail until 13:00 (the meeting ends then too); after it, direct
    # until next Monday 12:30 and the meeting over: available again; the deputy's leave has no end
    one = int(datetime(2026, 11, 2, 13, 0, tzinfo=SH).timestamp())
    assert route_record(r, now + timedelta(minutes=40), SH)[:4] == ("voicemail", str(one), True, True)
    assert route_record(r, now + timedelta(minutes=65), SH)[:4] == (
        "direct", str(int(datetime(2026, 11, 9, 12, 30, tzinfo=SH).timestamp())), False, True)
    # a meeting that ends before the next window boundary: its end is the route's boundary
    short = replace(r, availability_until=now + timedelta(minutes=10))
    assert route_record(short, now, SH).until == str(int((now + timedelta(minutes=10)).timestamp()))
    # a holiday with holiday windows: its midnight is the next boundary
    hol = replace(r, intervals=(), holiday_intervals=((0, DAY, "pool"),), availability="available")
    tomorrow = datetime(2026, 11, 3, 0, 0, tzinfo=SH)
    assert route_record(hol, now, SH, {tomorrow.date()})[:2] == ("direct", str(int(tomorrow.timestamp())))
    assert route_record(hol, tomorrow + timedelta(hours=1), SH, {tomorrow.date()})[:2] == (
        "pool", str(int((tomorrow + timedelta(days=1)).timestamp())))
    # no deputy: never away; the number's own language replaces the official's
    solo = replace(r, deputy_id=0, deputy_availability="available")
    srec = route_record(solo, now, SH, (), "zh")
    value = number_entries({"05585551001": 3}, {"05585551001": (True, "en")}, {3: srec})["num/05585551001"]
    f = value.split("^")
    assert f[:3] == ["3", "1", "en"] and f[3:9] == ["direct", str(half), "1", "0", "en", "甲 乙"]
    # the format; the menu first (a number with the DTMF menu); the plan's steps joined by ^:
    # step 1 is fields 14-16
    assert f[9] == NUMBER_FORMAT == "3" and f[10:13] == ["menu", "20", "20"]
    assert "^".join(f[13:]) == plan.replace("|", "^") and f[13:16] == plan.split("|")[0].split("^")
    # a route too long for one AMI line: the 3 fields (the per-official keys route it)
    long = srec._replace(plan="|".join([plan] * 40))
    assert number_entries({"05585551001": 3}, None, {3: long}) == {"num/05585551001": "3^0^"}


def test_first_step_is_where_the_executor_would_start() -> None:
    """The label the dialplan's STEP_LABEL would compute for step 1, and its timeouts: the Dial's
    (none for Local legs, which end on their own) and the legs' (direct and deputy only)."""
    def rec(plan: str, away: bool = False, dep_away: bool = False) -> RouteRecord:
        return RouteRecord("direct", "", away, dep_away, "zh", "甲", plan)
    direct = "direct^PJSIP/o-3^25|pool^pool-main^60|voicemail^3^120"
    assert first_step(False, rec(direct)) == "dial^25^25"
    assert first_step(True, rec(direct)) == "menu^25^25"
    assert first_step(False, rec(direct, away=True)) == "next^25^25"
    assert first_step(False, rec("deputy^PJSIP/o-4^15|voicemail^3^120")) == "dial^15^15"
    assert first_step(False, rec("deputy^PJSIP/o-4^15", dep_away=True)) == "next^15^15"
    assert first_step(False, rec("direct^Local/cs-o-3@ivr-legs&Local/cs-o-5@ivr-legs^30")) == "dial^^30"
    assert first_step(False, rec("pool^pool-main^60|voicemail^3^120")) == "step^60^"
    assert first_step(False, rec("voicemail^3^120")) == "step^120^"
    assert first_step(False, rec("fax^x^9|voicemail^3^120")) == "next^9^"  # no [ivr-step-fax]
    assert first_step(False, rec("")) == "done^^"


def test_mirror_carries_availability_and_its_end() -> None:
    """Away with a return time: the avail field holds the state and the end epoch, the plans
    are an available official's (the dialplan skips direct until the end); once the end has
    passed, available (and the controller's own plan rings the official again)."""
    now = datetime(2026, 11, 2, 12, 0, tzinfo=SH)
    until = now + timedelta(hours=2)
    r = OfficialRouting(official_id=3, name="甲", mode="direct", direct_dial="PJSIP/o-3",
                        availability="meeting", availability_until=until)
    entries = official_entries(r, now, SH)
    assert entries["o/3/avail"] == f"meeting^{int(until.timestamp())}"
    assert entries["o/3/plan/direct"].startswith("direct^PJSIP/o-3^20|")
    assert plan_route(r, now, SH).steps[0].kind == "pool"  # the controller skips direct
    later = until + timedelta(seconds=1)
    assert official_entries(r, later, SH)["o/3/avail"] == "available^"
    assert plan_route(r, later, SH).steps[0].kind == "direct"
    forever = OfficialRouting(official_id=3, name="甲", mode="direct", availability="leave")
    assert official_entries(forever, later, SH)["o/3/avail"] == "leave^"
    # a deputy away until a time: the mirror names the deputy and keeps their step in the plans;
    # the controller's own plan skips it until then
    d = OfficialRouting(official_id=4, name="乙", mode="direct", direct_dial="PJSIP/o-4",
                        deputy_dial="PJSIP/o-3", deputy_id=3, deputy_availability="meeting",
                        deputy_until=until)
    entries = official_entries(d, now, SH)
    assert entries["o/4/dep"] == "3"
    assert entries["o/4/plan/deputy"].startswith("deputy^PJSIP/o-3^20|")
    assert [s.kind for s in plan_route(d, now, SH).steps][:2] == ["direct", "pool"]
    assert [s.kind for s in plan_route(d, later, SH).steps][:2] == ["direct", "deputy"]


async def test_display_name_with_title(db: Db) -> None:
    await import_text(db, """
officials:
  - {slug: t, name: 张三, title: 局长, numbers: ["0558-5551008"], devices: [{sip: o-t}]}
""", "yaml", "tester")
    (r,) = (await load_snapshot(db, Config())).routings.values()
    assert r.name == "张三 局长"


async def test_display_name_sanitized(db: Db) -> None:
    # the importer refuses these characters; the snapshot does not rely on it (rows written by
    # other paths travel in caller-ID names and ^/| separated dialplan fields)
    await import_text(db, """
officials:
  - {slug: odd, name: 甲, numbers: ["0558-5551008"], devices: [{sip: o-odd}]}
""", "yaml", "tester")
    async with db() as session, session.begin():
        await session.execute(update(Official).values(name='甲^乙|丙"丁\\戊\x01己' + "长" * 80))
    (r,) = (await load_snapshot(db, Config())).routings.values()
    assert not any(c in r.name for c in '^|"\\\x01')
    assert r.name.startswith("甲 乙 丙 丁 戊 己")
    assert len(r.name) == 60


async def test_empty_directory(db: Db) -> None:
    snap = await load_snapshot(db, Config())
    assert snap.routings == {} and snap.dial_keys == {}
    assert snap.route("05585551001", datetime(2026, 11, 2, tzinfo=SH)) is None
    assert snap.mirror(datetime(2026, 11, 2, tzinfo=SH)) == {"meta/tz": "Asia/Shanghai",
                                                             "meta/hol": ""}
