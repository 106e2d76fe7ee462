"""Microseconds between a call's CEL events, per path, from a lab kept by a bench.

    .venv/bin/python bench/bench_routing.py --paths baseline,controller --rate 30 --calls 600 \
        --reps 2 --keep                     # prints "work folder /tmp/bench-routing-…"
    .venv/bin/python bench/experiments/cel_gaps.py /tmp/bench-routing-…/lab/ivr.db

CEL's EventTime has microseconds, so the median gap between two of a call's events over a few
hundred calls is the cost of the priorities between them, to a few µs, where set-up p50 moves
±0.4 ms from run to run. With ``bench_routing --baseline-pad N --baseline-pad-app 'A ;; B'`` the
static dialplan runs candidate applications between its IVR_CALL and IVR_ROUTE events, so their
cost is the IVR_CALL -> IVR_ROUTE gap less one priority (docs/decisions.md, "The usual call
evaluates nothing").
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
from collections import defaultdict

GAPS = [("IVR_CALL", "IVR_ROUTE"), ("IVR_ROUTE", "IVR_STEP"), ("IVR_STEP", "ANSWER-out"),
        ("ANSWER-out", "ANSWER-in"), ("IVR_CALL", "ANSWER-in")]


def gaps(db: str) -> dict[str, dict[str, list[float]]]:
    """path ("static" or "routed") -> "A->B" -> each call's gap in µs."""
    con = sqlite3.connect(db)
    rows = con.execute("SELECT linkedid, uniqueid, eventtype, userdeftype, eventtime, extra "
                       "FROM cel_events ORDER BY id").fetchall()
    calls: dict[str, dict[str, float]] = defaultdict(dict)
    static: set[str] = set()
    for linkedid, uniqueid, etype, utype, at, extra in rows:
        name = utype if etype == "USER_DEFINED" else f"{etype}-{'in' if uniqueid == linkedid else 'out'}"
        calls[linkedid].setdefault(name, float(at))
        if "src=static" in (extra or ""):
            static.add(linkedid)
    out: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for linkedid, ev in calls.items():
        path = "static" if linkedid in static else "routed"
        for a, b in GAPS:
            if a in ev and b in ev:
                out[path][f"{a}->{b}"].append((ev[b] - ev[a]) * 1e6)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("db", help="the kept lab's ivr.db")
    found = gaps(ap.parse_args().db)
    for a, b in GAPS:
        key = f"{a}->{b}"
        cells = []
        for path in ("static", "routed"):
            v = found.get(path, {}).get(key, [])
            cells.append(f"{path} {statistics.median(v):7.0f} µs (n={len(v)})" if v else f"{path} -")
        print(f"{key:22s} " + "   ".join(cells))


if __name__ == "__main__":
    main()
