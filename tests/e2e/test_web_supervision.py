"""The supervision office's views in headless Chromium on real Asterisk + sipp traffic with
known outcomes (docs/supervision.md).

Five citizens call five officials at once, each call planned: answered by the official in person;
answered by an operator after the official was busy (not the expected party); missed (busy, the
pool rang out, the closing message); abandoned in the queue; a voicemail. The contact deadline
of a missed-call case is 3 working seconds on a round-the-clock working week (a voicemail's a
day), so the unanswered calls become unfollowed at once. A supervisor then checks in the browser:
the calls page lists exactly the calls placed; the filters narrow it as planned; the CSV equals
the whole filtered set; the exceptions list holds exactly the unanswered-and-unfollowed calls;
a call's page shows its steps; the month's report for an official, made on demand, is a PDF
whose text (pdftotext) names the official and their figures in an embedded CJK font. An
official signed in sees only their own call (and no reports).
"""

from __future__ import annotations

import asyncio
import csv
import io
import subprocess
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from ivr.lab.deploy import LabDeployment
from tests.e2e.outcome_helpers import finished_records, ready_operators
from tests.e2e.routing_helpers import eventually, routing_lab, tone_ulaw

pytestmark = pytest.mark.e2e
PASSWORD = "ivr-supervision-e2e"
DIRECTORY = """
version: 1
settings: {{timezone: Asia/Shanghai, default_chain: [pool]}}
pools:
  - {{name: p1, strategy: ringall, max_wait: 10}}
  - {{name: p2, strategy: ringall, max_wait: 5}}
  - {{name: p3, strategy: ringall, max_wait: 30}}
operators:
  - {{name: op one, endpoint: op-1, pool: p1, static_contact: "sip:op-1@127.0.0.1:{op1}"}}
  - {{name: op two, endpoint: op-2, pool: p2, static_contact: "sip:op-2@127.0.0.1:{op2}"}}
  - {{name: op three, endpoint: op-3, pool: p3, static_contact: "sip:op-3@127.0.0.1:{op3}"}}
officials:
  - {{slug: ans, name: 王安, department: 市交通运输局, language: en, numbers: ["0558-5557001"],
     mode: direct, chain: [pool], pool: p3, ring_timeout: 10,
     devices: [{{sip: o-ans, static_contact: "sip:o-ans@127.0.0.1:{ans}"}}]}}
  - {{slug: other, name: 刘他, department: 市交通运输局, language: en, numbers: ["0558-5557002"],
     mode: direct, chain: [pool], pool: p1, ring_timeout: 10,
     devices: [{{sip: o-oth, static_contact: "sip:o-oth@127.0.0.1:{oth}"}}]}}
  - {{slug: miss, name: 马失, department: 市财政局, language: en, numbers: ["0558-5557003"],
     mode: direct, chain: [pool], pool: p2, ring_timeout: 10,
     devices: [{{sip: o-miss, static_contact: "sip:o-miss@127.0.0.1:{miss}"}}]}}
  - {{slug: aband, name: 白弃, department: 市财政局, language: en, numbers: ["0558-5557004"],
     mode: pool, chain: [pool], pool: p3}}
  - {{slug: vm, name: 吴留, department: 市信访局, language: en, numbers: ["0558-5557005"],
     mode: voicemail, chain: [voicemail]}}
"""
PHONES = ("op1", "op2", "op3", "ans", "oth", "miss")
# caller → (number, outcome, an exception?)
PLAN = {
    "13900000101": ("05585557001", "answered", False),  # by the official in person
    "13900000102": ("05585557002", "answered", True),  # by an operator: not the expected party
    "13900000103": ("05585557003", "missed", True),
    "13900000104": ("05585557004", "abandoned", True),
    "13900000105": ("05585557005", "voicemail", False),  # its case has a day: not yet late
}
WEEK = "\n".join(f"  {d}: [\"00:00-24:00\"]" for d in ("mon", "tue", "wed", "thu", "fri", "sat",
                                                      "sun"))


@pytest.fixture
async def lab(asterisk_root: Path, tmp_path: Path) -> AsyncIterator[LabDeployment]:
    deadlines = {"contact": {"normal": "0.05m", "urgent": "0.05m", "voicemail.normal": "1d",
                             "voicemail.urgent": "1d"}}
    async for deployment in routing_lab(asterisk_root, tmp_path / "lab", DIRECTORY, PHONES,
                                        deadlines=deadlines):
        yield deployment


