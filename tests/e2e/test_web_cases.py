"""Cases in the browser (headless Debian chromium via Playwright) against real Asterisk + sipp:

(a) an operator, during a pooled call shown live on the console, opens a case from it with the
    quick form in a few keystrokes (the summary has the focus when the call connects; Shift+Tab,
    ArrowDown picks the category; Enter submits); the dialed official signs in and finds it in
    the inbox, another official does not;
(b) a citizen leaves a voicemail (real audio over RTP, after a short uploaded greeting); the
    official opens the inbox and plays it: the <audio> element really loads (loadedmetadata,
    readyState >= 1), plays, and its duration is the recorded WAV's within 0.2 s; then they
    click "call back": their phone rings, then the citizen's, and the page shows the result.
Screenshots go to the test's artifacts folder.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from ivr.lab import ports
from ivr.lab.deploy import LabDeployment, create_lab
from ivr.speech.audio import read_wav
from tests.e2e.routing_helpers import eventually, tone_ulaw

pytestmark = pytest.mark.e2e
PASSWORD = "ivr-web-e2e-pass"
DIRECTORY = """
version: 1
pools:
  - {{name: main, strategy: leastrecent, max_wait: 8}}
operators:
  - {{name: 话务员 王芳, endpoint: op-1, pool: main, static_contact: "sip:op-1@127.0.0.1:{op1}"}}
officials:
  - slug: zhang-wei
    name: 张伟
    title: 局长
    department: 市交通运输局
    numbers: ["0558-5551001"]
    devices: [{{sip: o-zhang, static_contact: "sip:o-zhang@127.0.0.1:{zhang}"}}]
    mode: pool
    chain: [pool]
  - slug: li-qiang
    name: 李强
    title: 副局长
    department: 市住建局
    numbers: ["0558-5551002"]
    devices: [{{sip: o-li, static_contact: "sip:o-li@127.0.0.1:{li}"}}]
    mode: voicemail
    chain: [voicemail]
