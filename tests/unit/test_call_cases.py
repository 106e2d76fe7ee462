"""Cases opened by an operator from a call (kind ``call``): the service (state, assignee, deadline
by urgency, validation that writes nothing), the route ``POST /api/v1/cases`` (operators and
admins only, CSRF for sessions, the call must exist — stored or still live), the console's form,
the official's inbox (own cases only) and its click-to-call-back button."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from ivr.accounts import services as auth
from ivr.app import CTRL
from ivr.core.errors import InvalidCaseInput, UnknownCall
from ivr.core.timeutil import as_utc
from ivr.db.followup_models import Case, CaseEvent
from ivr.db.models import Call, Official
from ivr.followup import cases as case_service
from ivr.http.keys import DB
from tests.unit.deadline_helpers import round_the_clock
from tests.unit.test_web_authz import PASSWORD, TOKEN, Env, env  # noqa: F401  (fixture)

HOURS = round_the_clock()
CATS = ["transport", "housing", "other"]


async def _ids(env: Env) -> dict[str, int]:  # noqa: F811
    async with env.app[DB]() as s:
        return dict((await s.execute(select(Official.slug, Official.id))).all())


async def _stored_call(env: Env, linkedid: str = "1700000000.1",  # noqa: F811
                       slug: str = "zhang-wei") -> int:
    oid = (await _ids(env))[slug]
    async with env.app[DB]() as s, s.begin():
        call = Call(linkedid=linkedid, official_id=oid, number_dialed="05585551001",
                    caller="13912345678", outcome="answered", answered_kind="pool",
                    answered_by="op-1", started_at=datetime.now(UTC) - timedelta(minutes=3))
        s.add(call)
    return call.id


async def _counts(env: Env) -> tuple[int, int]:  # noqa: F811
    async with env.app[DB]() as s:
        return (await s.scalar(select(func.count()).select_from(Case)),
                await s.scalar(select(func.count()).select_from(CaseEvent)))


async def _session(env: Env, username: str) -> tuple[dict[str, str], str]:  # noqa: F811
    db = env.app[DB]
    user = next(u for u in await auth.list_users(db) if u.username == username)
    key, csrf = await auth.open_session(db, user.id)
    return {"ivr_session": key}, csrf


# --- the service -----------------------------------------------------------------------------

async def test_open_call_case_assigns_the_dialed_official_with_deadline_by_urgency(env: Env) -> None:  # noqa: F811
    db = env.app[DB]
    await _stored_call(env)
    call = await case_service.find_call(db, linkedid="1700000000.1")
    now = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    case = await case_service.open_call_case(
        db, call, category="transport", summary="  路灯坏了  ", urgency="urgent", actor="web:op",
        categories=CATS, deadlines=HOURS, now=now)
    zhang = (await _ids(env))["zhang-wei"]
    assert (case.kind, case.status, case.official_id, case.category, case.urgency) == (
        "call", "assigned", zhang, "transport", "urgent")
    assert case.summary == "路灯坏了" and case.assigned_to == "张伟 局长"
    assert (case.caller, case.number_dialed, case.linkedid) == ("13912345678", "05585551001",
                                                                 "1700000000.1")
    assert as_utc(case.deadline) == now + timedelta(hours=2)
    # call_id stays free for the call's own voicemail/missed case (unique per call)
    assert case.call_id is None
    async with db() as s:
        stored = await case_service.load_case(s, case.id)
        assert [(e.action, e.new_value, e.actor) for e in stored.events] == [
            ("created", "new", "web:op"), ("triaged", "transport/urgent", "web:op"),
            ("status", "assigned", "web:op"), ("assigned", "张伟 局长", "web:op")]
    normal = await case_service.open_call_case(
        db, call, category="other", summary="咨询", urgency=None, actor="web:op",
        categories=CATS, deadlines=HOURS, now=now)
    assert normal.urgency == "normal"
    assert as_utc(normal.deadline) == now + timedelta(hours=24)
    # the workflow continues from assigned as for any case
    done = await case_service.change_status(db, case.id, "called_back", "web:zhangwei")
    assert done.status == "called_back"


@pytest.mark.parametrize("category, summary, urgency, what", [
    ("teleport", "x", "normal", "category"), (None, "x", "normal", "category"),
    ("transport", "", "normal", "summary"), ("transport", "   ", "normal", "summary"),
    ("transport", None, "normal", "summary"), ("transport", "x" * 2001, "normal", "2000"),
    ("transport", "x", "soon", "urgency")])
async def test_bad_input_raises_and_writes_nothing(env: Env, category: Any, summary: Any,  # noqa: F811
                                                   urgency: Any, what: str) -> None:
    db = env.app[DB]
    await _stored_call(env)
    call = await case_service.find_call(db, linkedid="1700000000.1")
    before = await _counts(env)
    with pytest.raises(InvalidCaseInput) as err:
        await case_service.open_call_case(db, call, category=category, summary=summary,
                                          urgency=urgency, actor="x", categories=CATS, deadlines=HOURS)
    assert what in str(err.value) and err.value.status == 400
    assert await _counts(env) == before


async def test_unknown_call(env: Env) -> None:  # noqa: F811
    db = env.app[DB]
    with pytest.raises(UnknownCall) as err:
        await case_service.find_call(db, linkedid="no-such-call")
    assert err.value.status == 404
    with pytest.raises(UnknownCall):
        await case_service.find_call(db, call_id=424242)
    live = case_service.CallRef("live.1", "05585551001", "139", None)
    assert await case_service.find_call(db, linkedid="live.1", live=live) is live
    with pytest.raises(UnknownCall):  # a live view of another call does not count
        await case_service.find_call(db, linkedid="live.2", live=live)


# --- the route -------------------------------------------------------------------------------

async def test_route_operator_opens_case_from_live_call_official_sees_it(env: Env) -> None:  # noqa: F811
    """While the call is going on (no stored record), the recorder's live view makes it exist."""
    zhang = (await _ids(env))["zhang-wei"]
    now = time.time()
    # the call's first events, as AMI sends them: the live view holds them, no record yet
    for name, extra in (("IVR_CALL", "dialed=05585551001;caller=13800000007;caller_raw=13800000007"),
                        ("IVR_ROUTE", f"official={zhang};src=agi;mode=pool")):
        env.app[CTRL].calls.on_ami_cel({
            "Event": "CEL", "EventName": name, "UserDefType": name, "Timestamp": f"{now:.6f}",
            "UniqueID": "live.7", "LinkedID": "live.7", "Extra": json.dumps({"extra": extra})})
    async with env.app[DB]() as s:
        assert await s.scalar(select(func.count()).select_from(Call)) == 0
    cookies, csrf = await _session(env, "u-operator")
    body = {"linkedid": "live.7", "category": "housing", "summary": "楼道漏水", "urgency": "normal"}
    r = await env.client.post("/api/v1/cases", json=body, cookies=cookies)
    assert r.status == 403 and (await r.json())["error_id"] == "csrf-failed"  # no CSRF header
    assert await _counts(env) == (0, 0)
    r = await env.client.post("/api/v1/cases", json=body, cookies=cookies,
                              headers={"X-CSRF-Token": csrf})
    assert r.status == 201, await r.text()
    case = await r.json()
    assert (case["kind"], case["status"], case["official_id"], case["linkedid"], case["summary"],
            case["caller"], case["assigned_to"]) == ("call", "assigned", zhang, "live.7", "楼道漏水",
                                                     "13800000007", "张伟 局长")
    # the official sees it in the inbox (page and API) ...
    tok = {"Authorization": f"Bearer {env.tokens['official']}"}
    items = (await (await env.client.get("/api/v1/cases", headers=tok)).json())["items"]
    assert [(c["id"], c["kind"]) for c in items] == [(case["id"], "call")]
    off_cookies, _ = await _session(env, "u-official")
    page = await (await env.client.get("/cases", cookies=off_cookies)).text()
    assert "楼道漏水" in page and f'id="case-{case["id"]}"' in page
    # ... another official does not, and cannot open it
    await auth.create_user(env.app[DB], "liqiang", PASSWORD, "official",
                           official="li-qiang")
    other, _ = await _session(env, "liqiang")
    page = await (await env.client.get("/cases", cookies=other)).text()
    assert "楼道漏水" not in page
    r = await env.client.get(f"/api/v1/cases/{case['id']}", cookies=other)
    assert r.status == 403


