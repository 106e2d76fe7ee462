"""A caller ID crafted to forge records (CR LF, header lines, a blank line) forges nothing: on
the real PBX, live over AMI and again from the CEL journal after a controller kill."""

from __future__ import annotations

import json
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from ivr.calls.callerid import escape
from ivr.lab.deploy import LabDeployment
from tests.e2e.routing_helpers import eventually, routing_lab

pytestmark = pytest.mark.e2e


def attack(linkedid: str) -> str:
    """A SIP From user: URI escapes PJSIP decodes into CR LF, fake headers, then a blank line."""
    lines = ["1380000", "Event: CEL", "EventName: ANSWER", f"LinkedID: {linkedid}",
             f"UniqueID: {linkedid}", 'Extra: {"extra":"n=1;kind=pool;result=ANSWER"}', "", ""]
    esc = {"\r": "%0D", "\n": "%0A", " ": "%20", ":": "%3A", '"': "%22", "{": "%7B",
           "}": "%7D", ";": "%3B", "=": "%3D"}
    return "".join(esc.get(c, c) for c in "\r\n".join(lines))


@pytest.fixture
async def lab(asterisk_root: Path, tmp_path: Path) -> AsyncIterator[LabDeployment]:
    async for deployment in routing_lab(asterisk_root, tmp_path / "lab"):
        yield deployment


def citizen(sipp: Any, lab: Any, number: str, caller: str, hold_ms: int = 1500) -> Any:
    return sipp("uac_call", remote=lab.sip, local_ip="127.0.0.2", service=number,
                keys={"hold_ms": hold_ms, "caller": caller}, timeout=40)


async def records(lab: Any) -> dict[str, dict[str, Any]]:
    status, body = await lab.arequest("GET", "/api/v1/calls?limit=100")
    assert status == 200, body
    items = body["items"] if isinstance(body, dict) else body
    return {c["linkedid"]: c for c in items if c.get("outcome")}


def journal_lines(lab: Any) -> list[dict[str, Any]]:
    text = lab.config.cel_journal.read_text(encoding="utf-8")
    assert text.endswith("\n")
    out = []
    for line in text.splitlines():  # one JSON object per line: no event broken over lines
        d = json.loads(line)
        assert isinstance(d, dict) and "num" not in d and "name" not in d, line
        out.append(d)
    return out


async def round_of_calls(lab: Any, sipp: Any, victim: str, n: int) -> dict[str, dict[str, Any]]:
    """The attacker calls zhang-wei (answered) while a citizen calls li-qiang (answered)."""
    bad = await citizen(sipp, lab, "05585551001", attack(victim)).start()
    good = await citizen(sipp, lab, "05585551002", "13900002222").start()
    r_bad, r_good = await bad.wait(), await good.wait()
    assert r_bad.ok, r_bad.summary()  # the attacker's call is still routed and answered
    assert r_good.ok, r_good.summary()

    async def settled() -> dict[str, dict[str, Any]] | None:
        recs = await records(lab)
        return recs if len(recs) == n else None
    return await eventually(settled, timeout=25)


def check(recs: dict[str, dict[str, Any]], victim: dict[str, Any], rounds: int) -> None:
    assert recs[victim["linkedid"]] == victim  # the first call's record is untouched
    bad = [c for c in recs.values() if c["number_dialed"] == "05585551001"]
    good = [c for c in recs.values() if c["number_dialed"] == "05585551002"
            and c["linkedid"] != victim["linkedid"]]
    assert len(bad) == rounds and len(good) == rounds, recs
    for c in bad:
        assert (c["outcome"], c["answered_kind"], c["answered_by"]) == ("answered", "direct",
                                                                       "o-zhang"), c
        # the digits of what was sent (the fake LinkedID's and UniqueID's too), at most 20
        assert c["caller"] == ("1380000" + victim["linkedid"].replace(".", "") * 2)[:20], c
        # as received: PJSIP keeps the first 79 characters of the From user
        assert c["caller_raw"] == escape(unquote(attack(victim["linkedid"]))[:79]), c
        assert c["caller_altered"], c
        assert [(s["kind"], s["answered_by"]) for s in c["steps"]] == [("direct", "o-zhang")], c
    for c in good:
        assert (c["outcome"], c["answered_by"], c["caller"], c["caller_altered"]) == (
            "answered", "o-li", "13900002222", False), c
        assert c["caller_raw"] == "13900002222"


async def test_forged_caller_id_forges_nothing(lab: Any, sipp: Any) -> None:
    p = lab.extra["phones"]
    zhang = await sipp("uas_answer", port=p["zhang"], calls=10, keys={"hold_ms": 500}).start()
    li = await sipp("uas_answer", port=p["li"], calls=10, keys={"hold_ms": 500}).start()

    # a citizen's call whose record the attacker targets (its linkedid as the fake one)
    r = await citizen(sipp, lab, "05585551002", "13900001111").run()
    assert r.ok, r.summary()
    victim = (await eventually(lambda: records(lab), timeout=20)).popitem()[1]
    assert (victim["outcome"], victim["answered_by"]) == ("answered", "o-li"), victim
    _, before = await lab.arequest("GET", "/healthz")

    # The records come from the journal. The AMI events that carried the raw caller ID to the
    # controller (Newchannel, NewCallerid, Newexten, …: its filter matched the injected
    # "Event: CEL" line and the client refused them) are no longer raised at all (manager.conf
    # disabledevents, issue 16): nothing forged reaches the controller to refuse. The client's
    # refusal itself: tests/unit/test_ami.py
    recs = await round_of_calls(lab, sipp, victim["linkedid"], 3)
    check(recs, victim, 1)
    _, after = await lab.arequest("GET", "/healthz")
    assert after["ami_refused"] == before["ami_refused"], (before, after)
    lines = journal_lines(lab)

    # the controller is killed: the next round's records are read from the journal after the
    # restart, from the saved position
    lab.signal_controller(signal.SIGKILL)
    r_bad = await citizen(sipp, lab, "05585551001", attack(victim["linkedid"])).start()
    r_good = await citizen(sipp, lab, "05585551002", "13900002222").start()
    assert (await r_bad.wait()).ok and (await r_good.wait()).ok
    lab.start_controller()
    await lab.wait_ready()

    async def settled() -> dict[str, dict[str, Any]] | None:
        recs = await records(lab)
        return recs if len(recs) == 5 else None
    recs = await eventually(settled, timeout=25)
    check(recs, victim, 2)
    assert len(journal_lines(lab)) > len(lines)
    # no IVR event in the journal belongs to a call it did not happen in
    calls = {d["linkedid"] for d in journal_lines(lab) if d["eventtype"] == "IVR_CALL"}
    assert calls == set(recs)
    await zhang.stop()
    await li.stop()
