"""The inbox as a follow-up desk reads it: kind, call time and deadlines in the city's time,
why a transcript is missing, repeat callers together, every callback attempt with its result
(an outcome that never came is said so), owner column and filters for admins and supervisors."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from ivr.accounts import services as accounts
from ivr.db.followup_models import Callback, Case
from ivr.http.keys import DB
from tests.unit.test_supervision_calls import T0, _seed
from tests.unit.test_web_authz import Env, env  # noqa: F401  (fixture)

SH = ZoneInfo("Asia/Shanghai")


async def _get(env: Env, role: str, path: str) -> str:  # noqa: F811
    db = env.app[DB]
    user = next(u for u in await accounts.list_users(db) if u.username == f"u-{role}")
    key, _ = await accounts.open_session(db, user.id)
    r = await env.client.get(path, cookies={"ivr_session": key})
    assert r.status == 200, await r.text()
    return await r.text()


def _row(page: str, case_id: int) -> str:
    m = re.search(rf'<tr id="case-{case_id}".*?</tr>', page, re.S)
    assert m, page
    return m.group(0)


async def test_inbox_kind_time_attempts_repeat_owner(env: Env) -> None:  # noqa: F811
    db = env.app[DB]
    ids = await _seed(db)
    now = datetime.now(UTC)
    async with db() as s, s.begin():
        cases = {c.call_id: c for c in (await s.scalars(select(Case))).all()}
        m2 = cases[ids["m2"]]
        # a click-to-call-back whose outcome never arrived, then one that was not answered
        s.add(Callback(case_id=m2.id, placed_by="web:u-operator", endpoint="op-1",
                       number=m2.caller, linkedid="cb-stuck", state="originating",
                       created_at=now - timedelta(minutes=30)))
        s.add(Callback(case_id=m2.id, placed_by="web:u-operator", endpoint="op-1",
                       number=m2.caller, linkedid="cb-na", state="ended", result="NOANSWER",
                       created_at=now - timedelta(minutes=20)))
        # the same citizen called again: a second case of the same caller
        again = cases[ids["v1"]]
        again.caller = m2.caller
        again.assigned_to = "王处长"
        m2_id, v1_id = m2.id, again.id
    page = await _get(env, "admin", "/cases")
    row = _row(page, m2_id)
    assert 'data-kind="missed"' in row and "未接来电" in row
    # the call's arrival in the city's time
    arrival = (T0 + 3 * timedelta(minutes=1)).astimezone(SH).strftime("%Y-%m-%d %H:%M")
    assert f'<td class="call-at">{arrival}</td>' in row, row
    # the deadline in the city's time with its zone, and how overdue it is
    assert re.search(r"联系期限 \d{4}-\d{2}-\d{2} \d{2}:\d{2} 北京时间", row), row
    assert "已超期" in row
    # callback attempts with results; the lost outcome is not "originating" forever
    attempts = re.findall(r'<li class="attempt" data-state="([^"]+)">([^<]*)<code>op-1</code>'
                          r"([^<]*)</li>", row)
    assert [(a[0], a[2].strip()) for a in attempts] == [
        ("cb.state.stuck", "无结果（未收到通话结果）"), ("cb.state.ended", "已结束：市民未接")], row
    # repeat callers together, each saying how many
    order = [int(x) for x in re.findall(r'<tr id="case-(\d+)"', page)]
    assert abs(order.index(m2_id) - order.index(v1_id)) == 1, order
    assert "同一号码来电 2 件" in row and "同一号码来电 2 件" in _row(page, v1_id)
    # owner column and filters
    assert "王处长" in _row(page, v1_id) and "未分配" in row
    assert 'id="filter-official"' in page and 'id="filter-owner"' in page
    only = await _get(env, "supervisor", "/cases?owner=%E7%8E%8B%E5%A4%84%E9%95%BF")
    assert re.findall(r'<tr id="case-(\d+)"', only) == [str(v1_id)]
    lq = await _get(env, "admin", "/cases?official=li-qiang")
    assert str(m2_id) not in re.findall(r'<tr id="case-(\d+)"', lq)
    missed = await _get(env, "admin", "/cases?kind=missed&status=new")
    assert all(k == "missed" for k in re.findall(r'data-kind="([a-z]+)"', missed))
    # an official has no owner filter and sees their own only
    own = await _get(env, "official", "/cases")
    assert 'id="filter-owner"' not in own


async def test_voicemail_without_transcript_says_why(env: Env) -> None:  # noqa: F811
    from ivr.db.followup_models import Voicemail
    db = env.app[DB]
    ids = await _seed(db)
    async with db() as s, s.begin():
        case = (await s.scalars(select(Case).where(Case.call_id == ids["v1"]))).one()
        vm = Voicemail(linkedid="v1", call_id=ids["v1"], path="/nowhere.wav", duration=3.0,
                       language="zh")
        s.add(vm)
        await s.flush()
        case.voicemail_id, case.kind = vm.id, "voicemail"
        case_id = case.id
    row = _row(await _get(env, "admin", "/cases"), case_id)
    assert "留言" in row and 'id="no-transcript-' in row and "尚未转写" in row
