"""Phones' registration and operators' auto-pause, on the real lab Asterisk with sipp phones.

An operator's phone (op-3, no static contact) REGISTERs with its generated credentials; the
operator logs in; the phone unregisters (Expires: 0): the API, the console (pushed, without a
reload) and app_queue (QueueStatus) show the operator paused with the reason 电话未注册, and a
pooled call is answered by another operator; the phone registers again: resumed. A pause the
operator made (lunch) survives a re-registration. Phones with a static contact count as
registered. The supervisors' wallboard shows a caller waiting in the pool, pushed by SSE while
the caller is still queued. The phone page shows what the phone needs; "reset secret" gives a new secret that
registers (and the old one no longer does).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from ivr.lab import ports
from tests.e2e.routing_helpers import DIRECTORY, PHONES, call_record, eventually, make_lab, queue_status
from tests.e2e.web_helpers import cli, max_wait, with_operator

pytestmark = pytest.mark.e2e
PASSWORD = "ivr-phones-e2e-pass"
REASON = "电话未注册"
# the routing directory with a third operator whose phone registers (no static contact)
PHONES_DIRECTORY = max_wait(with_operator(DIRECTORY, "{{name: 话务员 赵敏, endpoint: op-3, pool: main}}"),
                            40)  # a waiting caller stays long enough


@pytest.fixture
async def lab(asterisk_root: Path, tmp_path: Path) -> Any:
    assert "op-3" in PHONES_DIRECTORY
    phone_ports = dict(zip(PHONES, ports.free_ports(len(PHONES)), strict=True))
    deployment = await make_lab(asterisk_root, tmp_path / "lab", phone_ports, PHONES_DIRECTORY)
    deployment.extra["phones"] = phone_ports
    deployment.extra["op3_port"] = ports.free_ports(1)[0]
    yield deployment
    deployment.close()
    print(deployment.controller_log()[-6000:])
    print(deployment.asterisk.log_tail(100))
    deployment.asterisk.remove()


async def _register(lab: Any, sipp: Any, secret: str, expires: int, endpoint: str = "op-3") -> Any:
    return await sipp("register", remote=lab.sip, port=lab.extra["op3_port"],
                      keys={"user": endpoint, "expires": expires}, auth=(endpoint, secret),
                      timeout=10).run()


async def _phone(lab: Any, endpoint: str) -> dict[str, Any]:
    status, body = await lab.arequest("GET", f"/api/v1/phones/{endpoint}")
    assert status == 200, body
    return dict(body)


async def _queue_member(lab: Any, endpoint: str) -> dict[str, str]:
    """app_queue's own view of the member (QueueStatus over AMI)."""
    events = await queue_status(lab)
    for ev in events:
        if ev.get("Event") == "QueueMember" and ev.get("Name") == endpoint:
            return ev
    return {}


