"""The outcome model on real Asterisk with real SIP calls (sipp): a small seeded mix of calls,
each planned (which callee answers, is busy or rings out; when the caller hangs up), placed at
once, and every record — outcome, each step's result, who answered — compared with the plan
and with what the callees' sipp phones saw. Ground truth never comes from the API or the fold.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from ivr.lab.deploy import LabDeployment
from tests.e2e.outcome_helpers import Planned, finished_records, ready_operators, seen
from tests.e2e.routing_helpers import routing_lab, tone_ulaw

pytestmark = pytest.mark.e2e

# One official per planned call, so that no two calls share a phone or a pool. English prompts
# (shorter): ivr-unavailable 5.8 s, the default greeting 11.6 s + a 0.4 s beep.
DIRECTORY = """
version: 1
settings: {{timezone: Asia/Shanghai, default_chain: [pool]}}
pools:
  - {{name: p1, strategy: ringall, max_wait: 5}}
  - {{name: p2, strategy: ringall, max_wait: 5}}
  - {{name: p3, strategy: ringall, max_wait: 30}}
operators:
  - {{name: op one, endpoint: op-1, pool: p1, static_contact: "sip:op-1@127.0.0.1:{op1}"}}
  - {{name: op two, endpoint: op-2, pool: p2, static_contact: "sip:op-2@127.0.0.1:{op2}"}}
  - {{name: op three, endpoint: op-3, pool: p3, static_contact: "sip:op-3@127.0.0.1:{op3}"}}
officials:
  - {{slug: ans, name: A, language: en, numbers: ["0558-5556001"], mode: direct, chain: [pool],
     pool: p3, ring_timeout: 10, devices: [{{sip: o-ans, static_contact: "sip:o-ans@127.0.0.1:{ans}"}}]}}
  - {{slug: busy1, name: B1, language: en, numbers: ["0558-5556002"], mode: direct, chain: [pool],
     pool: p1, ring_timeout: 10, devices: [{{sip: o-b1, static_contact: "sip:o-b1@127.0.0.1:{b1}"}}]}}
  - {{slug: busy2, name: B2, language: en, numbers: ["0558-5556003"], mode: direct, chain: [pool],
     pool: p2, ring_timeout: 10, devices: [{{sip: o-b2, static_contact: "sip:o-b2@127.0.0.1:{b2}"}}]}}
  - {{slug: queued, name: C, language: en, numbers: ["0558-5556004"], mode: pool, chain: [pool],
     pool: p3}}
  - {{slug: vm, name: D, language: en, numbers: ["0558-5556005", "0558-5556006"], mode: voicemail,
     chain: [voicemail]}}
"""
PHONES = ("op1", "op2", "op3", "ans", "b1", "b2")


PLAN = [
    Planned("05585556001", "13900000001", "answered", [("direct", "ANSWER")], ("official", "o-ans")),
    # busy, the pool rings its operator for max_wait, the closing message is heard out
    Planned("05585556002", "13900000002", "missed",
            [("direct", "BUSY"), ("pool", "TIMEOUT"), ("message", "PLAYED")]),
    # the same route, the caller hangs up 1.5 s into the closing message
    Planned("05585556003", "13900000003", "missed",
            [("direct", "BUSY"), ("pool", "TIMEOUT"), ("message", "CUT")]),
    # hangs up after 3 s in the queue (its operator's phone rings, nobody answers)
    Planned("05585556004", "13900000004", "abandoned", [("pool", "CANCEL")],
            abandoned_during="queued"),
    # speaks over the greeting and ~4 s into the recording
    Planned("05585556005", "13900000005", "voicemail", [("voicemail", "RECORDED")]),
    # hangs up 3 s into the greeting: the final step had started
    Planned("05585556006", "13900000006", "missed", [("voicemail", "CUT")]),
]


@pytest.fixture
async def lab(asterisk_root: Path, tmp_path: Path) -> AsyncIterator[LabDeployment]:
    async for deployment in routing_lab(asterisk_root, tmp_path / "lab", DIRECTORY, PHONES):
        yield deployment


async def test_outcomes_of_a_seeded_mix(lab: Any, sipp: Any, tmp_path: Path) -> None:
    p = lab.extra["phones"]
    await ready_operators(lab, {"op-1": "pool-p1", "op-2": "pool-p2", "op-3": "pool-p3"})
    answering = await sipp("uas_answer", port=p["ans"], keys={"hold_ms": 2000}).start()
    busy = [await sipp("uas_busy", port=p[k]).start() for k in ("b1", "b2")]
    ringing = {k: await sipp("uas_noanswer", port=p[k]).start() for k in ("op1", "op2", "op3")}
    audio = tone_ulaw(tmp_path / "tone.ul", 25)
    ip = {"remote": lab.sip, "local_ip": "127.0.0.2"}
    a, b1, b2, c, d1, d2 = PLAN
    citizens = [
        sipp("uac_call", service=a.number, keys={"hold_ms": 3000, "caller": a.caller}, **ip),
        sipp("uac_call", service=b1.number, keys={"hold_ms": 30000, "caller": b1.caller},
             timeout=40, **ip),
        sipp("uac_call", service=b2.number, keys={"hold_ms": 1500, "caller": b2.caller}, **ip),
        sipp("uac_abandon", service=c.number, keys={"ring_ms": 3000, "caller": c.caller}, **ip),
        sipp("uac_call", service=d1.number, keys={"hold_ms": 16000, "caller": d1.caller,
                                                  "play": 1, "audio": str(audio)}, timeout=40, **ip),
        sipp("uac_call", service=d2.number, keys={"hold_ms": 3000, "caller": d2.caller}, **ip),
    ]
    results = await asyncio.gather(*(s.run() for s in citizens))
    for r in results:
        assert r.ok, r.summary()
    # the callee side, as the phones saw it
    assert results[1].received("BYE"), "the heard-out message should end the call from Asterisk"
    assert not results[2].received("BYE"), "the caller hung up during the message"
    ans = await answering.wait(10)
    assert ans.ok and len(ans.received("INVITE")) == 1, ans.summary()
    for phone in busy:
        assert len((await phone.wait(10)).received("INVITE")) == 1
    for k in ("op1", "op2", "op3"):  # each pool rang its operator, who never answered
        got = await ringing[k].wait(15)
        assert got.received("INVITE") and got.received("CANCEL"), got.summary()

    records = await finished_records(lab, len(PLAN), timeout=20)
    assert len(records) == len(PLAN), sorted(records)
    got = {}
    for plan in PLAN:
        assert len(records[plan.caller]) == 1, records[plan.caller]
        got[plan.caller] = records[plan.caller][0]
        assert seen(got[plan.caller]) == plan.want(), (plan.number, got[plan.caller])
    # seconds: waited before abandoning (3 s of ringing in the queue), the message's real length
    assert 2.5 <= got[c.caller]["waited_secs"] <= 5.0, got[c.caller]
    assert got[a.caller]["waited_secs"] is not None and got[a.caller]["waited_secs"] < 3
    secs = got[d1.caller]["voicemail_secs"]
    assert secs is not None and 1.0 <= secs <= 6.0, got[d1.caller]
    assert got[d2.caller]["voicemail_secs"] is None
