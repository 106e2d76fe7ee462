"""Pool benchmark: does an operator ever sit idle while a caller waits? (issue 16)

    .venv/bin/python bench/bench_pool.py                      # 4 operators, over and under capacity
    .venv/bin/python bench/bench_pool.py --talk 8 --over-calls 60 --under-calls 30 --json out.json
    .venv/bin/python bench/bench_pool.py --queue "retry=5"    # a queues.conf variant, same run

A benchmark, not a test: it prints figures, never asserts on time.

Method:
  * one lab deployment (ivr.lab.deploy.create_lab): a pool of --operators operators, each a sipp
    UAS that answers at once and hangs up after --talk seconds (one call at a time: ringinuse=no),
    logged in through the API; one official in pool mode (chain [pool]: after the pool's max_wait
    the caller hears the unavailable message);
  * callers: a sipp UAC at the carrier's address calls the official's number at a rate giving an
    offered load of --over (default 1.5) and --under (default 0.6) times the pool's capacity
    (operators / talk seconds); each phase is run once per queues.conf variant (the rendered one,
    and each --queue variant appended to the pool's section and reloaded), interleaved;
  * queue events over AMI (the controller's account: QueueCaller*, AgentCalled/Connect/Complete,
    AgentRingNoAnswer), stamped by Asterisk (timestampevents=yes, µs).

Figures per phase:
  * idle-while-waiting (issue 16, "Pinned"): operator-seconds in which an operator was logged in,
    not paused, not ringing, not in a call and not in wrap-up while at least one caller waited in
    the pool, as % of the operators' capacity over the phase (first join to last leave), and as
    % of the operator-seconds during which someone waited;
  * the gap from an operator becoming free (AgentComplete) with callers waiting to the next offer
    to that operator (AgentCalled): p50/p90/max;
  * wait (join to AgentConnect) p50/p90 of answered callers; answered within 20 s, % of callers;
    callers who left unanswered (the pool's max_wait).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ivr.asterisk.ami import AmiClient  # noqa: E402
from ivr.lab import ports  # noqa: E402
from ivr.lab.asterisk import provision  # noqa: E402
from ivr.lab.deploy import LabDeployment, create_lab  # noqa: E402
from ivr.lab.sipp import Sipp  # noqa: E402

CARRIER_IP = "127.0.0.2"
NUMBER = "05585558001"
QUEUE = "pool-main"
EVENTS = ("QueueCallerJoin", "QueueCallerLeave", "QueueCallerAbandon", "AgentCalled",
          "AgentConnect", "AgentComplete", "AgentRingNoAnswer")


def directory_yaml(op_ports: list[int], max_wait: int, strategy: str) -> str:
    lines = ["version: 1", "settings:", "  timezone: Asia/Shanghai", "  default_chain: [pool]",
             "pools:", f"  - {{name: main, strategy: {strategy}, max_wait: {max_wait}}}", "operators:"]
    for i, port in enumerate(op_ports, 1):
        lines.append(f'  - {{name: 话务员 {i}, endpoint: op-{i}, pool: main, '
                     f'static_contact: "sip:op-{i}@127.0.0.1:{port}"}}')
    lines += ["officials:", "  - slug: pooled", "    name: 测试", "    title: 主任",
              f'    numbers: ["{NUMBER[:4]}-{NUMBER[4:]}"]', "    mode: pool", "    chain: [pool]"]
    return "\n".join(lines) + "\n"


@dataclass
class Phase:
    name: str
    variant: str
    rate: float
    calls: int
    events: list[dict[str, str]] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q / 100 * (len(s) - 1))))]


def analyse(events: list[dict[str, str]], operators: list[str]) -> dict[str, Any]:
    """The figures of one phase from its queue events (see the module docstring)."""
    evs = sorted(events, key=lambda e: float(e.get("Timestamp", "0")))
    if not evs:
        return {}
    # app_queue sends QueueCallerLeave before AgentConnect: know who is connected beforehand
    ever_connected = {e.get("Uniqueid", "") for e in evs if e["Event"] == "AgentConnect"}
    waiting: set[str] = set()
    busy: dict[str, set[str]] = {op: set() for op in operators}  # member → callers ringing/talking
    joined: dict[str, float] = {}
    connected: dict[str, float] = {}
    freed: dict[str, float] = {}  # member → since when it is free while callers wait
    gaps: list[float] = []
    idle_ws = 0.0  # operator-seconds idle while ≥ 1 caller waited
    wait_time = 0.0  # seconds during which ≥ 1 caller waited
    t0 = last = float(evs[0]["Timestamp"])

    def member(e: dict[str, str]) -> str:
        return (e.get("Interface") or e.get("MemberName") or "").split("/")[-1]

    for e in evs:
        t = float(e["Timestamp"])
        if waiting:
            wait_time += t - last
            idle_ws += (t - last) * sum(1 for op in operators if not busy[op])
        last = t
        kind, uid = e["Event"], e.get("Uniqueid", "")
        m = member(e)
        if kind == "QueueCallerJoin":
            if not waiting:  # the free operators' wait for a caller starts now
                freed.update({op: t for op in operators if not busy[op]})
            waiting.add(uid)
            joined.setdefault(uid, t)
        elif kind == "QueueCallerLeave":
            waiting.discard(uid)
            if uid not in ever_connected:  # left unanswered: whoever was rung for it is free
                for op in operators:
                    busy[op].discard(uid)
            if not waiting:
                freed.clear()
        elif kind == "AgentCalled" and m in busy:
            busy[m].add(uid)
            if m in freed:
                gaps.append(t - freed.pop(m))
        elif kind == "AgentConnect" and m in busy:
            connected[uid] = t
            for op in operators:  # rung for the same caller (ringall): free again
                if op != m:
                    busy[op].discard(uid)
        elif kind in ("AgentComplete", "AgentRingNoAnswer") and m in busy:
            busy[m].discard(uid)
            if not busy[m] and waiting:
                freed[m] = t
    span = last - t0
    waits = [connected[u] - joined[u] for u in connected if u in joined]
    n = len(joined)
    return {
        "callers": n, "answered": len(waits), "unanswered": n - len(waits),
        "span_s": round(span, 1),
        "idle_while_waiting_pct_capacity": round(100 * idle_ws / (span * len(operators)), 2) if span else None,
        "idle_while_waiting_pct_waiting": round(100 * idle_ws / (wait_time * len(operators)), 2)
        if wait_time else 0.0,
        "free_to_offer_p50_s": round(pct(gaps, 50), 3), "free_to_offer_p90_s": round(pct(gaps, 90), 3),
        "free_to_offer_max_s": round(max(gaps), 3) if gaps else None, "offers_after_free": len(gaps),
        "wait_p50_s": round(pct(waits, 50), 2), "wait_p90_s": round(pct(waits, 90), 2),
        "answered_within_20s_pct": round(100 * sum(1 for w in waits if w <= 20) / n, 1) if n else None,
    }


async def set_variant(lab: LabDeployment, options: str) -> None:
    """Append ``k=v,k=v`` to the pool's queues.conf section (the rendered file otherwise)."""
    path = lab.asterisk.host_path(lab.asterisk.etc_dir) / "queues.conf"
    base = lab.extra.setdefault("queues_base", path.read_text())
    text = base
    if options:
        extra = "".join(f"{kv.split('=', 1)[0].strip()} = {kv.split('=', 1)[1].strip()}\n"
                        for kv in options.split(",") if "=" in kv)
        text = base.replace(f"[{QUEUE}]\n", f"[{QUEUE}]\n{extra}", 1)
    lab.asterisk.write_file("queues.conf", text)
    await asyncio.to_thread(lab.asterisk.cli, "module reload app_queue.so")