async def test_operator_paused_while_phone_unregistered(lab: Any, sipp: Any, browser: Any,
                                                        artifacts: Path) -> None:
    secret = lab.extra["credentials"]["op-3"]
    # static contacts count as registered; op-3 never registered: not registered
    status, listed = await lab.arequest("GET", "/api/v1/phones")
    assert status == 200, listed
    by = {p["endpoint"]: p for p in listed["items"]}
    assert by["op-1"]["status"] == "static" and by["op-1"]["registered"] is True
    assert by["o-zhang"]["kind"] == "device" and by["o-zhang"]["registered"] is True
    assert by["op-3"]["status"] == "unregistered" and by["op-3"]["registered"] is False

    # the phone registers; op-1 and op-3 log in
    reg = await _register(lab, sipp, secret, 3600)
    assert reg.ok, reg.summary()
    p3 = await eventually(lambda: _phone_if(lab, "op-3", "registered"))
    assert p3["contact"].startswith("sip:op-3@") and str(lab.extra["op3_port"]) in p3["contact"]
    for ep in ("op-1", "op-3"):
        status, body = await lab.arequest("PUT", f"/api/v1/operators/{ep}/state", {"state": "ready"})
        assert status == 200 and body["state"] == "ready", body

    # the operator's console is open (server push)
    await asyncio.to_thread(cli, lab, "user", "create", "zhaomin", "--role", "operator",
                            "--operator", "op-3", "--display-name", "赵敏", "--password-stdin",
                            stdin=PASSWORD + "\n")
    page = await (await browser()).new_page()
    await page.goto(f"{lab.api}/login")
    await page.fill("#username", "zhaomin")
    await page.fill("#password", PASSWORD)
    await page.click("#login-submit")
    await page.wait_for_load_state()
    assert page.url.endswith("/console")
    assert await page.get_attribute("#state", "data-state") == "ready"
    assert await page.get_attribute("#phone-status", "data-status") == "registered"
    await page.wait_for_function("document.body.dataset.live === '1'")
    await page.evaluate("window.__noReload = 'same page'")

    # the phone unregisters: paused by the system, with the reason, everywhere
    unreg = await _register(lab, sipp, secret, 0)
    assert unreg.ok, unreg.summary()
    p3 = await eventually(lambda: _phone_if(lab, "op-3", "unregistered", "paused"))
    assert (p3["paused_reason"], p3["auto_paused"], p3["registered"]) == (REASON, True, False)
    status, op = await lab.arequest("GET", "/api/v1/operators/op-3")
    assert (op["state"], op["paused_reason"]) == ("paused", REASON), op
    member = await eventually(lambda: _member_if(lab, "op-3", "1"))
    assert member["PausedReason"] == REASON, member
    await page.wait_for_function("document.getElementById('state').dataset.state === 'paused'",
                                 timeout=15000)
    assert REASON in await page.inner_text("#paused-reason")
    assert await page.get_attribute("#phone-status", "data-status") == "unregistered"
    assert await page.evaluate("window.__noReload") == "same page"
    await page.screenshot(path=str(artifacts / "console-auto-paused.png"), full_page=True)

    # a pooled call goes to another operator (陈静 is in pool mode)
    op1 = await sipp("uas_answer", port=lab.extra["phones"]["op1"],
                     keys={"answer_ms": 200, "hold_ms": 2000}).start()
    call = await sipp("uac_call", remote=lab.sip, local_ip="127.0.0.2", service="05585552001",
                      keys={"hold_ms": 1500}, timeout=40).run()
    assert call.ok, call.summary()
    record = await eventually(lambda: call_record(lab, "05585552001"))
    assert (record["outcome"], record["answered_kind"], record["answered_by"]) == (
        "answered", "pool", "op-1"), record
    await op1.stop()

    # the phone registers again: resumed (the pause was the system's)
    reg = await _register(lab, sipp, secret, 3600)
    assert reg.ok, reg.summary()
    p3 = await eventually(lambda: _phone_if(lab, "op-3", "registered", "ready"))
    assert (p3["paused_reason"], p3["auto_paused"]) == ("", False)
    await eventually(lambda: _member_if(lab, "op-3", "0"))
    await page.wait_for_function("document.getElementById('state').dataset.state === 'ready'",
                                 timeout=15000)

    # a pause the operator made survives unregistering and registering again
    status, body = await lab.arequest("PUT", "/api/v1/operators/op-3/state",
                                      {"state": "paused", "reason": "午饭"})
    assert status == 200 and body["paused_reason"] == "午饭", body
    unreg = await _register(lab, sipp, secret, 0)
    assert unreg.ok, unreg.summary()
    await eventually(lambda: _phone_if(lab, "op-3", "unregistered"))
    reg = await _register(lab, sipp, secret, 3600)
    assert reg.ok, reg.summary()
    p3 = await eventually(lambda: _phone_if(lab, "op-3", "registered"))
    # the registration was followed (the console got its state pushed) and changed nothing
    await page.wait_for_function(
        "document.getElementById('phone-status').dataset.status === 'registered'"
        " && document.getElementById('state').dataset.state === 'paused'", timeout=15000)
    p3 = await _phone(lab, "op-3")
    assert (p3["operator_state"], p3["paused_reason"], p3["auto_paused"]) == ("paused", "午饭", False)
    member = await _queue_member(lab, "op-3")
    assert (member.get("Paused"), member.get("PausedReason")) == ("1", "午饭"), member
    assert "午饭" in await page.inner_text("#paused-reason")

    # logging in while the phone is not registered: paused by the system at once
    unreg = await _register(lab, sipp, secret, 0)
    assert unreg.ok, unreg.summary()
    await eventually(lambda: _phone_if(lab, "op-3", "unregistered"))
    status, body = await lab.arequest("PUT", "/api/v1/operators/op-3/state", {"state": "ready"})
    assert status == 200 and (body["state"], body["paused_reason"]) == ("paused", REASON), body


