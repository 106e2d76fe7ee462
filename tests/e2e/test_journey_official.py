"""An official's day in headless Chromium at a phone's size, on the real lab Asterisk with sipp
(issue 15). 张伟's desk phone REGISTERs with its generated secret (no static contact: the
baresip-like phone of the issue), his deputy is 李强.

1. he signs in and lands on 我的状态 (可接听);
2. sets 会议 until the next minute boundary (a local time typed in the form): the page shows
   the return time; a citizen's call goes to his deputy, his phone never rings;
3. the return time passes: a reload shows 可接听 again and the next call rings his phone;
4. from his own registered phone he dials *61 (authenticated INVITE): a reload of /me shows
   会议 with the automatic return two hours later, audited as ``phone:o-zhang``, and the next
   call goes to the deputy; *60 from the phone: 可接听 after a reload;
5. one tap sets 会议 for an hour (the next call goes to the deputy), 恢复接听 ends it (the next
   call rings him); his calls page lists his own calls;
6. an admin allows him his own mode on his admin page (off by default), and he switches to the
   pool himself: both audited (``web:guanli``, ``web:zhangwei``).
Every page visited is screenshotted (numbered) in the test's artifacts folder.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ivr.lab.deploy import LabDeployment
from tests.e2e.routing_helpers import DIRECTORY, eventually
from tests.e2e.web_helpers import add_user, next_boundary, registering, sign_in, web_lab

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(400)]
SCENARIOS = Path(__file__).parent / "scenarios"
NUMBER = "05585551001"  # 张伟: direct, chain deputy → pool → voicemail
PHONE_SIZE = {"width": 390, "height": 844}


@pytest.fixture
async def lab(asterisk_root: Path, tmp_path: Path) -> AsyncIterator[LabDeployment]:
    async for deployment in web_lab(asterisk_root, tmp_path / "lab",
                                     registering(DIRECTORY, "o-zhang")):
        yield deployment


def _invites(phone: Any) -> int:
    path = phone.workdir / "messages.log"
    return path.read_text(errors="replace").count("INVITE sip:") if path.exists() else 0


async def _rung(phone: Any, n: int) -> bool:
    return _invites(phone) >= n


async def _call(lab: Any, sipp: Any, caller: str) -> None:
    r = await sipp("uac_call", remote=lab.sip, local_ip="127.0.0.2", service=NUMBER,
                   keys={"hold_ms": 1500, "caller": caller}, timeout=40).run()
    assert r.ok, r.summary()


async def _answered(lab: Any, caller: str) -> dict[str, Any] | None:
    status, calls = await lab.arequest("GET", "/api/v1/calls?limit=20")
    assert status == 200, calls
    for c in calls["items"]:
        if c["caller"] == caller and c.get("outcome"):
            return dict(c)
    return None


async def _feature(lab: Any, sipp: Any, code: str) -> None:
    """``code`` dialled from 张伟's own phone (digest-authenticated as o-zhang)."""
    r = await sipp(SCENARIOS / "uac_auth_call.xml", remote=lab.sip, service=code,
                   keys={"user": "o-zhang", "hold_ms": 20000},
                   auth=("o-zhang", lab.extra["credentials"]["o-zhang"]), timeout=30).run()
    assert r.ok, r.summary()
    assert r.received("BYE"), "the spoken confirmation did not end the call"