async def run_phase(lab: LabDeployment, ami: AmiClient, phase: Phase, talk: float, max_wait: int,
                    operators: list[str], op_ports: list[int], work: Path) -> None:
    tag = f"{phase.name}-{phase.variant or 'rendered'}".replace("=", "").replace(",", "_")
    uas = [await Sipp("uas_answer", workdir=work / tag / f"op{i}", port=port, calls=phase.calls + 5,
                      keys={"answer_ms": 1, "hold_ms": int(talk * 1000)},
                      timeout=phase.calls / phase.rate + max_wait + talk + 60).start()
           for i, port in enumerate(op_ports, 1)]
    phase.events.clear()
    collect = phase.events.append
    for name in EVENTS:
        ami.subscribe(name, collect)
    try:
        uac = Sipp("uac_call", workdir=work / tag / "callers", remote=lab.sip, local_ip=CARRIER_IP,
                   service=NUMBER, calls=phase.calls, rate=phase.rate,
                   limit=phase.calls, keys={"hold_ms": int((max_wait + talk + 10) * 1000)},
                   timeout=phase.calls / phase.rate + max_wait + talk + 60)
        result = await uac.run()
        phase.figures["failed_calls"] = result.failed
        await asyncio.sleep(1.0)  # the last AgentComplete events
    finally:
        for name in EVENTS:
            ami._handlers[name].remove(collect)
        for u in uas:
            await u.stop()
    phase.figures.update(analyse(phase.events, operators))