async def test_route_roles_validation_and_nothing_changed(env: Env) -> None:  # noqa: F811
    call_id = await _stored_call(env, "done.1")
    good = {"linkedid": "done.1", "category": "transport", "summary": "公交改线"}
    for role in ("official", "supervisor"):  # only operators and admins open cases
        r = await env.client.post("/api/v1/cases", json=good,
                                  headers={"Authorization": f"Bearer {env.tokens[role]}"})
        assert r.status == 403, role
    h = {"Authorization": f"Bearer {env.tokens['operator']}"}
    for body, status, error_id in (
            ({**good, "category": "teleport"}, 400, "unknown-category"),
            ({**good, "summary": " "}, 400, "invalid-case-input"),
            ({**good, "urgency": "whenever"}, 400, "invalid-case-input"),
            ({"category": "transport", "summary": "x"}, 400, "invalid-input"),
            ({**good, "call_id": "seven", "linkedid": None}, 400, "invalid-input"),
            ({**good, "linkedid": "no-such-call"}, 404, "unknown-call"),
            ({**good, "linkedid": None, "call_id": 999999}, 404, "unknown-call")):
        r = await env.client.post("/api/v1/cases", json=body, headers=h)
        out = await r.json()
        assert (r.status, out["error_id"]) == (status, error_id), (body, out)
        assert out["message"]
    assert await _counts(env) == (0, 0)
    r = await env.client.post("/api/v1/cases", json={**good, "category": "teleport"}, headers=h)
    out = await r.json()  # English detail; the UI shows its error_id and field in Mandarin
    assert out["error_id"] == "unknown-category" and out["details"]["field"] == "category"
    assert "category must be one of" in out["message"]
    # by the stored call's id too; the admin may open one
    r = await env.client.post("/api/v1/cases", json={"call_id": call_id, "category": "other",
                                                     "summary": "咨询"},
                              headers={"Authorization": f"Bearer {env.tokens['admin']}"})
    assert r.status == 201 and (await r.json())["linkedid"] == "done.1"
    r = await env.client.post("/api/v1/cases", json=good, headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status == 201
    assert (await _counts(env))[0] == 2


async def test_console_form_and_inbox_callback_button(env: Env) -> None:  # noqa: F811
    cookies, _ = await _session(env, "u-operator")
    page = await (await env.client.get("/console", cookies=cookies)).text()
    assert 'id="case-form"' in page and 'id="case-summary"' in page
    assert '<option value="transport">交通</option>' in page and "cases.js" in page
    await _stored_call(env, "done.2")
    r = await env.client.post("/api/v1/cases", json={"linkedid": "done.2", "category": "transport",
                                                     "summary": "红绿灯坏了"},
                              headers={"Authorization": f"Bearer {TOKEN}"})
    cid = (await r.json())["id"]
    page = await (await env.client.get("/cases", cookies=cookies)).text()
    assert f'id="callback-{cid}"' in page and 'data-endpoint="op-1"' in page
    sup, _ = await _session(env, "u-supervisor")  # may read, may not call back
    page = await (await env.client.get("/cases", cookies=sup)).text()
    assert "红绿灯坏了" in page and f'id="callback-{cid}"' not in page
    static = await env.client.get("/static/cases.js")
    assert static.status == 200 and "X-CSRF-Token" in await static.text()
    doc = await (await env.client.get("/api/v1/openapi.json")).json()
    assert "post" in doc["paths"]["/cases"] and "get" in doc["paths"]["/cases"]