async def _phone_if(lab: Any, endpoint: str, status: str, state: str = "") -> dict[str, Any] | None:
    p = await _phone(lab, endpoint)
    if p["status"] == status and (not state or p["operator_state"] == state):
        return p
    return None


async def _member_if(lab: Any, endpoint: str, paused: str) -> dict[str, str] | None:
    m = await _queue_member(lab, endpoint)
    return m if m.get("Paused") == paused else None


async def test_phone_page_and_secret_reset(lab: Any, sipp: Any, browser: Any,
                                           artifacts: Path) -> None:
    old = lab.extra["credentials"]["o-li"]
    await asyncio.to_thread(cli, lab, "user", "create", "admin", "--role", "admin",
                            "--display-name", "管理员", "--password-stdin", stdin=PASSWORD + "\n")
    page = await (await browser()).new_page()
    await page.goto(f"{lab.api}/login")
    await page.fill("#username", "admin")
    await page.fill("#password", PASSWORD)
    await page.click("#login-submit")
    await page.wait_for_load_state()
    await page.goto(f"{lab.api}/admin/phones")
    assert await page.get_attribute("#phones tr[data-endpoint=op-1]", "data-status") == "static"
    assert await page.get_attribute("#phones tr[data-endpoint=op-3]", "data-status") == "unregistered"
    await page.screenshot(path=str(artifacts / "phones.png"), full_page=True)
    # the operators' page and an official's phones show the registration too
    await page.goto(f"{lab.api}/admin/operators")
    assert "未注册" in await page.locator("#operators tr", has_text="op-3").inner_text()
    assert "已注册（固定地址）" in await page.locator("#operators tr", has_text="op-1").inner_text()
    await page.goto(f"{lab.api}/admin/officials/li-qiang/schedule")
    assert "已注册（固定地址）" in await page.inner_text("#devices")
    await page.click("#devices a[href='/admin/phones/o-li']")
    await page.wait_for_load_state()
    assert (await page.inner_text("#sip-user")).strip() == "o-li"
    assert (await page.inner_text("#registrar")).strip() == f"{lab.sip[0]}:{lab.sip[1]}"
    assert (await page.inner_text("#transport")).strip() == "UDP"
    assert "ulaw" in await page.inner_text("#codecs")
    assert await page.locator("#new-secret").count() == 0  # no secret is ever shown but once
    await page.click("#reset-secret")
    await page.wait_for_load_state()
    new = (await page.inner_text("#new-secret")).strip()
    assert len(new) >= 16 and new != old
    await page.screenshot(path=str(artifacts / "phone-secret-reset.png"), full_page=True)
    await page.goto(f"{lab.api}/admin/phones/o-li")
    assert await page.locator("#new-secret").count() == 0
    # audited, without the secret
    status, audit = await lab.arequest("GET", "/api/v1/audit?field=secret")
    assert status == 200, audit
    entry = audit["items"][0]
    assert entry["actor"] == "web:admin" and "o-li" in entry["new_value"], entry
    assert new not in str(audit)
    # the new secret registers; the old one is refused
    ok = await sipp("register", remote=lab.sip, keys={"user": "o-li", "expires": 60},
                    auth=("o-li", new), timeout=10).run()
    assert ok.ok, ok.summary()
    bad = await sipp("register", remote=lab.sip, keys={"user": "o-li", "expires": 60},
                     auth=("o-li", old), timeout=10).run()
    assert not bad.ok and 200 not in bad.response_codes(), bad.summary()
    # the API resets too (admins only), and an unknown phone is a 404
    status, body = await lab.arequest("POST", "/api/v1/phones/op-2/secret")
    assert status == 200 and len(body["secret"]) >= 16, body
    status, body = await lab.arequest("POST", "/api/v1/phones/nobody/secret")
    assert status == 404 and body["error_id"] == "unknown-endpoint", body