async def test_official_journey(lab: Any, sipp: Any, browser: Any, artifacts: Path) -> None:
    p = lab.extra["phones"]
    await add_user(lab, "zhangwei", "official", official="zhang-wei", display_name="张伟")
    status, phone = await lab.arequest("GET", "/api/v1/phones/o-zhang")
    assert (status, phone["registered"]) == (200, False), phone
    reg = await sipp("register", remote=lab.sip, port=p["zhang"],
                     keys={"user": "o-zhang", "expires": 3600},
                     auth=("o-zhang", lab.extra["credentials"]["o-zhang"]), timeout=10).run()
    assert reg.ok, reg.summary()

    async def registered() -> bool:
        status, phone = await lab.arequest("GET", "/api/v1/phones/o-zhang")
        return status == 200 and phone["status"] == "registered"
    await eventually(registered)
    # his phone (at the registered contact) and his deputy's, for the whole journey
    zhang = await sipp("uas_answer", port=p["zhang"], calls=10, keys={"hold_ms": 500},
                       timeout=300).start()
    li = await sipp("uas_answer", port=p["li"], calls=10, keys={"hold_ms": 500},
                    timeout=300).start()

    # 1. his home page
    me = await sign_in(browser, lab, "zhangwei", artifacts, "official", viewport=PHONE_SIZE)
    page = me.page
    assert page.url.endswith("/me"), page.url
    title = await page.title()
    assert "我的状态" in title and "监督统计" not in title, title
    assert await page.get_attribute("#state", "data-state") == "available"
    await me.shot("me")

    # 2. in a meeting until a local time
    until = next_boundary(50)
    await page.locator("#away input[value=meeting]").check()
    await page.fill("#away input[name=until]", until.strftime("%Y-%m-%dT%H:%M"))
    await page.fill("#away input[name=note]", "市政府常务会议")
    await me.shot("me-typed")
    await page.click("#away button.big")
    await page.wait_for_load_state()
    assert await page.get_attribute("#state", "data-state") == "meeting"
    assert until.strftime("%H:%M") in await page.inner_text("#until")
    assert await page.locator("p.error").count() == 0  # the mirror was written
    await me.shot("me-meeting")
    status, o = await lab.arequest("GET", "/api/v1/officials/zhang-wei")
    assert o["availability"] == "meeting", o
    assert datetime.fromisoformat(o["availability_until"]) == until, o
    await _call(lab, sipp, "13900000001")
    await eventually(lambda: _rung(li, 1), timeout=10, interval=0.05)
    rec = await eventually(lambda: _answered(lab, "13900000001"))
    assert (rec["answered_kind"], rec["answered_by"]) == ("deputy", "o-li"), rec
    assert _invites(zhang) == 0
    assert datetime.now(UTC) < until, "the meeting ended before its call: the test was too slow"

    # 3. the return time passes: available again, the next call rings him
    await me.reload_until("document.getElementById('state').dataset.state === 'available'",
                          timeout=(until - datetime.now(UTC)).total_seconds() + 20)
    assert datetime.now(UTC) >= until
    await me.shot("me-back-on-time")
    await _call(lab, sipp, "13900000002")
    await eventually(lambda: _rung(zhang, 1), timeout=10, interval=0.05)
    rec = await eventually(lambda: _answered(lab, "13900000002"))
    assert (rec["answered_kind"], rec["answered_by"]) == ("direct", "o-zhang"), rec
    assert _invites(li) == 1

    # 4. *61 from his own registered phone, seen on /me after a reload
    before = datetime.now(UTC)
    await _feature(lab, sipp, "*61")
    await page.reload()
    await page.wait_for_load_state()
    assert await page.get_attribute("#state", "data-state") == "meeting"
    status, o = await lab.arequest("GET", "/api/v1/officials/zhang-wei")
    left = datetime.fromisoformat(o["availability_until"]) - before
    assert timedelta(minutes=119) < left <= timedelta(minutes=121), o  # [self_service] default
    back = datetime.fromisoformat(o["availability_until"]).astimezone(until.tzinfo)
    assert back.strftime("%H:%M") in await page.inner_text("#until")
    await me.shot("me-meeting-by-phone")
    status, audit = await lab.arequest("GET", "/api/v1/audit?official=zhang-wei&field=availability")
    assert [a["actor"] for a in audit["items"]][:3] == ["phone:o-zhang", "system", "web:zhangwei"], audit
    await _call(lab, sipp, "13900000003")
    await eventually(lambda: _rung(li, 2), timeout=10, interval=0.05)
    assert _invites(zhang) == 1

    await _feature(lab, sipp, "*60")
    await page.reload()
    await page.wait_for_load_state()
    assert await page.get_attribute("#state", "data-state") == "available"
    assert await page.locator("#until").count() == 0
    await me.shot("me-back-by-phone")

    # 5. one tap: 会议 for an hour; the next call goes to the deputy; 恢复接听: rings him again
    await page.locator("#away input[value=meeting]").check()
    await page.locator("#away button[name=minutes][value='60']").click()
    await page.wait_for_load_state()
    assert await page.get_attribute("#state", "data-state") == "meeting"
    assert "自动恢复接听" in await page.inner_text("#until")
    assert await page.locator("p.error").count() == 0  # the mirror was written
    await me.shot("me-meeting-one-tap")
    status, audit = await lab.arequest("GET", "/api/v1/audit?official=zhang-wei&field=availability")
    assert (audit["items"][0]["actor"], audit["items"][0]["new_value"]) == (
        "web:zhangwei", "meeting"), audit
    await _call(lab, sipp, "13900000004")
    await eventually(lambda: _rung(li, 3), timeout=10, interval=0.05)
    assert _invites(zhang) == 1
    await page.locator("#back button").click()
    await page.wait_for_load_state()
    assert await page.get_attribute("#state", "data-state") == "available"
    await me.shot("me-back-by-tap")
    await _call(lab, sipp, "13900000005")
    await eventually(lambda: _rung(zhang, 2), timeout=10, interval=0.05)
    assert _invites(li) == 3
    rec = await eventually(lambda: _answered(lab, "13900000005"))
    assert (rec["answered_kind"], rec["answered_by"]) == ("direct", "o-zhang"), rec

    # the calls he can see: his own
    await me.goto(lab, "/supervision/calls", "own-calls")
    callers = [c.strip() for c in await page.locator("#calls td.caller").all_inner_texts()]
    assert sorted(callers) == [f"1390000000{n}" for n in range(1, 6)], callers
    assert me.script_errors == [], me.script_errors

    # 6. an admin allows him his own mode on his admin page; his page offers it at once, he
    # switches to the pool himself: both audited
    await me.goto(lab, "/me", "me-no-own-mode")
    assert await page.locator("#mode form").count() == 0  # off by default
    await add_user(lab, "guanli", "admin", display_name="管理员")
    admin = await sign_in(browser, lab, "guanli", artifacts, "admin")
    await admin.goto(lab, "/admin/officials/zhang-wei/schedule", "admin-self-mode-off")
    form = admin.page.locator("#self-mode-form")
    assert await form.locator(".self-mode-state").get_attribute("data-on") == "false"
    await form.locator("input[name=reason]").fill("试点自助切换")
    await form.locator("button[type=submit]").click()
    await admin.page.wait_for_load_state()
    assert await admin.page.locator(
        "#self-mode-form .self-mode-state").get_attribute("data-on") == "true"
    await admin.shot("admin-allows-own-mode")
    status, audit = await lab.arequest("GET", "/api/v1/audit?official=zhang-wei&field=self_mode")
    assert (audit["items"][0]["actor"], audit["items"][0]["new_value"]) == ("web:guanli", "true")
    await page.reload()
    await page.locator("#mode button[value=pool]").click()
    await page.wait_for_load_state()
    status, o = await lab.arequest("GET", "/api/v1/officials/zhang-wei")
    assert o["policy"]["mode"] == "pool", o
    status, audit = await lab.arequest("GET", "/api/v1/audit?official=zhang-wei&field=mode")
    assert audit["items"][0]["actor"] == "web:zhangwei", audit
    await me.shot("me-own-mode")
    assert me.script_errors == [] and admin.script_errors == [], (me.script_errors,
                                                                  admin.script_errors)
