"""Scheduled test calls (拨测, issue 13) on real Asterisk + sipp.

Three test calls enter Asterisk as citizens' calls (a Local channel into the citizens' entry,
presenting ``[testcalls] caller``):

- to 张伟 (direct), whose sipp phone answers and presses 1 (RFC 2833) after the announcement:
  answered and acknowledged, by his phone, as the official;
- to 张伟 again, the phone answers and sends nothing: answered, not acknowledged;
- to 李强, busy, whose fallback pool has nobody logged in: not answered, the route ended at
  the voicemail step.

The INVITE the phone received for a test call carries nothing a citizen's call to the same
number (from the same number) does not; none of the test calls is in the citizens' figures or
calls, opens a case (the busy one would, as a citizen's: missed) or gets a survey (the
citizen's answered call does: surveys are on).
"""

from __future__ import annotations

import re
import struct
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from ivr.lab.deploy import LabDeployment
from tests.e2e.routing_helpers import eventually, routing_lab

pytestmark = pytest.mark.e2e

DIRECTORY = """
version: 1
settings:
  timezone: Asia/Shanghai
pools:
  - {{name: main, strategy: leastrecent, max_wait: 5}}
officials:
  - slug: zhang-wei
    name: 张伟
    title: 局长
    department: 市交通运输局
    numbers: ["0558-5551001"]
    devices: [{{sip: o-zhang, static_contact: "sip:o-zhang@127.0.0.1:{zhang}"}}]
    mode: direct
    chain: [voicemail]
    ring_timeout: 10
  - slug: li-qiang
    name: 李强
    title: 副局长
    department: 市交通运输局
    numbers: ["0558-5551002"]
    devices: [{{sip: o-li, static_contact: "sip:o-li@127.0.0.1:{li}"}}]
    mode: direct
    chain: [pool, voicemail]
    ring_timeout: 5
  - slug: wang-fang
    name: 王芳
    title: 主任
    department: 市政务服务中心
    numbers: ["0558-5551003"]
    devices: [{{mobile: "13800002009"}}]   # a mobile: its callee confirms with 1 (issue 8)
    mode: direct
    chain: [voicemail]
    ring_timeout: 10
"""
PHONES = ("zhang", "li")
ZHANG, LI, WANG = "05585551001", "05585551002", "05585551003"
CALLER = "13912340000"  # the citizen-like number test calls present; a citizen calls from it too
DTMF = Path(__file__).parent / "scenarios" / "uas_dtmf.xml"
TWICE = Path(__file__).parent / "scenarios" / "uas_answer_dtmf_twice.xml"
# headers whose values differ between any two calls (transaction, dialog, routing ids, lengths)
PER_CALL = {"via", "call-id", "cseq", "content-length"}


@pytest.fixture
async def lab(asterisk_root: Path, tmp_path: Path) -> AsyncIterator[LabDeployment]:
    async for deployment in routing_lab(
            asterisk_root, tmp_path / "lab", DIRECTORY, PHONES,
            testcalls={"enabled": True, "caller": CALLER, "tick_seconds": 0.5, "ack_seconds": 3},
            survey={"enabled": True, "after": "all", "after_resolved": False,
                    "delay_seconds": 1, "hours": "00:00-24:00", "ring_seconds": 4},
            autocallback={"enabled": True, "tick_seconds": 0.5, "first_delay_seconds": 1,
                          "hours": "00:00-24:00"}):
        yield deployment


def headers(invite: str) -> dict[str, str]:
    """An INVITE's headers (names lower-cased), the tags and branch parameters blanked."""
    head = invite.split("\n\n", 1)[0]
    out = {}
    for line in head.splitlines()[1:]:
        name, _, value = line.partition(":")
        out[name.strip().lower()] = re.sub(r";(tag|branch)=[^;>\s]+", r";\1=…", value.strip())
    return out


def sdp(invite: str) -> list[str]:
    """The offer, its session id/version and media port blanked (they differ per call)."""
    body = invite.split("\n\n", 1)[1]
    return [re.sub(r"^(o=- )\d+ \d+|^(m=audio )\d+", r"\1\2…", line)
            for line in body.strip().splitlines()]


async def schedule_now(lab: LabDeployment, number: str) -> int:
    status, body = await lab.arequest("POST", "/api/v1/testcalls/schedules",
                                      {"numbers": [number], "mode": "now"})
    assert status == 201 and body["planned"] == 1, body
    return int(body["id"])


async def result_of(lab: LabDeployment, schedule_id: int) -> dict[str, Any]:
    async def done() -> dict[str, Any] | None:
        status, body = await lab.arequest("GET", f"/api/v1/testcalls?schedule_id={schedule_id}")
        assert status == 200, body
        item = body["items"][0]
        return item if item["state"] == "done" else None
    return dict(await eventually(done, timeout=60))


