"""The web UI in headless Chromium (Debian's /usr/bin/chromium driven by Playwright; nothing
downloads a browser) against a real controller with real Asterisk and sipp calls.

One story, one deployment (to stay well under three minutes):
1. the first admin is created with the CLI; the admin signs in, a switch without a reason is
   refused with a clear message and changes nothing, then 张伟 is switched direct → pool;
2. an operator signs in, logs in to the queue from the console (mirrored to app_queue over AMI);
   a citizen calls 张伟's number: the call reaches the operator's phone and the console shows it
   live (server push, the page is never reloaded) with the dialed number and 张伟's name;
3. a supervisor sees the call counted on the dashboard, in agreement with GET /api/v1/stats.
Screenshots of every main page go to the test's artifacts folder.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from ivr.lab.deploy import LabDeployment
from tests.e2e.routing_helpers import call_record, eventually
from tests.e2e.web_helpers import PASSWORD, first_admin, sign_in, web_lab

pytestmark = pytest.mark.e2e


@pytest.fixture
async def lab(asterisk_root: Path, tmp_path: Path) -> AsyncIterator[LabDeployment]:
    async for deployment in web_lab(asterisk_root, tmp_path / "lab"):
        yield deployment


async def _login(browser: Any, lab: Any, username: str, artifacts: Path) -> Any:
    return (await sign_in(browser, lab, username, artifacts)).page


async def test_web_admin_operator_supervisor(lab: Any, sipp: Any, browser: Any,
                                             artifacts: Path) -> None:
    # accounts: the first admin from the CLI, the others through the API by the deployment
    await first_admin(lab)
    for body in ({"username": "wangfang", "role": "operator", "operator": "op-1",
                  "display_name": "王芳"},
                 {"username": "jiandu", "role": "supervisor", "display_name": "监督员"},
                 {"username": "zhangwei", "role": "official", "official": "zhang-wei"}):
        status, out = await lab.arequest("POST", "/api/v1/users", {**body, "password": PASSWORD})
        assert status == 201, out

    # 1. admin: a switch without a reason is refused and changes nothing; then direct → pool
    admin = await _login(browser, lab, "admin", artifacts)
    assert admin.url.endswith("/admin")
    await admin.screenshot(path=str(artifacts / "01-admin-directory.png"), full_page=True)
    row = admin.locator("#switch-zhang-wei")
    await row.locator("button[data-mode=pool]").click()
    await admin.wait_for_load_state()
    assert "请填写切换原因" in await admin.inner_text("#form-error")
    assert "reason is required" in await admin.inner_text("#form-error")
    status, o = await lab.arequest("GET", "/api/v1/officials/zhang-wei")
    assert o["policy"]["mode"] == "direct"
    await admin.screenshot(path=str(artifacts / "02-admin-refused.png"), full_page=True)
    await admin.fill("#switch-zhang-wei input[name=reason]", "局长外出开会")
    await admin.locator("#switch-zhang-wei button[data-mode=pool]").click()
    await admin.wait_for_load_state()
    assert (await admin.inner_text("#mode-zhang-wei")).strip() == "话务组"
    status, o = await lab.arequest("GET", "/api/v1/officials/zhang-wei")
    assert o["policy"]["mode"] == "pool"
    status, audit = await lab.arequest("GET", "/api/v1/audit?official=zhang-wei&field=mode")
    assert (audit["items"][0]["actor"], audit["items"][0]["reason"]) == ("web:admin", "局长外出开会")
    await admin.screenshot(path=str(artifacts / "03-admin-switched.png"), full_page=True)
    for path, name in (("/admin/audit", "04-admin-audit"), ("/admin/operators", "05-admin-operators"),
                       ("/admin/officials/zhang-wei/schedule", "06-admin-schedule"),
                       ("/admin/users", "07-admin-users")):
        await admin.goto(f"{lab.api}{path}")
        await admin.screenshot(path=str(artifacts / f"{name}.png"), full_page=True)
    await admin.goto(f"{lab.api}/admin/audit")
    assert "局长外出开会" in await admin.inner_text("#audit")

    # 2. operator: log in to the queue from the console, then a pooled call shows up live
    op = await _login(browser, lab, "wangfang", artifacts)
    assert op.url.endswith("/console")
    await op.select_option("#state-select", "ready")
    await op.click("#state-submit")
    await op.wait_for_load_state()
    assert await op.get_attribute("#state", "data-state") == "ready"
    queue = await asyncio.to_thread(lab.asterisk.cli, "queue show pool-main")
    assert "PJSIP/op-1" in queue, queue
    await op.wait_for_function("document.body.dataset.live === '1'")  # EventSource open
    await op.evaluate("window.__noReload = 'still the same page'")
    await op.screenshot(path=str(artifacts / "08-console-idle.png"), full_page=True)

    phone = await sipp("uas_answer", port=lab.extra["phones"]["op1"],
                       keys={"answer_ms": 2500, "hold_ms": 4000}).start()
    citizen = sipp("uac_call", remote=lab.sip, local_ip="127.0.0.2", service="05585551001",
                   keys={"hold_ms": 12000, "caller": "13912345678"}, timeout=40)
    call = asyncio.ensure_future(citizen.run())
    await op.wait_for_function(
        "document.getElementById('call-official').textContent.includes('张伟')"
        " && document.getElementById('call-dialed').textContent === '05585551001'", timeout=15000)
    assert "市交通运输局" in await op.inner_text("#call-official")  # from the directory
    assert (await op.inner_text("#call-caller")).strip() == "13912345678"
    assert await op.get_attribute("#live-call", "data-state") in ("ringing", "connected")
    await op.screenshot(path=str(artifacts / "09-console-live-call.png"), full_page=True)
    await op.wait_for_function("document.getElementById('live-call').dataset.state === 'connected'",
                               timeout=15000)
    assert await op.evaluate("window.__noReload") == "still the same page"
    result = await call
    assert result.ok, result.summary()
    invite = (await phone.wait(10)).received("INVITE")
    assert invite and "张伟" in invite[0]  # the operator's phone was rung, showing whose number
    record = await eventually(lambda: call_record(lab, "05585551001"))
    assert (record["outcome"], record["answered_kind"], record["answered_by"]) == (
        "answered", "pool", "op-1")
    await op.screenshot(path=str(artifacts / "10-console-after-call.png"), full_page=True)

    # 3. supervisor: the call is counted, the page agrees with the JSON API
    sup = await _login(browser, lab, "jiandu", artifacts)
    assert sup.url.endswith("/dashboard")
    row = sup.locator("#stats-officials tr", has_text="张伟")
    cells = [c.strip() for c in await row.locator("td").all_inner_texts()]
    status, stats = await lab.arequest("GET", "/api/v1/stats")
    assert status == 200, stats
    api_row = next(r for r in stats["officials"] if r["slug"] == "zhang-wei")
    assert api_row["calls"] == 1 and api_row["answered_by_others"] == 1
    assert cells[1:5] == [str(api_row["calls"]), f"{api_row['answered_pct']}%",
                          str(api_row["answered_by_official"]), str(api_row["answered_by_others"])]
    assert sum(int(b) for b in await sup.locator("#per-hour rect").evaluate_all(
        "rs => rs.map(r => r.dataset.calls)")) == stats["total"]["calls"]
    await sup.screenshot(path=str(artifacts / "11-supervisor-dashboard.png"), full_page=True)
    await sup.click("#lang")
    await sup.wait_for_load_state()
    assert "Supervision dashboard" in await sup.inner_text("h1")
    await sup.screenshot(path=str(artifacts / "12-supervisor-dashboard-en.png"), full_page=True)
