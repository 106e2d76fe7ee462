"""Per-leg confirmation on real Asterisk with sipp (issue 8): a mobile's callee presses 1
before the call is theirs, so a carrier's voicemail or announcement that answers never counts
as the official answering, and the other legs ring on meanwhile.

The carrier is a sipp UAS on 127.0.0.2 (every mobile reaches it); desk phones are sipp UASs on
their static contacts. Keys are RFC 2833 events (sipp's shipped pcaps)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from ivr.calls.events import CelRecord, from_journal_line
from ivr.lab.deploy import LabDeployment
from tests.e2e.routing_helpers import call_record, eventually, routing_lab

pytestmark = pytest.mark.e2e

DIRECTORY = """
version: 1
settings:
  timezone: Asia/Shanghai
pools:
  - {{name: main, strategy: leastrecent, max_wait: 5}}
officials:
  - slug: wu-fang
    name: 吴芳
    title: 局长
    numbers: ["0558-5556001"]
    devices:
      - {{sip: o-wu, static_contact: "sip:o-wu@127.0.0.1:{wu}", confirm: false}}
      - {{mobile: "13800002001"}}
    deputy: ma-jun
    mode: direct
    chain: [deputy, pool, voicemail]
    ring_timeout: 6
  - slug: ma-jun
    name: 马俊
    title: 副局长
    numbers: ["0558-5556002"]
    devices: [{{mobile: "13800002002"}}]
    mode: direct
    chain: [pool, voicemail]
    ring_timeout: 6
  - slug: qian-hui
    name: 钱慧
    title: 主任
    numbers: ["0558-5556003"]
    devices:
      - {{sip: o-qian, static_contact: "sip:o-qian@127.0.0.1:{qian}", confirm: true}}
      - {{mobile: "13800002003"}}
    mode: direct
    chain: [pool, voicemail]
    ring_timeout: 6
