"""The callback guard (issue 9) on real Asterisk + sipp: click-to-call-back is no toll-fraud
engine.

Three citizens call 张伟's published number 0558-5551001 and give up while it rings (missed
cases): a satellite/premium caller (+882…), a national mobile, and a caller ID altered on the
way in (``139-1234-5679``). Then, through the REST API with each user's own issued token:
- the premium number is refused (``callback-number-refused``) and nothing is dialled;
- the altered caller ID is refused (``callback-caller-altered``) until an admin approves it;
- official 张伟 cannot ring official 李强's phone, nor the operator hers; admins and
  supervisors have no phone (403); every refusal is in the audit log;
- the national callback goes through: 张伟's phone rings first, then the citizen at the carrier,
  whose INVITE carries the published number in From and P-Asserted-Identity, and the call ends
  at the configured time limit (3 s here): the BYE arrives at both legs, long before either
  sipp would hang up itself (60 s);
- the per-case and per-node limits answer 429 with their error_ids.
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from ivr.lab import ports
from ivr.lab.deploy import LabDeployment, create_lab
from tests.e2e.routing_helpers import eventually

pytestmark = pytest.mark.e2e
PASSWORD = "Callback-guard-e2e-7Qx!"
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
"""
PUBLISHED = "05585551001"
PREMIUM, NATIONAL, ALTERED = "+8821612345678", "13912345678", "139-1234-5679"
LIMIT_SECONDS = 3
ACCOUNTS = (("zhangwei", "official", {"official": "zhang-wei"}),
            ("liqiang", "official", {"official": "li-qiang"}),
            ("wangfang", "operator", {"operator": "op-1"}),
            ("guanli", "admin", {}), ("jiandu", "supervisor", {}))


@pytest.fixture
async def lab(asterisk_root: Path, tmp_path: Path) -> AsyncIterator[LabDeployment]:
    phones = dict(zip(("op1", "zhang", "li"), ports.free_ports(3), strict=True))
    deployment = await create_lab(asterisk_root, tmp_path / "lab", DIRECTORY.format(**phones),
                                  outbound={"callback_max_seconds": LIMIT_SECONDS,
                                            "per_case_per_day": 2, "per_node_per_hour": 3})
    deployment.extra["phones"] = phones
    try:
        deployment.start_controller()
        await deployment.wait_ready()
        tokens = {}
        for username, role, link in ACCOUNTS:
            status, out = await deployment.arequest("POST", "/api/v1/users", {
                "username": username, "role": role, "password": PASSWORD, **link})
            assert status == 201, out
            status, out = await deployment.arequest("POST", "/api/v1/tokens",
                                                    {"username": username})
            assert status == 201, out
            tokens[username] = out["token"]
        deployment.extra["tokens"] = tokens
        yield deployment
    finally:
        deployment.close()
        print(deployment.controller_log()[-4000:])
        print(deployment.asterisk.log_tail(120))
        deployment.asterisk.remove()


async def as_user(lab: LabDeployment, user: str, method: str, path: str,
                  body: Any = None) -> tuple[int, Any]:
    """The REST API with ``user``'s own issued token (their role, their phones)."""
    def go() -> tuple[int, Any]:
        req = urllib.request.Request(
            f"{lab.api}{path}", method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {lab.extra['tokens'][user]}",
                     "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")
    return await asyncio.to_thread(go)


async def missed_cases(lab: LabDeployment, sipp: Any) -> dict[str, dict[str, Any]]:
    """One missed case per caller: each citizen gives up while 张伟's phone rings."""
    phone = await sipp("uas_noanswer", port=lab.extra["phones"]["zhang"], calls=3,
                       timeout=40).start()
    for caller in (PREMIUM, NATIONAL, ALTERED):
        r = await sipp("uac_abandon", remote=lab.sip, local_ip="127.0.0.2", service=PUBLISHED,
                       keys={"ring_ms": 1500, "caller": caller}, timeout=20).run()
        assert r.ok, r.summary()
    assert len((await phone.wait(15)).received("CANCEL")) == 3

    async def three() -> dict[str, dict[str, Any]] | None:
        status, body = await lab.arequest("GET", "/api/v1/cases?kind=missed")
        assert status == 200, body
        return {c["caller"]: c for c in body["items"]} if len(body["items"]) == 3 else None
    return await eventually(three, timeout=30)


async def refused(lab: LabDeployment, user: str, case_id: int, body: dict[str, Any]) -> Any:
    status, out = await as_user(lab, user, "POST", f"/api/v1/cases/{case_id}/callback", body)
    return status, out.get("error_id")


