"""An admin's day in headless Chromium on the real lab Asterisk with sipp calls (issue 15):

1. signs in: 张伟's mode in effect is his stored one (直接接听, set by the admin);
2. in the structured schedule editor, adds a window from before now to the next minute boundary
   (the city's time) sending his calls to the pool: the directory page shows 话务组 in effect,
   why (the window), and where calls go first; a citizen's call rings the operator, never 张伟;
3. meanwhile edits and imports: a switch without a reason is refused and changes nothing, then
   李强 is switched to the pool (audited); a user is created from the pick-lists; a pool is
   created; the working calendar is imported from a file;
4. the window's end passes: the page flips back to 直接接听 by itself (the schedule boundary,
   nobody changed anything) and the next call rings 张伟's own phone;
5. the audit log names the admin's reasons; deputy mode is refused for an official without one.
Every page visited is screenshotted (numbered) in the test's artifacts folder.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ivr.lab.deploy import LabDeployment
from tests.e2e.routing_helpers import eventually, login_operators
from tests.e2e.web_helpers import CITY_TZ, PASSWORD, first_admin, next_boundary, sign_in, web_lab

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(400)]
NUMBER = "05585551001"  # 张伟
DAYS = "周一 周二 周三 周四 周五 周六 周日".split()


@pytest.fixture
async def lab(asterisk_root: Path, tmp_path: Path) -> AsyncIterator[LabDeployment]:
    async for deployment in web_lab(asterisk_root, tmp_path / "lab"):
        yield deployment


async def _newest(lab: Any, after: set[int]) -> dict[str, Any] | None:
    status, calls = await lab.arequest("GET", "/api/v1/calls?limit=20")
    assert status == 200, calls
    for c in calls["items"]:
        if c["number_dialed"] == NUMBER and c.get("outcome") and c["id"] not in after:
            return dict(c)
    return None


def _window() -> tuple[datetime, datetime]:
    """From half an hour ago (not before midnight) to the next minute boundary at least 50 s
    ahead, in the city's time (a window the editor can type: the same day, HH:MM)."""
    end = next_boundary(50)
    start = max(end - timedelta(minutes=31), end.replace(hour=0, minute=0))
    return start, end


