"""SIP-side security on the real PBX (issue 9): the carrier is its address, the AMI account
reaches no shell and no password, files holding secrets are private, and a source that keeps
failing SIP logins is banned (then let in again when the ban expires or an admin lifts it)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from ivr.asterisk.ami import AmiClient, AmiError
from ivr.core.sipauth import sip_ha1
from ivr.lab import ports
from ivr.lab.deploy import LabDeployment
from tests.e2e.routing_helpers import PHONES, eventually, make_lab, routing_lab

pytestmark = pytest.mark.e2e


@pytest.fixture
async def lab(asterisk_root: Path, tmp_path: Path) -> AsyncIterator[LabDeployment]:
    async for deployment in routing_lab(asterisk_root, tmp_path / "lab"):
        yield deployment


@pytest.fixture
async def ban_lab(asterisk_root: Path, tmp_path: Path) -> AsyncIterator[LabDeployment]:
    """Three failures in a minute ban for 20 s; 127.0.0.9 is trusted; two carrier gateways."""
    phone_ports = dict(zip(PHONES, ports.free_ports(len(PHONES)), strict=True))
    deployment = await make_lab(asterisk_root, tmp_path / "lab", phone_ports,
                                bans={"failures": 3, "window": 60, "duration": 20,
                                      "trusted": ["127.0.0.9"]},
                                carrier={"match": ["127.0.0.2", "127.0.0.3/32"]},
                                alerts={"sip_bans_active": 1, "interval": 0.5})
    deployment.extra["phones"] = phone_ports
    yield deployment
    deployment.close()
    print(deployment.controller_log()[-4000:])
    print(deployment.asterisk.log_tail(150))
    deployment.asterisk.remove()


async def _ami(lab: LabDeployment) -> AmiClient:
    c = lab.config
    ami = AmiClient(c.ami.host, c.ami.port, c.ami.user, c.ami.secret)
    ami.start()
    await ami.wait_logged_in(5)
    return ami


# --- the carrier is its address ----------------------------------------------------------------

async def test_naming_the_carrier_from_elsewhere_gets_nowhere(lab: LabDeployment, sipp: Any) -> None:
    """An INVITE with ``carrier`` in From from 127.0.0.5 is challenged and rings nobody; the
    same INVITE from the carrier's address is a citizen's call."""
    p = lab.extra["phones"]
    phones = [await sipp("uas_answer", port=p[k], calls=5).start() for k in PHONES]
    r = await sipp("uac_expect_fail", remote=lab.sip, local_ip="127.0.0.5", service="05585551001",
                   keys={"caller": "carrier", "caller_name": "carrier"}, timeout=10).run()
    assert r.ok, r.summary()
    assert r.response_codes()[-1] in (401, 403, 407), r.response_codes()
    log = lab.asterisk.log_text()
    assert re.search(r"from '\"carrier\" <sip:carrier@127\.0\.0\.5[^']*' failed for "
                     r"'127\.0\.0\.5:\d+' .* - No matching endpoint found", log), log[-2000:]
    for phone in phones:
        await phone.stop()
        assert "INVITE sip:" not in _messages(phone), f"{phone.scenario_name} was rung"
    # the real carrier (its address) still gets through to the route
    ok = await sipp("uac_call", remote=lab.sip, local_ip="127.0.0.2", service="05585552001",
                    keys={"hold_ms": 300}, timeout=15).run()
    assert 200 in ok.response_codes() or 180 in ok.response_codes(), ok.summary()


async def test_every_listed_carrier_gateway_is_the_carrier(ban_lab: LabDeployment, sipp: Any) -> None:
    pj = (ban_lab.config.asterisk_etc / "pjsip.conf").read_text()
    assert "match = 127.0.0.2, 127.0.0.3/32\n" in pj and "identify_by = ip\n" in pj
    out = await asyncio.to_thread(ban_lab.asterisk.cli, "pjsip show identify carrier")
    assert "127.0.0.2/32" in out and "127.0.0.3/32" in out, out
    r = await sipp("uac_expect_fail", remote=ban_lab.sip, local_ip="127.0.0.3",
                   service="00118005551234", timeout=10).run()  # unpublished: refused by the route
    assert r.ok and r.response_codes()[-1] == 404, r.summary()
    # Asterisk's logger writes the line on its own thread: wait for it, it may follow the 404

    async def refused() -> bool:
        return "refused call to '00118005551234'" in ban_lab.asterisk.log_text()
    assert await eventually(refused, timeout=10), ban_lab.asterisk.log_text()[-2000:]


def _messages(s: Any) -> str:
    f = s.workdir / "messages.log"
    return f.read_text(errors="replace") if f.exists() else ""


# --- AMI least privilege -----------------------------------------------------------------------

async def test_ami_account_reaches_no_shell_and_no_password(lab: LabDeployment) -> None:
    ami = await _ami(lab)
    creds = lab.extra["credentials"]
    marker = lab.asterisk.host_path(lab.asterisk.instance_dir / "pwned-system")
    try:
        # only the modules modules.conf loads are in Asterisk's module folder
        for module in ("app_system.so", "func_shell.so",
                       f"{lab.asterisk.mod_dir}/app_system.so"):
            with pytest.raises(AmiError, match="Module not found"):
                await ami.action("ModuleLoad", Module=module, LoadType="load")
        with pytest.raises(AmiError, match="configured modules directory"):
            await ami.action("ModuleLoad", LoadType="load",
                             Module=f"../../../../..{lab.asterisk.mod_dir}/app_system.so")
        # System() does not exist, so an Originate of it runs nothing
        await ami.action("Originate", Channel="Local/s@ivr-step-message", Application="System",
                         Data=f"touch {lab.asterisk.instance_dir}/pwned-system", Async="true")
        await eventually(lambda: _logged(lab, "No such application 'System'"), timeout=10)
        assert not marker.exists()
        # GetConfig: phones appear as digest hashes only; Asterisk's own conf is out of reach
        reply = await ami.action("GetConfig", Filename="pjsip.conf")
        lines = list(reply.values())
        assert not any(v.startswith("password=") for v in lines), lines
        for endpoint, secret in creds.items():
            assert f"md5_cred={sip_ha1(endpoint, secret)}" in lines
            assert not any(secret in v for v in lines)
        for name, error in (("asterisk.conf", "not found"), ("../asterisk.conf", "escalated"),
                            ("/etc/shadow", "escalated")):
            with pytest.raises(AmiError, match=error):
                await ami.action("GetConfig", Filename=name)
        with pytest.raises(AmiError, match="Permission denied"):  # no `config` write class
            await ami.action("UpdateConfig", SrcFilename="pjsip.conf", DstFilename="x.conf")
        # what the controller needs still works
        await ami.db_put("ivr", "probe/x", "1")
        await ami.db_del("ivr", "probe/x")
    finally:
        await ami.close()
    # a dump of the database holds no phone password either
    dump = (lab.workdir / "ivr.db").read_bytes()
    for secret in creds.values():
        assert secret.encode() not in dump


async def test_asterisk_cannot_run_a_program_even_through_agi(lab: LabDeployment) -> None:
    """The account keeps `system` (AstDB mirror, reloads), with which Originate may run AGI(any
    program): before, ``AGI(/bin/sh,-c,…)`` ran its command as root (docs/decisions.md). Asterisk
    now runs under a seccomp filter that refuses every exec (ivr/asterisk/noexec.py), the
    dynamic loader detour included. AGI waits for its program to end, so once the originated
    channel is gone the program has run, or could not."""
    ami = await _ami(lab)
    loader = "/lib64/ld-linux-x86-64.so.2"
    try:
        for name, data in (("agi", "/bin/sh,-c,touch {}"),
                           ("ldso", f"{loader},/bin/sh,-c,touch {{}}")):
            target = lab.asterisk.instance_dir / f"pwned-{name}"
            reply = await ami.action("Originate", Channel="Local/s@ivr-step-message",
                                     Application="AGI", Data=data.format(target),
                                     Timeout="10000", timeout=15)  # answers once answered
            assert reply.get("Response") == "Success", reply
            await eventually(lambda: _no_channels(lab), timeout=15)
            assert not lab.asterisk.host_path(target).exists(), name
    finally:
        await ami.close()


async def _no_channels(lab: LabDeployment) -> bool:
    out = await asyncio.to_thread(lab.asterisk.cli, "core show channels count")
    return re.search(r"^0 active channels?$", out, re.M) is not None


async def _logged(lab: LabDeployment, text: str) -> bool:
    return text in lab.asterisk.log_text()


# --- files holding secrets ---------------------------------------------------------------------

async def test_secret_files_are_private_after_a_lab_start(lab: LabDeployment) -> None:
    etc = lab.config.asterisk_etc
    # the controller has rendered again since it started (resync after its AMI login)
    for name in ("pjsip.conf", "manager.conf", "extensions.conf", "queues.conf"):
        assert (etc / name).stat().st_mode & 0o777 == 0o640, name
    for path in (lab.workdir / "ivr.db", lab.workdir / "ivr.toml"):
        assert path.stat().st_mode & 0o777 == 0o600, path
    wal = lab.workdir / "ivr.db-wal"
    assert not wal.exists() or wal.stat().st_mode & 0o777 == 0o600
    assert not any(p.name == "asterisk.conf" for p in etc.iterdir())  # beside etc, not in it


# --- SIP brute force ---------------------------------------------------------------------------

async def _register(lab: LabDeployment, sipp: Any, source: str, password: str,
                    calls: int = 1) -> Any:
    return await sipp("register", remote=lab.sip, local_ip=source, calls=calls,
                      keys={"user": "o-zhang", "expires": 60}, auth=("o-zhang", password),
                      timeout=4).run()


async def _ban_of(lab: LabDeployment, address: str) -> dict[str, Any] | None:
    status, body = await lab.arequest("GET", "/api/v1/sip-bans")
    assert status == 200, body
    return next((b for b in body["items"] if b["address"] == address and b["active"]), None)


async def _sip_bans_alert(lab: LabDeployment, up: bool = True) -> bool:
    """Whether /metrics shows the alert ``sip_bans`` as ``up`` (polled until it does)."""
    async def shown() -> bool:
        status, body = await lab.arequest("GET", "/api/v1/alerts")
        assert status == 200, body
        raised = any(a["kind"] == "sip_bans" for a in body["items"])  # raised ones only
        return raised == up
    return bool(await eventually(shown, timeout=20))


async def test_failed_logins_ban_the_source_until_lifted_or_expired(ban_lab: LabDeployment,
                                                                      sipp: Any) -> None:
    lab = ban_lab
    right = lab.extra["credentials"]["o-zhang"]
    assert (await _register(lab, sipp, "127.0.0.7", right)).ok  # fine before
    burst = await _register(lab, sipp, "127.0.0.7", "wrong-password", calls=3)
    assert not burst.ok and 200 not in burst.response_codes()
    ban = await eventually(lambda: _ban_of(lab, "127.0.0.7"), timeout=10)
    assert ban["failures"] == 3 and ban["node"] == lab.config.node.name
    # Asterisk now refuses the right password from there, and only from there
    await eventually(lambda: _refused(lab, sipp, "127.0.0.7", right), timeout=10)
    again = await _register(lab, sipp, "127.0.0.7", right)
    assert not again.ok and 200 not in again.response_codes(), again.summary()
    assert (await _register(lab, sipp, "127.0.0.8", right)).ok
    # an admin lifts it (audited); the ACL is reloaded before the answer
    status, lifted = await lab.arequest("DELETE", f"/api/v1/sip-bans/{ban['id']}")
    assert status == 200 and not lifted["active"] and lifted["lifted_by"] == "api", lifted
    assert (await _register(lab, sipp, "127.0.0.7", right)).ok
    status, audit = await lab.arequest("GET", "/api/v1/audit?field=sip_ban")
    assert status == 200, audit
    assert [(e["actor"], e["old_value"], e["new_value"]) for e in audit["items"]] == [
        ("api", "127.0.0.7", None), ("system", None, "127.0.0.7")], audit
    # a second source is banned and let in again when its ban expires (20 s)
    await _register(lab, sipp, "127.0.0.6", "wrong-password", calls=3)
    await eventually(lambda: _ban_of(lab, "127.0.0.6"), timeout=10)
    await eventually(lambda: _refused(lab, sipp, "127.0.0.6", right), timeout=10)
    assert await _sip_bans_alert(lab)  # one ban in force: the alert (threshold 1 here)
    await eventually(lambda: _accepted(lab, sipp, "127.0.0.6", right), timeout=60, interval=1)
    assert await _ban_of(lab, "127.0.0.6") is None
    await eventually(lambda: _sip_bans_alert(lab, False), timeout=20)  # cleared by itself
    # a trusted source is never banned, however often it fails
    await _register(lab, sipp, "127.0.0.9", "wrong-password", calls=4)
    assert await _ban_of(lab, "127.0.0.9") is None and (await _register(lab, sipp, "127.0.0.9", right)).ok
    status, body = await lab.arequest("DELETE", "/api/v1/sip-bans/999999")
    assert status == 404 and body["error_id"] == "unknown-ban", body
    status, body = await lab.arequest("DELETE", "/api/v1/sip-bans/%C2%B2")  # "²": isdigit()
    assert status == 400 and body["error_id"] == "invalid-input", body


async def _refused(lab: LabDeployment, sipp: Any, source: str, password: str) -> bool:
    r = await _register(lab, sipp, source, password)
    return not r.ok and 200 not in r.response_codes()


async def _accepted(lab: LabDeployment, sipp: Any, source: str, password: str) -> bool:
    return bool((await _register(lab, sipp, source, password)).ok)