async def test_callback_guard(lab: LabDeployment, sipp: Any) -> None:
    cases = await missed_cases(lab, sipp)
    premium, national, altered = (cases[PREMIUM], cases[NATIONAL], cases["13912345679"])
    assert (premium["number_dialed"], national["number_dialed"]) == (PUBLISHED, PUBLISHED)

    # refusals: nothing dialled, each with its error_id, each audited
    assert await refused(lab, "zhangwei", premium["id"], {}) == (403, "callback-number-refused")
    assert await refused(lab, "zhangwei", altered["id"], {}) == (409, "callback-caller-altered")
    assert await refused(lab, "zhangwei", national["id"], {"endpoint": "o-li"}) == (
        403, "callback-not-own-phone")  # official A cannot ring official B's phone
    assert await refused(lab, "zhangwei", national["id"], {"endpoint": "op-1"}) == (
        403, "callback-not-own-phone")
    assert await refused(lab, "liqiang", national["id"], {"endpoint": "o-li"}) == (
        403, "forbidden")  # not 李强's case
    for user in ("guanli", "jiandu"):  # no phone: they assign the case instead
        assert await refused(lab, user, national["id"], {"endpoint": "o-zhang"}) == (
            403, "forbidden")
    for c in (premium, national, altered):
        _, after = await lab.arequest("GET", f"/api/v1/cases/{c['id']}")
        assert (after["callbacks"], after["status"]) == ([], "new"), after
    status, audit = await as_user(lab, "guanli", "GET", "/api/v1/audit?field=callback_refused")
    assert status == 200, audit
    reasons = sorted(a["reason"].split(":")[0] for a in audit["items"])
    assert reasons == ["callback-caller-altered", "callback-not-own-phone",
                       "callback-not-own-phone", "callback-number-refused"], audit
    assert all(a["actor"] == "web:zhangwei" for a in audit["items"]), audit
    assert any(json.loads(a["new_value"])["number"] == PREMIUM for a in audit["items"])

    # the national one goes through, presents the published number and ends at the limit
    phone = await sipp("uas_answer", port=lab.extra["phones"]["zhang"],
                       keys={"hold_ms": 60000}, timeout=70).start()
    citizen = await sipp("uas_answer", local_ip="127.0.0.2", port=lab.config.carrier.port,
                         keys={"hold_ms": 60000}, timeout=70).start()
    status, cb = await as_user(lab, "zhangwei", "POST", f"/api/v1/cases/{national['id']}/callback",
                               {})
    assert status == 201 and (cb["endpoint"], cb["number"]) == ("o-zhang", NATIONAL), cb
    at_carrier, at_phone = await citizen.wait(30), await phone.wait(30)
    invite = at_carrier.received("INVITE")
    assert invite and invite[0].startswith(f"INVITE sip:{NATIONAL}@"), invite
    assert f"sip:{PUBLISHED}@" in (at_carrier.header(invite[0], "From") or ""), invite[0]
    assert at_carrier.header(invite[0], "P-Asserted-Identity") == (
        f"<sip:{PUBLISHED}@{lab.config.carrier.host}>"), invite[0]
    assert NATIONAL not in (at_carrier.header(invite[0], "From") or "")
    # the time limit: Asterisk's BYE reached both legs (each sipp would have hung up at 60 s)
    assert at_carrier.received("BYE") and at_phone.received("BYE"), (at_carrier.summary(),
                                                                      at_phone.summary())
    assert at_carrier.ok and at_phone.ok

    async def ended() -> dict[str, Any] | None:
        _, c = await lab.arequest("GET", f"/api/v1/cases/{national['id']}")
        return c if c["callbacks"] and c["callbacks"][-1]["state"] == "ended" else None
    final = await eventually(ended, timeout=20)
    assert final["status"] == "called_back" and final["callbacks"][-1]["result"] == "ANSWER"
    # it was the limit that ended it: the dialplan's T extension (TIMEOUT(absolute)) ran
    ends = [json.loads(line) for line in lab.config.cel_journal.read_text().splitlines()
            if "IVR_CALLBACK_END" in line]
    assert [e["eventtype"] for e in ends if e["linkedid"] == cb["linkedid"]] == [
        "IVR_CALLBACK_END"], ends
    assert [f"case={national['id']};result=TIMELIMIT" in e["eventextra"] for e in ends
            if e["linkedid"] == cb["linkedid"]] == [True], ends

    # an admin approves calling back the altered caller ID (audited, in the case's history)
    status, out = await as_user(lab, "zhangwei", "POST",
                                f"/api/v1/cases/{altered['id']}/callback-approval",
                                {"reason": "verified"})
    assert (status, out["error_id"]) == (403, "forbidden")
    status, out = await as_user(lab, "guanli", "POST",
                                f"/api/v1/cases/{altered['id']}/callback-approval",
                                {"reason": "市民来电核实过号码"})
    assert status == 200, out
    status, cb = await as_user(lab, "zhangwei", "POST",
                               f"/api/v1/cases/{altered['id']}/callback", {})
    assert status == 201 and cb["number"] == "13912345679", cb
    status, audit = await as_user(lab, "guanli", "GET", "/api/v1/audit?field=callback_approval")
    assert [(a["actor"], a["reason"]) for a in audit["items"]] == [("web:guanli",
                                                                    "市民来电核实过号码")]

    # limits: 2 callbacks per case per day, 3 originated calls per node per hour
    status, cb = await as_user(lab, "zhangwei", "POST",
                               f"/api/v1/cases/{national['id']}/callback", {})
    assert status == 201, cb  # the national case's second: the node's third
    assert await refused(lab, "zhangwei", national["id"], {}) == (429, "callback-case-limit")
    assert await refused(lab, "zhangwei", altered["id"], {}) == (429, "callback-node-limit")
    status, audit = await as_user(lab, "guanli", "GET", "/api/v1/audit?field=callback_refused")
    assert [a["reason"].split(":")[0] for a in audit["items"][:2]] == [
        "callback-node-limit", "callback-case-limit"], audit
