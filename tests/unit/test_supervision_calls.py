"""The supervisors' calls page, its CSV, keyset pages and the exceptions list: on SQLite and
PostgreSQL through the services, and through the real web app (page, CSV, API, scopes)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from ivr.core.errors import InvalidInput, NotFound
from ivr.db.followup_models import Callback, CaseEvent
from ivr.db.models import Call, CallStep, Official
from ivr.db.session import Db
from ivr.followup.cases import new_case
from ivr.http.keys import DB
from ivr.supervision import calls_query as cq
from ivr.supervision import exceptions as ex
from tests.unit.deadline_helpers import round_the_clock
from tests.unit.test_figures_sql import db  # noqa: F401  (fixture)
from tests.unit.test_web_authz import TOKEN, Env, env  # noqa: F401  (fixture)

TZ = "Asia/Shanghai"
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
M = timedelta(minutes=1)
# name: (official, mode, outcome, answered_kind, pool step, caller, follow-up)
# follow-up: None; "on_time"; "late" (reached after the deadline); "overdue" (not reached,
# deadline past); "pending" (deadline ahead); "unreachable" (overdue, a callback not answered)
SEED = {
    "a1": ("zhang-wei", "direct", "answered", "direct", False, "13900000001", None),
    "a2": ("zhang-wei", "direct", "answered", "pool", True, "13900000002", None),
    "m1": ("zhang-wei", "direct", "missed", None, False, "13900000003", "on_time"),
    "m2": ("zhang-wei", "direct", "missed", None, False, "13900000004", "overdue"),
    "b1": ("zhang-wei", "direct", "abandoned", None, False, "13900000005", "late"),
    "v1": ("zhang-wei", "direct", "voicemail", None, False, "13900000006", "pending"),
    "p1": ("li-qiang", "pool", "answered", "pool", True, "13800000001", None),
    "p2": ("li-qiang", "pool", "abandoned", None, True, "13800000002", "unreachable"),
    "t1": ("li-qiang", "direct", "missed", None, False, "13800000003", None),  # kind test
}
# not answered by the expected party and not followed up by the contact deadline
EXCEPTIONS = {"a2": ("other_party", "no_case"), "m2": ("nobody_answered", "case_overdue"),
              "b1": ("abandoned", "contacted_late"), "p2": ("abandoned", "callback_unreachable")}


async def _seed(db: Db) -> dict[str, int]:  # noqa: F811
    ids: dict[str, int] = {}
    async with db() as s, s.begin():
        officials = dict((await s.execute(select(Official.slug, Official.id))).all())
        for n, (name, (slug, mode, outcome, kind, pooled, caller, follow)) in enumerate(
                SEED.items()):
            t = T0 + n * M
            call = Call(linkedid=name, official_id=officials[slug], mode=mode, outcome=outcome,
                        answered_kind=kind, kind="test" if name == "t1" else "citizen",
                        waited_secs=5.0, started_at=t, ended_at=t + M, caller=caller,
                        number_dialed="05585551001" if slug == "zhang-wei" else "05585551002")
            call.steps.append(CallStep(seq=1, kind="pool" if pooled else "direct",
                                       target="pool-main" if pooled else "PJSIP/o-zw",
                                       result="ANSWER" if kind else "NOANSWER", started_at=t,
                                       ended_at=t + timedelta(seconds=20)))
            s.add(call)
            await s.flush()
            ids[name] = call.id
            if follow is None:
                continue
            case = new_case("missed", created_at=t + M, deadlines=round_the_clock(),
                            call_id=call.id, official_id=officials[slug], caller=caller)
            case.deadline = t + 2 * M if follow != "pending" else t + timedelta(days=2)
            if follow in ("on_time", "late"):
                at = t + M + M / 2 if follow == "on_time" else t + 10 * M
                case.events.append(CaseEvent(at=at, actor="op", action="status",
                                             old_value="new", new_value="called_back"))
            if follow == "unreachable":
                case.callbacks.append(Callback(placed_by="op", endpoint="op-1", number=caller,
                                               linkedid=f"ivrcb-{name}", state="ended",
                                               result="NOANSWER", created_at=t + M))
            s.add(case)
    return ids


async def _names(db: Db, f: cq.CallFilter, ids: dict[str, int]) -> list[str]:  # noqa: F811
    by_id = {v: k for k, v in ids.items()}
    return [by_id[r.call.id] async for r in cq.every(db, await cq.filtered(db, f, TZ))]


async def test_filters_pages_and_exceptions(db: Db) -> None:  # noqa: F811
    ids = await _seed(db)
    every = await _names(db, cq.CallFilter(), ids)
    assert every == list(reversed(SEED))  # newest first
    assert await _names(db, cq.CallFilter(official="li-qiang"), ids) == ["t1", "p2", "p1"]
    assert await _names(db, cq.CallFilter(department="市财政局", kind="citizen"), ids) == [
        "p2", "p1"]
    assert await _names(db, cq.CallFilter(pool="main"), ids) == ["p2", "p1", "a2"]
    assert await _names(db, cq.CallFilter(outcome="answered-expected"), ids) == ["p1", "a1"]
    assert await _names(db, cq.CallFilter(outcome="answered-others"), ids) == ["a2"]
    assert await _names(db, cq.CallFilter(outcome="missed"), ids) == ["t1", "m2", "m1"]
    assert await _names(db, cq.CallFilter(number="0558-5551002"), ids) == ["t1", "p2", "p1"]
    assert await _names(db, cq.CallFilter(caller="1390000000"), ids) == [
        "v1", "b1", "m2", "m1", "a2", "a1"]
    # keyset pages of 2: every call once, in order
    q = await cq.filtered(db, cq.CallFilter(), TZ)
    seen, cursor = [], ""
    while True:
        rows, nxt = await cq.page(db, q, cursor, 2)
        seen += [r.call.id for r in rows]
        if nxt is None:
            break
        cursor = nxt
    assert seen == [ids[n] for n in reversed(SEED)]
    # the exceptions, oldest first, with their reasons
    q = ex.only_exceptions(await cq.filtered(db, cq.CallFilter(), TZ, oldest_first=True),
                           datetime.now(UTC))
    rows, _ = await cq.page(db, q, "", 100, ascending=True)
    ups = await ex.follow_ups(db, [r.call.id for r in rows])
    got = {r.call.linkedid: (ex.reason(r.call), ups.get(r.call.id, ("no_case", None))[0])
           for r in rows}
    assert got == EXCEPTIONS and [r.call.linkedid for r in rows] == ["a2", "m2", "b1", "p2"]
    for bad in (cq.CallFilter(outcome="lost"), cq.CallFilter(official="nobody"),
                cq.CallFilter(pool="nope"), cq.CallFilter(number="abc"),
                cq.CallFilter(since="yesterday"), cq.CallFilter(official="9" * 20), cq.CallFilter(until="9999-12-31"),
                cq.CallFilter(since="0001-01-01T00:00:00")):
        with pytest.raises((InvalidInput, NotFound)):  # an unknown official or pool: 404
            await cq.filtered(db, bad, TZ)
    with pytest.raises(InvalidInput):  # past a 64-bit id: refused, not overflowing PostgreSQL
        await cq.page(db, await cq.filtered(db, cq.CallFilter(), TZ), "9" * 20, 10)


async def _session(env: Env, role: str) -> dict[str, str]:  # noqa: F811
    from ivr.accounts import services as auth

    user = next(u for u in await auth.list_users(env.app[DB]) if u.username == f"u-{role}")
    key, _ = await auth.open_session(env.app[DB], user.id)
    return {"ivr_session": key}


def _csv(body: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(body.lstrip("\ufeff"))))


async def test_calls_page_csv_api_and_scopes(env: Env) -> None:  # noqa: F811
    ids = await _seed(env.app[DB])
    h = {"Authorization": f"Bearer {TOKEN}"}
    sup = await _session(env, "supervisor")
    api = await (await env.client.get("/api/v1/supervision/calls?limit=4", headers=h)).json()
    assert [c["id"] for c in api["items"]] == [ids[n] for n in ("t1", "p2", "p1", "v1")]
    more = await (await env.client.get(f"/api/v1/supervision/calls?limit=4&after={api['next']}",
                                       headers=h)).json()
    assert [c["id"] for c in more["items"]] == [ids[n] for n in ("b1", "m2", "m1", "a2")]
    # the CSV holds the whole filtered set, not one page
    body = await (await env.client.get("/supervision/calls.csv?limit=2&kind=citizen",
                                       cookies=sup)).text()
    assert [int(r["id"]) for r in _csv(body)] == [ids[n] for n in reversed(SEED) if n != "t1"]
    page = await (await env.client.get("/supervision/calls?outcome=abandoned", cookies=sup)).text()
    assert f'id="call-{ids["b1"]}"' in page and f'id="call-{ids["p2"]}"' in page
    assert f'id="call-{ids["a1"]}"' not in page
    detail = await (await env.client.get(f"/supervision/calls/{ids['p2']}", cookies=sup)).text()
    assert "话务组 <code>main</code>" in detail and "ivrcb-p2" not in detail
    assert 'data-result="NOANSWER">无人接听<' in detail and ">NOANSWER<" not in detail
    exc = await (await env.client.get("/api/v1/supervision/exceptions", headers=h)).json()
    assert [(c["id"], c["reason"], c["follow_up"]) for c in exc["items"]] == [
        (ids[n], *EXCEPTIONS[n]) for n in ("a2", "m2", "b1", "p2")]
    body = await (await env.client.get("/supervision/exceptions.csv", cookies=sup)).text()
    assert [int(r["id"]) for r in _csv(body)] == [c["id"] for c in exc["items"]]
    assert "工单逾期" in await (await env.client.get("/supervision/exceptions", cookies=sup)).text()
    # an official sees their own calls only
    tok = {"Authorization": f"Bearer {env.tokens['official']}"}
    mine = await (await env.client.get("/api/v1/supervision/calls", headers=tok)).json()
    assert {c["id"] for c in mine["items"]} == {ids[n] for n in SEED if n[0] in "abmv"}
    assert (await env.client.get("/api/v1/supervision/calls?official=li-qiang",
                                 headers=tok)).status == 403
    own = await _session(env, "official")
    assert (await env.client.get(f"/supervision/calls/{ids['p1']}", cookies=own)).status == 403
    assert (await env.client.get(f"/supervision/calls/{ids['a1']}", cookies=own)).status == 200
    mine_exc = await (await env.client.get("/api/v1/supervision/exceptions", headers=tok)).json()
    assert [c["id"] for c in mine_exc["items"]] == [ids["a2"], ids["m2"], ids["b1"]]
    # bad input: 400 with an error id, never 5xx
    r = await env.client.get("/api/v1/supervision/calls?outcome=lost", headers=h)
    assert r.status == 400 and (await r.json())["error_id"] == "invalid-input"
    r = await env.client.get("/api/v1/supervision/calls?after=x1", headers=h)
    assert r.status == 400
    assert (await env.client.get("/supervision/calls/abc", cookies=sup)).status == 400
    for big in ("/supervision/calls/99999999999999999999999", "/api/v1/supervision/calls?after="
                "99999999999999999999", "/api/v1/supervision/calls?official=99999999999999999999"):
        r = await env.client.get(big, headers=h, cookies=sup)
        assert r.status in (400, 403, 404), (big, r.status)  # 404: no such official


def test_step_targets_and_results_in_words() -> None:
    from ivr.supervision.call_view import result_label, target_parts

    def t(key: str) -> str:
        return {"sv.tgt.phone": "电话", "sv.tgt.mobile": "手机", "sv.tgt.pool": "话务组",
                "sv.tgt.key": "按{0}", "routing.mode.voicemail": "留言",
                "sv.res.NOANSWER": "无人接听"}.get(key, key)
    parts = target_parts("PJSIP/o-zw&PJSIP/+8613900000001@carrier&Local/csd-li@ivr-leg-3f;1",
                         "direct", t)
    assert [(p.text, p.code) for p in parts] == [("电话", "o-zw"), ("手机 13900000001", ""),
                                                 ("电话", "d-li")]
    assert [(p.text, p.code) for p in target_parts("pool-main", "pool", t)] == [("话务组", "main")]
    assert [(p.text, p.code) for p in target_parts("1-voicemail.9-dance", "menu", t)] == [
        ("按1 留言", ""), ("按9", "dance")]
    assert (result_label("NOANSWER", t).text, result_label("WEIRD", t).code) == ("无人接听", "WEIRD")
