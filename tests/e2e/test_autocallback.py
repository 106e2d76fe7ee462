"""Automatic callbacks (issue 10) on real Asterisk + sipp.

Two citizens call and give up while the official's phone rings (missed cases); nobody clicks
anything afterwards:

- 张伟's case (city policy: the pool's operator first, through app_queue; 3 attempts): the
  citizen rejects attempt 1 (486), lets attempt 2 ring out and answers attempt 3, staying on the
  line longer than the minimum bridged time. In each attempt the operator's phone rings and
  answers before the citizen's INVITE (CEL: the operator's channel starts first); the citizen's
  INVITE presents the published number. Three attempts on the case (BUSY, NOANSWER, REACHED),
  three call records of kind ``callback``, the duty closed, the case ``called_back``.
- 李强's case (his override: his own phone first, 2 attempts): attempt 1 is answered by a
  "voicemail" that stays silent for 5 s — shorter than the minimum bridged time, so the duty is
  not closed; attempt 2 rings out → the duty is ``unreachable`` and the case stays new with
  its owner.
- Outside the callback hours nothing is dialled: the attempt comes due and is deferred to the
  next opening (a ``deferred`` event), the phone is never rung.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from ivr.lab import ports
from ivr.lab.deploy import LabDeployment, create_lab
from tests.e2e.routing_helpers import eventually, login_operators

pytestmark = pytest.mark.e2e
DIRECTORY = """
version: 1
pools:
  - {{name: main, strategy: leastrecent, max_wait: 5}}
operators:
  - {{name: 话务员 王芳, endpoint: op-1, pool: main, static_contact: "sip:op-1@127.0.0.1:{op1}"}}
officials:
  - slug: zhang-wei
    name: 张伟
    title: 局长
    numbers: ["0558-5551001"]
    devices: [{{sip: o-zhang, static_contact: "sip:o-zhang@127.0.0.1:{zhang}"}}]
    mode: direct
    chain: [voicemail]
    ring_timeout: 10
  - slug: li-qiang
    name: 李强
    title: 副局长
    numbers: ["0558-5551002"]
    devices: [{{sip: o-li, static_contact: "sip:o-li@127.0.0.1:{li}"}}]
    mode: direct
    chain: [voicemail]
    ring_timeout: 10
"""
ZHANG_NO, LI_NO = "05585551001", "05585551002"
CITIZEN_1, CITIZEN_2 = "13912345678", "13912345679"
MIN_BRIDGED = 8


@pytest.fixture
async def lab(asterisk_root: Path, tmp_path: Path) -> AsyncIterator[LabDeployment]:
    phones = dict(zip(("op1", "zhang", "li"), ports.free_ports(3), strict=True))
    deployment = await create_lab(
        asterisk_root, tmp_path / "lab", DIRECTORY.format(**phones),
        autocallback={"enabled": True, "hours": "00:00-24:00", "first": "pool:main",
                      "first_delay_seconds": 1, "attempts": 3, "spacing_seconds": 3,
                      "min_bridged_seconds": MIN_BRIDGED, "citizen_ring_seconds": 4,
                      "tick_seconds": 0.5,
                      "officials": {"li-qiang": "first=own attempts=2"}},
        outbound={"callback_max_seconds": 60})
    deployment.extra["phones"] = phones
    try:
        deployment.start_controller()
        await deployment.wait_ready()
        await login_operators(deployment, "op-1")
        yield deployment
    finally:
        deployment.close()
        print(deployment.controller_log()[-6000:])
        print(deployment.asterisk.log_tail(150))
        deployment.asterisk.remove()


async def missed(lab: LabDeployment, sipp: Any, phone: str, published: str,
                 caller: str) -> None:
    """The citizen gives up while the official's phone rings: a missed case."""
    ringing = await sipp("uas_noanswer", port=lab.extra["phones"][phone], timeout=30).start()
    r = await sipp("uac_abandon", remote=lab.sip, local_ip="127.0.0.2", service=published,
                   keys={"ring_ms": 1500, "caller": caller}, timeout=20).run()
    assert r.ok, r.summary()
    assert (await ringing.wait(15)).received("CANCEL")


