"""The demo behind ./scripts/demo.sh: a working ivr on this machine, ready to be dialled.

Real Asterisk 22 (the cached chroot) + the controller + SQLite + examples/directory.yaml. The
officials' desk phones and the operators' phones are sipp UAS that answer after a short ring;
the carrier (for officials' mobiles) is a sipp UAS on 127.0.0.2. Everything gets free ports,
so the demo runs beside the tests and benchmarks.

    python -m ivr.lab.demo            # run until Ctrl-C
    python -m ivr.lab.demo --smoke    # call every published number once, print the records, exit
"""

from __future__ import annotations

import argparse
import asyncio
import re
import secrets
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any

from ivr.lab import ports
from ivr.lab.asterisk import provision
from ivr.lab.deploy import REPO, LabDeployment, create_lab
from ivr.lab.sipp import Sipp

DIRECTORY = REPO / "examples" / "directory.yaml"
_CONTACT = re.compile(r"sip:([a-z0-9][a-z0-9_-]*)@127\.0\.0\.1:(\d+)")


def with_free_ports(text: str) -> tuple[str, dict[str, int]]:
    """Give every sipp phone of the sample directory a free port."""
    phones: dict[str, int] = {}

    def repl(m: re.Match[str]) -> str:
        phones[m.group(1)] = ports.free_port()
        return f"sip:{m.group(1)}@127.0.0.1:{phones[m.group(1)]}"
    return _CONTACT.sub(repl, text), phones


async def start_phones(lab: LabDeployment, phones: dict[str, int], workdir: Path) -> list[Sipp]:
    day = 24 * 3600
    started = [await Sipp("uas_answer", workdir=workdir / f"phone-{ep}", port=port, calls=100000,
                          keys={"answer_ms": 1500}, timeout=day).start()
               for ep, port in phones.items()]
    started.append(await Sipp("uas_answer", workdir=workdir / "carrier", local_ip="127.0.0.2",
                              port=lab.config.carrier.port, calls=100000,
                              keys={"answer_ms": 2500}, timeout=day).start())
    return started


def mode_line(effective: dict[str, Any] | None, stored: str) -> str:
    """The mode in effect and why, for the banner: ``mode=pool (window mon-fri 18:00-08:30;
    switch: direct)``; the stored mode alone when nothing is known."""
    if not effective:
        return f"mode={stored}"
    why = "switch" if effective["source"] == "switch" else (
        f"{effective['source']} {effective['window']['days']} "
        f"{effective['window']['start']}-{effective['window']['end']}; switch: {stored}")
    if effective["availability"] != "available":
        why += f"; {effective['availability']}"
    if effective["first_step"] != effective["mode"] or effective["first_step"] == "pool":
        first = effective["first_step"]
        why += f"; first: {first}" + (f" {effective['pool']}" if first == "pool" else "")
    return f"mode={effective['mode']} ({why})"


def banner(lab: LabDeployment, officials: list[dict[str, Any]],
           effective: dict[str, dict[str, Any]] | None = None) -> str:
    """The demo's addresses and numbers; each official's mode is the one IN EFFECT now with
    why (``effective``: GET /api/v1/effective by slug)."""
    host, port = lab.sip
    lines = ["", "ivr demo is running — 演示已启动", "",
             f"  Asterisk SIP   {host}:{port} (citizens come from the carrier address 127.0.0.2)",
             f"  REST API       {lab.api}/api/v1   token: {lab.config.http.api_token}",
             f"  OpenAPI        {lab.api}/api/v1/openapi.json",
             f"  config         {lab.workdir / 'ivr.toml'}", "",
             "  published numbers / 公开电话:"]
    for o in officials:
        nums = ", ".join(n["dial_forms"][-1] for n in o["numbers"])
        lines.append(f"    {nums:<28} {o['name']} {o['title']:<6} "
                     f"{mode_line((effective or {}).get(o['slug']), o['policy']['mode'])}")
    first = officials[0]["numbers"][0]["dial_forms"][-1]
    lines += ["", "  dial one as a citizen (another terminal):",
              f"    sipp -sn uac -s {first} {host}:{port} -i 127.0.0.2 -p 0 -m 1 -d 4000",
              "  then see the call record:",
              f"    curl -s -H 'Authorization: Bearer {lab.config.http.api_token}' {lab.api}/api/v1/calls",
              "  switch a mode:",
              f"    curl -s -X PUT -H 'Authorization: Bearer {lab.config.http.api_token}' "
              f"-H 'Content-Type: application/json' -d '{{\"mode\":\"pool\",\"reason\":\"demo\"}}' "
              f"{lab.api}/api/v1/officials/{officials[0]['slug']}/mode", ""]
    return "\n".join(lines)


async def demo_accounts(lab: LabDeployment, official: str, operator: str) -> dict[str, Any]:
    """One web account per role, sharing a password generated for this demo."""
    password = secrets.token_urlsafe(9)
    users = [("admin", "admin", {}), ("jiandu", "supervisor", {}),
             ("huawuyuan", "operator", {"operator": operator}),
             ("guanyuan", "official", {"official": official})]
    for username, role, extra in users:
        status, body = await lab.arequest("POST", "/api/v1/users", {
            "username": username, "role": role, "password": password, **extra})
        if status != 201:
            raise RuntimeError(f"could not create the demo account {username}: {body}")
    return {"password": password, "users": [(u, r) for u, r, _ in users]}


