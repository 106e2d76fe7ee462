"""Web forms reject bad input with a clear Mandarin + English message and change nothing; the
dashboard's figures come from the call records and agree with GET /api/v1/stats and the CSV."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from ivr.accounts import services as auth
from ivr.db.account_models import User
from ivr.db.followup_models import Survey
from ivr.db.models import AuditEntry, Call, Official, Pool
from ivr.http.keys import DB
from tests.unit.test_web_authz import PASSWORD, TOKEN, Env, env  # noqa: F401  (fixture)

CJK = re.compile(r"[\u4e00-\u9fff]")


async def _admin(env: Env) -> tuple[dict[str, str], str]:  # noqa: F811
    db = env.app[DB]
    user = next(u for u in await auth.list_users(db) if u.username == "u-admin")
    key, csrf = await auth.open_session(db, user.id)
    return {"ivr_session": key}, csrf


async def _snapshot(env: Env) -> tuple[Any, ...]:  # noqa: F811
    async with env.app[DB]() as s:
        return (await s.scalar(select(func.count()).select_from(AuditEntry)),
                await s.scalar(select(func.count()).select_from(User)),
                await s.scalar(select(func.count()).select_from(Pool)),
                tuple((await s.execute(select(Official.slug, Official.id))).all()))


def _clear_error(text: str) -> str:
    m = re.search(r'<p class="error"[^>]*>([^<]+)</p>', text)
    assert m, text[:2000]
    msg = m.group(1)
    assert CJK.search(msg) and re.search(r"[A-Za-z]{3,}", msg), msg  # Mandarin and English
    return msg


BAD_FORMS = [
    ("/admin/officials/zhang-wei/mode", {"mode": "pool", "reason": ""}, "reason"),
    ("/admin/officials/zhang-wei/mode", {"mode": "teleport", "reason": "x"}, "invalid mode"),
    ("/admin/officials/zhang-wei/mode", {"mode": "pool", "reason": "x" * 501}, "500"),
    ("/admin/officials/zhang-wei/schedule", {"windows": "mon-fri 18:00", "reason": "x"}, "expected 4"),
    ("/admin/officials/zhang-wei/schedule", {"windows": "someday 18:00 08:00 pool", "reason": "x"}, "unknown day"),
    ("/admin/officials/zhang-wei/schedule", {"windows": "mon 25:00 26:00 pool", "reason": "x"}, "hours go up to 23"),
    ("/admin/pools", {"name": "night", "max_wait": "soon"}, "whole seconds"),
    ("/admin/pools", {"name": "main", "max_wait": "60"}, "exists"),
    ("/admin/users", {"username": "Bad Name!", "password": PASSWORD, "role": "admin"}, "username"),
    ("/admin/users", {"username": "newop", "password": "short", "role": "admin"}, "password"),
    ("/admin/users", {"username": "newop", "password": PASSWORD, "role": "emperor"}, "role"),
    ("/admin/users", {"username": "newop", "password": PASSWORD, "role": "operator",
                      "operator": "op-99"}, "endpoint"),
    ("/admin/users", {"username": "newoff", "password": PASSWORD, "role": "official"}, "official"),
    ("/admin/tokens", {"username": "nobody", "label": "x"}, "unknown user"),
    ("/admin/officials/zhang-wei/devices/o-zhang-wei/confirm", {"confirm": "maybe"}, "true or false"),
    ("/admin/officials/zhang-wei/devices/o-nobody/confirm", {"confirm": "true"}, "not a device"),
    ("/admin/officials/zhang-wei/self-service", {"mode": "maybe"}, "true or false"),
    ("/admin/officials/nobody/self-service", {"mode": "true"}, "nobody"),
    ("/admin/self-service", {"mode": "yes"}, "true or false"),
    ("/admin/self-service", {"mode": "true", "reason": "x" * 501}, "500"),
]


def test_every_bad_form_names_its_message() -> None:
    assert all(expect.strip() for _, _, expect in BAD_FORMS)  # "" is in every message


@pytest.mark.parametrize("path,data,expect", BAD_FORMS)
async def test_bad_form_input_is_refused_and_changes_nothing(env: Env, path: str,  # noqa: F811
                                                             data: dict[str, str], expect: str) -> None:
    cookies, csrf = await _admin(env)
    before = await _snapshot(env)
    r = await env.client.post(path, data={**data, "csrf": csrf}, cookies=cookies, allow_redirects=False)
    assert r.status in (400, 404, 409), (r.status, await r.text())
    msg = _clear_error(await r.text())
    assert expect in msg, msg
    assert await _snapshot(env) == before
    r = await env.client.get("/api/v1/officials/zhang-wei", headers={"Authorization": f"Bearer {TOKEN}"})
    o = await r.json()
    assert o["policy"]["mode"] == "direct" and o["schedule"] == []


async def test_admin_turns_a_devices_confirmation_off_and_on(env: Env) -> None:  # noqa: F811
    """The official's page lists the phones with their confirmation and a one-click switch."""
    from ivr.directory.importer import import_text
    await import_text(env.app[DB], "officials:\n  - {slug: zhang-wei, name: 张伟, devices: "
                      "[{sip: o-zhang-wei}, {mobile: '13800001001'}]}\n", "yaml", "test")
    cookies, csrf = await _admin(env)
    page = await (await env.client.get("/admin/officials/zhang-wei/schedule", cookies=cookies)).text()
    assert 'action="/admin/officials/zhang-wei/devices/%2B8613800001001/confirm"' in page, page
    path = "/admin/officials/zhang-wei/devices/%2B8613800001001/confirm"
    for value in ("false", "true"):
        r = await env.client.post(path, data={"confirm": value, "csrf": csrf}, cookies=cookies,
                                  allow_redirects=False)
        assert r.status == 303, await r.text()
        o = await (await env.client.get("/api/v1/officials/zhang-wei",
                                        headers={"Authorization": f"Bearer {TOKEN}"})).json()
        assert {d["number"]: d["confirm"] for d in o["devices"]}["+8613800001001"] is (value == "true")
    page = await (await env.client.get("/admin/officials/zhang-wei/schedule", cookies=cookies)).text()
    assert "要求按1确认" in page and "改为直接接通" in page


