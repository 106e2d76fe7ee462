"""Scheduled test calls (issue 13), the parts that need no Asterisk (the real thing:
tests/e2e/test_testcalls.py): random instants within the test hours in the city's timezone,
the results, the fold of a test call, schedules refused or planned once by two nodes, claiming
once, placing like a citizen's call (a stand-in AMI), the live go/end, settling from the record
and its events, lost calls recorded, never dropped."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from ivr.calls.events import CelRecord
from ivr.calls.fold import fold
from ivr.core.config import Config
from ivr.core.config_testcalls import TestCallsConfig
from ivr.core.errors import IvrError
from ivr.core.testcalls import judge, parse_test_hours, plan_times
from ivr.core.timeutil import as_utc
from ivr.db.models import Call, CallStep, CelEvent, Official
from ivr.db.session import Db
from ivr.db.testcall_models import TestCall
from ivr.directory.importer import import_text
from ivr.followup.scheduler import claim
from ivr.testcalls import schedules
from ivr.testcalls.runner import TestCallRunner, recover, settle
from tests.unit.test_voicemail_cases import db  # noqa: F401  (fixture)

SHANGHAI = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai, a Monday
ON = TestCallsConfig(enabled=True, caller="13912340000")
DIRECTORY = """
version: 1
officials:
  - {slug: zhang-wei, name: 张伟, title: 局长, numbers: ["0558-5551001"], mode: direct}
  - {slug: li-qiang, name: 李强, title: 副局长, numbers: ["0558-5551002"], mode: direct}