async def case_of(lab: LabDeployment, caller: str) -> dict[str, Any] | None:
    status, body = await lab.arequest("GET", "/api/v1/cases?kind=missed")
    assert status == 200, body
    found = [c for c in body["items"] if c["caller"] == caller]
    if not found:
        return None
    status, case = await lab.arequest("GET", f"/api/v1/cases/{found[0]['id']}")
    assert status == 200, case
    return dict(case)


def attempts(case: dict[str, Any]) -> list[str]:
    return [e["new_value"] for e in case["history"] if e["action"] == "autocallback_attempt"]


def cel(lab: LabDeployment) -> list[dict[str, Any]]:
    return [json.loads(line) for line in lab.config.cel_journal.read_text().splitlines()]


async def test_automatic_callback_retries_until_reached(lab: LabDeployment, sipp: Any) -> None:
    carrier = {"local_ip": "127.0.0.2", "port": lab.config.carrier.port}
    busy = await sipp("uas_busy", timeout=60, **carrier).start()
    await missed(lab, sipp, "zhang", ZHANG_NO, CITIZEN_1)
    operator = await sipp("uas_answer", port=lab.extra["phones"]["op1"], calls=3,
                          keys={"hold_ms": 60000}, timeout=120).start()
    first = await busy.wait(40)  # attempt 1: 486
    assert first.ok and first.received("INVITE"), first.summary()
    invite = first.received("INVITE")[0]
    assert invite.startswith(f"INVITE sip:{CITIZEN_1}@"), invite
    assert f"sip:{ZHANG_NO}@" in (first.header(invite, "From") or ""), invite
    assert first.header(invite, "P-Asserted-Identity") == (
        f"<sip:{ZHANG_NO}@{lab.config.carrier.host}>"), invite
    ringout = await (await sipp("uas_noanswer", timeout=60, **carrier).start()).wait(40)
    assert ringout.ok and ringout.received("CANCEL"), ringout.summary()  # attempt 2 rang out
    answer = await (await sipp("uas_answer", keys={"hold_ms": (MIN_BRIDGED + 3) * 1000},
                               timeout=60, **carrier).start()).wait(50)
    assert answer.ok and answer.received("INVITE"), answer.summary()  # attempt 3: answered

    async def closed() -> dict[str, Any] | None:
        case = await case_of(lab, CITIZEN_1)
        return case if case is not None and case["callback_duty"] == "closed" else None
    case = await eventually(closed, timeout=30)
    assert attempts(case) == ["BUSY", "NOANSWER", "REACHED"], case["history"]
    assert case["status"] == "called_back"
    assert [cb["endpoint"] for cb in case["callbacks"]] == ["pool:main"] * 3
    assert [cb["result"] for cb in case["callbacks"]] == ["BUSY", "NOANSWER", "ANSWER"]
    assert len((await operator.wait(30)).received("INVITE")) == 3
    # each attempt: the operator's phone (through the queue) answered before the citizen's
    # leg was dialled (IVR_CALLBACK comes right before the Dial to the carrier)
    events = cel(lab)
    for cb in case["callbacks"]:
        mine = [(e["eventtype"], e["channame"].split("-")[0]) for e in events
                if e["linkedid"] == cb["linkedid"]]
        assert ("ANSWER", "PJSIP/op") in mine and ("IVR_CALLBACK", "Local/main@ivr") in [
            (t, c.split(";")[0]) for t, c in mine], mine
        assert mine.index(("ANSWER", "PJSIP/op")) < [t for t, _ in mine].index("IVR_CALLBACK")

    async def records() -> list[dict[str, Any]] | None:
        status, body = await lab.arequest("GET", "/api/v1/calls?kind=callback")
        assert status == 200, body
        mine = [c for c in body["items"] if c["linkedid"] in
                {cb["linkedid"] for cb in case["callbacks"]}]
        return mine if len(mine) == 3 else None
    assert len(await eventually(records, timeout=20)) == 3

    # 李强: his own phone first, 2 attempts; a silent "voicemail" answers attempt 1 for 5 s
    voicemail = await sipp("uas_answer", keys={"hold_ms": 5000}, timeout=60, **carrier).start()
    await missed(lab, sipp, "li", LI_NO, CITIZEN_2)
    phone = await sipp("uas_answer", port=lab.extra["phones"]["li"], calls=2,
                       keys={"hold_ms": 60000}, timeout=90).start()
    heard = await voicemail.wait(40)
    assert heard.ok and heard.received("INVITE"), heard.summary()

    async def short() -> dict[str, Any] | None:
        c = await case_of(lab, CITIZEN_2)
        return c if c is not None and attempts(c) == ["SHORT"] else None
    after_one = await eventually(short, timeout=20)
    assert (after_one["callback_duty"], after_one["status"]) == ("open", "new")  # not closed
    ring = await (await sipp("uas_noanswer", timeout=60, **carrier).start()).wait(40)
    assert ring.ok and ring.received("CANCEL"), ring.summary()

    async def unreachable() -> dict[str, Any] | None:
        c = await case_of(lab, CITIZEN_2)
        return c if c is not None and c["callback_duty"] == "unreachable" else None
    final = await eventually(unreachable, timeout=30)
    assert attempts(final) == ["SHORT", "NOANSWER"]
    assert final["status"] == "new" and final["official_id"] == after_one["official_id"]
    assert [cb["endpoint"] for cb in final["callbacks"]] == ["o-li", "o-li"]
    assert "unreachable" in [e["action"] for e in final["history"]]
    assert len((await phone.wait(30)).received("INVITE")) == 2