async def test_operator_pause_needs_reason(env: Env) -> None:  # noqa: F811
    db = env.app[DB]
    user = next(u for u in await auth.list_users(db) if u.username == "u-operator")
    key, csrf = await auth.open_session(db, user.id)
    r = await env.client.post("/console/state", data={"state": "paused", "reason": "", "csrf": csrf},
                              cookies={"ivr_session": key}, allow_redirects=False)
    assert r.status == 400 and "a pause needs a reason" in _clear_error(await r.text())
    r = await env.client.post("/console/state", data={"state": "asleep", "csrf": csrf},
                              cookies={"ivr_session": key}, allow_redirects=False)
    assert r.status == 400 and "invalid state" in _clear_error(await r.text())
    r = await env.client.get("/api/v1/operators/op-1", headers={"Authorization": f"Bearer {TOKEN}"})
    assert (await r.json())["state"] == "logged_out"


async def test_dashboard_figures_from_call_records(env: Env) -> None:  # noqa: F811
    """Known calls in: page, CSV and API agree, and equal the figures worked out by hand."""
    db = env.app[DB]
    async with db() as s:
        zhang = await s.scalar(select(Official.id).where(Official.slug == "zhang-wei"))
        li = await s.scalar(select(Official.id).where(Official.slug == "li-qiang"))
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    calls = [  # (official, outcome, answered_kind, seconds to answer)
        (zhang, "answered", "direct", 5), (zhang, "answered", "pool", 30),
        (zhang, "abandoned", None, None), (zhang, "voicemail", None, None),
        (zhang, "missed", None, None), (zhang, "interrupted", None, None),
        (li, "answered", "deputy", 12), (li, "refused", None, None)]
    async with db() as s, s.begin():
        for n, (oid, outcome, kind, wait) in enumerate(calls):
            start = t0 + timedelta(minutes=n)
            s.add(Call(linkedid=f"l{n}", official_id=oid, outcome=outcome, answered_kind=kind,
                       answered_by="x" if kind else None, number_dialed="05585551001",
                       caller="139", started_at=start, ended_at=start + timedelta(minutes=1),
                       waited_secs=wait,
                       answered_at=start + timedelta(seconds=wait) if wait is not None else None))
        s.add(Call(linkedid="old", official_id=zhang, outcome="answered", answered_kind="direct",
                   started_at=t0 - timedelta(days=30), answered_at=t0 - timedelta(days=30)))
        s.add(Call(linkedid="probe", kind="test", official_id=zhang, outcome="missed",
                   started_at=t0))  # a test call: never in the figures
    async with db() as s, s.begin():  # satisfaction surveys of zhang's two answered calls
        for linkedid, rating in (("l0", 1), ("l1", 3)):
            call_id = await s.scalar(select(Call.id).where(Call.linkedid == linkedid))
            s.add(Survey(call_id=call_id, number="139", official_id=zhang, due_at=t0,
                         state="done", rating=rating, ended_at=t0))
    h = {"Authorization": f"Bearer {TOKEN}"}
    api = await (await env.client.get("/api/v1/stats", headers=h)).json()
    z = next(r for r in api["officials"] if r["slug"] == "zhang-wei")
    # over citizen calls, refused, interrupted and test calls excluded; interrupted counted apart
    assert (z["calls"], z["answered"], z["answered_by_official"], z["answered_by_others"]) == (5, 2, 1, 1)
    assert (z["answered_pct"], z["abandoned_pct"], z["asa_seconds"], z["service_level_pct"]) == (
        40.0, 20.0, 17.5, 20.0)
    assert (z["missed"], z["missed_pct"], z["voicemail"], z["interrupted"]) == (1, 20.0, 1, 1)
    assert (z["ratings"], z["satisfied_pct"], z["fairly_satisfied_pct"],
            z["not_satisfied_pct"]) == (2, 50.0, 0.0, 50.0)
    li_row = next(r for r in api["officials"] if r["slug"] == "li-qiang")
    assert (li_row["calls"], li_row["answered_by_others"], li_row["service_level_pct"]) == (1, 1, 100.0)
    assert api["total"]["calls"] == 6 and api["total"]["interrupted"] == 1
    assert sum(api["calls_per_hour"]) == 7  # interrupted calls arrived too

    # the CSV is the same figures
    body = await (await env.client.get("/dashboard.csv", cookies=(await _admin(env))[0])).text()
    rows = {r[1]: r for r in csv.reader(io.StringIO(body.lstrip("\ufeff"))) if r and r[0] == "official"}
    assert rows["zhang-wei"][3:14] == ["5", "40.0", "1", "1", "20.0", "17.5", "20.0", "0", "20.0",
                                       "1", "1"]
    assert rows["zhang-wei"][-4:] == ["2", "50.0", "0.0", "50.0"]  # ratings, satisfied … %
    # … from a script too, with a supervisor's API token (no browser session)
    env.client.session.cookie_jar.clear()
    r = await env.client.get("/dashboard.csv", headers={
        "Authorization": f"Bearer {env.tokens['supervisor']}"})
    assert r.status == 200 and r.headers["Content-Type"].startswith("text/csv")
    assert await r.text() == body
    r = await env.client.get("/supervision/calls.csv", headers={
        "Authorization": f"Bearer {env.tokens['supervisor']}"})
    assert r.status == 200 and r.headers["Content-Type"].startswith("text/csv")
    r = await env.client.get("/dashboard.csv", headers={"Authorization": "Bearer wrong"})
    assert r.status == 401
    # the page too
    page = await (await env.client.get("/dashboard", cookies=(await _admin(env))[0])).text()
    assert re.search(r"张伟 局长</a></td><td>5</td><td>40.0%</td><td>1</td><td>1</td><td>20.0%</td>"
                     r"<td>17.5</td><td>20.0%</td><td>[^<]*</td><td>20.0%</td><td>1</td><td>1</td>",
                     page), page  # shares with their % sign, seconds and counts without
    assert re.search(r"张伟 局长</a></td>(<td>[^<]*</td>){17}<td>2</td><td>50.0%</td><td>0.0%</td>"
                     r"<td>50.0%</td></tr>", page), page
    assert re.search(r'<p id="period">统计周期：\d{4}-\d{2}-\d{2} 至 \d{4}-\d{2}-\d{2}（北京时间）'
                     r" （默认：最近7天，含今天）</p>", page), page
    assert "满意率" in page and "回访评价数" in page
    # the charts: outcome shares per official, and the daily trend adds up to the calls
    shares = dict(re.findall(r'class="share" data-official="张伟 局长" data-part="(\w+)" '
                             r'data-pct="([\d.]+)"', page))
    assert shares == {"answered": "40.0", "voicemail": "20.0", "missed": "20.0",
                      "abandoned": "20.0"}, shares
    trend = [int(n) for n in re.findall(r'class="seg" data-day="[^"]+" data-part="\w+" '
                                        r'data-count="(\d+)"', page)]
    assert sum(trend) == api["total"]["calls"] == 6, trend
    # an official sees only their own row; asking for another official is refused
    tok = {"Authorization": f"Bearer {env.tokens['official']}"}
    mine = await (await env.client.get("/api/v1/stats", headers=tok)).json()
    assert [r["slug"] for r in mine["officials"]] == ["zhang-wei"] and mine["total"]["calls"] == 5
    assert (await env.client.get("/api/v1/stats?official=li-qiang", headers=tok)).status == 403
    # a bad period is refused clearly
    r = await env.client.get("/api/v1/stats?since=yesterday", headers=h)
    assert r.status == 400 and "YYYY-MM-DD" in (await r.json())["message"]