"""


# -- scheduling: random instants within the hours, city time ---------------------------------
def test_planned_instants_fall_within_the_hours_of_that_city_day() -> None:
    hours = parse_test_hours("09:00-17:00")
    times = plan_times(date(2026, 11, 23), 50, hours, SHANGHAI, random.Random(7))
    assert len(times) == 50 and times == sorted(times)
    local = [t.astimezone(SHANGHAI) for t in times]
    assert all(t.date() == date(2026, 11, 23) and time(9) <= t.time() < time(17) for t in local)
    assert all(t.tzinfo is UTC for t in times)
    # 09:00-17:00 Shanghai is 01:00-09:00 UTC: a naive UTC reading would be wrong
    assert min(times) >= datetime(2026, 11, 23, 1, tzinfo=UTC)
    assert max(times) < datetime(2026, 11, 23, 9, tzinfo=UTC)
    spread = {t.hour for t in local}
    assert len(spread) >= 6, spread  # random across the hours, not bunched at the start


def test_a_schedule_made_during_the_hours_draws_from_what_is_left() -> None:
    hours = parse_test_hours("09:00-17:00")
    now = datetime(2026, 11, 23, 3, 30, tzinfo=UTC)  # 11:30 in Shanghai
    times = plan_times(date(2026, 11, 23), 20, hours, SHANGHAI, random.Random(1), now)
    assert len(times) == 20 and all(now < t < datetime(2026, 11, 23, 9, tzinfo=UTC)
                                    for t in times)
    late = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # 17:00: the day's hours are over
    assert plan_times(date(2026, 11, 23), 5, hours, SHANGHAI, random.Random(1), late) == []


def test_hours_on_a_daylight_saving_day_are_the_local_hours() -> None:
    new_york = ZoneInfo("America/New_York")  # 2026-03-08: 02:00 → 03:00
    hours = parse_test_hours("01:00-05:00")
    times = plan_times(date(2026, 3, 8), 200, hours, new_york, random.Random(3))
    start = datetime(2026, 3, 8, 6, 0, tzinfo=UTC)  # 01:00 EST
    end = datetime(2026, 3, 8, 9, 0, tzinfo=UTC)  # 05:00 EDT: three hours, not four
    assert all(start <= t < end for t in times), (min(times), max(times))
    assert all(time(1) <= t.astimezone(new_york).time() < time(5) for t in times)


@pytest.mark.parametrize("text", ["17:00-09:00", "9-17", "09:00-09:00", "25:00-26:00", ""])
def test_test_hours_are_a_period_within_one_day(text: str) -> None:
    with pytest.raises(ValueError):
        parse_test_hours(text)


def test_results() -> None:
    assert judge("answered", True, True, "1").result == "acknowledged"
    assert judge("answered", True, True, "").result == "unacknowledged"
    assert judge("answered", True, True, "2").result == "unacknowledged"
    assert judge("answered", True, False, None).result == "not_asked"
    gone = judge("missed", False, False, None, "2:voicemail:CUT")
    assert (gone.result, gone.ended) == ("not_answered", "2:voicemail:CUT")
    assert judge("interrupted", True, True, None).result == "lost"


# -- the fold: kind test, the Local channel's far half never a callee ------------------------
LID = "ivrtc-5-0a1b2c3d4e5f"
FAR = "1795366780.21"


def ev(name: str, dt: float, uniqueid: str = FAR, channel: str = "", **fields: str) -> CelRecord:
    user = name.startswith("IVR_")
    return CelRecord("USER_DEFINED" if user else name, name if user else "", 1795366780.0 + dt,
                     uniqueid, LID, channel or "Local/05585551001@ivr-citizens-00000001;2",
                     fields=fields)


def test_a_test_call_folds_as_kind_test_answered_by_the_callee_not_its_own_channel() -> None:
    events = [
        ev("IVR_CALL", 0.1, dialed="05585551001", caller="13912340000", caller_raw="13912340000"),
        ev("IVR_ROUTE", 0.2, official="1", src="agi", mode="direct"),
        ev("IVR_STEP", 0.3, n="1", kind="direct", target="PJSIP/o-zhang"),
        ev("ANSWER", 2.0),  # the far half (the "citizen") first: never the callee
        ev("ANSWER", 2.0, "1795366780.22", "PJSIP/o-zhang-00000002"),
        ev("ANSWER", 2.0, LID, "Local/05585551001@ivr-citizens-00000001;1"),
        ev("IVR_STEP_END", 9.0, n="1", kind="direct", result="ANSWER"),
        ev("HANGUP", 9.1, LID, "Local/05585551001@ivr-citizens-00000001;1"),
        ev("LINKEDID_END", 9.2, LID),
    ]
    call = fold(LID, events)
    assert (call.kind, call.outcome, call.answered_by, call.answered_role) == (
        "test", "answered", "o-zhang", "official"), call
    assert (call.caller, call.number_dialed, call.official_id) == ("13912340000", "05585551001", 1)
    # a message answered the far half: nobody answered
    message = [e for e in events[:2]] + [
        ev("IVR_STEP", 0.3, n="1", kind="message", target="ivr-unavailable"),
        ev("ANSWER", 0.4), ev("ANSWER", 0.4, LID),
        ev("HANGUP", 1.0, LID), ev("LINKEDID_END", 1.1, LID)]
    assert fold(LID, message).outcome == "missed"


# -- schedules ----------------------------------------------------------------------------------
async def _directory(db: Db) -> None:  # noqa: F811
    await import_text(db, DIRECTORY, "yaml", "test")


async def _tests(db: Db) -> list[TestCall]:  # noqa: F811
    async with db() as s:
        return list((await s.scalars(select(TestCall).order_by(TestCall.id))).all())


async def test_schedules_are_refused_with_a_reason_and_change_nothing(db: Db) -> None:  # noqa: F811
    await _directory(db)
    cases: list[tuple[TestCallsConfig, list[str], dict[str, Any], int, str]] = [
        (TestCallsConfig(), ["05585551001"], {}, 409, "test-calls-unavailable"),
        (TestCallsConfig(enabled=True), ["05585551001"], {}, 409, "test-calls-unavailable"),
        (ON, ["05585559999"], {}, 400, "invalid-test-schedule"),  # not published
        (ON, ["not a number"], {}, 400, "invalid-test-schedule"),
        (ON, [], {}, 400, "invalid-test-schedule"),
        (ON, ["05585551001"], {"mode": "daily", "hours": "17:00-09:00"}, 400,
         "invalid-test-schedule"),
        (ON, ["05585551001"], {"mode": "daily", "hours": "09:00-17:00", "per_day": 0}, 400,
         "invalid-test-schedule"),
        (ON, ["05585551001"], {"mode": "weekly"}, 400, "invalid-test-schedule"),
    ]
    for config, numbers, kw, status, error_id in cases:
        mode = kw.pop("mode", "now")
        with pytest.raises(IvrError) as exc:
            await schedules.create(db, config, numbers, mode, "sv", now=T0, **kw)
        assert (exc.value.status, exc.value.error_id) == (status, error_id), (numbers, kw)
    assert await schedules.listing(db) == [] and await _tests(db) == []


async def test_now_and_daily_plans_planned_once_by_two_nodes(db: Db) -> None:  # noqa: F811
    await _directory(db)
    sched, planned = await schedules.create(db, ON, ["+86 558 5551001", "0558-5551002",
                                                     "05585551001"], "now", "sv", now=T0)
    assert planned == 2 and sched.numbers == "+865585551001,+865585551002"  # deduplicated
    now_calls = await _tests(db)
    assert [(t.number, as_utc(t.due_at), t.state) for t in now_calls] == [
        ("+865585551001", T0, "pending"), ("+865585551002", T0, "pending")]
    at = T0 + timedelta(hours=2)  # 11:00 Shanghai
    daily, planned = await schedules.create(db, ON, ["05585551001"], "daily", "sv", per_day=3,
                                            hours="09:00-17:00", days=2, now=at)
    assert planned == 3 and (daily.first_day, daily.last_day) == ("2026-11-23", "2026-11-24")
    assert await schedules.plan_days(db, at) == 0  # today is planned already
    # the next day, two nodes plan at once: once
    nxt = T0 + timedelta(days=1) - timedelta(hours=3)  # 06:00 Shanghai, the 24th
    assert sorted(await asyncio.gather(schedules.plan_days(db, nxt),
                                       schedules.plan_days(db, nxt))) == [0, 3]
    tomorrow = [t for t in await _tests(db) if t.day == "2026-11-24"]
    assert len(tomorrow) == 3 and all(
        time(9) <= as_utc(t.due_at).astimezone(SHANGHAI).time() < time(17)
        for t in tomorrow)
    assert await schedules.plan_days(db, nxt + timedelta(days=1)) == 0  # past its last day
    await schedules.stop(db, daily.id)
    assert {t.state for t in await _tests(db) if t.schedule_id == daily.id} == {"cancelled"}


# -- placing, answering, settling ---------------------------------------------------------------
class FakeAmi:
    def __init__(self, kind: str = "direct", fail: bool = False) -> None:
        self.sent: list[dict[str, str]] = []
        self.kind, self.fail = kind, fail

    async def action(self, name: str, **fields: str) -> dict[str, str]:
        await asyncio.sleep(0)
        self.sent.append({"Action": name, **fields})
        if self.fail:
            from ivr.asterisk.ami import AmiError
            raise AmiError(name, {"Response": "Error", "Message": "refused"})
        if name == "Getvar":
            return {"Response": "Success", "Value": self.kind if fields["Variable"] == "IVR_KIND"
                    else "zh"}
        return {"Response": "Success"}


def _runner(db: Db, ami: FakeAmi, node: str = "a") -> TestCallRunner:  # noqa: F811
    config = Config.build(testcalls={"enabled": True, "caller": "13912340000"},
                          node={"name": node})
    return TestCallRunner(db, ami, config)  # type: ignore[arg-type]


async def test_two_nodes_place_each_test_call_once_as_a_citizen_would_dial(
        db: Db) -> None:  # noqa: F811
    await _directory(db)
    await schedules.create(db, ON, ["05585551001", "05585551002"], "now", "sv", now=T0)
    ami_a, ami_b = FakeAmi(), FakeAmi()
    a, b = _runner(db, ami_a, "a"), _runner(db, ami_b, "b")
    done = await asyncio.gather(a.once(T0), b.once(T0))
    assert sum(d["placed"] for d in done) == 2
    sent = ami_a.sent + ami_b.sent
    assert sorted(s["Channel"] for s in sent) == ["Local/05585551001@ivr-citizens",
                                                 "Local/05585551002@ivr-citizens"]
    for s in sent:
        assert (s["Action"], s["Context"], s["CallerID"]) == (
            "Originate", "ivr-testcall", '"13912340000" <13912340000>'), s
        assert s["ChannelId"].startswith("ivrtc-") and "Variable" not in s, s
    tests = await _tests(db)
    assert {t.state for t in tests} == {"dialled"} and len({t.node for t in tests}) >= 1
    assert {t.linkedid for t in tests} == {s["ChannelId"] for s in sent}


async def test_asterisk_refusing_is_a_failed_test_and_a_stale_claim_is_placed_later(
        db: Db) -> None:  # noqa: F811
    await _directory(db)
    await schedules.create(db, ON, ["05585551001"], "now", "sv", now=T0)
    await _runner(db, FakeAmi(fail=True)).once(T0)
    (failed,) = await _tests(db)
    assert (failed.state, failed.result) == ("done", "failed") and "refused" in failed.note
    await schedules.create(db, ON, ["05585551002"], "now", "sv", now=T0)
    assert await claim(db, "gone", T0, model=TestCall)  # a node claims, then dies
    assert await recover(db, T0 + timedelta(minutes=1)) == 0
    assert await recover(db, T0 + timedelta(minutes=3)) == 1
    runner = _runner(db, FakeAmi())
    assert (await runner.once(T0 + timedelta(minutes=3)))["placed"] == 1


async def test_the_near_half_is_told_go_for_a_callee_and_end_for_a_message() -> None:
    for kind, word in (("direct", "go"), ("pool", "go"), ("voicemail", "end"), ("", "end")):
        ami = FakeAmi(kind)
        runner = TestCallRunner(None, ami, Config.build())  # type: ignore[arg-type]
        near = "Local/05585551001@ivr-citizens-0000000a;1"
        runner.on_ami_cel({"Event": "CEL", "EventName": "ANSWER", "UniqueID": LID,
                           "LinkedID": LID, "Channel": near, "Timestamp": "1795366780.5"})
        runner.on_ami_cel({"Event": "CEL", "EventName": "ANSWER", "UniqueID": "1.2",
                           "LinkedID": LID, "Channel": near[:-1] + "2"})  # not the near half
        await asyncio.gather(*runner._live)
        gets = [s["Channel"] for s in ami.sent if s["Action"] == "Getvar"]
        assert gets and set(gets) == {near[:-1] + "2"}
        sets = {s["Variable"]: s["Value"] for s in ami.sent if s["Action"] == "Setvar"}
        assert sets["IVR_TC"] == word and all(s["Channel"] == near for s in ami.sent
                                               if s["Action"] == "Setvar"), ami.sent
        assert ("IVR_LANG" in sets) == (word == "go")


async def _placed(db: Db, number: str = "05585551001") -> TestCall:  # noqa: F811
    await schedules.create(db, ON, [number], "now", "sv", now=T0)
    await _runner(db, FakeAmi()).once(T0)
    return next(t for t in await _tests(db) if t.state == "dialled")


async def _record(db: Db, tc: TestCall, outcome: str, answered: bool,  # noqa: F811
                  events: list[tuple[str, float, str]]) -> None:
    async with db() as s, s.begin():
        official = await s.scalar(select(Official.id).where(Official.slug == "zhang-wei"))
        call = Call(linkedid=tc.linkedid, kind="test", number_dialed="05585551001",
                    caller="13912340000", official_id=official, outcome=outcome,
                    started_at=T0, ended_at=T0 + timedelta(seconds=20),
                    answered_at=T0 + timedelta(seconds=4) if answered else None,
                    answered_by="o-zhang" if answered else None,
                    answered_kind="direct" if answered else None,
                    answered_role="official" if answered else None)
        call.steps = [CallStep(seq=1, kind="direct", result="ANSWER" if answered else "BUSY",
                               started_at=T0),
                      *([] if answered else [CallStep(seq=2, kind="voicemail", result="CUT",
                                                      started_at=T0)])]
        s.add(call)
        for i, (name, dt, extra) in enumerate(events):
            s.add(CelEvent(key=f"{tc.linkedid}-{i}", linkedid=tc.linkedid, uniqueid=tc.linkedid,
                           eventtype="USER_DEFINED", userdeftype=name,
                           eventtime=T0.timestamp() + dt, extra=extra, node="a"))


@pytest.mark.parametrize("outcome,answered,events,result,key", [
    ("answered", True, [("IVR_TEST_ASK", 4.5, "lang=zh"), ("IVR_TEST_ACK", 9.0, "key=1")],
     "acknowledged", "1"),
    ("answered", True, [("IVR_TEST_ASK", 4.5, "lang=zh"), ("IVR_TEST_ACK", 20.0, "key=")],
     "unacknowledged", ""),
    ("answered", True, [("IVR_TEST_END", 14.0, "why=late")], "not_asked", None),
    ("missed", False, [("IVR_TEST_END", 6.0, "why=end")], "not_answered", None),
])
async def test_a_finished_test_call_is_judged_from_its_record_and_events(
        db: Db, outcome: str, answered: bool, events: list[tuple[str, float, str]],  # noqa: F811
        result: str, key: str | None) -> None:
    await _directory(db)
    tc = await _placed(db)
    assert await settle(db, T0 + timedelta(seconds=30), 900) == 0  # no record yet: waits
    await _record(db, tc, outcome, answered, events)
    assert await settle(db, T0 + timedelta(seconds=30), 900) == 1
    (done,) = await _tests(db)
    assert (done.state, done.result, done.ack_key) == ("done", result, key), done.note
    if answered:
        assert (done.answered_by, done.answered_role, done.answered_secs) == (
            "o-zhang", "official", 4.0)
    else:
        assert (done.answered_by, done.ended) == (None, "2:voicemail:CUT")
    assert done.ack_secs == (9.0 if result == "acknowledged" else None)
    assert done.official_id is not None and done.call_id is not None


async def test_a_test_call_whose_record_never_comes_is_recorded_lost(db: Db) -> None:  # noqa: F811
    await _directory(db)
    await _placed(db)
    assert await settle(db, T0 + timedelta(seconds=899), 900) == 0
    assert await settle(db, T0 + timedelta(seconds=901), 900) == 1
    (lost,) = await _tests(db)
    assert (lost.state, lost.result) == ("done", "lost") and "lost" in lost.note
