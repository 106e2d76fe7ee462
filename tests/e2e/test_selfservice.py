"""Officials' self-service on real Asterisk with sipp (issue 15): "in a meeting until …" set
through the API skips the official's direct step — routed by the controller and, with the
controller killed, by the dialplan from the AstDB mirror — and ends on time in both; feature
codes dialled by the official's authenticated SIP device change the availability and the next
call follows; the same code from a citizen (a forged caller ID) changes nothing; with the
controller down a feature code answers 暂不可用 and changes nothing."""

from __future__ import annotations

import signal
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ivr.calls.events import CelRecord, from_journal_line
from ivr.lab.deploy import LabDeployment
from tests.e2e.routing_helpers import eventually, login_operators, routing_lab

pytestmark = pytest.mark.e2e
SCENARIOS = Path(__file__).parent / "scenarios"
NUMBER = "05585551001"  # zhang-wei: direct, deputy li-qiang (answers when zhang is away)
OFFICIAL = "/api/v1/officials/zhang-wei"


@pytest.fixture
async def lab(asterisk_root: Path, tmp_path: Path) -> AsyncIterator[LabDeployment]:
    async for deployment in routing_lab(asterisk_root, tmp_path / "lab"):
        yield deployment


def _invites(phone: Any) -> int:
    path = phone.workdir / "messages.log"
    return path.read_text(errors="replace").count("INVITE sip:") if path.exists() else 0


async def _call(lab: Any, sipp: Any) -> None:
    r = await sipp("uac_call", remote=lab.sip, local_ip="127.0.0.2", service=NUMBER,
                   keys={"hold_ms": 1500, "caller": "13912345678"}, timeout=40).run()
    assert r.ok, r.summary()


async def _rung(phone: Any, n: int) -> bool:
    return _invites(phone) >= n


async def _official(lab: Any) -> dict[str, Any]:
    status, body = await lab.arequest("GET", OFFICIAL)
    assert status == 200, body
    return dict(body)


async def _audit(lab: Any) -> list[dict[str, Any]]:
    status, body = await lab.arequest("GET", "/api/v1/audit?official=zhang-wei&limit=100")
    assert status == 200, body
    return list(body["items"])


def _journal(lab: Any) -> list[CelRecord]:
    path = lab.config.cel_journal
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    return [r for r in map(from_journal_line, lines) if r is not None]


def _features(lab: Any) -> list[dict[str, str]]:
    return [dict(r.fields) for r in _journal(lab) if r.name == "IVR_FEATURE"]


async def test_meeting_until_skips_the_official_and_ends_on_time_with_the_controller_down(
        lab: Any, sipp: Any) -> None:
    p = lab.extra["phones"]
    zhang = await sipp("uas_answer", port=p["zhang"], calls=5, keys={"hold_ms": 500}).start()
    li = await sipp("uas_answer", port=p["li"], calls=5, keys={"hold_ms": 500}).start()
    until = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=25)
    status, body = await lab.arequest("PUT", f"{OFFICIAL}/availability", {
        "availability": "meeting", "until": until.isoformat(), "reason": "开会"})
    assert status == 200, body
    assert (body["availability"], body["mirror_written"]) == ("meeting", True), body
    assert datetime.fromisoformat(body["availability_until"]) == until
    oid = body["id"]
    assert lab.astdb(f"o/{oid}/avail") == f"meeting^{int(until.timestamp())}"

    await _call(lab, sipp)  # the controller routes it: the deputy, not the official
    await eventually(lambda: _rung(li, 1), timeout=10, interval=0.05)
    lab.signal_controller(signal.SIGKILL)
    await _call(lab, sipp)  # the dialplan routes it from the mirror: still the deputy
    await eventually(lambda: _rung(li, 2), timeout=10, interval=0.05)
    assert _invites(zhang) == 0
    assert time.time() < until.timestamp(), "the calls took longer than the meeting"

    # the meeting's end passes with the controller still down: Asterisk's own clock decides
    await eventually(lambda: _passed(until), timeout=40, interval=0.2)
    await _call(lab, sipp)
    await eventually(lambda: _rung(zhang, 1), timeout=10, interval=0.05)
    assert _invites(li) == 2
    assert lab.astdb(f"o/{oid}/avail") == f"meeting^{int(until.timestamp())}"  # untouched

    lab.start_controller()
    await lab.wait_ready()
    # the scheduler writes the return back, audited as the system
    o = await eventually(lambda: _available(lab), timeout=20)
    assert o["availability_until"] is None
    back = [a for a in await _audit(lab) if a["field"] == "availability" and a["new_value"] == "available"]
    assert [a["actor"] for a in back] == ["system"], back
    assert lab.astdb(f"o/{oid}/avail") == "available^"
    records = await eventually(lambda: _records(lab, 3), timeout=20)
    # every call routes from the mirror ([agi] route_live off): with the controller up, then down
    assert [(r["route_source"], r["steps"][0]["kind"], r["answered_by"]) for r in records] == [
        ("mirror", "deputy", "o-li"), ("mirror", "deputy", "o-li"), ("mirror", "direct", "o-zhang")]