@pytest.fixture
async def closed_lab(asterisk_root: Path, tmp_path: Path) -> AsyncIterator[LabDeployment]:
    """The callback hours are a period that starts two hours from now (city time)."""
    phones = dict(zip(("op1", "zhang", "li"), ports.free_ports(3), strict=True))
    now = datetime.now(ZoneInfo("Asia/Shanghai"))
    start, end = now + timedelta(hours=2), now + timedelta(hours=3)
    deployment = await create_lab(
        asterisk_root, tmp_path / "lab", DIRECTORY.format(**phones),
        autocallback={"enabled": True, "hours": f"{start:%H:%M}-{end:%H:%M}", "first": "own",
                      "first_delay_seconds": 1, "tick_seconds": 0.5})
    deployment.extra["phones"] = phones
    try:
        deployment.start_controller()
        await deployment.wait_ready()
        yield deployment
    finally:
        deployment.close()
        print(deployment.controller_log()[-3000:])
        deployment.asterisk.remove()


async def test_nothing_is_dialled_outside_the_callback_hours(closed_lab: LabDeployment,
                                                              sipp: Any) -> None:
    lab = closed_lab
    await missed(lab, sipp, "zhang", ZHANG_NO, CITIZEN_1)
    phone = await sipp("uas_answer", port=lab.extra["phones"]["zhang"], timeout=60).start()

    async def deferred() -> dict[str, Any] | None:
        case = await case_of(lab, CITIZEN_1)
        return case if case is not None and any(
            e["action"] == "deferred" for e in case["history"]) else None
    case = await eventually(deferred, timeout=30)  # the attempt came due and was put off
    assert case["callbacks"] == [] and case["callback_duty"] == "open", case
    note = next(e["note"] for e in case["history"] if e["action"] == "deferred")
    assert "outside the callback hours" in note, note
    await phone.stop()
    log = phone.workdir / "messages.log"
    assert log.parent.is_dir()
    seen = log.read_text(errors="replace") if log.exists() else ""
    assert seen.count("INVITE sip:") == 0, seen  # the official's phone was never rung
