"""Routing on real Asterisk with real SIP calls (sipp): direct, fallback chain, pool, switch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ivr.lab import ports
from tests.e2e.routing_helpers import PHONES, call_record, eventually, make_lab

pytestmark = pytest.mark.e2e


@pytest.fixture
async def lab(asterisk_root: Path, tmp_path: Path, request: pytest.FixtureRequest) -> Any:
    phone_ports = dict(zip(PHONES, ports.free_ports(len(PHONES))))
    deployment = await make_lab(asterisk_root, tmp_path / "lab", phone_ports)
    deployment.extra["phones"] = phone_ports
    yield deployment
    deployment.close()
    if request.node.rep_call.failed if hasattr(request.node, "rep_call") else False:
        print(deployment.controller_log()[-4000:])
        print(deployment.asterisk.log_tail(150))
    deployment.asterisk.remove()


async def test_direct_official_answers(lab: Any, sipp: Any) -> None:
    phone = await sipp("uas_answer", port=lab.extra["phones"]["zhang"],
                       keys={"hold_ms": 1500}).start()
    citizen = sipp("uac_call", remote=lab.sip, local_ip="127.0.0.2", service="05585551001",
                   keys={"hold_ms": 5000, "caller": "13912345678"})
    result = await citizen.run()
    assert result.ok, result.summary()
    invite = (await phone.wait(10)).received("INVITE")
    assert invite, "the official's phone was never rung"
    assert "张伟" in invite[0]  # caller-ID name carries whose number was dialed

    record = await eventually(lambda: call_record(lab, "05585551001"))
    assert record["outcome"] == "answered"
    assert record["answered_kind"] == "direct"
    assert record["answered_by"] == "o-zhang"
    assert record["caller"] == "13912345678"
    assert record["route_source"] == "agi"
    assert [s["kind"] for s in record["steps"]] == ["direct"]