async def main(args: argparse.Namespace) -> dict[str, Any]:
    root = provision()
    work = Path(tempfile.mkdtemp(prefix="bench-pool-"))
    op_ports = ports.free_ports(args.operators)
    operators = [f"op-{i}" for i in range(1, args.operators + 1)]
    lab = await create_lab(root, work / "lab", directory_yaml(op_ports, args.max_wait, args.strategy))
    lab.start_controller()
    out: dict[str, Any] = {}
    try:
        await lab.wait_ready()
        for op in operators:
            status, body = await lab.arequest("PUT", f"/api/v1/operators/{op}/state", {"state": "ready"})
            assert status == 200, body
        c = lab.config
        ami = AmiClient(c.ami.host, c.ami.port, c.ami.user, c.ami.secret)
        ami.start()
        await ami.wait_logged_in(10)
        capacity = args.operators / args.talk  # calls/s the pool can take
        variants = [""] + list(args.queue)
        phases = []
        for load, calls in (("over", args.over_calls), ("under", args.under_calls)):
            factor = args.over if load == "over" else args.under
            for variant in variants:
                phases.append(Phase(load, variant, round(capacity * factor, 3), calls))
        for ph in phases:
            await set_variant(lab, ph.variant)
            print(f"# {ph.name} capacity x{args.over if ph.name == 'over' else args.under}: "
                  f"{ph.calls} callers at {ph.rate}/s, variant {ph.variant or 'rendered'}", flush=True)
            await run_phase(lab, ami, ph, args.talk, args.max_wait, operators, op_ports, work)
            print("  " + json.dumps(ph.figures, ensure_ascii=False), flush=True)
        await ami.close()
        out = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "host": platform.node(),
               "cpus": len(__import__("os").sched_getaffinity(0)),
               "load1": __import__("os").getloadavg()[0], "args": vars(args),
               "queues_conf": lab.extra.get("queues_base", ""),
               "phases": [{"load": p.name, "variant": p.variant or "rendered", "rate": p.rate,
                           "calls": p.calls, **p.figures} for p in phases]}
    finally:
        lab.close()
        lab.asterisk.remove()
    print()
    print("| load | variant | callers | idle while waiting (% capacity) | idle (% while waiting) | "
          "free → offer p50/p90/max s | wait p50/p90 s | answered ≤ 20 s | unanswered |")
    print("|---|---|---|---|---|---|---|---|---|")
    for p in out.get("phases", []):
        print(f"| {p['load']} | {p['variant']} | {p.get('callers')} | "
              f"{p.get('idle_while_waiting_pct_capacity')} | {p.get('idle_while_waiting_pct_waiting')} | "
              f"{p.get('free_to_offer_p50_s')}/{p.get('free_to_offer_p90_s')}/{p.get('free_to_offer_max_s')} | "
              f"{p.get('wait_p50_s')}/{p.get('wait_p90_s')} | {p.get('answered_within_20s_pct')} % | "
              f"{p.get('unanswered')} |")
    return out


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--operators", type=int, default=4)
    ap.add_argument("--talk", type=float, default=8.0, help="seconds each operator talks")
    ap.add_argument("--max-wait", type=int, default=30, help="the pool's max_wait (s)")
    ap.add_argument("--strategy", default="leastrecent")
    ap.add_argument("--over", type=float, default=1.5, help="offered load / capacity, overload phase")
    ap.add_argument("--under", type=float, default=0.6, help="offered load / capacity, light phase")
    ap.add_argument("--over-calls", type=int, default=60)
    ap.add_argument("--under-calls", type=int, default=30)
    ap.add_argument("--queue", action="append", default=[],
                    help="a queues.conf variant for the pool's section, k=v,k=v (repeatable)")
    ap.add_argument("--json", type=Path)
    return ap.parse_args(argv)


if __name__ == "__main__":
    a = parse()
    result = asyncio.run(main(a))
    if a.json:
        a.json.write_text(json.dumps(result, indent=1, ensure_ascii=False, default=str))