SOFTPHONE = "op-softphone"


async def softphone(lab: LabDeployment) -> dict[str, str]:
    """One phone a person can register (a softphone, a desk phone): an operator of the main
    pool with no static contact, logged in — paused by the system (电话未注册) until it
    registers. Its generated secret is printed by the demo."""
    status, body = await lab.arequest("POST", "/api/v1/operators", {
        "name": "话务员 软电话", "endpoint": SOFTPHONE, "pool": "main"})
    if status != 201:
        raise RuntimeError(f"could not create the demo softphone: {body}")
    await lab.arequest("PUT", f"/api/v1/operators/{SOFTPHONE}/state", {"state": "ready"})
    return {"endpoint": SOFTPHONE, "secret": body["secret"]}


def softphone_banner(lab: LabDeployment, phone: dict[str, str]) -> str:
    host, port = lab.sip
    return "\n".join([
        "  a phone to register / 可注册的电话 (softphone or desk phone: docs/phones.md):",
        f"    SIP user / 用户名   {phone['endpoint']}",
        f"    password / 密码     {phone['secret']}",
        f"    registrar / 注册服务器 {host}:{port}   UDP   codecs ulaw, alaw   realm ivr",
        "    an operator of pool main: paused (电话未注册) until it registers, then ready", ""])


async def smoke_softphone(lab: LabDeployment, phone: dict[str, str], workdir: Path) -> bool:
    """The printed credentials register, and the operator becomes ready."""
    r = await Sipp("register", workdir=workdir / "softphone", remote=lab.sip,
                   keys={"user": phone["endpoint"], "expires": 60},
                   auth=(phone["endpoint"], phone["secret"]), timeout=20).run()
    state = ""
    for _ in range(100):
        status, body = await lab.arequest("GET", f"/api/v1/phones/{phone['endpoint']}")
        state = body.get("operator_state", "") if status == 200 else ""
        if r.ok and body.get("registered") and state == "ready":
            break
        await asyncio.sleep(0.2)
    ok = r.ok and state == "ready"
    print(f"  softphone {phone['endpoint']}: {'registered, ready' if ok else 'NOT registered'}")
    return ok


async def smoke(lab: LabDeployment, officials: list[dict[str, Any]], workdir: Path) -> int:
    """Call every published number once and print what the call records say."""
    numbers = [o["numbers"][0]["dial_forms"][-1] for o in officials]
    for i, number in enumerate(numbers):
        r = await Sipp("uac_call", workdir=workdir / f"citizen-{i}", remote=lab.sip,
                       local_ip="127.0.0.2", service=number, keys={"hold_ms": 4000},
                       timeout=60).run()
        print(f"  call {number}: sipp {'ok' if r.ok else 'FAILED'}")
    for _ in range(100):
        status, body = await lab.arequest("GET", "/api/v1/calls?limit=100")
        done = [c for c in body["items"] if c["outcome"]] if status == 200 else []
        if len(done) >= len(numbers):
            break
        await asyncio.sleep(0.3)
    print("\n  number          outcome     answered by       steps")
    for c in sorted(done, key=lambda c: c["started_at"]):
        steps = " → ".join(f"{s['kind']}:{s['result']}" for s in c["steps"])
        print(f"  {c['number_dialed']:<15} {c['outcome']:<11} {c['answered_by'] or '-':<17} {steps}")
    ok = len(done) == len(numbers) and all(c["outcome"] == "answered" for c in done)
    print(f"\n  smoke: {len(done)}/{len(numbers)} calls recorded, "
          f"{'all answered' if ok else 'NOT all answered'}")
    return 0 if ok else 1


async def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="call each number once, then exit")
    ap.add_argument("--workdir", type=Path, default=None)
    args = ap.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="ivr-demo-"))
    text, phones = with_free_ports(DIRECTORY.read_text(encoding="utf-8"))
    root = await asyncio.to_thread(provision)
    lab = await create_lab(root, workdir, text, name="demo")
    sipps: list[Sipp] = []
    try:
        lab.start_controller()
        await lab.wait_ready()
        sipps = await start_phones(lab, phones, workdir)
        status, ops = await lab.arequest("GET", "/api/v1/operators")
        for op in ops["items"]:
            await lab.arequest("PUT", f"/api/v1/operators/{op['endpoint']}/state", {"state": "ready"})
        status, body = await lab.arequest("GET", "/api/v1/officials")
        officials = [o for o in body["items"] if o["numbers"]]
        accounts = await demo_accounts(lab, officials[0]["slug"], ops["items"][0]["endpoint"])
        phone = await softphone(lab)
        status, eff = await lab.arequest("GET", "/api/v1/effective")
        effective = {e["slug"]: e for e in eff["items"]} if status == 200 else {}
        print(banner(lab, officials, effective), flush=True)
        print(softphone_banner(lab, phone), flush=True)
        print(f"  web UI / 网页     {lab.api}/   (password for every demo account: "
              f"{accounts['password']})")
        for username, role in accounts["users"]:
            print(f"    {role:<11} {username}")
        print("\n  Ctrl-C stops everything.\n", flush=True)
        if args.smoke:
            calls = await smoke(lab, officials, workdir)
            return calls if await smoke_softphone(lab, phone, workdir) else 1
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        return 0
    finally:
        for s in sipps:
            await s.stop()
        lab.close()
        lab.asterisk.remove()


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
