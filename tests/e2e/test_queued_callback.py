"""The queued callback (issue 10) on real Asterisk + sipp.

The pool's only operator is busy with a first citizen. A second citizen waits in the queue;
after ``queue_offer_seconds`` they hear the offer, press 1 (RFC 2833) and are hung up on. The
request goes back into the same queue (``queue show`` lists the Local channel waiting —
app_queue's QueueCallerJoin); when the operator frees up, the operator's phone rings first
(answered), then the citizen's at the carrier, presenting the published number. The request is
a call record of kind ``queued-callback``, the citizen's case is ``called_back``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from ivr.lab import ports
from ivr.lab.deploy import LabDeployment, create_lab
from tests.e2e.routing_helpers import eventually, login_operators, tone_ulaw

pytestmark = pytest.mark.e2e
DIRECTORY = """
version: 1
pools:
  - {{name: main, strategy: leastrecent, max_wait: 60}}
operators:
  - {{name: 话务员 王芳, endpoint: op-1, pool: main, static_contact: "sip:op-1@127.0.0.1:{op1}"}}
officials:
  - slug: chen-jing
    name: 陈静
    title: 主任
    numbers: ["0558-5552001"]
    devices: [{{sip: o-chen, static_contact: "sip:o-chen@127.0.0.1:{chen}"}}]
    mode: pool
    chain: [pool]
    ring_timeout: 5
"""
PUBLISHED = "05585552001"
FIRST, WAITING = "13912345690", "13912345691"
DTMF = Path(__file__).parent / "scenarios" / "uac_dtmf.xml"


@pytest.fixture
async def lab(asterisk_root: Path, tmp_path: Path) -> AsyncIterator[LabDeployment]:
    phones = dict(zip(("op1", "chen"), ports.free_ports(2), strict=True))
    deployment = await create_lab(asterisk_root, tmp_path / "lab", DIRECTORY.format(**phones),
                                  autocallback={"queue_offer_seconds": 2})
    deployment.extra["phones"] = phones
    try:
        deployment.start_controller()
        await deployment.wait_ready()
        await login_operators(deployment, "op-1")
        yield deployment
    finally:
        deployment.close()
        print(deployment.controller_log()[-5000:])
        print(deployment.asterisk.log_tail(120))
        deployment.asterisk.remove()


async def test_press_1_keeps_the_place_and_the_operator_rings_first(
        lab: LabDeployment, sipp: Any, tmp_path: Path) -> None:
    operator = await sipp("uas_answer", port=lab.extra["phones"]["op1"], calls=2,
                          keys={"hold_ms": 20000}, timeout=90).start()
    citizen_leg = await sipp("uas_answer", local_ip="127.0.0.2", port=lab.config.carrier.port,
                             keys={"hold_ms": 60000}, timeout=90).start()
    busy = sipp("uac_call", remote=lab.sip, local_ip="127.0.0.2", service=PUBLISHED,
                keys={"caller": FIRST, "hold_ms": 60000}, timeout=60)
    first = asyncio.create_task(busy.run())

    async def talking() -> bool:
        status = await asyncio.to_thread(lab.asterisk.cli, "queue show pool-main")
        return "in call" in status.lower() or "(In use)" in status
    await eventually(talking, timeout=15)
    audio = tone_ulaw(tmp_path / "silence.ul", 1)
    waiting = await sipp(DTMF, remote=lab.sip, local_ip="127.0.0.2", service=PUBLISHED,
                         keys={"caller": WAITING, "caller_name": "citizen",
                               "dtmf": "/usr/share/sip-tester/dtmf_2833_1.pcap",
                               "audio": f"{audio},1,0", "key_after_ms": 4000,
                               "speak_after_ms": 15000, "hold_ms": 20000}, timeout=60).run()
    assert waiting.ok and waiting.received("BYE"), waiting.summary()  # hung up on by Asterisk

    async def request_waits() -> str | None:
        status = await asyncio.to_thread(lab.asterisk.cli, "queue show pool-main")
        return status if "ivr-qcb-queue" in status else None
    assert "Local/" in await eventually(request_waits, timeout=20)

    assert (await first).ok  # the operator hangs up the first call (20 s) and is free
    at_carrier = await citizen_leg.wait(40)
    invite = at_carrier.received("INVITE")
    assert invite and invite[0].startswith(f"INVITE sip:{WAITING}@"), at_carrier.summary()
    assert f"sip:{PUBLISHED}@" in (at_carrier.header(invite[0], "From") or ""), invite[0]
    assert len((await operator.wait(30)).received("INVITE")) == 2

    async def record() -> dict[str, Any] | None:
        status, body = await lab.arequest("GET", "/api/v1/calls?kind=queued-callback")
        assert status == 200, body
        done = [c for c in body["items"] if c["outcome"]]
        return done[0] if done else None
    qcb = await eventually(record, timeout=30)
    assert qcb["outcome"] == "answered" and qcb["number_dialed"] == WAITING, qcb
    assert qcb["linkedid"].startswith("ivrqc-")
    status, cases = await lab.arequest("GET", "/api/v1/cases?kind=missed")
    [case] = [c for c in cases["items"] if c["caller"] == WAITING]
    assert case["callback_duty"] == "queued" and case["status"] == "called_back", case
    assert [cb["endpoint"] for cb in case["callbacks"]] == ["pool:main"]
    # the operator answered before the citizen's leg was dialled
    import json
    events = [json.loads(line) for line in lab.config.cel_journal.read_text().splitlines()]
    mine = [(e["eventtype"], e["channame"].split("-")[0]) for e in events
            if e["linkedid"] == qcb["linkedid"]]
    assert mine.index(("ANSWER", "PJSIP/op")) < [t for t, _ in mine].index("IVR_CALLBACK"), mine