async def _passed(when: datetime) -> bool:
    return time.time() >= when.timestamp() + 0.5


async def _available(lab: Any) -> dict[str, Any] | None:
    o = await _official(lab)
    return o if o["availability"] == "available" else None


async def _records(lab: Any, n: int) -> list[dict[str, Any]] | None:
    status, calls = await lab.arequest("GET", "/api/v1/calls?limit=20")
    assert status == 200, calls
    got = [c for c in calls["items"] if c["number_dialed"] == NUMBER and c["outcome"]]
    return sorted(got, key=lambda c: c["started_at"]) if len(got) >= n else None


async def test_the_scheduler_returns_an_official_on_time_with_the_controller_up(
        lab: Any, sipp: Any) -> None:
    p = lab.extra["phones"]
    zhang = await sipp("uas_answer", port=p["zhang"], calls=2, keys={"hold_ms": 500}).start()
    status, body = await lab.arequest("PUT", f"{OFFICIAL}/availability", {
        "availability": "dnd", "until": (datetime.now(UTC) + timedelta(seconds=4)).isoformat()})
    assert status == 200, body
    o = await eventually(lambda: _available(lab), timeout=20)
    assert o["availability_until"] is None
    assert lab.astdb(f"o/{o['id']}/avail") == "available^"
    await _call(lab, sipp)
    await eventually(lambda: _rung(zhang, 1), timeout=10, interval=0.05)


async def test_a_deputys_meeting_ends_on_time_with_the_controller_down(lab: Any, sipp: Any) -> None:
    """张伟 on leave (no return), his deputy 李强 in a meeting until a few seconds ahead: from the
    mirror, calls skip both and reach the pool; once the deputy's meeting is over, the deputy
    rings again — the controller still down."""
    p = lab.extra["phones"]
    await login_operators(lab, "op-1")
    op = await sipp("uas_answer", port=p["op1"], calls=3, keys={"hold_ms": 500}).start()
    li = await sipp("uas_answer", port=p["li"], calls=3, keys={"hold_ms": 500}).start()
    zhang = await sipp("uas_answer", port=p["zhang"], calls=3, keys={"hold_ms": 500}).start()
    status, body = await lab.arequest("PUT", f"{OFFICIAL}/availability", {"availability": "leave"})
    assert status == 200 and body["mirror_written"], body
    until = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=15)
    status, body = await lab.arequest("PUT", "/api/v1/officials/li-qiang/availability", {
        "availability": "meeting", "until": until.isoformat()})
    assert status == 200 and body["mirror_written"], body
    lab.signal_controller(signal.SIGKILL)
    await _call(lab, sipp)
    await eventually(lambda: _rung(op, 1), timeout=15, interval=0.05)
    assert (_invites(li), _invites(zhang)) == (0, 0)
    assert time.time() < until.timestamp(), "the call took longer than the meeting"
    await eventually(lambda: _passed(until), timeout=40, interval=0.2)
    await _call(lab, sipp)
    await eventually(lambda: _rung(li, 1), timeout=10, interval=0.05)
    assert (_invites(op), _invites(zhang)) == (1, 0)