"""
ZHANG, LI = "05585551001", "05585551002"
CALLER = "13912345678"
ACCOUNTS = ({"username": "wangfang", "role": "operator", "operator": "op-1", "display_name": "王芳"},
            {"username": "zhangwei", "role": "official", "official": "zhang-wei"},
            {"username": "liqiang", "role": "official", "official": "li-qiang"})


@pytest.fixture
async def lab(asterisk_root: Path, tmp_path: Path,
              request: pytest.FixtureRequest) -> AsyncIterator[LabDeployment]:
    phones = dict(zip(("op1", "zhang", "li"), ports.free_ports(3), strict=False))
    deployment = await create_lab(asterisk_root, tmp_path / "lab", DIRECTORY.format(**phones),
                                  voicemail={"workers": 1})
    deployment.extra["phones"] = phones
    deployment.start_controller()
    await deployment.wait_ready()
    for body in ACCOUNTS:
        status, out = await deployment.arequest("POST", "/api/v1/users", {**body, "password": PASSWORD})
        assert status == 201, out
    yield deployment
    deployment.close()
    if getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed:
        print(deployment.controller_log()[-6000:])
    deployment.asterisk.remove()


async def _login(ctx: Any, lab: LabDeployment, username: str) -> Any:
    page = ctx.pages[0] if ctx.pages else await ctx.new_page()
    await page.goto(f"{lab.api}/login")
    await page.fill("#username", username)
    await page.fill("#password", PASSWORD)
    await page.click("#login-submit")
    await page.wait_for_load_state()
    return page


async def test_operator_opens_case_from_live_call_official_sees_it(
        lab: LabDeployment, sipp: Any, browser: Any, artifacts: Path) -> None:
    op = await _login(await browser(), lab, "wangfang")
    assert op.url.endswith("/console")
    await op.select_option("#state-select", "ready")
    await op.click("#state-submit")
    await op.wait_for_load_state()
    assert await op.get_attribute("#state", "data-state") == "ready"
    await op.wait_for_function("document.body.dataset.live === '1'")  # EventSource open
    await op.evaluate("window.__noReload = 'same page'")

    phone = await sipp("uas_answer", port=lab.extra["phones"]["op1"],
                       keys={"answer_ms": 500, "hold_ms": 20000}).start()
    citizen = sipp("uac_call", remote=lab.sip, local_ip="127.0.0.2", service=ZHANG,
                   keys={"hold_ms": 15000, "caller": CALLER}, timeout=40)
    call = asyncio.ensure_future(citizen.run())
    await op.wait_for_function(
        "document.getElementById('live-call').dataset.state === 'connected'"
        " && document.getElementById('call-official').textContent.includes('张伟')", timeout=15000)
    linkedid = await op.get_attribute("#live-call", "data-linkedid")
    assert linkedid
    # a few keystrokes: the summary has the focus; Shift+Tab, ArrowDown = the first category
    # (交通); Tab back, type, Enter
    await op.wait_for_function("document.activeElement.id === 'case-summary'", timeout=5000)
    await op.keyboard.press("Shift+Tab")
    await op.keyboard.press("ArrowDown")
    assert await op.input_value("#case-category") == "transport"
    await op.keyboard.press("Tab")
    await op.keyboard.type("公交站牌被撞坏")
    await op.keyboard.press("Enter")
    await op.wait_for_selector("#case-result:not([hidden])", timeout=10000)
    result = await op.inner_text("#case-result")
    assert "已创建工单" in result and "张伟" in result, result
    case_id = int(await op.get_attribute("#case-form", "data-case-id"))
    await op.screenshot(path=str(artifacts / "01-console-case-opened.png"), full_page=True)

    # the call was still going on: the case refers to it by linkedid, assigned to 张伟
    status, case = await lab.arequest("GET", f"/api/v1/cases/{case_id}")
    assert status == 200, case
    assert (case["kind"], case["status"], case["category"], case["summary"], case["linkedid"],
            case["caller"], case["number_dialed"], case["assigned_to"]) == (
        "call", "assigned", "transport", "公交站牌被撞坏", linkedid, CALLER, ZHANG, "张伟 局长")
    assert [(h["action"], h["actor"]) for h in case["history"]][0] == ("created", "web:wangfang")
    status, call_row = await lab.arequest("GET", "/api/v1/calls?limit=5")
    assert not [c for c in call_row["items"] if c["linkedid"] == linkedid and c["outcome"]]
    # an empty summary is refused in the page with a clear message, nothing written
    await op.select_option("#case-category", "housing")
    await op.click("#case-submit")
    await op.wait_for_selector("#case-error:not([hidden])", timeout=10000)
    assert "摘要" in await op.inner_text("#case-error")
    assert await op.evaluate("window.__noReload") == "same page"
    result_call = await call
    assert result_call.ok, result_call.summary()
    await phone.wait(10)

    # 张伟 signs in and finds the case in his inbox; 李强 does not see it
    zhang = await _login(await browser(), lab, "zhangwei")
    await zhang.goto(f"{lab.api}/cases")
    row = zhang.locator(f"#case-{case_id}")
    assert "公交站牌被撞坏" in await row.inner_text()
    assert "交通" in await row.inner_text()  # the category's label
    assert await row.locator(".category").get_attribute("data-category") == "transport"
    await zhang.screenshot(path=str(artifacts / "02-official-inbox-call-case.png"), full_page=True)
    li = await _login(await browser(), lab, "liqiang")
    await li.goto(f"{lab.api}/cases")
    assert await li.locator(f"#case-{case_id}").count() == 0
    status, items = await lab.arequest("GET", "/api/v1/cases?kind=call")
    assert [c["id"] for c in items["items"]] == [case_id]


async def test_official_plays_voicemail_and_calls_back(
        lab: LabDeployment, sipp: Any, browser: Any, artifacts: Path, tmp_path: Path) -> None:
    # a short uploaded greeting keeps the call quick
    subprocess.run(["sox", "-n", "-r", "16000", "-c", "1", "-b", "16", str(tmp_path / "g.wav"),
                    "synth", "0.5", "sine", "660", "gain", "-6"], check=True)
    greeting = (tmp_path / "g.wav").read_bytes()
    status, out = await lab.arequest("PUT", "/api/v1/officials/li-qiang/greeting",
                                     text=greeting, content_type="audio/wav")
    assert status == 200, out
    r = await sipp("uac_call", remote=lab.sip, local_ip="127.0.0.2", service=LI,
                   keys={"hold_ms": 6000, "play": 1, "audio": f"{tone_ulaw(tmp_path / 't.ul', 6)},1,0",
                         "caller": CALLER}, timeout=30).run()
    assert r.ok, r.summary()

    async def voicemail_case() -> dict[str, Any] | None:
        _, body = await lab.arequest("GET", "/api/v1/cases?official=li-qiang&kind=voicemail")
        for item in body["items"]:
            _, c = await lab.arequest("GET", f"/api/v1/cases/{item['id']}")
            if c["voicemail"]:
                return c
        return None
    case = await eventually(voicemail_case, timeout=30)
    wav = read_wav(lab.config.host_path(case["voicemail"]["path"]))
    assert wav.duration > 2.0, wav.duration

    page = await _login(await browser(), lab, "liqiang")
    await page.goto(f"{lab.api}/cases")
    audio = page.locator(f"audio.vm[data-case='{case['id']}']")
    await audio.wait_for(state="attached")
    # the <audio> really loads the message: loadedmetadata fired, its duration is the WAV's
    meta = await audio.evaluate("""a => new Promise((resolve, reject) => {
        const done = () => resolve({readyState: a.readyState, duration: a.duration});
        if (a.readyState >= 1) return done();
        a.addEventListener('loadedmetadata', done, {once: true});
        a.addEventListener('error', () => reject(new Error('audio error ' + (a.error && a.error.code))),
                           {once: true});
        a.preload = 'metadata';  // the inbox loads nothing until asked (each load is logged)
        a.load();
        setTimeout(() => reject(new Error('no metadata after 10 s')), 10000);
    })""")
    print(f"\naudio element: readyState {meta['readyState']}, duration {meta['duration']:.3f} s; "
          f"recorded WAV {wav.duration:.3f} s")
    assert meta["readyState"] >= 1
    assert abs(meta["duration"] - wav.duration) <= 0.2, (meta, wav.duration)
    # and it plays: the official presses play; the position moves
    played = await audio.evaluate("""a => new Promise((resolve, reject) => {
        a.currentTime = 0;
        a.play().catch(reject);
        const t0 = Date.now();
        const check = () => a.currentTime > 0.3 ? resolve(a.currentTime)
            : (Date.now() - t0 > 8000 ? reject(new Error('not playing')) : setTimeout(check, 100));
        check();
    })""")
    assert played > 0.3
    await page.screenshot(path=str(artifacts / "03-official-inbox-voicemail.png"), full_page=True)
    # who listened is in the access log (personal information), for admins
    status, log = await lab.arequest("GET", "/api/v1/access-log?kind=audio-listened")
    assert status == 200, log
    assert (log["items"][0]["actor"], log["items"][0]["subject"]) == (
        "web:liqiang", f"case {case['id']}"), log

    # click-to-call-back: 李强's phone rings first, then the citizen through the carrier
    li_phone = await sipp("uas_answer", port=lab.extra["phones"]["li"],
                          keys={"hold_ms": 15000}).start()
    citizen = await sipp("uas_answer", local_ip="127.0.0.2", port=lab.config.carrier.port,
                         keys={"hold_ms": 1500}).start()
    await page.click(f"#callback-{case['id']}")
    out = page.locator(f"#cb-result-{case['id']}")
    await page.wait_for_function(
        f"document.getElementById('cb-result-{case['id']}').classList.length > 1", timeout=10000)
    text = await out.inner_text()
    assert "正在回拨" in text and CALLER in text and "o-li" in text, text
    assert "originating" not in text, text  # the state in words, never its value

    async def called_back() -> dict[str, Any] | None:
        _, c = await lab.arequest("GET", f"/api/v1/cases/{case['id']}")
        return c if c["callbacks"] and c["callbacks"][-1]["state"] == "ended" else None
    final = await eventually(called_back, timeout=30)
    assert final["status"] == "called_back" and final["callbacks"][-1]["placed_by"] == "web:liqiang"
    invite = (await citizen.wait(10)).received("INVITE")
    assert invite and invite[0].startswith(f"INVITE sip:{CALLER}@"), invite
    assert (await li_phone.wait(10)).received("INVITE")
    await page.reload()
    assert await page.locator(f"#case-{case['id']} select[name=status]").input_value() == "called_back"
    await page.screenshot(path=str(artifacts / "04-official-inbox-called-back.png"), full_page=True)
