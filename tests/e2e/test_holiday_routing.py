"""Holiday routing (issue 11) on real Asterisk with sipp: a schedule window ``days: holiday``
sends an official's calls to the operator pool on the working calendar's public holidays — by
the controller (this lab asks it live: ``[agi] route_live``), and by the dialplan from the AstDB
mirror with the controller killed. The holiday is today in a calendar made up by the test (never
the shipped sample)."""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from ivr.lab.deploy import LabDeployment
from tests.e2e.routing_helpers import eventually, login_operators, routing_lab

pytestmark = pytest.mark.e2e
NUMBER = "05585551001"  # zhang-wei: mode direct


@pytest.fixture
async def lab(asterisk_root: Path, tmp_path: Path) -> AsyncIterator[LabDeployment]:
    async for deployment in routing_lab(asterisk_root, tmp_path / "lab", agi={"route_live": True}):
        yield deployment


def citizen(sipp: Any, lab: Any, hold_ms: int) -> Any:
    return sipp("uac_call", remote=lab.sip, local_ip="127.0.0.2", service=NUMBER,
                keys={"hold_ms": hold_ms}, timeout=40)


async def _invites(phone: Any) -> int:
    path = phone.workdir / "messages.log"
    return path.read_text(errors="replace").count("INVITE sip:") if path.exists() else 0


async def _records(lab: Any, n: int) -> list[dict[str, Any]] | None:
    status, calls = await lab.arequest("GET", "/api/v1/calls?limit=20")
    assert status == 200, calls
    got = [c for c in calls["items"] if c["number_dialed"] == NUMBER and c["outcome"]]
    return sorted(got, key=lambda c: c["started_at"]) if len(got) >= n else None


async def test_holiday_window_sends_calls_to_the_pool_also_with_controller_down(
        lab: Any, sipp: Any) -> None:
    p = lab.extra["phones"]
    await login_operators(lab, "op-1")
    status, body = await lab.arequest("PUT", "/api/v1/officials/zhang-wei/schedule", {
        "windows": [{"days": "holiday", "start": "00:00", "end": "24:00", "mode": "pool"}],
        "reason": "节假日转话务员"})
    assert status == 200, body
    oid = body["id"]
    assert [w["days"] for w in body["schedule"]] == ["holiday"]
    assert lab.astdb(f"o/{oid}/hwin") == "0-86400-pool"
    assert lab.astdb(f"o/{oid}/effective") == "direct"  # no holiday known yet

    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()  # the lab directory's timezone
    made_up = (f"# test calendar: today is a holiday (made up)\nyear: {today.year}\n"
               f"holidays: [{{name: 测试假日, date: {today.isoformat()}}}]\n")
    status, body = await lab.arequest("POST", "/api/v1/calendar/import", text=made_up)
    assert status == 200, body
    assert lab.astdb("meta/hol") == f"{today:%Y%m%d}-{today:%Y%m%d}"
    assert lab.astdb(f"o/{oid}/effective") == "pool"

    operator = await sipp("uas_answer", port=p["op1"], calls=2, keys={"hold_ms": 500}).start()
    official = await sipp("uas_answer", port=p["zhang"], calls=2, keys={"hold_ms": 500}).start()
    r = await citizen(sipp, lab, 3000).run()   # the controller routes it
    assert r.ok, r.summary()
    await eventually(lambda: _invites(operator), timeout=5, interval=0.05)

    lab.signal_controller(signal.SIGKILL)
    r2 = await citizen(sipp, lab, 3000).run()  # the dialplan routes it from the mirror
    assert r2.ok, r2.summary()
    assert await eventually(lambda: _ge(operator, 2), timeout=5, interval=0.05)
    assert await _invites(official) == 0  # the official's phone never rang
    lab.start_controller()
    await lab.wait_ready()
    first, second = await eventually(lambda: _records(lab, 2), timeout=20)
    assert (first["route_source"], first["mode"], first["steps"][0]["kind"]) == ("agi", "pool", "pool")
    assert (second["route_source"], second["mode"], second["steps"][0]["kind"]) == (
        "mirror", "pool", "pool")
    assert (second["outcome"], second["answered_by"]) == ("answered", "op-1"), second


async def _ge(phone: Any, n: int) -> bool:
    return await _invites(phone) >= n