async def test_test_calls_results_and_nothing_distinguishes_them(lab: LabDeployment,
                                                                  sipp: Any) -> None:
    phones = lab.extra["phones"]
    # a citizen's call from CALLER to 张伟, answered: the INVITE his phone gets
    phone = await sipp("uas_answer", port=phones["zhang"], keys={"hold_ms": 60000},
                       timeout=30).start()
    citizen = await sipp("uac_call", remote=lab.sip, local_ip="127.0.0.2", service=ZHANG,
                         keys={"caller": CALLER, "hold_ms": 1500}, timeout=20).run()
    assert citizen.ok, citizen.summary()
    heard = await phone.wait(15)
    citizen_invite = heard.received("INVITE")[0]

    # 1. answered, 1 pressed after the announcement
    phone = await sipp(DTMF, port=phones["zhang"], timeout=60, keys={
        "answer_ms": 500, "key_after_ms": 3000, "hold_ms": 30000,
        "dtmf": "/usr/share/sip-tester/dtmf_2833_1.pcap"}).start()
    acked = await result_of(lab, await schedule_now(lab, ZHANG))
    test_heard = await phone.wait(30)
    assert test_heard.received("BYE"), test_heard.summary()  # the test call hung up after the key
    assert (acked["result"], acked["answered_by"], acked["answered_role"], acked["ack_key"]) == (
        "acknowledged", "o-zhang", "official", "1"), acked
    assert acked["official"] == "张伟" and acked["ack_secs"] > acked["answered_secs"] > 0, acked
    test_invite = test_heard.received("INVITE")[0]
    citizen_h, test_h = headers(citizen_invite), headers(test_invite)
    assert set(citizen_h) == set(test_h), (citizen_invite, test_invite)
    assert {k: v for k, v in citizen_h.items() if k not in PER_CALL} == {
        k: v for k, v in test_h.items() if k not in PER_CALL}, (citizen_invite, test_invite)
    assert test_invite.split("\n", 1)[0] == citizen_invite.split("\n", 1)[0]  # request line
    assert sdp(test_invite) == sdp(citizen_invite), (citizen_invite, test_invite)
    assert "ivrtc" not in test_invite.lower() and "test" not in test_invite.lower(), test_invite

    # 2. answered, no key
    phone = await sipp("uas_answer", port=phones["zhang"], keys={"hold_ms": 60000},
                       timeout=60).start()
    silent = await result_of(lab, await schedule_now(lab, ZHANG))
    assert (await phone.wait(30)).received("BYE")
    assert (silent["result"], silent["answered_by"], silent["ack_key"]) == (
        "unacknowledged", "o-zhang", ""), silent

    # 3. 李强 busy, nobody in the pool: not answered, the route ended at the voicemail
    busy = await sipp("uas_busy", port=phones["li"], timeout=60).start()
    missed = await result_of(lab, await schedule_now(lab, LI))
    await busy.stop()
    assert (missed["result"], missed["answered_by"]) == ("not_answered", None), missed
    assert missed["ended"].split(":")[1] == "voicemail", missed

    # the call records: kind test, the route a citizen's
    status, tests = await lab.arequest("GET", "/api/v1/calls?kind=test&limit=50")
    assert status == 200 and sorted(c["outcome"] for c in tests["items"]) == [
        "answered", "answered", "missed"], tests
    assert {c["caller"] for c in tests["items"]} == {CALLER}, tests
    assert [s["kind"] for s in next(c for c in tests["items"] if c["number_dialed"] == LI)
            ["steps"]] == ["direct", "pool", "voicemail"], tests
    # none of them in the citizens' calls, figures, cases or surveys
    status, calls = await lab.arequest("GET", "/api/v1/calls?kind=citizen&limit=50")
    assert [c["number_dialed"] for c in calls["items"]] == [ZHANG], calls
    status, stats = await lab.arequest("GET", "/api/v1/stats")
    assert status == 200 and stats["total"]["calls"] == 1, stats
    status, cases = await lab.arequest("GET", "/api/v1/cases?limit=100")
    assert status == 200 and (cases["items"] if isinstance(cases, dict) else cases) == [], cases

    async def surveyed() -> list[Any] | None:
        status, body = await lab.arequest("GET", "/api/v1/surveys")
        return body["items"] or None
    surveys = await eventually(surveyed, timeout=20)
    assert [s["call_id"] for s in surveys] == [calls["items"][0]["id"]], surveys
    status, report = await lab.arequest("GET", "/api/v1/testcalls")
    assert {k: v for k, v in report["totals"].items() if v} == {
        "acknowledged": 1, "unacknowledged": 1, "not_answered": 1}, report


