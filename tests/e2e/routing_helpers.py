"""Shared pieces of the routing end-to-end tests: a directory, a deployment fixture, polling."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from ivr.asterisk.ami import AmiClient
from ivr.lab import ports
from ivr.lab.deploy import LabDeployment, create_lab

# Officials of a test city. {name} placeholders are the sipp phones' ports.
DIRECTORY = """
version: 1
settings:
  timezone: Asia/Shanghai
  default_chain: [deputy, pool, voicemail]
pools:
  - {{name: main, strategy: leastrecent, max_wait: 8}}
operators:
  - {{name: 话务员 王芳, endpoint: op-1, pool: main, static_contact: "sip:op-1@127.0.0.1:{op1}"}}
  - {{name: 话务员 李娜, endpoint: op-2, pool: main, static_contact: "sip:op-2@127.0.0.1:{op2}"}}
officials:
  - slug: zhang-wei
    name: 张伟
    title: 局长
    department: 市交通运输局
    numbers: ["0558-5551001", "+86 558 5551011"]
    devices: [{{sip: o-zhang, static_contact: "sip:o-zhang@127.0.0.1:{zhang}"}}]
    deputy: li-qiang
    mode: direct
    chain: [deputy, pool, voicemail]
    ring_timeout: 5
  - slug: li-qiang
    name: 李强
    title: 副局长
    department: 市交通运输局
    numbers: ["0558-5551002"]
    devices: [{{sip: o-li, static_contact: "sip:o-li@127.0.0.1:{li}"}}]
    mode: direct
    chain: [pool, voicemail]
    ring_timeout: 5
  - slug: chen-jing
    name: 陈静
    title: 主任
    department: 市信访局
    numbers: ["0558-5552001"]
    devices: [{{sip: o-chen, static_contact: "sip:o-chen@127.0.0.1:{chen}"}}]
    mode: pool
    chain: [pool]
    ring_timeout: 5
  - slug: sun-li
    name: 孙丽
    title: 副区长
    department: 区政府
    numbers: ["0558-5553001"]
    devices: [{{mobile: "13800001009", confirm: false}}]   # answered as before issue 8
    mode: direct
    chain: [voicemail]
    ring_timeout: 5
  - slug: zhou-min
    name: 周敏
    title: 主任
    department: 市政务服务中心
    numbers: ["0558-5554001"]
    menu: true
    mode: pool
    chain: [pool, voicemail]
  - slug: zhao-lei
    name: 赵磊
    title: 科长
    department: 市住建局
    numbers: ["13800138003"]
    devices: [{{sip: o-zhao, static_contact: "sip:o-zhao@127.0.0.1:{zhao}"}}]
    mode: pool
    chain: [pool, voicemail]
    ring_timeout: 5
"""

PHONES = ("op1", "op2", "zhang", "li", "chen", "zhao")


async def make_lab(root: Path, workdir: Path, phone_ports: dict[str, int],
                   directory: str = DIRECTORY, **kw: Any) -> LabDeployment:
    """A started deployment of ``directory`` (its ``{phone}`` placeholders: the ports);
    ``kw``: config sections for :func:`create_lab`."""
    lab = await create_lab(root, workdir, directory.format(**phone_ports), **kw)
    try:
        lab.start_controller()
        await lab.wait_ready()
    except BaseException:
        lab.close()  # a fixture that fails before yielding is never torn down: no orphans
        lab.asterisk.remove()
        raise
    return lab


async def routing_lab(root: Path, workdir: Path, directory: str = DIRECTORY,
                      phones: tuple[str, ...] = PHONES, **kw: Any) -> AsyncIterator[LabDeployment]:
    """The deployment of ``directory`` (default: the routing directory) with its sipp phones'
    ports in ``extra["phones"]``, for a test module's ``lab`` fixture. Its logs are printed at
    teardown: pytest shows them when the test failed."""
    phone_ports = dict(zip(phones, ports.free_ports(len(phones)), strict=True))
    deployment = await make_lab(root, workdir, phone_ports, directory, **kw)
    deployment.extra["phones"] = phone_ports
    yield deployment
    deployment.close()
    print(deployment.controller_log()[-4000:])
    print(deployment.asterisk.log_tail(150))
    deployment.asterisk.remove()


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 15.0,
                     interval: float = 0.2) -> Any:
    """Poll ``check`` until it returns something truthy; fail with its last value."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(interval)
    pytest.fail(f"condition not met within {timeout}s; last value: {last!r}")


async def call_record(lab: LabDeployment, number: str, outcome: bool = True) -> dict[str, Any] | None:
    """The newest call record for ``number`` once it has an outcome."""
    status, calls = await lab.arequest("GET", "/api/v1/calls?limit=50")
    assert status == 200, calls
    items = calls["items"] if isinstance(calls, dict) else calls
    for c in items:
        if c["number_dialed"] == number and (c.get("outcome") or not outcome):
            return c
    return None


async def login_operators(lab: LabDeployment, *endpoints: str, state: str = "ready") -> None:
    for ep in endpoints:
        status, body = await lab.arequest("PUT", f"/api/v1/operators/{ep}/state", {"state": state})
        assert status == 200, body
    queue = await asyncio.to_thread(lab.asterisk.cli, "queue show pool-main")
    for ep in endpoints:
        assert (f"PJSIP/{ep}" in queue) == (state != "logged_out"), queue


async def queue_status(lab: LabDeployment, queue: str = "pool-main") -> list[dict[str, str]]:
    """app_queue's own view of ``queue`` (QueueStatus over a fresh AMI session): its events
    (QueueParams, QueueMember, QueueEntry)."""
    c = lab.config
    ami = AmiClient(c.ami.host, c.ami.port, c.ami.user, c.ami.secret)
    ami.start()
    try:
        await ami.wait_logged_in(5)
        return await ami.action_list("QueueStatus", Queue=queue, timeout=10)
    finally:
        await ami.close()


def tone_ulaw(path: Path, seconds: float = 3.0) -> Path:
    """A raw µ-law file of a 440 Hz tone for sipp's rtp_stream (real audio over RTP)."""
    import subprocess
    subprocess.run(["sox", "-n", "-r", "8000", "-c", "1", "-t", "ul", str(path), "synth",
                    str(seconds), "sine", "440"], check=True)
    return path
