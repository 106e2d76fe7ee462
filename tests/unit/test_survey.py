"""Satisfaction surveys' service on SQLite and PostgreSQL with a stand-in AMI (the real thing:
tests/e2e/test_survey.py): which calls and cases are surveyed, the fold of a survey call, one
rating per call, opt-out, retries, two controllers dialling a survey once, ratings per pool."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from ivr.calls.events import CelRecord, from_journal_line
from ivr.calls.fold import fold
from ivr.core.config import Config
from ivr.db.followup_models import Case, Survey, SurveyOptOut
from ivr.db.models import Call, Official, Operator, Pool
from ivr.db.session import Db
from ivr.followup import survey
from ivr.followup.scheduler import Scheduler
from ivr.followup.survey_http import ratings
from tests.unit.test_callback_guard import FakeAmi
from tests.unit.test_voicemail_cases import db  # noqa: F401  (fixture)

T0 = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
CONFIG = Config.build(survey={"enabled": True, "delay_seconds": 60, "attempts": 2,
                              "spacing_seconds": 300, "hours": "09:00-20:00"},
                      node={"name": "a"})


def cel(name: str, linkedid: str, extra: str = "", at: float = 0.0,
        uniqueid: str = "x") -> CelRecord:
    rec = from_journal_line(json.dumps({
        "eventtype": name if name == "HANGUP" else "USER_DEFINED",
        "userdeftype": "" if name == "HANGUP" else name,
        "eventtime": f"{T0.timestamp() + at:.6f}", "name": "", "num": "", "exten": "s",
        "context": "ivr-survey", "channame": "Local/x@ivr-survey-out-0001;1",
        "uniqueid": uniqueid, "linkedid": linkedid, "peer": "",
        "eventextra": json.dumps({"extra": extra} if name != "HANGUP" else {"hangupcause": 16})}))
    assert rec is not None
    return rec


async def _calls(db: Db) -> dict[str, int]:  # noqa: F811
    """Answered citizen calls of every sort, and a resolved case."""
    async with db() as s, s.begin():
        pool = Pool(name="main")
        official = Official(slug="zhang-wei", name="张伟", title="局长", department="市交通运输局")
        s.add_all([pool, official])
        await s.flush()
        s.add(Operator(name="王芳", endpoint="op-1", sip_ha1="0" * 32, pool_id=pool.id))
        rows = {
            "direct": Call(linkedid="L1", caller="13912345671", number_dialed="05585551001",
                           official_id=official.id, answered_kind="direct"),
            "pooled": Call(linkedid="L2", caller="13912345672", number_dialed="05585551001",
                           official_id=official.id, answered_kind="pool", answered_by="op-1"),
            "altered": Call(linkedid="L3", caller="13912345673", caller_altered=True,
                            number_dialed="05585551001", answered_kind="direct"),
            "test": Call(linkedid="L4", caller="13912345674", kind="test",
                         number_dialed="05585551001"),
            "premium": Call(linkedid="L5", caller="+8821612345678", number_dialed="05585551001"),
            "missed": Call(linkedid="L6", caller="13912345676", number_dialed="05585551001"),
        }
        for key, call in rows.items():
            call.started_at, call.ended_at = T0, T0
            call.outcome = "missed" if key == "missed" else "answered"
            s.add(call)
        s.add(Case(kind="missed", status="resolved", caller="13912345677",
                   number_dialed="05585551001", created_at=T0, updated_at=T0, deadline=T0,
                   official_id=official.id))
        await s.flush()
        return {k: c.id for k, c in rows.items()}


async def _surveys(db: Db) -> list[Survey]:  # noqa: F811
    async with db() as s:
        return list((await s.scalars(select(Survey).order_by(Survey.id))).all())


def test_a_survey_call_folds_as_kind_survey_with_its_key() -> None:
    lid = "ivrsv-3-abc"
    answered = fold(lid, [cel("IVR_SURVEY_ANSWERED", lid, "survey=3;number=13912345671", 1),
                          cel("IVR_SURVEY_KEY", lid, "survey=3;key=2", 6),
                          cel("HANGUP", lid, at=8, uniqueid=lid)])
    assert (answered.kind, answered.outcome, answered.number_dialed) == (
        "survey", "answered", "13912345671")
    assert [(s.kind, s.result) for s in answered.steps.values()] == [("survey", "2")]
    unanswered = fold(lid, [cel("IVR_SURVEY_END", lid, "survey=3;result=NOANSWER", 30),
                            cel("HANGUP", lid, at=30, uniqueid=lid)])
    assert (unanswered.kind, unanswered.outcome) == ("survey", "missed")


async def test_which_calls_and_cases_are_surveyed(db: Db) -> None:  # noqa: F811
    ids = await _calls(db)
    assert await survey.enroll(db, CONFIG.survey, CONFIG.outbound, T0) == 3
    assert await survey.enroll(db, CONFIG.survey, CONFIG.outbound, T0) == 0  # once
    got = {(s.call_id, s.case_id is not None): (s.state, s.result, s.pool)
           for s in await _surveys(db)}
    assert got == {
        (ids["direct"], False): ("pending", None, None),
        (ids["pooled"], False): ("pending", None, "main"),
        (ids["altered"], False): ("cancelled", "ALTERED", None),
        (ids["premium"], False): ("cancelled", "NUMBER_REFUSED", None),
        (None, True): ("pending", None, None)}  # the resolved case; never the test call
    pooled = Config.build(survey={"after": "pooled", "after_resolved": False}).survey
    async with db() as s, s.begin():
        await s.execute(Survey.__table__.delete())
    await survey.enroll(db, pooled, CONFIG.outbound, T0)
    assert [s.call_id for s in await _surveys(db)] == [ids["pooled"]]
    assert sum(survey.sampled(i, 10) for i in range(1, 1001)) in range(50, 150)


async def test_two_controllers_rate_once_opt_out_and_retry(db: Db) -> None:  # noqa: F811
    ids = await _calls(db)
    a, b = FakeAmi(), FakeAmi()
    nodes = [Scheduler(db, a, CONFIG), Scheduler(db, b, CONFIG.replace(node={"name": "b"}))]
    due = T0 + timedelta(seconds=61)
    for _ in range(2):
        await asyncio.gather(*(n.once(due) for n in nodes))
    sent = a.sent + b.sent
    assert len(sent) == 3, sent  # three surveys due, each dialled by one node
    assert {m["Channel"] for m in sent} == {"Local/13912345671@ivr-survey-out",
                                            "Local/13912345672@ivr-survey-out",
                                            "Local/13912345677@ivr-survey-out"}
    assert all("IVR_PRESENT=05585551001" in m["Variable"] for m in sent)
    by_call = {s.call_id: s for s in await _surveys(db)}
    direct, pooled = by_call[ids["direct"]], by_call[ids["pooled"]]
    resolved = by_call[None]
    assert direct.linkedid and pooled.linkedid and resolved.linkedid
    for rec in (cel("IVR_SURVEY_ANSWERED", direct.linkedid), cel("IVR_SURVEY_KEY", direct.linkedid,
                                                                  "key=2"),
                cel("IVR_SURVEY_KEY", direct.linkedid, "key=3")):  # a second key: ignored
        await survey.on_record(db, rec)
    await survey.on_record(db, cel("IVR_SURVEY_KEY", pooled.linkedid, "key=9"))
    await survey.on_record(db, cel("IVR_SURVEY_END", resolved.linkedid, "result=BUSY"))
    by_call = {s.call_id: s for s in await _surveys(db)}
    assert (by_call[ids["direct"]].rating, by_call[ids["direct"]].result) == (2, "RATED_2")
    assert by_call[ids["pooled"]].result == "OPTED_OUT"
    async with db() as s:
        assert await s.get(SurveyOptOut, "13912345672") is not None
    assert (by_call[None].state, by_call[None].result) == ("ended", "BUSY")
    await nodes[0].once(due)  # settled: attempt 2 in 300 s
    retry = {s.call_id: s for s in await _surveys(db)}[None]
    assert (retry.state, retry.attempt) == ("pending", 2)
    # the opted-out number's next answered call is not surveyed
    async with db() as s, s.begin():
        s.add(Call(linkedid="L7", caller="13912345672", number_dialed="05585551001",
                   started_at=T0, ended_at=T0, outcome="answered"))
    await survey.enroll(db, CONFIG.survey, CONFIG.outbound, T0)
    assert [(x.state, x.result) for x in await _surveys(db)][-1] == ("cancelled", "OPTED_OUT")
    rows = await ratings(db, "official")
    assert [(r.key, r.rated, r.fairly, r.satisfaction_pct) for r in rows] == [
        ("zhang-wei", 1, 1, 100.0)]
    async with db() as s, s.begin():  # a pool's rating: the operator who answered
        await s.execute(update(Survey).where(Survey.call_id == ids["pooled"]).values(rating=3))
    assert [(r.key, r.unsatisfied) for r in await ratings(db, "pool")] == [("main", 1)]
    assert [(r.key, r.rated) for r in await ratings(db, "department")] == [("市交通运输局", 2)]


async def test_outside_the_survey_hours_it_waits(db: Db) -> None:  # noqa: F811
    await _calls(db)
    ami = FakeAmi()
    node = Scheduler(db, ami, CONFIG)
    night = T0 + timedelta(hours=11)  # 21:00 in Shanghai
    await node.once(night)
    assert ami.sent == []
    assert {s.due_at.replace(tzinfo=UTC) for s in await _surveys(db) if s.state == "pending"} == {
        datetime(2026, 11, 23, 1, 0, tzinfo=UTC)}  # 09:00 the next morning