"""
PHONES = ("wu", "qian")
WINDOW = 3  # [routing] confirm_window: seconds after the prompt
SCENARIOS = Path(__file__).parent / "scenarios"
WU_MOBILE, MA_MOBILE, QIAN_MOBILE = "+8613800002001", "+8613800002002", "+8613800002003"


@pytest.fixture
async def lab(asterisk_root: Path, tmp_path: Path) -> AsyncIterator[LabDeployment]:
    async for deployment in routing_lab(asterisk_root, tmp_path / "lab", DIRECTORY, PHONES,
                                        routing={"confirm_window": WINDOW}):
        yield deployment


def carrier(lab: Any, sipp: Any, key: str | None, calls: int = 1) -> Any:
    """The carrier answering every mobile at once; ``key`` pressed 1 s later (None: never)."""
    dtmf = f"/usr/share/sip-tester/dtmf_2833_{key or 1}.pcap"  # sipp opens it at load
    return sipp(SCENARIOS / "uas_answer_dtmf.xml", local_ip="127.0.0.2",
                port=lab.config.carrier.port, calls=calls,
                keys={"answer_ms": 1, "key_after_ms": 1000 if key else 3600000, "dtmf": dtmf,
                      "hold_ms": 3600000})


def journal(lab: Any) -> list[CelRecord]:
    """The CEL journal Asterisk wrote so far."""
    path = lab.config.cel_journal
    lines = (path.read_text(encoding="utf-8") if path.exists() else "").splitlines()
    return [r for r in map(from_journal_line, lines) if r is not None]


async def bridged(lab: Any) -> list[set[str]]:
    """The channels of each bridge Asterisk has now."""
    out = await asyncio.to_thread(lab.asterisk.cli, "bridge show all")
    found = []
    for bridge_id in re.findall(r"^([0-9a-f-]{36})", out, re.M):
        detail = await asyncio.to_thread(lab.asterisk.cli, f"bridge show {bridge_id}")
        found.append(set(re.findall(r"Channel: (\S+)", detail)))
    return found


async def test_carrier_voicemail_never_counts_the_desk_phone_answers(lab: Any, sipp: Any) -> None:
    """The mobile's carrier answers at once and never sends a key; the desk phone (confirm:
    false: no prompt) answers after 3 s and is the only one bridged to the citizen."""
    voicemail = await carrier(lab, sipp, None).start()
    desk = await sipp("uas_answer", port=lab.extra["phones"]["wu"],
                      keys={"answer_ms": 3000, "hold_ms": 3600000}).start()
    citizen = await sipp("uac_call", remote=lab.sip, local_ip="127.0.0.2", service="05585556001",
                         keys={"hold_ms": 9000}).start()
    # while the citizen talks: one bridge, the citizen's channel and the desk phone's
    caller_chan = (await eventually(lambda: _ivr_call_channel(lab)))
    members = await eventually(lambda: _two_party(lab), timeout=15)
    assert caller_chan in members and any(m.startswith("PJSIP/o-wu-") for m in members), members
    assert (await citizen.wait(30)).ok
    assert (await voicemail.wait(30)).received("BYE"), "the carrier leg was hung up by Asterisk"
    assert (await desk.wait(10)).received("BYE")  # the citizen's hang-up reached the desk phone
    record = await eventually(lambda: call_record(lab, "05585556001"), timeout=30)
    assert (record["outcome"], record["answered_by"], record["answered_kind"]) == (
        "answered", "o-wu", "direct"), record
    assert record["confirmed"] is None, record  # the desk phone is not asked
    step = record["steps"][0]
    assert (step["kind"], step["result"], step["answered_by"]) == ("direct", "ANSWER", "o-wu")
    assert step["legs"] == [{"device": WU_MOBILE, "result": "UNCONFIRMED"}], step
    asked = {r.fields.get("device") for r in journal(lab) if r.name == "IVR_CONFIRM"}
    assert asked == {WU_MOBILE}, asked  # the desk phone heard no prompt


async def _ivr_call_channel(lab: Any) -> str | None:
    calls = [r for r in journal(lab) if r.name == "IVR_CALL"]
    return calls[-1].channel if calls else None


async def _two_party(lab: Any) -> set[str] | None:
    bridges = await bridged(lab)
    if len(bridges) == 1 and len(bridges[0]) == 2 and not any(
            m.startswith("Local/") for m in bridges[0]):
        return bridges[0]
    return None


async def test_mobile_presses_1_and_is_confirmed(lab: Any, sipp: Any) -> None:
    """The mobile answers and presses 1: the call is the mobile's, confirmed; the desk phone
    that was still ringing is cancelled."""
    mobile = await carrier(lab, sipp, "1").start()
    desk = await sipp("uas_answer", port=lab.extra["phones"]["wu"],
                      keys={"answer_ms": 60000, "hold_ms": 3600000}).start()
    citizen = await sipp("uac_call", remote=lab.sip, local_ip="127.0.0.2", service="05585556001",
                         keys={"hold_ms": 8000}).run()
    assert citizen.ok, citizen.summary()
    assert (await desk.wait(10)).received("CANCEL")
    assert (await mobile.wait(10)).received("BYE")  # the citizen's hang-up reached the mobile
    record = await eventually(lambda: call_record(lab, "05585556001"), timeout=30)
    assert (record["outcome"], record["answered_by"], record["confirmed"]) == (
        "answered", WU_MOBILE, True), record
    step = record["steps"][0]
    assert (step["result"], step["answered_by"]) == ("ANSWER", WU_MOBILE), step
    assert step["legs"] == [{"device": WU_MOBILE, "result": "CONFIRMED"}], step
    assert len(record["steps"]) == 1, record


async def test_mobile_presses_2_declines_and_the_chain_goes_on(lab: Any, sipp: Any) -> None:
    """The mobile answers and presses 2: declined; the desk phone does not answer; the deputy's
    mobile on the carrier is asked too (and declines); then the pool (nobody there) and the
    voicemail greeting: the call is not answered."""
    mobile = await carrier(lab, sipp, "2", calls=2).start()
    citizen = await sipp("uac_call", remote=lab.sip, local_ip="127.0.0.2", service="05585556001",
                         keys={"hold_ms": 16000}).start()
    await eventually(lambda: _reached(lab, "voicemail"), timeout=40)
    assert (await citizen.wait(30)).ok  # hung up during the greeting
    record = await eventually(lambda: call_record(lab, "05585556001"), timeout=30)
    assert record["outcome"] != "answered" and record["answered_by"] is None, record
    assert record["confirmed"] is None, record
    steps = [(s["kind"], s["result"], s["legs"]) for s in record["steps"]]
    assert steps[:2] == [
        ("direct", "UNCONFIRMED", [{"device": WU_MOBILE, "result": "DECLINED"}]),
        ("deputy", "UNCONFIRMED", [{"device": MA_MOBILE, "result": "DECLINED"}])], steps
    assert [s[0] for s in steps[2:]] == ["pool", "voicemail"], steps
    assert len((await mobile.wait(10)).received("INVITE")) == 2


async def _reached(lab: Any, kind: str) -> bool:
    return any(r.name == "IVR_STEP" and r.fields.get("kind") == kind for r in journal(lab))


async def test_both_legs_unconfirmed_the_chain_goes_on(lab: Any, sipp: Any, tmp_path: Path) -> None:
    """A desk phone that confirms (confirm: true) and the mobile's carrier both answer at once
    and nobody presses a key: neither takes the call; the pool and the voicemail follow. The
    city replaced the confirmation prompt (a prompt like the others)."""
    import subprocess
    short = tmp_path / "confirm.wav"
    subprocess.run(["sox", "-n", "-r", "8000", "-c", "1", "-b", "16", str(short), "synth", "1.0",
                    "sine", "440", "gain", "-6"], check=True)
    status, body = await lab.arequest("PUT", "/api/v1/prompts/zh/ivr-confirm",
                                      text=short.read_bytes(), content_type="audio/wav")
    assert status == 200, body
    status, listing = await lab.arequest("GET", "/api/v1/prompts")
    assert {"language": "zh", "name": "ivr-confirm", "seconds": 1.0} in listing["items"], listing
    voicemail = await carrier(lab, sipp, None).start()
    desk = await sipp(SCENARIOS / "uas_answer_dtmf.xml", port=lab.extra["phones"]["qian"],
                      keys={"answer_ms": 1, "key_after_ms": 3600000, "hold_ms": 3600000,
                            "dtmf": "/usr/share/sip-tester/dtmf_2833_1.pcap"}).start()
    citizen = await sipp("uac_call", remote=lab.sip, local_ip="127.0.0.2", service="05585556003",
                         keys={"hold_ms": 16000}).start()
    await eventually(lambda: _reached(lab, "voicemail"), timeout=40)
    assert (await citizen.wait(30)).ok  # hung up during the greeting
    record = await eventually(lambda: call_record(lab, "05585556003"), timeout=30)
    assert record["outcome"] != "answered" and record["answered_by"] is None, record
    direct = record["steps"][0]
    assert (direct["kind"], direct["result"]) == ("direct", "UNCONFIRMED"), direct
    assert sorted(direct["legs"], key=lambda leg: leg["device"]) == [
        {"device": QIAN_MOBILE, "result": "UNCONFIRMED"},
        {"device": "o-qian", "result": "UNCONFIRMED"}], direct
    assert [s["kind"] for s in record["steps"][1:]] == ["pool", "voicemail"], record
    assert (await voicemail.wait(10)).received("BYE") and (await desk.wait(10)).received("BYE")


async def test_carrier_announcement_hangs_up_the_desk_phone_still_rings(lab: Any, sipp: Any) -> None:
    """The carrier answers, plays its announcement and hangs up itself while the callee is
    asked: that leg is unconfirmed, the desk phone rings on and takes the call."""
    announcement = await sipp("uas_answer", local_ip="127.0.0.2", port=lab.config.carrier.port,
                              keys={"answer_ms": 1, "hold_ms": 1500}).start()
    desk = await sipp("uas_answer", port=lab.extra["phones"]["wu"],
                      keys={"answer_ms": 3000, "hold_ms": 3600000}).start()
    citizen = await sipp("uac_call", remote=lab.sip, local_ip="127.0.0.2", service="05585556001",
                         keys={"hold_ms": 5000}).run()
    assert citizen.ok, citizen.summary()
    assert (await announcement.wait(10)).ok and (await desk.wait(10)).received("BYE")
    record = await eventually(lambda: call_record(lab, "05585556001"), timeout=30)
    assert (record["outcome"], record["answered_by"], record["confirmed"]) == (
        "answered", "o-wu", None), record
    assert record["steps"][0]["legs"] == [{"device": WU_MOBILE, "result": "UNCONFIRMED"}], record