async def test_admin_journey(lab: Any, sipp: Any, browser: Any, artifacts: Path,
                             tmp_path: Path) -> None:
    await first_admin(lab)
    admin = await sign_in(browser, lab, "admin", artifacts, "admin")
    page = admin.page
    assert page.url.endswith("/admin"), page.url
    mode = page.locator("#mode-zhang-wei")
    assert await mode.get_attribute("data-mode") == "direct"
    assert "管理员设置" in await page.inner_text("#why-zhang-wei")
    await admin.shot("directory")

    # 2. a window around now, typed in the structured editor
    start, end = _window()
    await admin.goto(lab, "/admin/officials/zhang-wei/schedule", "schedule")
    assert "Asia/Shanghai" in await page.inner_text("#schedule-tz")
    row = page.locator("tr.window-row[data-row='0']")
    await row.locator(f"input[name=days-0][value='{start.weekday()}']").check()
    await row.locator("input[name=start-0]").fill(start.strftime("%H:%M"))
    await row.locator("input[name=end-0]").fill(end.strftime("%H:%M"))
    await row.locator("select[name=mode-0]").select_option("pool")
    await page.fill("#schedule-reason", "值班时段转话务组")
    await admin.shot("schedule-typed")
    await page.click("#schedule-form button[type=submit]")
    await page.wait_for_load_state()
    assert await page.get_attribute("#effective-mode", "data-mode") == "pool"
    await admin.shot("schedule-saved")
    status, o = await lab.arequest("GET", "/api/v1/officials/zhang-wei")
    assert status == 200, o
    assert [(w["start"], w["end"], w["mode"]) for w in o["schedule"]] == [
        (start.strftime("%H:%M"), end.strftime("%H:%M"), "pool")], o["schedule"]

    await admin.goto(lab, "/admin", "directory-window")
    assert (await mode.get_attribute("data-mode"), await mode.get_attribute("data-stored")) == (
        "pool", "direct")
    assert (await mode.inner_text()).strip() == "话务组"
    why = await page.inner_text("#why-zhang-wei")
    assert f"时间表时段 {DAYS[start.weekday()]} {start:%H:%M}–{end:%H:%M}" in why, why
    assert "管理员设置的模式：直接接听" in why and "来电先到：话务组 main" in why, why
    assert f"下次时间表变更：{end:%Y-%m-%d %H:%M}" in why, why

    # the next call does what the page says: the operator answers, 张伟's phone never rings
    p = lab.extra["phones"]
    await login_operators(lab, "op-1")
    official = await sipp("uas_answer", port=p["zhang"], keys={"hold_ms": 1000}).start()
    operator = await sipp("uas_answer", port=p["op1"], keys={"hold_ms": 1000}).start()
    r = await sipp("uac_call", remote=lab.sip, local_ip="127.0.0.2", service=NUMBER,
                   keys={"hold_ms": 4000, "caller": "13912345678"}, timeout=40).run()
    assert r.ok, r.summary()
    first = await eventually(lambda: _newest(lab, set()))
    assert (first["mode"], first["answered_kind"], first["answered_by"]) == (
        "pool", "pool", "op-1"), first
    assert [s["kind"] for s in first["steps"]] == ["pool"], first["steps"]
    assert (await operator.wait(10)).received("INVITE")
    await official.stop()
    assert not (await official.wait(10)).received("INVITE"), "张伟's phone rang in the window"
    assert datetime.now(UTC) < end, "the window ended before its call: the test was too slow"

    # 3. edits while the window runs: a switch without a reason is refused, changes nothing
    await page.locator("#switch-li-qiang button[data-mode=pool]").click()
    await page.wait_for_load_state()
    assert "请填写切换原因" in await page.inner_text("#form-error")
    await admin.shot("switch-refused")
    status, o = await lab.arequest("GET", "/api/v1/officials/li-qiang")
    assert o["policy"]["mode"] == "direct", o
    await page.fill("#switch-li-qiang input[name=reason]", "副局长出差")
    await page.locator("#switch-li-qiang button[data-mode=pool]").click()
    await page.wait_for_load_state()
    assert (await page.inner_text("#mode-li-qiang")).strip() == "话务组"
    assert "李强" in await page.inner_text(".flash")
    await admin.shot("switched")
    status, o = await lab.arequest("GET", "/api/v1/officials/li-qiang")
    assert o["policy"]["mode"] == "pool", o

    # a user from the pick-lists (role, the operator's phone)
    await admin.goto(lab, "/admin/users", "users")
    form = page.locator("#user-form")
    await form.locator("input[name=username]").fill("lina")
    await form.locator("input[name=display_name]").fill("李娜")
    await form.locator("input[name=password]").fill(PASSWORD)
    await form.locator("select[name=role]").select_option("operator")
    await form.locator("select[name=operator]").select_option("op-2")
    await form.locator("button[type=submit]").click()
    await page.wait_for_load_state()
    assert "话务员" in await page.inner_text("#user-lina")
    await admin.shot("user-created")
    status, users = await lab.arequest("GET", "/api/v1/users")
    assert status == 200, users
    made = next(u for u in (users["items"] if isinstance(users, dict) else users)
                if u["username"] == "lina")
    assert (made["role"], made["operator"], made["display_name"]) == ("operator", "op-2", "李娜"), made

    # a pool, created on the operators' page
    await admin.goto(lab, "/admin/operators", "operators")
    await page.fill("#pool-form input[name=name]", "night")
    await page.fill("#pool-form input[name=max_wait]", "30")
    await page.click("#pool-form button[type=submit]")
    await page.wait_for_load_state()
    assert "night" in await page.inner_text("#pools")
    await admin.shot("pool-created")
    queues = await lab.arequest("GET", "/api/v1/pools")
    assert queues[0] == 200 and "night" in str(queues[1]), queues

    # the working calendar, imported from a file
    year = datetime.now(CITY_TZ).year
    cal = tmp_path / f"holidays-{year}.yaml"
    cal.write_text(f"year: {year}\nholidays:\n  - {{name: 元旦, date: {year}-01-01}}\n"
                   f"workdays:\n  - {{name: 国庆节调休, date: {year}-09-28}}\n", encoding="utf-8")
    await admin.goto(lab, "/admin/calendar", "calendar")
    await page.set_input_files("#calendar-form input[name=file]", str(cal))
    await page.click("#calendar-form button[type=submit]")
    await page.wait_for_load_state()
    assert str(year) in await page.inner_text("#imported")
    assert "元旦" in await page.inner_text("#days")
    await admin.shot("calendar-imported")
    status, calendar = await lab.arequest("GET", f"/api/v1/calendar?year={year}")
    assert status == 200 and "元旦" in str(calendar), calendar

    # 4. the window's end passes: the page shows 直接接听 again, nobody touched anything
    await page.goto(f"{lab.api}/admin")
    wait = (end - datetime.now(UTC)).total_seconds()
    await admin.reload_until(
        "document.getElementById('mode-zhang-wei').dataset.mode === 'direct'",
        timeout=max(wait, 0) + 20)
    assert datetime.now(UTC) >= end
    assert "管理员设置" in await page.inner_text("#why-zhang-wei")
    await admin.shot("directory-after-window")
    official = await sipp("uas_answer", port=p["zhang"], keys={"hold_ms": 1000}).start()
    r = await sipp("uac_call", remote=lab.sip, local_ip="127.0.0.2", service=NUMBER,
                   keys={"hold_ms": 4000, "caller": "13912345679"}, timeout=40).run()
    assert r.ok, r.summary()
    second = await eventually(lambda: _newest(lab, {first["id"]}))
    assert (second["mode"], second["answered_kind"], second["answered_by"]) == (
        "direct", "direct", "o-zhang"), second
    assert (await official.wait(10)).received("INVITE")
    status, audit = await lab.arequest("GET", "/api/v1/audit?official=zhang-wei&limit=50")
    assert [a for a in audit["items"] if a["field"] == "mode"] == [], audit  # no switch made

    # 5. the audit log; deputy mode refused without a deputy
    await admin.goto(lab, "/admin/audit", "audit")
    text = await page.inner_text("#audit")
    assert "值班时段转话务组" in text and "副局长出差" in text, text
    await page.goto(f"{lab.api}/admin")
    assert await page.locator("#switch-li-qiang button[data-mode=deputy]").is_disabled()
    status, body = await lab.arequest("PUT", "/api/v1/officials/li-qiang/mode",
                                      {"mode": "deputy", "reason": "出差"})
    assert status == 409 and body["error_id"] == "no-deputy", body
    assert admin.script_errors == [], admin.script_errors