async def test_wallboard_shows_a_waiting_caller_by_push(lab: Any, sipp: Any, browser: Any,
                                                        artifacts: Path) -> None:
    assert "max_wait: 40" in PHONES_DIRECTORY
    await asyncio.to_thread(cli, lab, "user", "create", "jiandu", "--role", "supervisor",
                            "--display-name", "监督员", "--password-stdin", stdin=PASSWORD + "\n")
    page = await (await browser()).new_page()
    await page.goto(f"{lab.api}/login")
    await page.fill("#username", "jiandu")
    await page.fill("#password", PASSWORD)
    await page.click("#login-submit")
    await page.wait_for_load_state()
    await page.goto(f"{lab.api}/wallboard")
    await page.wait_for_function("document.body.dataset.live === '1'")
    await page.evaluate("window.__noReload = 'same page'")
    row = "#wb-pools tr[data-queue='pool-main']"
    assert await page.get_attribute(f"{row} .wb-waiting", "data-waiting") == "0"
    assert "实时大屏" in await page.inner_text("h1")

    # op-1 is ready, its phone rings and nobody answers: the caller waits in the pool
    status, body = await lab.arequest("PUT", "/api/v1/operators/op-1/state", {"state": "ready"})
    assert status == 200, body
    await page.wait_for_function(
        f"document.querySelector(\"{row} .wb-ready\").textContent === '1'", timeout=15000)
    op1 = await sipp("uas_noanswer", port=lab.extra["phones"]["op1"], calls=10).start()
    citizen = await sipp("uac_abandon", remote=lab.sip, local_ip="127.0.0.2",
                         service="05585552001", keys={"ring_ms": 15000}, timeout=60).start()
    await page.wait_for_function(
        f"document.querySelector(\"{row} .wb-waiting\").dataset.waiting === '1'", timeout=15000)
    # in progress while only queued (no call row yet): counted from the live events
    progress = "document.querySelector(\"#wb-today [data-outcome='in_progress'] .wb-n\").textContent"
    await page.wait_for_function(f"{progress} === '1'", timeout=15000)
    # still queued now: app_queue has the caller
    entries = await _queue_entries(lab)
    assert len(entries) == 1, entries
    assert await page.evaluate("window.__noReload") == "same page"
    await page.wait_for_function(
        f"document.querySelector(\"{row} .wb-on_call\").textContent === '1'", timeout=15000)
    await page.screenshot(path=str(artifacts / "wallboard-waiting.png"), full_page=True)
    # the caller gives up: the board follows, and today's calls count the abandoned call
    result = await citizen.wait(60)
    assert result.ok, result.summary()
    await page.wait_for_function(
        f"document.querySelector(\"{row} .wb-waiting\").dataset.waiting === '0'", timeout=15000)
    record = await eventually(lambda: call_record(lab, "05585552001"))
    assert (record["outcome"], record["abandoned_during"]) == ("abandoned", "queued"), record
    await page.wait_for_function(
        "document.querySelector(\"#wb-today [data-outcome='abandoned'] .wb-n\").textContent === '1'",
        timeout=20000)
    await page.wait_for_function(f"{progress} === '0'", timeout=15000)  # over: not in progress
    assert await page.evaluate("window.__noReload") == "same page"
    await op1.stop()
    await page.screenshot(path=str(artifacts / "wallboard-after.png"), full_page=True)


async def _queue_entries(lab: Any) -> list[dict[str, str]]:
    events = await queue_status(lab)
    return [ev for ev in events if ev.get("Event") == "QueueEntry"]


async def test_registration_resynced_after_the_controller_was_away(lab: Any, sipp: Any) -> None:
    """What happened while the controller was down is read back from Asterisk after its AMI
    login (PJSIPShowContacts): the operator is paused, then resumed, as their phone is now."""
    secret = lab.extra["credentials"]["op-3"]
    reg = await _register(lab, sipp, secret, 3600)
    assert reg.ok, reg.summary()
    await eventually(lambda: _phone_if(lab, "op-3", "registered"))
    status, body = await lab.arequest("PUT", "/api/v1/operators/op-3/state", {"state": "ready"})
    assert status == 200 and body["state"] == "ready", body

    lab.stop_controller()
    unreg = await _register(lab, sipp, secret, 0)  # nobody hears the ContactStatus
    assert unreg.ok, unreg.summary()
    lab.start_controller()
    await lab.wait_ready()
    p3 = await eventually(lambda: _phone_if(lab, "op-3", "unregistered", "paused"))
    assert (p3["paused_reason"], p3["auto_paused"]) == (REASON, True), p3
    member = await eventually(lambda: _member_if(lab, "op-3", "1"))
    assert member["PausedReason"] == REASON, member

    lab.stop_controller()
    reg = await _register(lab, sipp, secret, 3600)
    assert reg.ok, reg.summary()
    lab.start_controller()
    await lab.wait_ready()
    p3 = await eventually(lambda: _phone_if(lab, "op-3", "registered", "ready"))
    assert p3["contact"].startswith("sip:op-3@"), p3
    await eventually(lambda: _member_if(lab, "op-3", "0"))
