"""An operator's day in headless Chromium on the real lab Asterisk with sipp phones (issue 15).
赵敏's phone (op-3, no static contact) REGISTERs with its generated secret; 王芳 (op-1) is the
other operator of the pool.

1. 赵敏 signs in to the console and makes herself ready from it; the console shows her phone
   registered;
2. her phone unregisters (REGISTER with Expires: 0): without a reload the console shows her
   paused with 电话未注册 and the phone unregistered; app_queue has her paused with that reason;
3. a citizen's call to a pooled official is answered by 王芳;
4. her phone registers again: the console shows her ready again (pushed), and the next pooled
   call rings her phone and shows live on the console with whose number was dialled;
5. she pauses herself for lunch from the console, and opens the cases.
Every page visited is screenshotted (numbered) in the test's artifacts folder.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from ivr.lab import ports
from ivr.lab.deploy import LabDeployment
from tests.e2e.routing_helpers import DIRECTORY, call_record, eventually, queue_status
from tests.e2e.web_helpers import add_user, sign_in, web_lab, with_operator

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]
REASON = "电话未注册"
POOLED = "05585552001"  # 陈静: pool mode, pool main


@pytest.fixture
async def lab(asterisk_root: Path, tmp_path: Path) -> AsyncIterator[LabDeployment]:
    directory = with_operator(DIRECTORY, "{{name: 话务员 赵敏, endpoint: op-3, pool: main}}")
    async for deployment in web_lab(asterisk_root, tmp_path / "lab", directory):
        deployment.extra["op3_port"] = ports.free_ports(1)[0]
        yield deployment


async def _register(lab: Any, sipp: Any, expires: int) -> None:
    r = await sipp("register", remote=lab.sip, port=lab.extra["op3_port"],
                   keys={"user": "op-3", "expires": expires},
                   auth=("op-3", lab.extra["credentials"]["op-3"]), timeout=10).run()
    assert r.ok, r.summary()


async def _phone(lab: Any, status: str, state: str = "") -> dict[str, Any] | None:
    code, p = await lab.arequest("GET", "/api/v1/phones/op-3")
    assert code == 200, p
    return p if p["status"] == status and (not state or p["operator_state"] == state) else None


async def _member(lab: Any, paused: str) -> dict[str, str] | None:
    """app_queue's own view of op-3 (QueueStatus over AMI), once its Paused is ``paused``."""
    events = await queue_status(lab)
    for ev in events:
        if ev.get("Event") == "QueueMember" and ev.get("Name") == "op-3":
            return ev if ev.get("Paused") == paused else None
    return None


