"""The admin sees the mode IN EFFECT and why, in headless Chromium against real Asterisk, and
the next real call (sipp) does what the page says.

张伟's stored mode is direct. A schedule window around now (the city's time) sends his calls
to the pool: the directory page shows 话务组 with the window, the admin's switch and the pool
named; a citizen's call rings the operator, not 张伟's phone. Without the window the page
shows 直接接听 again and the next call rings 张伟. The admin also finds deputy mode refused
for an official without a deputy. Screenshots in the test's artifacts folder.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from ivr.lab import ports
from tests.e2e.routing_helpers import PHONES, eventually, login_operators, make_lab

pytestmark = pytest.mark.e2e
PASSWORD = "ivr-web-e2e-pass"
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@pytest.fixture
async def lab(asterisk_root: Path, tmp_path: Path, request: pytest.FixtureRequest) -> Any:
    phone_ports = dict(zip(PHONES, ports.free_ports(len(PHONES)), strict=False))
    deployment = await make_lab(asterisk_root, tmp_path / "lab", phone_ports)
    deployment.extra["phones"] = phone_ports
    yield deployment
    deployment.close()
    if getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed:
        print(deployment.controller_log()[-4000:])
    deployment.asterisk.remove()


def _cli(lab: Any, *args: str, stdin: str = "") -> str:
    env = dict(os.environ, IVR_CONFIG=str(lab.workdir / "ivr.toml"))
    r = subprocess.run([sys.executable, "-m", "ivr.cli", *args], input=stdin, env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout


async def _newest(lab: Any, number: str, after: set[int]) -> dict[str, Any] | None:
    status, calls = await lab.arequest("GET", "/api/v1/calls?limit=20")
    assert status == 200, calls
    for c in calls["items"]:
        if c["number_dialed"] == number and c.get("outcome") and c["id"] not in after:
            return dict(c)
    return None


async def test_admin_sees_the_effective_mode_flip_and_calls_follow(
        lab: Any, sipp: Any, browser: Any, artifacts: Path) -> None:
    await asyncio.to_thread(_cli, lab, "user", "create", "admin", "--role", "admin",
                            "--display-name", "管理员", "--password-stdin", stdin=PASSWORD + "\n")
    ctx = await browser()
    page = ctx.pages[0] if ctx.pages else await ctx.new_page()
    await page.goto(f"{lab.api}/login")
    await page.fill("#username", "admin")
    await page.fill("#password", PASSWORD)
    await page.click("#login-submit")
    await page.wait_for_load_state()
    assert page.url.endswith("/admin")
    mode = page.locator("#mode-zhang-wei")
    assert await mode.get_attribute("data-mode") == "direct"
    assert "管理员设置" in await page.inner_text("#why-zhang-wei")

    # a window around now in the city's time: calls go to the pool
    tz = ZoneInfo("Asia/Shanghai")
    now = datetime.now(UTC).astimezone(tz)
    start, end = now - timedelta(minutes=30), now + timedelta(minutes=30)
    window = {"days": DAYS[start.weekday()], "start": start.strftime("%H:%M"),
              "end": end.strftime("%H:%M"), "mode": "pool"}
    status, body = await lab.arequest("PUT", "/api/v1/officials/zhang-wei/schedule",
                                      {"windows": [window], "reason": "夜间值班"})
    assert status == 200, body
    await page.reload()
    assert await mode.get_attribute("data-mode") == "pool"
    assert await mode.get_attribute("data-stored") == "direct"
    assert (await mode.inner_text()).strip() == "话务组"
    why = await page.inner_text("#why-zhang-wei")
    assert f"时间表时段 {'周一 周二 周三 周四 周五 周六 周日'.split()[start.weekday()]} " \
           f"{window['start']}–{window['end']}" in why, why
    assert "管理员设置的模式：直接接听" in why and "来电先到：话务组 main" in why, why
    await page.screenshot(path=str(artifacts / "01-window-in-effect.png"), full_page=True)

    # the next call does what the page says: the operator answers, 张伟's phone never rings
    p = lab.extra["phones"]
    await login_operators(lab, "op-1")
    official = await sipp("uas_answer", port=p["zhang"], keys={"hold_ms": 1000}).start()
    operator = await sipp("uas_answer", port=p["op1"], keys={"hold_ms": 1500}).start()
    r = await sipp("uac_call", remote=lab.sip, local_ip="127.0.0.2", service="05585551001",
                   keys={"hold_ms": 6000, "caller": "13912345678"}, timeout=40).run()
    assert r.ok, r.summary()
    first = await eventually(lambda: _newest(lab, "05585551001", set()))
    assert (first["mode"], first["answered_kind"], first["answered_by"]) == (
        "pool", "pool", "op-1"), first
    assert [s["kind"] for s in first["steps"]] == ["pool"], first["steps"]
    assert (await operator.wait(10)).received("INVITE")
    await official.stop()
    assert not (await official.wait(10)).received("INVITE"), "张伟's phone rang in the window"

    # the window removed: direct again, on the page and for the next call
    status, body = await lab.arequest("PUT", "/api/v1/officials/zhang-wei/schedule",
                                      {"windows": [], "reason": "恢复"})
    assert status == 200, body
    await page.reload()
    assert await mode.get_attribute("data-mode") == "direct"
    assert "管理员设置" in await page.inner_text("#why-zhang-wei")
    official = await sipp("uas_answer", port=p["zhang"], keys={"hold_ms": 1000}).start()
    r = await sipp("uac_call", remote=lab.sip, local_ip="127.0.0.2", service="05585551001",
                   keys={"hold_ms": 4000, "caller": "13912345679"}, timeout=40).run()
    assert r.ok, r.summary()
    second = await eventually(lambda: _newest(lab, "05585551001", {first["id"]}))
    assert (second["mode"], second["answered_kind"], second["answered_by"]) == (
        "direct", "direct", "o-zhang"), second
    await page.screenshot(path=str(artifacts / "02-direct-again.png"), full_page=True)

    # deputy mode for an official without a deputy: the button is disabled, the API refuses
    assert await page.locator("#switch-li-qiang button[data-mode=deputy]").is_disabled()
    status, body = await lab.arequest("PUT", "/api/v1/officials/li-qiang/mode",
                                      {"mode": "deputy", "reason": "出差"})
    assert status == 409 and body["error_id"] == "no-deputy", body
