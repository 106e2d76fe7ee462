"""A sign-in flood does not delay call routing (issue 9): scrypt runs in a small thread pool,
off the event loop, so while hundreds of sign-ins are hashed the FastAGI route is still
answered in time — no FastAGI timeout, every call routed by the controller (``route_source``
agi, not the mirror). Real Asterisk, real SIP calls by sipp, the real controller process."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from ivr.lab.deploy import LabDeployment
from tests.e2e.routing_helpers import eventually, routing_lab

pytestmark = pytest.mark.e2e
PASSWORD = "ivr web flood 2026 pass"
PARALLEL, ROUNDS = 64, 4
MAX_CALLS = 40  # calls placed during the flood, at most: the phone answers that many (a loaded
# machine hashes slowly, and a 51st call once found the phone's sipp done after its 50th)


@pytest.fixture
async def lab(asterisk_root: Path, tmp_path: Path) -> AsyncIterator[LabDeployment]:
    # route_live: every call asks the controller over FastAGI, so a blocked event loop would
    # show as FastAGI timeouts (from the mirror alone, calls would not need the loop at all)
    async for deployment in routing_lab(asterisk_root, tmp_path / "lab", agi={"route_live": True}):
        yield deployment


async def _sign_in(http: aiohttp.ClientSession, lab: LabDeployment) -> int:
    """One sign-in through the form (its own pre-session): the status of the POST."""
    async with http.get(f"{lab.api}/login") as r:
        page, presession = await r.text(), r.cookies["ivr_login_csrf"].value
    match = re.search(r'name="csrf" value="([^"]+)"', page)
    assert match
    async with http.post(f"{lab.api}/login", allow_redirects=False,
                         data={"username": "flood", "password": PASSWORD, "csrf": match.group(1)},
                         headers={"Cookie": f"ivr_login_csrf={presession}"}) as r:
        return r.status


def _errors(lab: LabDeployment) -> str:
    """The controller's errors (not its access log), for a failure's message."""
    lines = [line for line in lab.controller_log().splitlines() if "aiohttp.access" not in line]
    start = next((i for i, line in enumerate(lines) if "ERROR" in line), len(lines))
    return "\n".join(lines[start:start + 80])


async def test_login_flood_keeps_calls_on_fastagi(lab: LabDeployment, sipp: Any) -> None:
    status, body = await lab.arequest("POST", "/api/v1/users", {
        "username": "flood", "role": "supervisor", "password": PASSWORD})
    assert status == 201, body
    zhang = await sipp("uas_answer", port=lab.extra["phones"]["zhang"], calls=MAX_CALLS,
                       keys={"hold_ms": 200}).start()
    before = await asyncio.to_thread(lab.health)
    assert before is not None

    jar = aiohttp.DummyCookieJar()  # each sign-in carries its own pre-session cookie
    async with aiohttp.ClientSession(cookie_jar=jar,
                                     connector=aiohttp.TCPConnector(limit=PARALLEL)) as http:
        async def flood() -> list[int]:
            out: list[int] = []
            for _ in range(ROUNDS):
                out += await asyncio.gather(*[_sign_in(http, lab) for _ in range(PARALLEL)])
            return out
        flooding = asyncio.create_task(flood())
        calls = 0
        while not flooding.done() and calls < MAX_CALLS:  # calls while the sign-ins are hashed
            r = await sipp("uac_call", remote=lab.sip, local_ip="127.0.0.2",
                           service="05585551001", keys={"hold_ms": 3000, "caller": "13900003333"},
                           timeout=40).run()
            assert r.ok, r.summary()
            calls += 1
        statuses = await flooding
    # every sign-in was hashed and succeeded
    assert statuses == [303] * (PARALLEL * ROUNDS), _errors(lab)
    assert calls >= 3, calls  # the calls overlapped the flood

    async def all_recorded() -> list[dict[str, Any]] | None:
        status, page = await lab.arequest("GET", "/api/v1/calls?limit=100")
        assert status == 200, page
        done = [c for c in page["items"] if c["number_dialed"] == "05585551001" and c["outcome"]]
        return done if len(done) == calls else None
    records = await eventually(all_recorded, timeout=30)
    assert {(c["route_source"], c["answered_by"]) for c in records} == {("agi", "o-zhang")}
    after = await asyncio.to_thread(lab.health)
    assert after is not None
    assert after["agi"]["timeouts"] == before["agi"]["timeouts"], (before["agi"], after["agi"])
    assert after["agi"]["answered"] - before["agi"]["answered"] == calls
    await zhang.stop()
