"""Capacity: the highest call rate with no failed call, ivr's routing against the static dialplan
on the same Asterisk (issue 16: "the max calls/s with 0 failures through our routing equal to the
static dialplan's on this machine").

    .venv/bin/python bench/bench_capacity.py                     # 100, 120, ... calls/s, 2 ladders
    .venv/bin/python bench/bench_capacity.py --start 60 --step 20 --seconds 10 --ladders 1

A ladder climbs from --start by --step calls/s. At each rate every path runs --seconds worth of
calls, interleaved on one lab (bench_routing.py: the same Asterisk, phones, meters and static
dialplan), each ladder in another order (ladder 1 baseline first, ladder 2 the next path first…),
and every run starts once the one before has left nothing behind (bench_routing.settle: the
recorder caught up, Asterisk without a channel and idle); a path stops climbing at its first
rate with a failed call,
and the ladder ends when every path has. A call fails on an error response, a timeout, a failure the
phone saw, or a set-up (INVITE -> 200 OK) longer than --setup-limit (1 s: past it a saturated
Asterisk still completes calls, only later and later); and a rate counts only if it was offered
(calls attempted over the run's sending time at least 90 % of it: sipp keeps pace).
A path's capacity is the last rate it passed (one that fails at --start steps down until it
passes). Each ladder starts again from --start on the same
lab, and the figures are the ladders' median, with the spread. The load generator (sipp) and the
phones run on the same host: both paths pay for them alike. Bench only: it asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import shlex
import shutil
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_routing as br  # noqa: E402

from ivr.lab.deploy import LabDeployment  # noqa: E402

PATHS = ["baseline", "controller"]  # --paths; the static ones (bench_routing.STATIC) first


async def attempt(lab: LabDeployment, meters: dict[str, br.TreeMeter], work: Path,
                  args: argparse.Namespace, n: int, path: str, rate: float) -> dict[str, Any]:
    """One path at one rate: ``--seconds`` of calls; the row, with ``passed``."""
    run_args = argparse.Namespace(rate=rate, calls=int(rate * args.seconds), hold=args.hold,
                                  limit=round(rate * args.hold * 1.5), phones=args.phones,
                                  probe=0.0, hung=False)
    await br.route_live(lab, path)
    folder = work / f"l{n}-{path}-{rate:g}"
    r = await br.run_uac(lab, folder, path, n, run_args, meters)
    shutil.rmtree(folder, ignore_errors=True)
    slow = sum(1 for ms in r.setup_ms if ms > args.setup_limit)
    sending = max(r.duration - args.hold, 1e-9)
    offered = r.attempted / sending >= 0.9 * rate
    ok = r.failed == 0 and slow == 0 and r.answered == r.attempted > 0 and offered
    print(f"  ladder {n} {path:<10} {rate:>5g}/s: {r.answered}/{r.attempted} answered, "
          f"{r.failed} failed, {slow} over {args.setup_limit:g} ms, sent "
          f"{r.attempted / sending:.0f}/s, p50 {br.fmt(r.p50)} p99 {br.fmt(r.p99)} max "
          f"{br.fmt(r.max, 0)} ms, Asterisk "
          f"{r.ast_cpu_pct:.0f} %, controller {r.ctrl_cpu_pct:.0f} %, host "
          f"{r.machine_busy_pct:.0f} %, recorder {r.drain_s:.0f} s after -> "
          f"{'passed' if ok else 'FAILED'}", flush=True)
    return {"ladder": n, "path": path, "rate": rate, "attempted": r.attempted,
            "failed": r.failed, "answered": r.answered, "slow": slow,
            "sent_per_s": r.attempted / sending, "p50": r.p50, "p99": r.p99, "max": r.max,
            "ctl_cpu_pct": r.ctrl_cpu_pct, "ast_cpu_pct": r.ast_cpu_pct,
            "host_pct": r.machine_busy_pct, "passed": ok}


async def ladder(lab: LabDeployment, meters: dict[str, br.TreeMeter], work: Path,
                 args: argparse.Namespace, n: int) -> tuple[dict[str, float], list[dict[str, Any]]]:
    """Every path climbs from --start; a path that fails at --start steps down instead until
    it passes (at most 5 steps), so its capacity is a rate, not 0."""
    best = dict.fromkeys(PATHS, 0.0)
    climbing = set(PATHS)
    rows: list[dict[str, Any]] = []
    rate = args.start
    k = (n - 1) % len(PATHS)  # each ladder starts with another path: none always runs last
    order = PATHS[k:] + PATHS[:k]
    while climbing and rate <= args.max:
        for path in order:
            if path not in climbing:
                continue
            row = await attempt(lab, meters, work, args, n, path, rate)
            rows.append(row)
            if row["passed"]:
                best[path] = rate
            else:
                climbing.discard(path)
        rate += args.step
    for path in order:
        down = args.start - args.step
        while best[path] == 0 and down > 0 and down >= args.start - 5 * args.step:
            row = await attempt(lab, meters, work, args, n, path, down)
            rows.append(row)
            if row["passed"]:
                best[path] = down
            down -= args.step
    return best, rows


async def main(args: argparse.Namespace) -> dict[str, Any]:
    print(f"$ {shlex.join([sys.executable, *sys.argv])}")
    print(f"host {platform.node()}; ladders of {args.start:g}+{args.step:g} calls/s up to {args.max:g}, "
          f"{args.seconds:g} s of calls per rate and path, hold {args.hold:g} s; failed: an error, "
          f"a timeout or a set-up over {args.setup_limit:g} ms", flush=True)
    limit = round(args.max * args.hold * 1.5)
    bests: list[dict[str, float]] = []
    rows: list[dict[str, Any]] = []
    async with br.bench_lab("bench-capacity", args.phones, limit) as (lab, meters, work):
        await br.warm_up(lab, work, argparse.Namespace(phones=args.phones, probe=0.0, hung=False,
                                                       rate=10.0, calls=8, hold=0.2, limit=10), meters)
        for n in range(1, args.ladders + 1):
            best, r = await ladder(lab, meters, work, args, n)
            bests.append(best)
            rows.extend(r)
    print("\nCapacity: the highest rate with no failed call (calls/s), per ladder and median")
    med = {}
    for path in PATHS:
        vals = [b[path] for b in bests]
        med[path] = statistics.median(vals)
        print(f"  {path:<10} {', '.join(f'{v:g}' for v in vals)}  -> median {med[path]:g}")
    ratios: dict[str, Any] = {}
    for ref in [p for p in PATHS if p in br.STATIC]:
        per = [b["controller"] / b[ref] if b[ref] else float("nan") for b in bests]
        ratio = med["controller"] / med[ref] if med[ref] else float("nan")
        lo, mid, hi = br.spread(per)
        ratios[ref] = {"of_medians": ratio, "per_ladder": per}
        print(f"  controller / {ref}: {br.fmt(ratio)} of the medians; per ladder median "
              f"{br.fmt(mid)} ({br.fmt(lo)}-{br.fmt(hi)}) (issue 16 target: 1.00)")
    if any(b[p] >= args.max for b in bests for p in PATHS):
        print("  a path reached --max: raise it")
    return {"args": vars(args), "rows": rows, "ladders": bests, "median": med,
            "ratio": ratios.get("baseline", {}).get("of_medians"), "ratios": ratios}


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--start", type=float, default=100.0, help="first rate, calls/s (100)")
    ap.add_argument("--step", type=float, default=20.0, help="rate step, calls/s (20)")
    ap.add_argument("--max", type=float, default=400.0, help="highest rate tried (400)")
    ap.add_argument("--seconds", type=float, default=15.0, help="seconds of calls per rate (15)")
    ap.add_argument("--setup-limit", type=float, default=1000.0,
                    help="a call set up slower than this (ms) counts as failed (1000)")
    ap.add_argument("--hold", type=float, default=3.0)
    ap.add_argument("--ladders", type=int, default=2)
    ap.add_argument("--phones", type=int, default=4)
    ap.add_argument("--paths", default="baseline,controller",
                    help="static paths first, then controller: baseline[,safe],controller (safe: "
                         "the static dialplan after ivr's caller-ID work, the same IVR_CALL event)")
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    PATHS[:] = [p for p in a.paths.split(",") if p in (*br.STATIC, "controller")]
    if "controller" not in PATHS or not set(PATHS) & set(br.STATIC):
        ap.error("--paths needs a static path and controller")
    out = asyncio.run(main(a))
    if a.json:
        a.json.write_text(json.dumps(out, indent=1, default=str))
