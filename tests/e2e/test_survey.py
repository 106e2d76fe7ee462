"""Satisfaction follow-up calls, 回访 (issue 10), on real Asterisk + sipp.

Citizens call 张伟's published number and he answers; a survey call follows each answered call
(``[survey] after = all``), presenting the published number at the carrier:

- citizen A answers the survey and presses 2 (RFC 2833): rating 2 on that call, in the ratings
  per official and department (JSON and CSV), a call record of kind ``survey`` with the key;
- citizen B presses 9: opted out — B's next answered call gets no survey (nothing reaches the
  carrier);
- citizen C does not answer the first survey call: it is retried and C presses 1;
- an answered call from an altered caller ID is never surveyed.
"""

from __future__ import annotations

import asyncio
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from ivr.lab import ports
from ivr.lab.deploy import LabDeployment, create_lab
from tests.e2e.routing_helpers import eventually

pytestmark = pytest.mark.e2e
DIRECTORY = """
version: 1
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
"""
PUBLISHED = "05585551001"
A, B, C, ALTERED = "13912345681", "13912345682", "13912345683", "139-1234-5684"
DTMF = Path(__file__).parent / "scenarios" / "uas_dtmf.xml"


@pytest.fixture
async def lab(asterisk_root: Path, tmp_path: Path) -> AsyncIterator[LabDeployment]:
    zhang = ports.free_port()
    deployment = await create_lab(
        asterisk_root, tmp_path / "lab", DIRECTORY.format(zhang=zhang),
        survey={"enabled": True, "after": "all", "after_resolved": False, "delay_seconds": 1,
                "hours": "00:00-24:00", "attempts": 2, "spacing_seconds": 2,
                "ring_seconds": 4},
        autocallback={"tick_seconds": 0.5})
    deployment.extra["zhang"] = zhang
    try:
        deployment.start_controller()
        await deployment.wait_ready()
        yield deployment
    finally:
        deployment.close()
        print(deployment.controller_log()[-5000:])
        print(deployment.asterisk.log_tail(120))
        deployment.asterisk.remove()


async def answered_call(lab: LabDeployment, sipp: Any, caller: str,
                        known: frozenset[int] = frozenset()) -> dict[str, Any]:
    """``caller`` calls the published number, 张伟 answers; the call's record (not one of
    ``known``: the caller's earlier calls)."""
    phone = await sipp("uas_answer", port=lab.extra["zhang"], keys={"hold_ms": 60000},
                       timeout=30).start()
    r = await sipp("uac_call", remote=lab.sip, local_ip="127.0.0.2", service=PUBLISHED,
                   keys={"caller": caller, "hold_ms": 800}, timeout=20).run()
    assert r.ok, r.summary()
    await phone.wait(10)
    digits = "".join(c for c in caller if c.isdigit())

    async def record() -> dict[str, Any] | None:
        status, body = await lab.arequest("GET", "/api/v1/calls?kind=citizen&limit=50")
        assert status == 200, body
        mine = [c for c in body["items"] if c["caller"] == digits and c["outcome"] == "answered"
                and c["id"] not in known]
        return mine[0] if mine else None
    return dict(await eventually(record, timeout=20))


async def survey_of(lab: LabDeployment, call_id: int) -> dict[str, Any] | None:
    status, body = await lab.arequest("GET", f"/api/v1/surveys?call_id={call_id}")
    assert status == 200, body
    return body["items"][0] if body["items"] else None


def citizen(sipp: Any, lab: LabDeployment, key: str) -> Any:
    return sipp(DTMF, local_ip="127.0.0.2", port=lab.config.carrier.port, timeout=40,
                keys={"answer_ms": 300, "key_after_ms": 1500, "hold_ms": 15000,
                      "dtmf": f"/usr/share/sip-tester/dtmf_2833_{key}.pcap"})


