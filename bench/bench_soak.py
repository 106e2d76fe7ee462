"""Soak: 50,000 calls through one node, Asterisk's and the controller's RSS every 5,000 calls.
Bench only, not CI (issue 16). The same Asterisk runs the static dialplan (baseline) and ivr's
routing alternately, one chunk each, so a high-water mark of Asterisk itself shows in both.

    .venv/bin/python bench/bench_soak.py                         # 50,000 calls per path, 100/s
    .venv/bin/python bench/bench_soak.py --calls 2000 --chunk 500 --rate 50   # a short check
    .venv/bin/python bench/bench_soak.py --paths baseline     # Asterisk alone, a fresh Asterisk

Output: one line per chunk (path, calls so far, failed, set-up p50/p99 ms, Asterisk RSS and
controller RSS after the chunk, MiB), then whether each curve plateaus (the last third of the
chunks within 5 % of its maximum). It uses bench_routing's lab, phones and meters.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_routing as br  # noqa: E402


def plateau(values: list[float]) -> bool:
    tail = values[len(values) * 2 // 3:]
    return bool(tail) and min(tail) >= 0.95 * max(values)


async def main(args: argparse.Namespace) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    limit = max(1, round(args.rate * args.hold))
    async with br.bench_lab("bench-soak", args.phones, limit) as (lab, meters, work):
        run_args = argparse.Namespace(rate=args.rate, calls=args.chunk, hold=args.hold, limit=limit,
                                      phones=args.phones, probe=0.0, hung=False)
        paths = args.paths.split(",")
        done = dict.fromkeys(paths, 0)
        for n in range(args.calls // args.chunk):
            for path in paths:
                await br.route_live(lab, path)
                r = await br.run_uac(lab, work / f"{path}-{n}", path, n, run_args, meters)
                shutil.rmtree(work / f"{path}-{n}", ignore_errors=True)
                done[path] += r.attempted
                meters["controller"].reset_rss()
                meters["controller"].sample(rescan=True)
                row = {"path": path, "calls": done[path], "failed": r.failed, "p50": r.p50, "p99": r.p99,
                       "asterisk_rss_mb": r.ast_rss_after_mb,
                       "controller_rss_mb": meters["controller"].max_rss / 2**20}
                rows.append(row)
                print(f"{path:<11}{row['calls']:>7} calls, {r.failed} failed, p50 {br.fmt(r.p50)} "
                      f"p99 {br.fmt(r.p99)} ms; Asterisk {row['asterisk_rss_mb']:.0f} MiB, "
                      f"controller {row['controller_rss_mb']:.0f} MiB", flush=True)
    for path in args.paths.split(","):
        ast = [r["asterisk_rss_mb"] for r in rows if r["path"] == path]
        ctl = [r["controller_rss_mb"] for r in rows if r["path"] == path]
        print(f"{path}: Asterisk RSS plateaus: {plateau(ast)}; controller RSS plateaus: {plateau(ctl)}")
    return {"args": vars(args), "rows": rows}


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", type=int, default=50000, help="calls per path (50,000)")
    ap.add_argument("--chunk", type=int, default=5000, help="calls between RSS readings (5,000)")
    ap.add_argument("--rate", type=float, default=100.0)
    ap.add_argument("--hold", type=float, default=3.0)
    ap.add_argument("--phones", type=int, default=4)
    ap.add_argument("--paths", default="baseline,controller",
                    help="paths, alternating chunk by chunk on one Asterisk; one path alone gives "
                         "its own curve from a fresh Asterisk (run baseline and controller apart)")
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    out = asyncio.run(main(a))
    if a.json:
        a.json.write_text(json.dumps(out, indent=1, default=str))
