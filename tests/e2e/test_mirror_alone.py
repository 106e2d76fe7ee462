"""Every routing rule from the AstDB mirror alone (issue 16): real Asterisk, sipp, the controller
stopped (SIGSTOP: hung, its sockets open) while the calls come in.

Set through the API with the controller up, then the controller stopped: an official in a
meeting (availability: the direct step is skipped, the deputy rings), an official in voicemail
mode, a pooled official (an operator answers), an official whose schedule window (now) says
voicemail, and a published number with a DTMF menu and its own language (English prompts; 1
leaves a message). Every record, written once the controller runs again, says ``mirror``.
Modes and windows while the controller is killed: test_resilience.py; holidays:
test_holiday_routing.py.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from ivr.lab.deploy import LabDeployment
from tests.e2e.routing_helpers import eventually, login_operators, routing_lab, tone_ulaw
from tests.e2e.test_resilience import windows

pytestmark = pytest.mark.e2e
DTMF = Path(__file__).parent / "scenarios" / "uac_dtmf.xml"


@pytest.fixture
async def lab(asterisk_root: Path, tmp_path: Path) -> AsyncIterator[LabDeployment]:
    async for deployment in routing_lab(asterisk_root, tmp_path / "lab"):
        yield deployment


async def _put(lab: Any, path: str, body: dict[str, Any]) -> dict[str, Any]:
    status, out = await lab.arequest("PUT", path, body)
    assert status == 200, out  # 200: this node's mirror holds it
    return dict(out)


async def _invites(phone: Any) -> int:
    path = phone.workdir / "messages.log"
    text = await asyncio.to_thread(lambda: path.read_text(errors="replace") if path.exists() else "")
    return text.count("INVITE sip:")


async def _reading(lab: Any, prompt: str) -> bool:
    """A channel is in Read() playing ``prompt`` (``core show channels concise``: app, data)."""
    out = await asyncio.to_thread(lab.asterisk.cli, "core show channels concise")
    return any(f[5] == "Read" and prompt in f[6]
               for f in (line.split("!") for line in out.splitlines()) if len(f) > 6)


async def test_every_rule_routes_with_the_controller_stopped(lab: Any, sipp: Any,
                                                            tmp_path: Path) -> None:
    p = lab.extra["phones"]
    await login_operators(lab, "op-1")
    tz = ZoneInfo("Asia/Shanghai")  # the lab directory's timezone
    await _put(lab, "/api/v1/officials/zhang-wei/availability", {"availability": "meeting"})
    await _put(lab, "/api/v1/officials/li-qiang/mode", {"mode": "voicemail"})
    start = datetime.now(tz).replace(microsecond=0) - timedelta(seconds=2)
    await _put(lab, "/api/v1/officials/sun-li/schedule",
               {"windows": windows(start, timedelta(hours=1), "voicemail")})
    await _put(lab, "/api/v1/numbers/05585554001", {"menu": True, "language": "en"})

    zhang = await sipp("uas_answer", port=p["zhang"], keys={"hold_ms": 500}).start()
    deputy = await sipp("uas_answer", port=p["li"], keys={"hold_ms": 500}).start()
    operator = await sipp("uas_answer", port=p["op1"], keys={"hold_ms": 500}).start()
    lab.signal_controller(signal.SIGSTOP)
    try:
        def call(number: str, caller: str) -> Any:
            return sipp("uac_call", remote=lab.sip, local_ip="127.0.0.2", service=number,
                        keys={"hold_ms": 4000, "caller": caller}, timeout=40).run()
        audio = tone_ulaw(tmp_path / "speech.ul", 2)
        menu = await sipp(DTMF, remote=lab.sip, local_ip="127.0.0.2", service="05585554001",
                          keys={"caller": "13900000005", "caller_name": "citizen",
                                "dtmf": "/usr/share/sip-tester/dtmf_2833_1.pcap",
                                "audio": f"{audio},1,0", "key_after_ms": 3000,
                                "speak_after_ms": 1500, "hold_ms": 12000}, timeout=60).start()
        # the menu is read in the number's language, from the mirror (num/<digits>: ^1^en)
        assert await eventually(lambda: _reading(lab, "/en/ivr-menu"), timeout=10, interval=0.05)
        results = await asyncio.gather(call("05585551001", "13900000001"),   # meeting → deputy
                                       call("05585551002", "13900000002"),   # voicemail mode
                                       call("05585552001", "13900000003"),   # pool mode
                                       call("05585553001", "13900000004"),   # window: voicemail
                                       menu.wait(60))
        for r in results:
            assert r.ok, r.summary()
    finally:
        lab.signal_controller(signal.SIGCONT)
    assert await _invites(zhang) == 0  # in a meeting: never rung
    assert await _invites(deputy) == 1 and await _invites(operator) == 1

    async def records() -> dict[str, dict[str, Any]] | None:
        st, body = await lab.arequest("GET", "/api/v1/calls?limit=20")
        done = {c["caller"]: c for c in body["items"] if c["outcome"]}
        return done if len(done) >= 5 else None
    got = await eventually(records, timeout=60)
    seen = {caller: (c["route_source"], c["mode"], [s["kind"] for s in c["steps"]], c["outcome"],
                     c["answered_by"]) for caller, c in got.items()}
    assert seen["13900000001"] == ("mirror", "direct", ["deputy"], "answered", "o-li"), seen
    assert seen["13900000002"][:3] == ("mirror", "voicemail", ["voicemail"]), seen
    assert seen["13900000003"] == ("mirror", "pool", ["pool"], "answered", "op-1"), seen
    assert seen["13900000004"][:3] == ("mirror", "voicemail", ["voicemail"]), seen
    assert seen["13900000005"][:3] == ("mirror", "pool", ["menu", "voicemail"]), seen
    assert got["13900000005"]["steps"][0]["result"] == "1"  # the key pressed