async def test_cases_inbox_official_sees_own_only(env: Env) -> None:  # noqa: F811
    from ivr.followup.cases import new_case
    from tests.unit.deadline_helpers import round_the_clock

    db = env.app[DB]
    async with db() as s, s.begin():
        ids = {slug: await s.scalar(select(Official.id).where(Official.slug == slug))
               for slug in ("zhang-wei", "li-qiang")}
        now = datetime.now(UTC)
        mine = new_case("missed", created_at=now, deadlines=round_the_clock(),
                        official_id=ids["zhang-wei"], caller="13900000001")
        other = new_case("missed", created_at=now, deadlines=round_the_clock(),
                         official_id=ids["li-qiang"], caller="13900000002")
        s.add_all([mine, other])
    user = next(u for u in await auth.list_users(db) if u.username == "u-official")
    key, csrf = await auth.open_session(db, user.id)
    cookies = {"ivr_session": key}
    text = await (await env.client.get("/cases", cookies=cookies)).text()
    assert "13900000001" in text and "13900000002" not in text
    r = await env.client.post(f"/cases/{other.id}/status", data={"status": "called_back", "csrf": csrf},
                              cookies=cookies, allow_redirects=False)
    assert r.status == 403
    r = await env.client.post(f"/cases/{mine.id}/status", data={"status": "bogus", "csrf": csrf},
                              cookies=cookies, allow_redirects=False)
    assert r.status == 400 and _clear_error(await r.text())
    r = await env.client.post(f"/cases/{mine.id}/status", data={"status": "called_back", "csrf": csrf},
                              cookies=cookies, allow_redirects=False)
    assert r.status == 303
    tok = {"Authorization": f"Bearer {env.tokens['official']}"}
    items = (await (await env.client.get("/api/v1/cases", headers=tok)).json())["items"]
    assert [(c["id"], c["status"]) for c in items] == [(mine.id, "called_back")]
    assert (await env.client.get(f"/api/v1/cases/{other.id}", headers=tok)).status == 403


async def test_dashboard_counts_overdue_cases(env: Env) -> None:  # noqa: F811
    from ivr.followup.cases import new_case
    from tests.unit.deadline_helpers import round_the_clock

    db = env.app[DB]
    async with db() as s, s.begin():
        zhang = await s.scalar(select(Official.id).where(Official.slug == "zhang-wei"))
        past = datetime.now(UTC) - timedelta(hours=30)
        s.add(new_case("missed", created_at=past, deadlines=round_the_clock(), official_id=zhang))
        s.add(new_case("missed", created_at=datetime.now(UTC), deadlines=round_the_clock(),
                       official_id=zhang))
    api = await (await env.client.get("/api/v1/stats", headers={"Authorization": f"Bearer {TOKEN}"})).json()
    assert next(r for r in api["officials"] if r["slug"] == "zhang-wei")["overdue_cases"] == 1
