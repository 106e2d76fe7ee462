"""Test calls (issue 13) in the monthly report, over HTTP (the API refused while off, the
page in Mandarin), and kept out of the voicemail follow-up (the real thing:
tests/e2e/test_testcalls.py)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from ivr.core.config import Config
from ivr.db.models import Official
from ivr.db.session import Db
from ivr.db.testcall_models import TestCall
from tests.unit.test_supervision_calls import _session
from tests.unit.test_testcalls import LID, T0, _directory
from tests.unit.test_voicemail_cases import db  # noqa: F401  (fixture)
from tests.unit.test_web_authz import TOKEN, Env, env  # noqa: F401  (fixture)


# -- the monthly report's section -----------------------------------------------------------------
async def test_the_monthly_report_has_the_test_calls_per_number(db: Db) -> None:  # noqa: F811
    import jinja2

    from ivr.db.testcall_models import TestSchedule
    from ivr.supervision import monthly

    await _directory(db)
    march = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)
    async with db() as s, s.begin():
        sched = TestSchedule(numbers="+865585551001,+865585551002", mode="daily", per_day=1,
                             hours="09:00-17:00", first_day="2026-03-01", last_day="2026-03-31",
                             created_by="sv", created_at=march)
        s.add(sched)
        await s.flush()
        results = [("+865585551001", "acknowledged"), ("+865585551001", "acknowledged"),
                   ("+865585551001", "not_answered"), ("+865585551002", "unacknowledged"),
                   ("+865585551002", "lost")]
        for i, (number, result) in enumerate(results):
            s.add(TestCall(schedule_id=sched.id, number=number, day=f"2026-03-{10 + i}", seq=1,
                           due_at=march + timedelta(days=i), state="done", result=result))
        # April's is not March's
        s.add(TestCall(schedule_id=sched.id, number="+865585551001", day="2026-04-02", seq=1,
                       due_at=datetime(2026, 4, 2, 2, tzinfo=UTC), state="done",
                       result="not_answered"))
    jinja = jinja2.Environment(loader=jinja2.PackageLoader("ivr.supervision", "templates"),
                               autoescape=True, undefined=jinja2.StrictUndefined)
    html = jinja.get_template("supervision/monthly.html").render(
        **await monthly.context(db, "2026-03", None))
    assert "监督拨测" in html
    rows = re.findall(r"<tr><td>(\+86\d+)</td><td>([^<]*)</td>((?:<td>[^<]*</td>)+)</tr>", html)
    cells = {n: (name, re.findall(r"<td>([^<]*)</td>", rest)) for n, name, rest in rows}
    assert cells == {"+865585551001": ("张伟", ["3", "2", "0", "1", "0", "66.7%"]),
                     "+865585551002": ("李强", ["2", "0", "1", "0", "1", "0.0%"])}, cells
    async with db() as s:
        li = await s.scalar(select(Official).where(Official.slug == "li-qiang"))
    mine = jinja.get_template("supervision/monthly.html").render(
        **await monthly.context(db, "2026-03", li))
    assert "+865585551002" in mine and "+865585551001" not in mine


# -- over HTTP: the API refuses while off, the page shows results in Mandarin ------------------
async def test_api_and_page(env: Env) -> None:  # noqa: F811
    from ivr.db.testcall_models import TestSchedule
    from ivr.http.keys import DB as DB_KEY

    h = {"Authorization": f"Bearer {TOKEN}"}
    r = await env.client.post("/api/v1/testcalls/schedules", headers=h,
                              json={"numbers": ["0558-5551001"], "mode": "now"})
    assert r.status == 409 and (await r.json())["error_id"] == "test-calls-unavailable"
    r = await env.client.post("/api/v1/testcalls/schedules", headers=h,
                              json={"numbers": ["0558-5551001"], "mode": "sometimes"})
    assert r.status == 400
    async with env.app[DB_KEY]() as s, s.begin():
        sched = TestSchedule(numbers="+865585551001", mode="now", per_day=1, hours="",
                             first_day="2026-11-23", last_day="2026-11-23", created_by="sv",
                             created_at=T0)
        s.add(sched)
        await s.flush()
        s.add(TestCall(schedule_id=sched.id, number="+865585551001", day="2026-11-23", seq=1,
                       due_at=T0, state="done", result="not_answered", ended="2:voicemail:CUT"))
    body = await (await env.client.get("/api/v1/testcalls?since=2026-11-23&until=2026-11-23",
                                       headers=h)).json()
    assert [(i["number"], i["official"], i["result"]) for i in body["items"]] == [
        ("+865585551001", "张伟", "not_answered")] and body["totals"]["not_answered"] == 1, body
    empty = await (await env.client.get("/api/v1/testcalls?since=2026-11-24", headers=h)).json()
    assert empty["items"] == [] and empty["totals"]["not_answered"] == 0
    r = await env.client.get("/api/v1/testcalls?since=yesterday", headers=h)
    assert r.status == 400
    page = await (await env.client.get("/supervision/testcalls",
                                       cookies=await _session(env, "supervisor"))).text()
    assert "监督拨测" in page and "无人接听" in page and "2026-11-23 09:00:00" in page, page
    assert 'data-result="not_answered"' in page and "2:voicemail:CUT" in page
    r = await env.client.delete(f"/api/v1/testcalls/schedules/{sched.id}", headers=h)
    assert r.status == 200 and (await r.json())["active"] is False
    tok = {"Authorization": f"Bearer {env.tokens['official']}"}
    assert (await env.client.get("/api/v1/testcalls", headers=tok)).status == 403


async def test_a_test_call_recording_is_never_a_message_nor_a_case(db: Db,  # noqa: F811
                                                                    tmp_path: Any) -> None:
    import numpy

    from ivr.calls.fold import CallView
    from ivr.db.followup_models import Case
    from ivr.followup.ingest import ingest_call, unrecorded_files
    from ivr.speech.audio import Audio, write_wav
    from tests.unit.deadline_helpers import round_the_clock

    config = Config.build(asterisk={"root": str(tmp_path), "instance": "/inst"})
    folder = config.voicemail_dir
    folder.mkdir(parents=True)
    two_seconds = Audio(numpy.zeros(16000, dtype="int16"), 8000)
    write_wav(two_seconds, folder / f"{LID}-o1.wav")
    write_wav(two_seconds, folder / "1795366780.16-o1.wav")  # a citizen's
    now = (folder / f"{LID}-o1.wav").stat().st_mtime + 10
    assert [n.linkedid for _, n, _, _ in unrecorded_files(config, set(), now=now)] == [
        "1795366780.16"]
    view = CallView(LID, kind="test", outcome="voicemail",
                    voicemail_file=f"/inst/spool/ivr-voicemail/{LID}-o1.wav", ended_at=T0)
    assert await ingest_call(db, config, round_the_clock(), view) is None
    view = CallView(LID, kind="test", outcome="missed", ended_at=T0)
    assert await ingest_call(db, config, round_the_clock(), view) is None
    async with db() as s:
        assert (await s.scalars(select(Case))).all() == []
