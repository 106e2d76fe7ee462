"""Holiday schedule windows (issue 11): ``days: holiday`` windows apply on the working
calendar's public holidays and win over the weekly windows — in the planner, in the snapshot
and in what is mirrored for the dialplan (meta/hol, o/<id>/hwin)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from ivr.core.config import Config
from ivr.core.schedule import (
    Window,
    encode_holidays,
    holiday_boundary,
    holiday_intervals,
    mode_on,
    week_intervals,
)
from ivr.core.windows import WindowError, format_days, parse_days, parse_window
from ivr.db.session import Db, create_engine, make_sessionmaker, upgrade_async
from ivr.directory.importer import import_text
from ivr.followup import calendar as cal
from ivr.followup.deadlines import Deadlines
from ivr.routing.store import load_snapshot

SH = ZoneInfo("Asia/Shanghai")
HOLIDAYS = frozenset({date(2030, 10, d) for d in range(1, 8)})
WINDOWS = [Window(frozenset({0, 1, 2, 3, 4}), 18 * 3600, 8 * 3600, "voicemail"),
           Window(frozenset({7}), 0, 86400, "pool")]


def test_holiday_days_parse_and_format() -> None:
    assert parse_days("holiday") == frozenset({7}) and format_days({7}) == "holiday"
    assert parse_window({"days": "Holidays", "start": "00:00", "end": "24:00",
                         "mode": "pool"}).days == "holiday"
    with pytest.raises(WindowError, match="holiday"):
        parse_days("sat,holiday")


def test_holiday_windows_win_on_holidays_only() -> None:
    weekly, hol = week_intervals(WINDOWS), holiday_intervals(WINDOWS)
    assert hol == ((0, 86400, "pool"),) and all(e <= 7 * 86400 for _, e, _ in weekly)

    def mode(text: str) -> str:
        return mode_on("direct", weekly, hol, datetime.fromisoformat(text).replace(tzinfo=SH),
                       SH, HOLIDAYS)
    assert mode("2030-10-02 10:00") == "pool"  # a Wednesday of the holiday
    assert mode("2030-10-02 20:00") == "pool"  # the holiday window beats the evening window
    assert mode("2030-10-08 10:00") == "direct"  # back to work
    assert mode("2030-10-08 20:00") == "voicemail"
    assert mode_on("direct", weekly, (), datetime(2030, 10, 2, 10, tzinfo=SH), SH,
                   HOLIDAYS) == "direct"  # no holiday window: holidays change nothing


def test_boundaries_and_mirror_form() -> None:
    hol = holiday_intervals([Window(frozenset({7}), 9 * 3600, 17 * 3600, "pool")])
    at = datetime(2030, 9, 30, 12, tzinfo=SH)
    assert holiday_boundary(hol, at, SH, HOLIDAYS) == datetime(2030, 10, 1, 0, tzinfo=SH)
    assert holiday_boundary(hol, datetime(2030, 10, 1, 10, tzinfo=SH), SH, HOLIDAYS) == \
        datetime(2030, 10, 1, 17, tzinfo=SH)
    assert holiday_boundary(hol, datetime(2030, 10, 7, 18, tzinfo=SH), SH, HOLIDAYS) == \
        datetime(2030, 10, 8, 0, tzinfo=SH)
    assert holiday_boundary((), at, SH, HOLIDAYS) is None
    days = HOLIDAYS | {date(2030, 1, 1), date(2031, 1, 1)}
    assert encode_holidays(days, date(2030, 6, 1)) == "20301001-20301007|20310101-20310101"


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Db]:
    await upgrade_async(db_url)
    engine = create_engine(Config.build(database={"url": db_url}))
    yield make_sessionmaker(engine)
    await engine.dispose()


async def test_snapshot_routes_and_mirrors_holidays(db: Db) -> None:
    await import_text(db, """
settings: {timezone: Asia/Shanghai}
pools: [{name: main}]
officials:
  - slug: a
    name: 甲
    numbers: ["0558-5551008"]
    devices: [{sip: o-a}]
    mode: direct
    schedule: [{days: holiday, start: "00:00", end: "24:00", mode: pool}]
""", "yaml", "tester")
    holiday = datetime(2030, 10, 2, 10, tzinfo=SH)
    snap = await load_snapshot(db, Config())
    assert snap.route("05585551008", holiday)[1].mode == "direct"  # type: ignore[index]
    await cal.import_calendar(db, cal.parse_calendar(
        "year: 2030\nholidays: [{name: 国庆节(测试), from: 2030-10-01, to: 2030-10-07}]\n", "yaml"),
        Deadlines.of(Config()), "tester")
    snap = await load_snapshot(db, Config())
    r, plan = snap.route("05585551008", holiday)  # type: ignore[misc]
    assert plan.mode == "pool" and plan.steps[0].kind == "pool"
    m = snap.mirror(datetime(2030, 9, 30, 12, tzinfo=SH))
    assert m["meta/hol"] == "20301001-20301007"
    assert m[f"o/{r.official_id}/hwin"] == "0-86400-pool" and m[f"o/{r.official_id}/win"] == ""
    assert m[f"o/{r.official_id}/effective"] == "direct"
    assert snap.mirror(holiday)[f"o/{r.official_id}/effective"] == "pool"
    assert snap.next_boundary(datetime(2030, 9, 30, 12, tzinfo=SH)) == datetime(
        2030, 10, 1, 0, tzinfo=SH)