async def test_operator_journey(lab: Any, sipp: Any, browser: Any, artifacts: Path) -> None:
    await add_user(lab, "zhaomin", "operator", operator="op-3", display_name="赵敏")
    await _register(lab, sipp, 3600)
    await eventually(lambda: _phone(lab, "registered"))
    status, body = await lab.arequest("PUT", "/api/v1/operators/op-1/state", {"state": "ready"})
    assert status == 200, body

    # 1. the console: ready, from the console's own form
    op = await sign_in(browser, lab, "zhaomin", artifacts, "operator")
    page = op.page
    assert page.url.endswith("/console"), page.url
    assert await page.get_attribute("#phone-status", "data-status") == "registered"
    await op.shot("console")
    await page.select_option("#state-select", "ready")
    await page.click("#state-submit")
    await page.wait_for_load_state()
    assert await page.get_attribute("#state", "data-state") == "ready"
    queue = await asyncio.to_thread(lab.asterisk.cli, "queue show pool-main")
    assert "PJSIP/op-3" in queue, queue
    await page.wait_for_function("document.body.dataset.live === '1'")  # EventSource open
    await page.evaluate("window.__noReload = 'same page'")
    await op.shot("console-ready")

    # 2. the phone unregisters: paused with the reason, pushed to the open console
    await _register(lab, sipp, 0)
    await page.wait_for_function("document.getElementById('state').dataset.state === 'paused'",
                                 timeout=15000)
    assert REASON in await page.inner_text("#paused-reason")
    await page.wait_for_function(
        "document.getElementById('phone-status').dataset.status === 'unregistered'", timeout=15000)
    assert await page.evaluate("window.__noReload") == "same page"
    await op.shot("console-auto-paused")
    p3 = await eventually(lambda: _phone(lab, "unregistered", "paused"))
    assert (p3["paused_reason"], p3["auto_paused"]) == (REASON, True), p3
    member = await eventually(lambda: _member(lab, "1"))
    assert member["PausedReason"] == REASON, member

    # 3. a pooled call: answered by the other operator
    op1 = await sipp("uas_answer", port=lab.extra["phones"]["op1"],
                     keys={"answer_ms": 200, "hold_ms": 1000}).start()
    r = await sipp("uac_call", remote=lab.sip, local_ip="127.0.0.2", service=POOLED,
                   keys={"hold_ms": 1500, "caller": "13900000011"}, timeout=40).run()
    assert r.ok, r.summary()
    record = await eventually(lambda: call_record(lab, POOLED))
    assert (record["outcome"], record["answered_kind"], record["answered_by"]) == (
        "answered", "pool", "op-1"), record
    assert (await op1.wait(10)).received("INVITE")

    # 4. registered again: resumed, pushed; the next pooled call rings her and shows live
    await _register(lab, sipp, 3600)
    await page.wait_for_function(
        "document.getElementById('state').dataset.state === 'ready'"
        " && document.getElementById('phone-status').dataset.status === 'registered'",
        timeout=15000)
    assert await page.evaluate("window.__noReload") == "same page"
    await op.shot("console-resumed")
    await eventually(lambda: _member(lab, "0"))
    status, body = await lab.arequest("PUT", "/api/v1/operators/op-1/state", {"state": "paused",
                                                                            "reason": "培训"})
    assert status == 200, body
    mine = await sipp("uas_answer", port=lab.extra["op3_port"],
                      keys={"answer_ms": 1500, "hold_ms": 3000}).start()
    citizen = sipp("uac_call", remote=lab.sip, local_ip="127.0.0.2", service=POOLED,
                   keys={"hold_ms": 8000, "caller": "13900000012"}, timeout=40)
    call = asyncio.ensure_future(citizen.run())
    await page.wait_for_function(
        "document.getElementById('call-official').textContent.includes('陈静')"
        f" && document.getElementById('call-dialed').textContent === '{POOLED}'", timeout=15000)
    assert (await page.inner_text("#call-caller")).strip() == "13900000012"
    await page.wait_for_function("document.getElementById('live-call').dataset.state === 'connected'",
                                 timeout=15000)
    await op.shot("console-live-call")
    r = await call
    assert r.ok, r.summary()
    invite = (await mine.wait(10)).received("INVITE")
    assert invite and "陈静" in invite[0], invite

    async def second() -> dict[str, Any] | None:
        status, calls = await lab.arequest("GET", "/api/v1/calls?limit=20")
        assert status == 200, calls
        return next((c for c in calls["items"] if c["caller"] == "13900000012" and c["outcome"]),
                    None)
    rec = await eventually(second)
    assert (rec["answered_kind"], rec["answered_by"]) == ("pool", "op-3"), rec
    assert await page.evaluate("window.__noReload") == "same page"

    # 5. a pause of her own (lunch), from the console; then the cases
    await page.select_option("#state-select", "paused")
    await page.fill("#state-reason", "午饭")
    await page.click("#state-submit")
    await page.wait_for_load_state()
    assert await page.get_attribute("#state", "data-state") == "paused"
    assert "午饭" in await page.inner_text("#paused-reason")
    await op.shot("console-lunch")
    member = await eventually(lambda: _member(lab, "1"))
    assert member["PausedReason"] == "午饭", member
    await op.goto(lab, "/cases", "cases")
    assert op.script_errors == [], op.script_errors