def later_key(src: Path, dest: Path, seq: int = 500, ts: int = 80000) -> Path:
    """``src``'s RFC 2833 packets with later RTP sequence numbers and timestamps (Ethernet,
    IPv4, UDP; the UDP checksum left out, as IPv4 allows)."""
    data = bytearray(src.read_bytes())
    off = 24  # the pcap header; then each record's 16-byte header and its packet
    while off < len(data):
        size = struct.unpack_from("<I", data, off + 8)[0]
        pkt = off + 16
        rtp = pkt + 14 + 20 + 8
        struct.pack_into("!H", data, pkt + 14 + 20 + 6, 0)
        struct.pack_into("!H", data, rtp + 2, (struct.unpack_from("!H", data, rtp + 2)[0] + seq)
                         % 65536)
        struct.pack_into("!I", data, rtp + 4, (struct.unpack_from("!I", data, rtp + 4)[0] + ts)
                         % 2**32)
        off = pkt + size
    dest.write_bytes(bytes(data))
    return dest


async def test_a_confirming_leg_hears_the_announcement_only_after_confirming(
        lab: LabDeployment, sipp: Any, tmp_path: Path) -> None:
    from ivr.calls.events import from_journal_line

    one = Path("/usr/share/sip-tester/dtmf_2833_1.pcap")
    carrier = await sipp(TWICE, local_ip="127.0.0.2", port=lab.config.carrier.port, timeout=60,
                         keys={"answer_ms": 300, "key_after_ms": 1500, "again_after_ms": 4000,
                               "hold_ms": 30000, "dtmf": str(one),
                               "dtmf_again": str(later_key(one, tmp_path / "one-again.pcap"))
                               }).start()
    acked = await result_of(lab, await schedule_now(lab, WANG))
    heard = await carrier.wait(30)
    assert heard.received("INVITE")[0].startswith("INVITE sip:"), heard.summary()
    assert (acked["result"], acked["answered_role"], acked["ack_key"]) == (
        "acknowledged", "official", "1"), acked
    assert "13800002009" in (acked["answered_by"] or ""), acked
    lines = lab.config.cel_journal.read_text(encoding="utf-8").splitlines()
    mine = [r for r in map(from_journal_line, lines) if r is not None
            and r.linkedid == acked["linkedid"] and r.eventtype == "USER_DEFINED"]
    order = [r.name for r in sorted(mine, key=lambda r: r.eventtime)
             if r.name in ("IVR_CONFIRM", "IVR_CONFIRM_END", "IVR_TEST_ASK", "IVR_TEST_ACK")]
    assert order == ["IVR_CONFIRM", "IVR_CONFIRM_END", "IVR_TEST_ASK", "IVR_TEST_ACK"], order
    confirmed = next(r for r in mine if r.name == "IVR_CONFIRM_END")
    assert confirmed.fields["result"] == "CONFIRMED", confirmed


async def test_a_test_call_lost_to_an_asterisk_crash_is_recorded_lost(lab: LabDeployment,
                                                                      sipp: Any) -> None:
    """Asterisk is SIGKILLed while a test call rings 张伟's phone and restarted: the call is
    closed as interrupted, and the test call is recorded ``lost`` — never dropped."""
    import asyncio

    phone = await sipp("uas_answer", port=lab.extra["phones"]["zhang"], timeout=60,
                       keys={"answer_ms": 60000, "hold_ms": 1000}).start()
    schedule_id = await schedule_now(lab, ZHANG)
    journal = lab.config.cel_journal

    async def ringing() -> bool:
        text = await asyncio.to_thread(
            lambda: journal.read_text(errors="replace") if journal.exists() else "")
        return any("ivrtc-" in line and "IVR_STEP" in line for line in text.splitlines())
    await eventually(ringing, timeout=20, interval=0.1)
    before = await asyncio.to_thread(lab.health)
    assert before is not None
    await asyncio.to_thread(lab.asterisk.kill)  # no hang-up, no LINKEDID_END ever
    await eventually(lambda: asyncio.to_thread(lambda: (lab.health() or {}).get("ami") is False),
                     timeout=15, interval=0.1)
    await phone.stop()
    await asyncio.to_thread(lab.asterisk.start)
    await lab.wait_ready(min_resyncs=before["resyncs"] + 1)
    lost = await result_of(lab, schedule_id)
    assert (lost["result"], lost["answered_by"]) == ("lost", None), lost
    assert lost["call_id"] is not None and "interrupted" in lost["note"], lost
    status, tests = await lab.arequest("GET", "/api/v1/calls?kind=test")
    assert [c["outcome"] for c in tests["items"]] == ["interrupted"], tests
