"""The callback guard's service on SQLite and PostgreSQL, with a stand-in AMI (the real thing:
tests/e2e/test_callback_guard.py): what is originated (national number, the published number
as caller ID), the per-case limit under concurrent clicks, altered caller IDs and the admin's
approval, refusals audited and nothing else written."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from ivr.calls.fold import CallView
from ivr.core.config import Config
from ivr.core.errors import (
    CallbackCallerAltered,
    CallbackNotOwnPhone,
    CallbackNumberRefused,
    InvalidCaseInput,
    TooManyCallbacks,
    TooManyOriginated,
)
from ivr.core.identity import Identity
from ivr.core.outbound import OutboundConfig
from ivr.db.followup_models import Callback, Case
from ivr.db.models import AuditEntry, Call, Official
from ivr.db.session import Db
from ivr.followup.callback import place_callback
from ivr.followup.callback_guard import approve
from ivr.followup.ingest import ingest_call
from ivr.http.keys import DB
from ivr.web.auth import SESSION_COOKIE
from tests.unit.deadline_helpers import round_the_clock
from tests.unit.test_voicemail_cases import db  # noqa: F401  (fixture)
from tests.unit.test_web_authz import Env, _session, env  # noqa: F401  (fixture)

T0 = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
OPERATOR = Identity(role="operator", username="wangfang", operator_endpoint="op-1")
PUBLISHED = "05585551001"


class FakeAmi:
    def __init__(self) -> None:
        self.sent: list[dict[str, str]] = []

    async def action(self, name: str, **fields: str) -> dict[str, str]:
        await asyncio.sleep(0)
        self.sent.append({"Action": name, **fields})
        return {"Response": "Success"}


async def _case(db: Db, linkedid: str, caller: str, altered: bool = False) -> int:  # noqa: F811
    async with db() as s, s.begin():
        s.add(Call(linkedid=linkedid, caller=caller, caller_raw=caller + ("x" if altered else ""),
                   caller_altered=altered, number_dialed=PUBLISHED, started_at=T0, ended_at=T0,
                   outcome="missed"))
    await ingest_call(db, Config.build(), round_the_clock(),
                      CallView(linkedid, outcome="missed", ended_at=T0))
    async with db() as s:
        case_id = await s.scalar(select(Case.id).join(Call, Case.call_id == Call.id)
                                 .where(Call.linkedid == linkedid))
    assert case_id is not None
    return case_id


async def _count(db: Db, model: Any) -> int:  # noqa: F811
    async with db() as s:
        return await s.scalar(select(func.count()).select_from(model)) or 0


async def test_originates_the_national_number_with_the_published_number(db: Db) -> None:  # noqa: F811
    case_id = await _case(db, "L1", "+8613912345678")
    ami = FakeAmi()
    cb = await place_callback(db, ami, case_id, None, "web:wangfang", who=OPERATOR,
                              outbound=OutboundConfig(), node="a")
    assert (cb.endpoint, cb.number, cb.node) == ("op-1", "13912345678", "a")
    [sent] = ami.sent
    assert (sent["Channel"], sent["Exten"], sent["Context"]) == ("PJSIP/op-1", "13912345678",
                                                                 "ivr-callback")
    assert sent["Variable"] == f"IVR_CASE={case_id},IVR_PRESENT={PUBLISHED}"


async def test_refusals_are_audited_and_write_nothing_else(db: Db) -> None:  # noqa: F811
    premium = await _case(db, "L1", "+8821612345678")
    national = await _case(db, "L2", "13912345678")
    ami = FakeAmi()
    with pytest.raises(CallbackNumberRefused):
        await place_callback(db, ami, premium, None, "web:wangfang", who=OPERATOR)
    with pytest.raises(CallbackNotOwnPhone):
        await place_callback(db, ami, national, "op-2", "web:wangfang", who=OPERATOR)
    admin = Identity(role="admin", username="guanli")
    with pytest.raises(CallbackNotOwnPhone, match="assign the case"):
        await place_callback(db, ami, national, None, "web:guanli", who=admin)
    assert ami.sent == [] and await _count(db, Callback) == 0
    async with db() as s:
        audit = (await s.scalars(select(AuditEntry).order_by(AuditEntry.id))).all()
        events = (await s.scalars(select(Case))).all()
    assert [(a.field, a.actor, a.reason.split(":")[0]) for a in audit] == [
        ("callback_refused", "web:wangfang", "callback-number-refused"),
        ("callback_refused", "web:wangfang", "callback-not-own-phone"),
        ("callback_refused", "web:guanli", "callback-not-own-phone")]
    assert json.loads(audit[0].new_value or "{}") == {"case": premium, "number": "+8821612345678",
                                                       "endpoint": "op-1"}
    assert all(c.status == "new" for c in events)


async def test_concurrent_clicks_respect_the_per_case_limit(db: Db) -> None:  # noqa: F811
    case_id = await _case(db, "L1", "13912345678")
    ami = FakeAmi()
    outbound = OutboundConfig(per_case_per_day=2)
    results = await asyncio.gather(*(place_callback(db, ami, case_id, "op-1", "web:wangfang",
                                                    who=OPERATOR, outbound=outbound, node="a")
                                     for _ in range(6)), return_exceptions=True)
    assert sum(isinstance(r, Callback) for r in results) == 2, results
    assert sum(isinstance(r, TooManyCallbacks) for r in results) == 4, results
    assert len(ami.sent) == 2 and await _count(db, Callback) == 2
    other = await _case(db, "L2", "13912345679")
    with pytest.raises(TooManyOriginated):  # the node's hourly limit counts every case
        await place_callback(db, ami, other, None, "web:wangfang", who=OPERATOR,
                             outbound=OutboundConfig(per_node_per_hour=2), node="a")
    await place_callback(db, ami, other, None, "web:wangfang", who=OPERATOR,
                         outbound=OutboundConfig(per_node_per_hour=2), node="b")  # another node


async def test_an_altered_caller_id_needs_an_admins_approval(db: Db) -> None:  # noqa: F811
    case_id = await _case(db, "L1", "13912345678", altered=True)
    ami = FakeAmi()
    with pytest.raises(CallbackCallerAltered):
        await place_callback(db, ami, case_id, None, "web:wangfang", who=OPERATOR)
    for bad in ("", "  ", "x" * 501, None):
        with pytest.raises(InvalidCaseInput):
            await approve(db, case_id, "web:guanli", bad)
    case = await approve(db, case_id, "web:guanli", "called the citizen's office to confirm")
    assert case.events[-1].action == "callback_approved"
    cb = await place_callback(db, ami, case_id, None, "web:wangfang", who=OPERATOR)
    assert cb.number == "13912345678" and len(ami.sent) == 1
    async with db() as s:
        fields = [a.field for a in (await s.scalars(select(AuditEntry).order_by(AuditEntry.id)))]
    assert fields == ["callback_refused", "callback_approval"]


async def test_inbox_marks_altered_callers_and_lets_an_admin_approve(env: Env) -> None:  # noqa: F811
    sessions = env.app[DB]
    async with sessions() as s:
        oid = await s.scalar(select(Official.id).where(Official.slug == "zhang-wei"))
    case_ids = {}
    for linkedid, altered in (("L-alt", True), ("L-ok", False)):
        case_ids[linkedid] = await _case(sessions, linkedid, "13912345678", altered=altered)
    async with sessions() as s, s.begin():
        for case in (await s.scalars(select(Case))).all():
            case.official_id = oid
    admin = {"Authorization": f"Bearer {env.tokens['admin']}"}
    official = {"Authorization": f"Bearer {env.tokens['official']}"}
    alt, ok = case_ids["L-alt"], case_ids["L-ok"]

    key, _ = await _session(env, "admin")
    page = await (await env.client.get("/cases", cookies={SESSION_COOKIE: key})).text()
    assert f'id="altered-{alt}"' in page and f'id="approve-{alt}"' in page
    assert f'id="altered-{ok}"' not in page and f'id="approve-{ok}"' not in page
    assert f'id="callback-{alt}"' not in page  # admins have no phone: no call-back button
    key, _ = await _session(env, "official")
    page = await (await env.client.get("/cases", cookies={SESSION_COOKIE: key})).text()
    assert f'id="altered-{alt}"' in page and f'id="approve-{alt}"' not in page

    r = await env.client.post(f"/api/v1/cases/{alt}/callback-approval", json={"reason": "ok"},
                              headers=official)
    assert (r.status, (await r.json())["error_id"]) == (403, "forbidden")
    r = await env.client.post(f"/api/v1/cases/{alt}/callback-approval", json={"reason": 5},
                              headers=admin)
    assert (r.status, (await r.json())["error_id"]) == (400, "invalid-input")
    r = await env.client.post(f"/api/v1/cases/{alt}/callback-approval",
                              json={"reason": "核实过"}, headers=admin)
    assert r.status == 200, await r.text()
    key, _ = await _session(env, "admin")
    page = await (await env.client.get("/cases", cookies={SESSION_COOKIE: key})).text()
    assert f'id="altered-{alt}"' not in page and f'id="approve-{alt}"' not in page
    # the route's roles: admins and supervisors may not call back at all
    for role in ("admin", "supervisor"):
        r = await env.client.post(f"/api/v1/cases/{ok}/callback", json={},
                                  headers={"Authorization": f"Bearer {env.tokens[role]}"})
        assert (r.status, (await r.json())["error_id"]) == (403, "forbidden")