async def test_survey_ratings_opt_out_and_retry(lab: LabDeployment, sipp: Any) -> None:
    # A: answers the survey, presses 2
    phone_a = await citizen(sipp, lab, "2").start()
    call_a = await answered_call(lab, sipp, A)
    heard = await phone_a.wait(30)
    assert heard.ok, heard.summary()
    invite = heard.received("INVITE")[0]
    assert invite.startswith(f"INVITE sip:{A}@"), invite
    assert f"sip:{PUBLISHED}@" in (heard.header(invite, "From") or ""), invite
    assert heard.header(invite, "P-Asserted-Identity") == (
        f"<sip:{PUBLISHED}@{lab.config.carrier.host}>"), invite

    async def rated(call_id: int) -> dict[str, Any] | None:
        s = await survey_of(lab, call_id)
        return s if s is not None and s["state"] in ("done", "failed") else None
    survey_a = await eventually(lambda: rated(call_a["id"]), timeout=20)
    assert (survey_a["rating"], survey_a["result"], survey_a["attempt"]) == (2, "RATED_2", 1)
    status, ratings = await lab.arequest("GET", "/api/v1/surveys/ratings?by=official")
    assert status == 200 and [(r["key"], r["rated"], r["fairly"]) for r in ratings["items"]] == [
        ("zhang-wei", 1, 1)], ratings
    status, by_dept = await lab.arequest("GET", "/api/v1/surveys/ratings?by=department")
    assert [r["key"] for r in by_dept["items"]] == ["市交通运输局"], by_dept
    status, bad = await lab.arequest("GET", "/api/v1/surveys/ratings?by=colour")
    assert status == 400, bad

    async def survey_record() -> dict[str, Any] | None:
        status, body = await lab.arequest("GET", "/api/v1/calls?kind=survey")
        mine = [c for c in body["items"] if c["linkedid"] == survey_a["linkedid"]]
        return mine[0] if mine and mine[0]["outcome"] else None
    record = await eventually(survey_record, timeout=20)
    assert record["outcome"] == "answered" and [(s["kind"], s["result"]) for s in
                                                 record["steps"]] == [("survey", "2")], record

    # B: presses 9 → never surveyed again
    phone_b = await citizen(sipp, lab, "9").start()
    call_b = await answered_call(lab, sipp, B)
    assert (await phone_b.wait(30)).ok
    survey_b = await eventually(lambda: rated(call_b["id"]), timeout=20)
    assert (survey_b["rating"], survey_b["result"]) == (None, "OPTED_OUT"), survey_b
    again = await answered_call(lab, sipp, B, frozenset({call_b["id"]}))

    async def cancelled(call_id: int) -> dict[str, Any] | None:
        s = await survey_of(lab, call_id)
        return s if s is not None and s["state"] == "cancelled" else None
    assert (await eventually(lambda: cancelled(again["id"]), timeout=20))["result"] == "OPTED_OUT"
    odd = await answered_call(lab, sipp, ALTERED)  # an altered caller ID: no survey
    assert (await eventually(lambda: cancelled(odd["id"]), timeout=20))["result"] == "ALTERED"

    # C: the first survey call rings out, the second is answered with 1
    ringing = await sipp("uas_noanswer", local_ip="127.0.0.2", port=lab.config.carrier.port,
                         timeout=40).start()
    call_c = await answered_call(lab, sipp, C)
    first = await ringing.wait(30)
    assert first.received("CANCEL") and first.received("INVITE")[0].startswith(
        f"INVITE sip:{C}@"), first.summary()  # B and the altered caller were never dialled
    phone_c = await citizen(sipp, lab, "1").start()
    assert (await phone_c.wait(30)).ok
    survey_c = await eventually(lambda: rated(call_c["id"]), timeout=20)
    assert (survey_c["rating"], survey_c["attempt"]) == (1, 2), survey_c
    text = await asyncio.to_thread(csv_text, lab, "/api/v1/surveys/ratings.csv?by=official")
    assert "zhang-wei,张伟,2,1,1,0,100.0" in text.splitlines(), text


def csv_text(lab: LabDeployment, path: str) -> str:
    req = urllib.request.Request(f"{lab.api}{path}", headers={
        "Authorization": f"Bearer {lab.config.http.api_token}"})
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.headers["Content-Type"].startswith("text/csv")
        return str(r.read().decode("utf-8-sig"))
