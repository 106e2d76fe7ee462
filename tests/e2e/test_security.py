"""Toll fraud and access control on the real PBX: citizens reach published numbers only."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from ivr.asterisk.ami import AmiClient, AmiError
from ivr.lab.deploy import LabDeployment
from tests.e2e.routing_helpers import PHONES, eventually, routing_lab

pytestmark = pytest.mark.e2e
SCENARIOS = Path(__file__).parent / "scenarios"

# Dialed strings a caller might try from the carrier trunk. None is a published number.
ATTEMPTS = [
    "00118005551234",        # international
    "+15555550100",          # E.164 elsewhere
    "13800001111",           # a mobile that is not published
    "13800001009",           # an official's private mobile (reached only via their number)
    "05585551001999",        # a published number with digits appended
    "0558555100",            # a published number cut short
    "9", "99",               # too short for any pattern
    "op-1", "o-zhang", "carrier",  # internal endpoints and the trunk itself
    "s", "h", "i", "t", "T", "run", "mirror", "refuse", "default",  # dialplan internals
    "*97", "#", "0558*5551001",
    "05585551001%26PJSIP%2Fop-1",  # an injected second dial target, URI-escaped
    "PJSIP%2F13800001111%40carrier",
    "123456789012345678901",  # 21 digits
]


@pytest.fixture
async def lab(asterisk_root: Path, tmp_path: Path) -> AsyncIterator[LabDeployment]:
    async for deployment in routing_lab(asterisk_root, tmp_path / "lab"):
        yield deployment


def _secret(lab: Any, endpoint: str) -> str:
    """The phone's password, as the import that created it returned it (it is stored nowhere)."""
    secret: str = lab.extra["credentials"][endpoint]
    return secret


async def test_citizens_reach_published_numbers_only(lab: Any, sipp: Any) -> None:
    p = lab.extra["phones"]
    # Everything that could answer listens: the trunk (outside numbers) and every phone.
    listeners = [await sipp("uas_answer", local_ip="127.0.0.2", port=lab.config.carrier.port,
                            calls=50).start()]
    listeners += [await sipp("uas_answer", port=p[k], calls=50).start() for k in PHONES]
    for dialed in ATTEMPTS:
        r = await sipp("uac_expect_fail", remote=lab.sip, local_ip="127.0.0.2",
                       service=dialed, timeout=10).run()
        assert r.ok, f"{dialed!r} was not refused:\n{r.summary()}"
        assert r.response_codes()[-1] in (404, 484), (dialed, r.response_codes())
    # every attempt is over inside Asterisk too (no channel left that could still dial out)
    await eventually(lambda: _no_channels(lab), timeout=10, interval=0.1)
    for listener in listeners:
        await listener.stop()
        assert "INVITE sip:" not in _messages(listener), f"{listener.scenario_name} was rung"
    log = lab.asterisk.log_text()
    # Well-formed but unpublished numbers: refused by the route and logged as such.
    for dialed in ("00118005551234", "+15555550100", "13800001111", "05585551001999"):
        assert f"refused call to '{dialed}'" in log, dialed
    # Everything else never reaches the dialplan: Asterisk rejects and logs it itself.
    assert "rejected because extension not found in context 'ivr-citizens'" in log


async def _no_channels(lab: Any) -> bool:
    out = await asyncio.to_thread(lab.asterisk.cli, "core show channels count")
    return re.search(r"^0 active channels?$", out, re.M) is not None


def _messages(s: Any) -> str:
    f = s.workdir / "messages.log"
    return f.read_text(errors="replace") if f.exists() else ""


async def test_unidentified_caller_gets_nowhere(lab: Any, sipp: Any) -> None:
    """A request from an address that is not the carrier, without credentials: challenged."""
    r = await sipp("uac_expect_fail", remote=lab.sip, local_ip="127.0.0.1",
                   service="05585551001", timeout=10).run()
    assert r.ok, r.summary()
    assert r.response_codes()[-1] in (401, 403, 407), r.response_codes()


async def test_phones_register_with_generated_credentials(lab: Any, sipp: Any) -> None:
    secret = _secret(lab, "o-zhang")
    assert len(secret) >= 16
    ok = await sipp("register", remote=lab.sip, keys={"user": "o-zhang", "expires": 60},
                    auth=("o-zhang", secret), timeout=10).run()
    assert ok.ok, ok.summary()
    bad = await sipp("register", remote=lab.sip, keys={"user": "o-zhang", "expires": 60},
                     auth=("o-zhang", secret[:-1] + ("x" if secret[-1] != "x" else "y")),
                     timeout=10).run()
    assert not bad.ok and 200 not in bad.response_codes(), bad.summary()


async def test_officials_phone_cannot_dial_out(lab: Any, sipp: Any) -> None:
    """An authenticated phone may call published numbers only: never an outside number."""
    secret = _secret(lab, "o-zhang")
    carrier = await sipp("uas_answer", local_ip="127.0.0.2", port=lab.config.carrier.port,
                         calls=5).start()
    for dialed in ("13800001111", "00118005551234", "op-1"):
        r = await sipp(SCENARIOS / "uac_auth_expect_fail.xml", remote=lab.sip,
                       service=dialed, keys={"user": "o-zhang"}, auth=("o-zhang", secret),
                       timeout=10).run()
        assert r.ok, r.summary()
        codes = r.response_codes()
        assert codes[-1] == 404 and codes.count(401) + codes.count(407) == 1, (dialed, codes)
    await carrier.stop()
    assert "INVITE sip:" not in _messages(carrier)


async def test_ami_account_has_least_privilege(lab: Any) -> None:
    c = lab.config
    settings = await asyncio.to_thread(lab.asterisk.cli, "manager show settings")
    assert f"TCP Bindaddress:           127.0.0.1:{c.ami.port}" in settings, settings
    user = await asyncio.to_thread(lab.asterisk.cli, f"manager show user {c.ami.user}")
    # system: ContactStatus (phones registering), filtered by the eventfilter to that event
    assert "read perm: system,call,agent,security" in user and "command" not in user, user
    ami = AmiClient(c.ami.host, c.ami.port, c.ami.user, c.ami.secret)
    ami.start()
    try:
        await ami.wait_logged_in(5)
        with pytest.raises(AmiError, match="[Pp]ermission"):
            await ami.action("Command", Command="core show channels")
        await ami.db_put("ivr", "probe/x", "1")  # what it needs does work
        await ami.db_del("ivr", "probe/x")
    finally:
        await ami.close()
    wrong = AmiClient(c.ami.host, c.ami.port, c.ami.user, "not-the-secret",
                      backoff_initial=5)
    wrong.start()
    try:
        with pytest.raises(asyncio.TimeoutError):
            await wrong.wait_logged_in(1.5)
    finally:
        await wrong.close()