async def _login(ctx: Any, lab: Any, username: str) -> Any:
    page = ctx.pages[0] if ctx.pages else await ctx.new_page()
    await page.goto(f"{lab.api}/login")
    await page.fill("#username", username)
    await page.fill("#password", PASSWORD)
    await page.click("#login-submit")
    await page.wait_for_load_state()
    return page


async def _rows(page: Any, table: str) -> list[str]:
    """The callers of the listed calls, in order."""
    if await page.locator(f"#{table}").count() == 0:
        return []
    return [c.strip() for c in await page.locator(f"#{table} td.caller").all_inner_texts()]


async def _csv(page: Any, href: str, lab: Any) -> list[dict[str, str]]:
    r = await page.request.get(f"{lab.api}{href}")
    assert r.ok, await r.text()
    return list(csv.DictReader(io.StringIO((await r.text()).lstrip("\ufeff"))))


async def test_supervisor_calls_page_exceptions_on_real_calls(lab: Any, sipp: Any, browser: Any,
                                                              artifacts: Path,
                                                              tmp_path: Path) -> None:
    year = datetime.now(ZoneInfo("Asia/Shanghai")).year
    status, body = await lab.arequest("POST", "/api/v1/calendar/import",
                                      text=f"year: {year}\nweek:\n{WEEK}\n")
    assert status == 200, body
    for body in ({"username": "jiandu", "role": "supervisor", "display_name": "监督员"},
                 {"username": "mashi", "role": "official", "official": "miss"}):
        status, out = await lab.arequest("POST", "/api/v1/users", {**body, "password": PASSWORD})
        assert status == 201, out

    p = lab.extra["phones"]
    await ready_operators(lab, {"op-1": "pool-p1", "op-2": "pool-p2", "op-3": "pool-p3"})
    official = await sipp("uas_answer", port=p["ans"], keys={"hold_ms": 2000}).start()
    operator = await sipp("uas_answer", port=p["op1"], keys={"hold_ms": 2000}).start()
    busy = [await sipp("uas_busy", port=p[k]).start() for k in ("oth", "miss")]
    ringing = [await sipp("uas_noanswer", port=p[k]).start() for k in ("op2", "op3")]
    audio = tone_ulaw(tmp_path / "tone.ul", 25)
    ip = {"remote": lab.sip, "local_ip": "127.0.0.2"}
    c = list(PLAN)
    citizens = [
        sipp("uac_call", service=PLAN[c[0]][0], keys={"hold_ms": 3000, "caller": c[0]}, **ip),
        sipp("uac_call", service=PLAN[c[1]][0], keys={"hold_ms": 8000, "caller": c[1]},
             timeout=40, **ip),
        sipp("uac_call", service=PLAN[c[2]][0], keys={"hold_ms": 30000, "caller": c[2]},
             timeout=40, **ip),
        sipp("uac_abandon", service=PLAN[c[3]][0], keys={"ring_ms": 3000, "caller": c[3]}, **ip),
        sipp("uac_call", service=PLAN[c[4]][0], keys={"hold_ms": 16000, "caller": c[4],
                                                      "play": 1, "audio": str(audio)},
             timeout=40, **ip),
    ]
    for r in await asyncio.gather(*(s.run() for s in citizens)):
        assert r.ok, r.summary()
    assert len((await official.wait(10)).received("INVITE")) == 1
    assert len((await operator.wait(10)).received("INVITE")) == 1
    for phone in [*busy, *ringing]:
        assert (await phone.wait(15)).received("INVITE")
    records = await finished_records(lab, len(PLAN), timeout=30)
    assert {k: [(r["number_dialed"], r["outcome"]) for r in v] for k, v in records.items()} == {
        k: [(n, o)] for k, (n, o, _) in PLAN.items()}
    ids = {k: v[0]["id"] for k, v in records.items()}
    expected_exceptions = [k for k, (_, _, e) in PLAN.items() if e]

    async def cases_overdue() -> bool:  # every unanswered call's case exists, 3 s have passed
        status, body = await lab.arequest("GET", "/api/v1/supervision/exceptions")
        assert status == 200, body
        return {i["caller"] for i in body["items"]} == set(expected_exceptions)
    await eventually(cases_overdue, timeout=30, interval=0.5)

    # the supervisor's calls page: exactly the calls placed, newest first
    sup = await _login(await browser(), lab, "jiandu")
    await sup.goto(f"{lab.api}/supervision/calls")
    assert sorted(await _rows(sup, "calls")) == sorted(PLAN)
    await sup.screenshot(path=str(artifacts / "01-supervision-calls.png"), full_page=True)
    # filters, through the form
    await sup.select_option("#f-outcome", "answered-others")
    await sup.click("#f-submit")
    await sup.wait_for_load_state()
    assert await _rows(sup, "calls") == [c[1]]
    await sup.select_option("#f-outcome", "")
    await sup.fill("#f-department", "市财政局")
    await sup.click("#f-submit")
    await sup.wait_for_load_state()
    assert sorted(await _rows(sup, "calls")) == sorted([c[2], c[3]])
    # the CSV is the whole filtered set
    rows = await _csv(sup, await sup.get_attribute("#csv", "href"), lab)
    assert sorted(r["caller"] for r in rows) == sorted([c[2], c[3]])
    assert {int(r["id"]) for r in rows} == {ids[c[2]], ids[c[3]]}
    await sup.fill("#f-department", "")
    await sup.fill("#f-caller", "13900000105")
    await sup.click("#f-submit")
    await sup.wait_for_load_state()
    assert await _rows(sup, "calls") == [c[4]]
    await sup.goto(f"{lab.api}/supervision/calls?pool=p2")
    assert await _rows(sup, "calls") == [c[2]]
    all_rows = await _csv(sup, "/supervision/calls.csv", lab)
    assert sorted(r["caller"] for r in all_rows) == sorted(PLAN)
    assert {r["caller"]: r["outcome"] for r in all_rows} == {k: v[1] for k, v in PLAN.items()}
    # a call's page: its steps as they happened
    await sup.goto(f"{lab.api}/supervision/calls/{ids[c[2]]}")
    results = [await td.get_attribute("data-result")
               for td in await sup.locator("#steps td.result").all()]
    assert results == ["BUSY", "TIMEOUT", "PLAYED"]
    words = [x.strip() for x in await sup.locator("#steps td.result").all_inner_texts()]
    assert words == ["占线", "超时", "已播放提示"]  # in words, not Asterisk's statuses
    await sup.screenshot(path=str(artifacts / "02-supervision-call.png"), full_page=True)

    # the exceptions: exactly the unanswered-and-unfollowed calls, oldest first
    await sup.goto(f"{lab.api}/supervision/exceptions")
    assert sorted(await _rows(sup, "exceptions")) == sorted(expected_exceptions)
    reasons = {r: await sup.get_attribute(f"#exception-{ids[r]}", "data-reason")
               for r in expected_exceptions}
    assert reasons == {c[1]: "other_party", c[2]: "nobody_answered", c[3]: "abandoned"}
    rows = await _csv(sup, "/supervision/exceptions.csv", lab)
    assert sorted(r["caller"] for r in rows) == sorted(expected_exceptions)
    await sup.screenshot(path=str(artifacts / "03-supervision-exceptions.png"), full_page=True)

    # the monthly report of this month, made on demand: the PDF names the official in Chinese,
    # holds their figures and their exception, in an embedded CJK font
    month = datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")
    r = await sup.request.get(f"{lab.api}/supervision/reports/{month}.pdf?official=miss")
    assert r.ok and (await r.body()).startswith(b"%PDF")
    pdf = tmp_path / "miss.pdf"
    pdf.write_bytes(await r.body())
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True,
                          text=True, check=True).stdout
    assert "马失" in text and "1 (100.0%)" in text and c[2] in text, text  # missed: 1 of 1
    fonts = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True,
                           check=True).stdout
    assert any("CJK" in f and f.split()[-5] == "yes" for f in fonts.splitlines()[2:]), fonts
    await sup.goto(f"{lab.api}/supervision/reports")
    assert await sup.locator(f'tr[data-month="{month}"][data-scope="official:miss"]').count() == 1
    await sup.screenshot(path=str(artifacts / "04-supervision-reports.png"), full_page=True)

    # an official sees only their own call, and not another's
    own = await _login(await browser(), lab, "mashi")
    await own.goto(f"{lab.api}/supervision/calls")
    assert await _rows(own, "calls") == [c[2]]
    await own.goto(f"{lab.api}/supervision/exceptions")
    assert await _rows(own, "exceptions") == [c[2]]
    r = await own.request.get(f"{lab.api}/supervision/calls/{ids[c[0]]}")
    assert r.status == 403
    rows = await _csv(own, "/supervision/calls.csv", lab)
    assert [r["caller"] for r in rows] == [c[2]]
    assert (await own.request.get(f"{lab.api}/supervision/reports/{month}.pdf")).status == 403
    await own.screenshot(path=str(artifacts / "05-official-own-calls.png"), full_page=True)
