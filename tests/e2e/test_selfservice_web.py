"""An official's own page in headless Chromium at a phone's size (issue 15), against a real
controller with real Asterisk and sipp calls: 张伟 signs in and lands on 我的状态 (not 监督统计),
sets 会议 for one hour with one tap — the next citizen call goes to his deputy, his phone never
rings — then taps 恢复接听 and the next call rings him again. An admin then allows him his own mode on
his admin page, and he switches it himself (both audited). Screenshots in the artifacts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from ivr.lab.deploy import LabDeployment
from tests.e2e.routing_helpers import eventually, routing_lab

pytestmark = pytest.mark.e2e
PASSWORD = "ivr-self-e2e-pass"
NUMBER = "05585551001"


@pytest.fixture
async def lab(asterisk_root: Path, tmp_path: Path) -> AsyncIterator[LabDeployment]:
    async for deployment in routing_lab(asterisk_root, tmp_path / "lab"):
        yield deployment


def _invites(phone: Any) -> int:
    path = phone.workdir / "messages.log"
    return path.read_text(errors="replace").count("INVITE sip:") if path.exists() else 0


async def _rung(phone: Any, n: int) -> bool:
    return _invites(phone) >= n


async def _call(lab: Any, sipp: Any) -> None:
    r = await sipp("uac_call", remote=lab.sip, local_ip="127.0.0.2", service=NUMBER,
                   keys={"hold_ms": 1500, "caller": "13912345678"}, timeout=40).run()
    assert r.ok, r.summary()


async def test_official_sets_a_meeting_on_their_phone_sized_page(
        lab: Any, sipp: Any, browser: Any, artifacts: Path) -> None:
    status, out = await lab.arequest("POST", "/api/v1/users", {
        "username": "zhangwei", "role": "official", "official": "zhang-wei",
        "display_name": "张伟", "password": PASSWORD})
    assert status == 201, out
    p = lab.extra["phones"]
    zhang = await sipp("uas_answer", port=p["zhang"], calls=3, keys={"hold_ms": 500}).start()
    li = await sipp("uas_answer", port=p["li"], calls=3, keys={"hold_ms": 500}).start()

    ctx = await browser()
    page = ctx.pages[0] if ctx.pages else await ctx.new_page()
    await page.set_viewport_size({"width": 390, "height": 844})
    await page.goto(f"{lab.api}/login")
    await page.fill("#username", "zhangwei")
    await page.fill("#password", PASSWORD)
    await page.click("#login-submit")
    await page.wait_for_load_state()
    assert page.url.endswith("/me"), page.url
    title = await page.title()
    assert "我的状态" in title and "监督统计" not in title, title
    assert await page.get_attribute("#state", "data-state") == "available"
    await page.screenshot(path=str(artifacts / "01-me-available.png"), full_page=True)

    await page.locator("#away input[value=meeting]").check()
    await page.locator("#away button[name=minutes][value='60']").click()
    await page.wait_for_load_state()
    assert await page.get_attribute("#state", "data-state") == "meeting"
    assert "自动恢复接听" in await page.inner_text("#until")
    assert await page.locator("p.error").count() == 0  # the mirror was written
    await page.screenshot(path=str(artifacts / "02-me-meeting.png"), full_page=True)
    status, o = await lab.arequest("GET", "/api/v1/officials/zhang-wei")
    assert (o["availability"], o["availability_until"] is not None) == ("meeting", True), o
    status, audit = await lab.arequest("GET", "/api/v1/audit?official=zhang-wei&field=availability")
    assert audit["items"][0]["actor"] == "web:zhangwei", audit

    await _call(lab, sipp)
    await eventually(lambda: _rung(li, 1), timeout=10, interval=0.05)
    assert _invites(zhang) == 0

    await page.locator("#back button").click()
    await page.wait_for_load_state()
    assert await page.get_attribute("#state", "data-state") == "available"
    await page.screenshot(path=str(artifacts / "03-me-back.png"), full_page=True)
    await _call(lab, sipp)
    await eventually(lambda: _rung(zhang, 1), timeout=10, interval=0.05)
    assert _invites(li) == 1

    # the admin allows him his own mode on his page (Chromium); his page offers it at once,
    # he switches to the pool himself, audited as his
    assert await page.locator("#mode form").count() == 0  # off by default
    status, out = await lab.arequest("POST", "/api/v1/users", {
        "username": "guanli", "role": "admin", "display_name": "管理员", "password": PASSWORD})
    assert status == 201, out
    admin = await (await browser()).new_page()
    await admin.goto(f"{lab.api}/login")
    await admin.fill("#username", "guanli")
    await admin.fill("#password", PASSWORD)
    await admin.click("#login-submit")
    await admin.wait_for_load_state()
    await admin.goto(f"{lab.api}/admin/officials/zhang-wei/schedule")
    form = admin.locator("#self-mode-form")
    assert await form.locator(".self-mode-state").get_attribute("data-on") == "false"
    await form.locator("input[name=reason]").fill("试点自助切换")
    await form.locator("button[type=submit]").click()
    await admin.wait_for_load_state()
    assert await admin.locator("#self-mode-form .self-mode-state").get_attribute("data-on") == "true"
    await admin.screenshot(path=str(artifacts / "04-admin-allows-own-mode.png"), full_page=True)
    status, audit = await lab.arequest("GET", "/api/v1/audit?official=zhang-wei&field=self_mode")
    assert (audit["items"][0]["actor"], audit["items"][0]["new_value"]) == ("web:guanli", "true")
    await page.reload()
    await page.locator("#mode button[value=pool]").click()
    await page.wait_for_load_state()
    status, o = await lab.arequest("GET", "/api/v1/officials/zhang-wei")
    assert o["policy"]["mode"] == "pool", o
    status, audit = await lab.arequest("GET", "/api/v1/audit?official=zhang-wei&field=mode")
    assert audit["items"][0]["actor"] == "web:zhangwei", audit
    await page.screenshot(path=str(artifacts / "05-me-own-mode.png"), full_page=True)
