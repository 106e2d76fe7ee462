"""Escalation (issue 11): the directory's ``superior`` (cycles refused, audited), the deadline
that applies, and an overdue case escalated by the sweeper — it appears in the superior's and the
supervisor's inbox (API and page) with its history, the official is reminded, a second deadline
applies, every step is a case event."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from ivr.accounts import services as accounts
from ivr.core.errors import InvalidSuperior
from ivr.db.followup_models import Case
from ivr.db.models import AuditEntry, Official
from ivr.db.session import Db
from ivr.directory.importer import import_text
from ivr.followup.cases import new_case
from ivr.followup.escalation import next_due, sweep
from ivr.http.keys import DB
from tests.unit.deadline_helpers import round_the_clock
from tests.unit.test_web_authz import Env, env  # noqa: F401  (fixture)

DEADLINES = round_the_clock()
SUPERIORS = """
officials:
  - {slug: li-qiang, name: 李强, superior: zhang-wei}
"""


async def _id(db: Db, slug: str) -> int | None:
    async with db() as s:
        return await s.scalar(select(Official.id).where(Official.slug == slug))


def _case(**fields: object) -> Case:
    case = new_case("missed", created_at=datetime(2030, 10, 16, 2, 0, tzinfo=UTC),
                    deadlines=DEADLINES)
    for k, v in fields.items():
        setattr(case, k, v)
    return case


def test_next_due_follows_the_case() -> None:
    case = _case()
    assert next_due(case, 2) == ("contact", case.deadline)
    case.status = "called_back"
    assert next_due(case, 2) == ("resolve", case.resolve_deadline)
    second = datetime(2030, 10, 20, tzinfo=UTC)
    case.escalation_level, case.escalation_reason, case.escalation_deadline = 1, "resolve", second
    assert next_due(case, 2) == ("resolve", second)
    case.escalation_level = 2
    assert next_due(case, 2) is None  # at the top
    contact = _case(escalation_level=1, escalation_reason="contact", escalation_deadline=second)
    assert next_due(contact, 2) == ("contact", second)
    contact.status = "called_back"  # reached since: the resolve deadline applies next
    assert next_due(contact, 2) == ("resolve", contact.resolve_deadline)
    contact.status = "resolved"
    assert next_due(contact, 2) is None


async def test_superior_import_cycle_refused_and_audited(env: Env) -> None:  # noqa: F811
    db = env.app[DB]
    await import_text(db, SUPERIORS, "yaml", "test")
    with pytest.raises(InvalidSuperior) as info:
        await import_text(db, "officials:\n  - {slug: zhang-wei, name: 张伟, superior: li-qiang}\n",
                          "yaml", "test")
    assert "cycle" in info.value.message and "zhang-wei → li-qiang → zhang-wei" in info.value.message
    with pytest.raises(InvalidSuperior):
        await import_text(db, "officials:\n  - {slug: li-qiang, name: 李强, superior: li-qiang}\n",
                          "yaml", "test")
    with pytest.raises(InvalidSuperior):
        await import_text(db, "officials:\n  - {slug: li-qiang, name: 李强, superior: nobody}\n",
                          "yaml", "test")
    async with db() as s:
        li = await s.scalar(select(Official).where(Official.slug == "li-qiang"))
        zhang = await s.scalar(select(Official).where(Official.slug == "zhang-wei"))
        audit = (await s.scalars(select(AuditEntry).where(AuditEntry.field == "superior"))).all()
    assert li is not None and zhang is not None
    assert li.superior_id == zhang.id and zhang.superior_id is None  # the refused file changed nothing
    assert [(a.official_id, a.new_value) for a in audit] == [(li.id, "zhang-wei")]
    officials = (await (await env.client.get(
        "/api/v1/officials", headers={"Authorization": f"Bearer {env.tokens['admin']}"})).json())
    assert {o["slug"]: o["superior"] for o in officials["items"]} == {
        "li-qiang": "zhang-wei", "zhang-wei": None}
    r = await env.client.post("/api/v1/directory/import", data=b"officials:\n  - {slug: zhang-wei, "
                              b"name: x, superior: li-qiang}\n", headers={
                                  "Authorization": f"Bearer {env.tokens['admin']}",
                                  "Content-Type": "application/yaml"})
    assert r.status == 400 and (await r.json())["error_id"] == "invalid-superior"


async def test_overdue_case_escalated_to_superior_and_supervisor(env: Env) -> None:  # noqa: F811
    db = env.app[DB]
    await import_text(db, SUPERIORS, "yaml", "test")
    created = datetime.now(UTC) - timedelta(minutes=5)
    async with db() as s, s.begin():
        li = await s.scalar(select(Official.id).where(Official.slug == "li-qiang"))
        case = new_case("missed", created_at=created, deadlines=DEADLINES, official_id=li,
                        caller="13900000077")
        s.add(case)
    # the superior (u-official is zhang-wei) does not see li-qiang's case before it is escalated
    boss = {"Authorization": f"Bearer {env.tokens['official']}"}
    supervisor = {"Authorization": f"Bearer {env.tokens['supervisor']}"}
    items = (await (await env.client.get("/api/v1/cases", headers=boss)).json())["items"]
    assert case.id not in [c["id"] for c in items]
    assert (await env.client.get(f"/api/v1/cases/{case.id}", headers=boss)).status == 403

    # a day and a minute later (round-the-clock calendar: contact deadline = 1 day)
    later = created + timedelta(days=1, minutes=1)
    near = await sweep(db, DEADLINES, max_levels=2, near=timedelta(hours=1),
                       now=later - timedelta(minutes=30))
    assert near == {"near": 1, "escalated": 0}
    assert await sweep(db, DEADLINES, max_levels=2, near=timedelta(hours=1), now=later) == {
        "near": 0, "escalated": 1}
    assert (await sweep(db, DEADLINES, max_levels=2, near=timedelta(hours=1),
                        now=later))["escalated"] == 0  # once

    items = (await (await env.client.get("/api/v1/cases?escalated=true", headers=boss)).json())["items"]
    assert [(c["id"], c["escalation_level"]) for c in items] == [(case.id, 1)]
    detail = await (await env.client.get(f"/api/v1/cases/{case.id}", headers=boss)).json()
    assert [h["action"] for h in detail["history"]] == [
        "created", "deadline_near", "overdue", "escalated", "reminded"]
    escalated = next(h for h in detail["history"] if h["action"] == "escalated")
    assert (escalated["actor"], escalated["new_value"]) == ("system", "zhang-wei")
    reminded = next(h for h in detail["history"] if h["action"] == "reminded")
    assert reminded["new_value"] == "li-qiang"
    second = datetime.fromisoformat(detail["escalation_deadline"])
    assert second == later + timedelta(days=1)  # the second deadline, counted from the escalation
    sup = (await (await env.client.get("/api/v1/cases?escalated=true", headers=supervisor)).json())
    assert [c["id"] for c in sup["items"]] == [case.id]

    # the inbox pages: the superior's and the supervisor's show it with its history
    for role in ("official", "supervisor"):
        user = next(u for u in await accounts.list_users(db) if u.username == f"u-{role}")
        key, _ = await accounts.open_session(db, user.id)
        text = await (await env.client.get("/cases", cookies={"ivr_session": key})).text()
        row = text[text.index(f'id="case-{case.id}"'):]
        row = row[:row.index("</tr>")]
        assert "13900000077" in row and "1 → 张伟" in row
        # the history in words: the reminded official by name, the note read back, no English
        assert "已提醒 李强 <small>已提醒领导：工单升级至 张伟</small>" in row
        assert "the official is reminded" not in row
        assert "deadline 20" not in row and "level 1" not in row
        assert re.search(r"联系期限 \d{4}-\d{2}-\d{2} \d{2}:\d{2} 北京时间 已过", row), row

    # past the second deadline: level 2, but zhang-wei has no superior: supervisors only
    assert (await sweep(db, DEADLINES, max_levels=2, near=timedelta(hours=1),
                        now=later + timedelta(days=1, minutes=1)))["escalated"] == 1
    async with db() as s:
        stored = await s.get(Case, case.id)
    zhang = await _id(db, "zhang-wei")
    assert stored is not None and (stored.escalation_level, stored.escalated_to) == (2, zhang)
    assert (await sweep(db, DEADLINES, max_levels=2, near=timedelta(hours=1),
                        now=later + timedelta(days=9)))["escalated"] == 0  # max_levels
