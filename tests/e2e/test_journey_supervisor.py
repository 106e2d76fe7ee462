"""A supervisor's day in headless Chromium on the real lab Asterisk with sipp calls (issue 15).

1. signs in to the dashboard, opens the wallboard (server push);
2. a citizen calls a pooled official while the only ready operator's phone rings unanswered:
   the wallboard shows the caller waiting without a reload, while app_queue still has them
   queued; the caller gives up: the board shows nobody waiting and one abandoned call today;
3. the calls page lists the call just placed, its page shows its steps;
4. the exceptions list holds it (abandoned, not followed up within the contact deadline: 3
   working seconds on a round-the-clock week); the dashboard counts it.
Every page visited is screenshotted (numbered) in the test's artifacts folder.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from ivr.lab.deploy import LabDeployment
from tests.e2e.routing_helpers import DIRECTORY, call_record, eventually, queue_status
from tests.e2e.web_helpers import CITY_TZ, add_user, max_wait, sign_in, web_lab

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]
POOLED = "05585552001"  # 陈静: pool mode, pool main
CALLER = "13900000021"
ROW = "#wb-pools tr[data-queue='pool-main']"
WEEK = "\n".join(f'  {d}: ["00:00-24:00"]' for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun"))


@pytest.fixture
async def lab(asterisk_root: Path, tmp_path: Path) -> AsyncIterator[LabDeployment]:
    deadlines = {"contact": {"normal": "0.05m", "urgent": "0.05m"}}
    async for deployment in web_lab(asterisk_root, tmp_path / "lab", max_wait(DIRECTORY, 40),
                                     deadlines=deadlines):
        yield deployment


async def _queue_entries(lab: Any) -> list[dict[str, str]]:
    events = await queue_status(lab)
    return [ev for ev in events if ev.get("Event") == "QueueEntry"]


async def test_supervisor_journey(lab: Any, sipp: Any, browser: Any, artifacts: Path) -> None:
    year = datetime.now(CITY_TZ).year
    status, body = await lab.arequest("POST", "/api/v1/calendar/import",
                                      text=f"year: {year}\nweek:\n{WEEK}\n")
    assert status == 200, body
    await add_user(lab, "jiandu", "supervisor", display_name="监督员")

    # 1. the dashboard, then the wallboard, live
    sup = await sign_in(browser, lab, "jiandu", artifacts, "supervisor")
    page = sup.page
    assert page.url.endswith("/dashboard"), page.url
    await sup.shot("dashboard")
    await sup.goto(lab, "/wallboard", "wallboard")
    await page.wait_for_function("document.body.dataset.live === '1'")
    await page.evaluate("window.__noReload = 'same page'")
    assert await page.get_attribute(f"{ROW} .wb-waiting", "data-waiting") == "0"

    # 2. a caller waits in the pool: op-1's phone rings, nobody answers
    status, body = await lab.arequest("PUT", "/api/v1/operators/op-1/state", {"state": "ready"})
    assert status == 200, body
    await page.wait_for_function(
        f"document.querySelector(\"{ROW} .wb-ready\").textContent === '1'", timeout=15000)
    op1 = await sipp("uas_noanswer", port=lab.extra["phones"]["op1"], calls=10).start()
    citizen = await sipp("uac_abandon", remote=lab.sip, local_ip="127.0.0.2", service=POOLED,
                         keys={"ring_ms": 12000, "caller": CALLER}, timeout=60).start()
    await page.wait_for_function(
        f"document.querySelector(\"{ROW} .wb-waiting\").dataset.waiting === '1'", timeout=15000)
    assert len(await _queue_entries(lab)) == 1  # still queued while the board shows it
    assert await page.evaluate("window.__noReload") == "same page"
    await sup.shot("wallboard-waiting")
    result = await citizen.wait(60)
    assert result.ok, result.summary()
    await page.wait_for_function(
        f"document.querySelector(\"{ROW} .wb-waiting\").dataset.waiting === '0'", timeout=15000)
    await page.wait_for_function(
        "document.querySelector(\"#wb-today [data-outcome='abandoned'] .wb-n\").textContent === '1'",
        timeout=20000)
    assert await page.evaluate("window.__noReload") == "same page"
    await sup.shot("wallboard-after")
    await op1.stop()
    record = await eventually(lambda: call_record(lab, POOLED))
    assert (record["outcome"], record["abandoned_during"], record["caller"]) == (
        "abandoned", "queued", CALLER), record

    # 3. the calls page lists the call just placed; its own page shows the steps
    await sup.goto(lab, "/supervision/calls", "calls")
    callers = [c.strip() for c in await page.locator("#calls td.caller").all_inner_texts()]
    assert callers == [CALLER], callers
    await sup.goto(lab, f"/supervision/calls/{record['id']}", "call")
    kinds = await page.locator("#steps tbody tr").count()
    assert kinds == len(record["steps"]) >= 1, (kinds, record["steps"])

    # 4. the exceptions: the abandoned call, not followed up in time
    async def listed() -> bool:
        status, body = await lab.arequest("GET", "/api/v1/supervision/exceptions")
        assert status == 200, body
        return [i["caller"] for i in body["items"]] == [CALLER]
    await eventually(listed, timeout=30, interval=0.5)
    await sup.goto(lab, "/supervision/exceptions", "exceptions")
    assert [c.strip() for c in await page.locator("#exceptions td.caller").all_inner_texts()] == [
        CALLER]
    assert await page.get_attribute(f"#exception-{record['id']}", "data-reason") == "abandoned"
    await sup.goto(lab, "/dashboard", "dashboard-after")
    status, stats = await lab.arequest("GET", "/api/v1/stats")
    assert status == 200 and stats["total"]["calls"] == 1, stats
    row = page.locator("#stats-officials tr", has_text="陈静")
    assert (await row.locator("td").all_inner_texts())[1].strip() == "1"
    assert sup.script_errors == [], sup.script_errors