def _phone(lab: Any, sipp: Any, code: str, endpoint: str = "o-zhang") -> Any:
    return sipp(SCENARIOS / "uac_auth_call.xml", remote=lab.sip, service=code,
                keys={"user": endpoint, "hold_ms": 20000},
                auth=(endpoint, lab.extra["credentials"][endpoint]), timeout=30)


async def test_feature_codes_from_the_officials_own_phone(lab: Any, sipp: Any) -> None:
    p = lab.extra["phones"]
    zhang = await sipp("uas_answer", port=p["zhang"], calls=5, keys={"hold_ms": 500}).start()
    li = await sipp("uas_answer", port=p["li"], calls=5, keys={"hold_ms": 500}).start()

    before = datetime.now(UTC)
    r = await _phone(lab, sipp, "*61").run()  # answered, the confirmation, Asterisk hangs up
    assert r.ok, r.summary()
    assert r.received("BYE"), "the confirmation did not end the call"
    o = await _official(lab)
    assert o["availability"] == "meeting"
    left = datetime.fromisoformat(o["availability_until"]) - before
    assert timedelta(minutes=119) < left <= timedelta(minutes=121)  # [self_service] default
    entry = next(a for a in await _audit(lab) if a["field"] == "availability")
    assert (entry["actor"], entry["new_value"]) == ("phone:o-zhang", "meeting")
    assert _features(lab)[-1] == {"endpoint": "o-zhang", "code": "*61", "result": "meeting",
                                  "prompt": "ivr-feature-meeting"}
    assert lab.astdb(f"o/{o['id']}/avail").startswith("meeting^")
    await _call(lab, sipp)
    await eventually(lambda: _rung(li, 1), timeout=10, interval=0.05)
    assert _invites(zhang) == 0

    # a citizen with a forged caller ID (the official's own endpoint name and published
    # number) through the carrier: no feature codes there at all
    for caller in ("o-zhang", "05585551001"):
        bad = await sipp("uac_expect_fail", remote=lab.sip, local_ip="127.0.0.2", service="*60",
                         keys={"caller": caller, "caller_name": "张伟"}, timeout=10).run()
        assert bad.ok, bad.summary()
        assert bad.response_codes()[-1] == 404, bad.response_codes()
    # unauthenticated from a phone's address: challenged, never run
    bad = await sipp("uac_expect_fail", remote=lab.sip, local_ip="127.0.0.1", service="*60",
                     keys={"caller": "o-zhang"}, timeout=10).run()
    assert bad.ok and bad.response_codes()[-1] in (401, 403, 407), bad.response_codes()
    # an operator's authenticated phone: not an official's device
    r = await _phone(lab, sipp, "*60", "op-1").run()
    assert r.ok, r.summary()
    assert _features(lab)[-1]["result"] == "denied"
    assert (await _official(lab))["availability"] == "meeting"

    r = await _phone(lab, sipp, "*60").run()
    assert r.ok, r.summary()
    o = await _official(lab)
    assert (o["availability"], o["availability_until"]) == ("available", None)
    assert lab.astdb(f"o/{o['id']}/avail") == "available^"
    await _call(lab, sipp)
    await eventually(lambda: _rung(zhang, 1), timeout=10, interval=0.05)
    assert _invites(li) == 1
    n_audit = len(await _audit(lab))

    # the controller down: 暂不可用, nothing changes
    lab.signal_controller(signal.SIGKILL)
    r = await _phone(lab, sipp, "*61").run()
    assert r.ok, r.summary()
    assert _features(lab)[-1] == {"endpoint": "o-zhang", "code": "*61", "result": "unavailable",
                                  "prompt": "ivr-feature-unavailable"}
    log = lab.asterisk.log_text()
    assert "feature code *61 from o-zhang: controller unavailable" in log
    # the prompts were found and played (Playback warns about a file it cannot open)
    assert not [line for line in log.splitlines() if "ivr-feature-" in line and "WARNING" in line], log
    assert lab.astdb(f"o/{o['id']}/avail") == "available^"
    await _call(lab, sipp)  # from the mirror: the official still takes calls
    await eventually(lambda: _rung(zhang, 2), timeout=10, interval=0.05)
    lab.start_controller()
    await lab.wait_ready()
    assert (await _official(lab))["availability"] == "available"
    assert len(await _audit(lab)) == n_audit
