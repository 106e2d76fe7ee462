"""Automatic callbacks' scheduler and policy on SQLite and PostgreSQL, with stand-in AMIs (the
real thing: tests/e2e/test_autocallback.py): one dial per attempt across two controllers, the
origin node, deferral outside the hours, settlement (minimum bridged time, never ANSWER alone),
unreachable after K failures, staff disposition, recovery of a claim left behind."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from ivr.core.autocallback import Policy, next_allowed, parse_hours, parse_override
from ivr.core.config import Config, ConfigError
from ivr.db.followup_models import Callback, CallbackJob, Case, CaseEvent, WebhookDelivery
from ivr.db.models import Device, Official, Pool
from ivr.db.session import Db
from ivr.followup import autocallback
from ivr.followup.scheduler import STALE, Scheduler, claim, first_phone, recover
from ivr.followup.webhooks import collect
from ivr.http.keys import DB
from tests.unit.test_call_cases import _session
from tests.unit.test_callback_guard import T0, FakeAmi, _case
from tests.unit.test_voicemail_cases import db  # noqa: F401  (fixture)
from tests.unit.test_web_authz import TOKEN, Env, env  # noqa: F401  (fixture)

AUTO = {"enabled": True, "first": "pool:main", "first_delay_seconds": 60, "attempts": 2,
        "spacing_seconds": 300, "min_bridged_seconds": 20, "hours": "08:00-20:00"}


def _config(node: str, **over: Any) -> Config:
    return Config.build(node={"name": node}, autocallback={**AUTO, **over})


async def _setup(db: Db) -> int:  # noqa: F811
    async with db() as s, s.begin():
        s.add(Pool(name="main"))
    return await _case(db, "L1", "13912345678")


async def _jobs(db: Db) -> list[CallbackJob]:  # noqa: F811
    async with db() as s:
        return list((await s.scalars(select(CallbackJob).order_by(CallbackJob.id))).all())


async def _case_row(db: Db, case_id: int) -> tuple[Case, list[str]]:  # noqa: F811
    async with db() as s:
        case = await s.get(Case, case_id)
        actions = list(await s.scalars(select(CaseEvent.action).where(
            CaseEvent.case_id == case_id).order_by(CaseEvent.id)))
    assert case is not None
    return case, actions


def test_hours_and_overrides_are_checked() -> None:
    tz = UTC
    hours = parse_hours("08:00-20:00")
    inside = datetime(2030, 1, 1, 9, tzinfo=UTC)
    assert next_allowed(inside, hours, tz) == inside
    assert next_allowed(datetime(2030, 1, 1, 21, tzinfo=UTC), hours, tz) == datetime(
        2030, 1, 2, 8, tzinfo=UTC)
    assert next_allowed(datetime(2030, 1, 1, 7, tzinfo=UTC), hours, tz) == datetime(
        2030, 1, 1, 8, tzinfo=UTC)
    night = parse_hours("20:00-08:00")  # across midnight
    assert next_allowed(datetime(2030, 1, 1, 23, tzinfo=UTC), night, tz).hour == 23
    assert parse_override("first=deputy attempts=2") == {"first": "deputy", "attempts": "2"}
    for bad in ("first=boss", "attempts=0", "colour=red", "attempts=x"):
        with pytest.raises(ValueError):
            parse_override(bad, "zhang-wei")
    with pytest.raises(ConfigError, match="hours"):
        Config.build(autocallback={"hours": "8-20"})
    with pytest.raises(ConfigError, match="zhang-wei"):
        Config.build(autocallback={"officials": {"zhang-wei": "first=boss"}})


async def test_two_controllers_dial_each_attempt_once(db: Db) -> None:  # noqa: F811
    case_id = await _setup(db)
    a, b = FakeAmi(), FakeAmi()
    nodes = [Scheduler(db, a, _config("node-a")), Scheduler(db, b, _config("node-b"))]
    now = T0 + timedelta(seconds=5)
    results = await asyncio.gather(*(n.once(now) for n in nodes))  # enrol both at once
    assert sum(r["enrolled"] for r in results) == 1
    [job] = await _jobs(db)
    assert (job.attempt, job.state) == (1, "pending")
    assert job.due_at.replace(tzinfo=UTC) == T0 + timedelta(seconds=60)
    due = T0 + timedelta(seconds=61)
    for _ in range(3):  # several ticks of both controllers: one dial
        await asyncio.gather(*(n.once(due) for n in nodes))
    sent = a.sent + b.sent
    assert len(sent) == 1, sent
    assert sent[0]["Channel"] == "Local/main@ivr-callback-queue"
    assert sent[0]["Variable"].endswith(",IVR_RING=40")
    [job] = await _jobs(db)
    assert job.state == "dialled" and job.node == ("node-a" if a.sent else "node-b")
    async with db() as s:
        cb = await s.get(Callback, job.callback_id)
    assert cb is not None and cb.node == job.node and cb.placed_by == f"auto:{job.id}"
    assert cb.endpoint == "pool:main"
    case, _ = await _case_row(db, case_id)
    assert case.callback_duty == "open"


async def _finish(db: Db, bridged: float | None, result: str = "ANSWER") -> None:  # noqa: F811
    """The last callback ended: answered and on the line ``bridged`` s, or not answered."""
    async with db() as s, s.begin():
        cb = await s.scalar(select(Callback).order_by(Callback.id.desc()).limit(1))
        assert cb is not None
        cb.state, cb.result, cb.ended_at = "ended", result, T0 + timedelta(minutes=2)
        if bridged is not None:
            cb.answered_at = cb.ended_at - timedelta(seconds=bridged)


async def test_answer_alone_does_not_close_the_duty_and_k_failures_are_unreachable(
        db: Db) -> None:  # noqa: F811
    case_id = await _setup(db)
    await collect(db, ["hook"])  # the notification hook's cursor starts here
    node = Scheduler(db, FakeAmi(), _config("a"))
    t = T0 + timedelta(seconds=61)
    await node.once(t)
    await _finish(db, bridged=5)  # a carrier voicemail: answered, silent 5 s
    await node.once(t)
    jobs = await _jobs(db)
    assert [(j.attempt, j.state, j.result) for j in jobs] == [(1, "done", "SHORT"),
                                                                (2, "pending", None)]
    case, _ = await _case_row(db, case_id)
    assert (case.callback_duty, case.status) == ("open", "new")
    t2 = t + timedelta(seconds=301)
    await node.once(t2)
    await _finish(db, bridged=None, result="NOANSWER")
    await node.once(t2)
    case, actions = await _case_row(db, case_id)
    assert (case.callback_duty, case.status) == ("unreachable", "new")
    assert actions.count("autocallback_attempt") == 2 and actions[-1] == "unreachable"
    assert len(await _jobs(db)) == 2  # no third attempt
    await collect(db, ["hook"])  # the owner is told through the notification hook, once
    async with db() as s:
        events = list(await s.scalars(select(WebhookDelivery.event)))
    assert events.count("case.unreachable") == 1, events


async def test_a_long_enough_answer_closes_the_duty(db: Db) -> None:  # noqa: F811
    case_id = await _setup(db)
    node = Scheduler(db, FakeAmi(), _config("a"))
    t = T0 + timedelta(seconds=61)
    await node.once(t)
    await _finish(db, bridged=25)
    await node.once(t)
    case, actions = await _case_row(db, case_id)
    assert (case.callback_duty, case.status) == ("closed", "called_back")
    assert [j.result for j in await _jobs(db)] == ["REACHED"]


async def test_outside_the_hours_the_attempt_is_deferred_not_dropped(db: Db) -> None:  # noqa: F811
    case_id = await _setup(db)
    ami = FakeAmi()
    node = Scheduler(db, ami, _config("a"))
    late = T0 + timedelta(hours=5)  # 21:00 in Shanghai
    await node.once(late)
    assert ami.sent == []
    [job] = await _jobs(db)
    opening = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)  # 08:00 the next morning, city time
    assert job.state == "pending" and job.due_at.replace(tzinfo=UTC) == opening
    _, actions = await _case_row(db, case_id)
    assert "deferred" in actions
    await node.once(opening - timedelta(seconds=1))
    assert ami.sent == []
    await node.once(opening)
    assert len(ami.sent) == 1


async def test_disposition_cancels_the_attempts_to_come(db: Db) -> None:  # noqa: F811
    case_id = await _setup(db)
    ami = FakeAmi()
    node = Scheduler(db, ami, _config("a"))
    await node.once(T0)
    case = await autocallback.dispose(db, case_id, "wrong_number", "web:wangfang")
    assert case.callback_duty == "closed"
    await node.once(T0 + timedelta(seconds=61))
    assert ami.sent == [] and [j.state for j in await _jobs(db)] == ["cancelled"]


async def test_a_claim_left_behind_is_recovered(db: Db) -> None:  # noqa: F811
    await _setup(db)
    node = Scheduler(db, FakeAmi(), _config("a"))
    await node.once(T0)
    t = T0 + timedelta(seconds=61)
    assert len(await claim(db, "gone", t)) == 1  # a node claims, then stops before dialling
    assert await claim(db, "a", t) == []
    assert await recover(db, t + STALE - timedelta(seconds=1)) == 0
    assert await recover(db, t + STALE + timedelta(seconds=1)) == 1
    [job] = await _jobs(db)
    assert (job.state, job.node) == ("pending", "")
    async with db() as s, s.begin():  # a claim whose callback was written: it was dialled
        await s.execute(update(CallbackJob).values(state="claimed", node="gone", claimed_at=t))
        s.add(Callback(case_id=job.case_id, placed_by=f"auto:{job.id}", endpoint="pool:main",
                       number="13912345678", linkedid="ivrcb-x", state="originating"))
    await recover(db, t + STALE + timedelta(seconds=1))
    [job] = await _jobs(db)
    assert job.state == "dialled" and job.callback_id is not None


async def test_who_is_rung_first(db: Db) -> None:  # noqa: F811
    async with db() as s, s.begin():
        deputy = Official(slug="li-qiang", name="李强")
        s.add(deputy)
        await s.flush()
        boss = Official(slug="zhang-wei", name="张伟", deputy_id=deputy.id)
        s.add(boss)
        await s.flush()
        s.add_all([Device(official_id=boss.id, kind="sip", endpoint="o-zhang-2", priority=2),
                   Device(official_id=boss.id, kind="sip", endpoint="o-zhang", priority=1),
                   Device(official_id=deputy.id, kind="sip", endpoint="o-li")])
        ids = (boss.id, deputy.id)
    assert await first_phone(db, Policy(first="own"), ids[0]) == "o-zhang"
    assert await first_phone(db, Policy(first="deputy"), ids[0]) == "o-li"
    assert await first_phone(db, Policy(first="deputy"), ids[1]) is None  # no deputy
    assert await first_phone(db, Policy(first="pool:main"), ids[0]) == "pool:main"
    config = _config("a", officials={"zhang-wei": "first=deputy attempts=5", "li-qiang": "off=1"})
    assert (await autocallback.policy_of(db, config.autocallback, ids[0])).first == "deputy"
    assert (await autocallback.policy_of(db, config.autocallback, ids[1])).off


async def test_a_callback_that_never_reports_its_end_is_given_up(db: Db) -> None:  # noqa: F811
    case_id = await _setup(db)
    node = Scheduler(db, FakeAmi(), _config("a"))
    t = T0 + timedelta(seconds=61)
    await node.once(t)
    await node.once(t + timedelta(seconds=node.lost_after - 5))
    assert [j.state for j in await _jobs(db)] == ["dialled"]  # still waiting for its events
    async with db() as s, s.begin():  # placed long ago (created_at is the real clock)
        await s.execute(update(Callback).values(created_at=t))
    await node.once(t + timedelta(seconds=node.lost_after + 5))
    jobs = await _jobs(db)
    assert [(j.attempt, j.result) for j in jobs] == [(1, "LOST"), (2, None)]
    case, _ = await _case_row(db, case_id)
    assert case.callback_duty == "open"


async def test_disposition_over_http_and_the_inbox_shows_the_duty(env: Env) -> None:  # noqa: F811
    async with env.app[DB]() as s, s.begin():
        case = Case(kind="missed", status="new", caller="13912345678", number_dialed="05585551001",
                    created_at=T0, updated_at=T0, deadline=T0, callback_duty="unreachable",
                    matched_keywords=[], listen_reasons=[], alerts=[])
        s.add(case)
        await s.flush()
        case_id = case.id
    cookies, _ = await _session(env, "u-operator")
    page = await (await env.client.get("/cases", cookies=cookies)).text()
    assert 'data-duty="unreachable"' in page and "多次回拨无法接通" in page
    headers = {"Authorization": f"Bearer {TOKEN}"}
    r = await env.client.post(f"/api/v1/cases/{case_id}/disposition",
                              json={"outcome": "sometime"}, headers=headers)
    assert r.status == 400 and (await r.json())["error_id"] == "invalid-case-input"
    r = await env.client.post(f"/api/v1/cases/{case_id}/disposition",
                              json={"outcome": "reached", "note": "回访联系上"}, headers=headers)
    body = await r.json()
    assert r.status == 200 and (body["callback_duty"], body["status"]) == ("closed",
                                                                          "called_back"), body
