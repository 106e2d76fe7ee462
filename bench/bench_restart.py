"""Restart cost against the size of the CEL journal: time until FastAGI listens, peak RSS.

```
.venv/bin/python bench/bench_restart.py                 # 10k, 100k, 1M events; 5 starts each
.venv/bin/python bench/bench_restart.py --sizes 10000,100000 --reps 2 --behind 10000,100000
```

A synthetic journal (answered calls of 9 events, as the dialplan and Asterisk write them) of each
size; the controller (``python -m ivr.app``, no Asterisk: AMI keeps retrying, which costs nothing
here) is started on it and timed until its FastAGI port accepts a connection; its peak RSS
(VmHWM) is read once it has served for a second. Two states of the database:

* *recorded*: the journal position saved at its end (a controller that was stopped, or killed,
  after recording everything) — what every restart looks like;
* *behind*: no position saved (a controller that was down while the whole journal was written):
  FastAGI must still listen at once; the recorder then works through the journal in its thread
  (time to caught up and peak RSS are reported, not part of "time to routing").

Figures are printed next to a baseline measured in the same run — the same start with an empty
journal — as ratios (flat = 1.0); the sizes are started in turn, round after round, so the
machine's load weighs on all of them alike; medians of the rounds.
It is a benchmark, never a test: nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ivr.calls.journal import offset_key  # noqa: E402
from ivr.core.config import Config  # noqa: E402
from ivr.db.session import upgrade  # noqa: E402
from ivr.lab import ports  # noqa: E402

T0 = 1795366780.0


def _line(name: str, t: float, lid: str, extra: str = "", uid: str = "", chan: str = "") -> str:
    user = name.startswith("IVR_")
    return json.dumps({"eventtype": name, "userdeftype": name if user else "",
                       "eventtime": f"{t:.6f}", "exten": "run", "context": "ivr-route",
                       "channame": chan or "PJSIP/carrier-00000010", "uniqueid": uid or lid,
                       "linkedid": lid, "peer": "",
                       "eventextra": json.dumps({"extra": extra}) if user else extra},
                      separators=(",", ":"))


def write_journal(path: Path, events: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(events // 9):
            lid, t = f"{T0 + i:.0f}.{i}", T0 + i
            fh.write("\n".join((
                _line("IVR_CALL", t, lid, "dialed=05585551001;caller=13800000000;caller_raw=13800000000"),
                _line("IVR_ROUTE", t + 0.1, lid, "official=0;src=agi;mode=direct"),
                _line("IVR_STEP", t + 0.2, lid, "n=1;kind=direct;target=PJSIP/o-zhang"),
                _line("ANSWER", t + 3, lid, uid=f"{lid}1", chan="PJSIP/o-zhang-00000011"),
                _line("IVR_ANSWERED", t + 3, lid, "n=1;by=o-zhang", uid=f"{lid}1"),
                _line("IVR_STEP_END", t + 30, lid, "n=1;kind=direct;result=ANSWER"),
                _line("HANGUP", t + 30, lid, '{"hangupcause":16,"dialstatus":"ANSWER"}',
                      uid=f"{lid}1", chan="PJSIP/o-zhang-00000011"),
                _line("HANGUP", t + 30, lid, '{"hangupcause":16,"dialstatus":"ANSWER"}'),
                _line("LINKEDID_END", t + 30, lid))) + "\n")


def prepare(work: Path, events: int) -> Config:
    agi, http, ami = ports.free_ports(3)
    config = Config.build(database={"url": f"sqlite+aiosqlite:///{work / 'ivr.db'}"},
                          http={"port": http, "api_token": "bench-token-" + "x" * 30},
                          agi={"port": agi}, ami={"port": ami, "secret": "s" * 40},
                          asterisk={"root": str(work / "root"), "instance": "/srv/inst"},
                          node={"name": "bench"})
    (work / "ivr.toml").write_text(config.to_toml())
    upgrade(config.database.url)
    write_journal(config.cel_journal, events)
    return config


def set_position(config: Config, at_end: bool) -> None:
    db = config.database.url.split("///", 1)[1]
    with sqlite3.connect(db) as con:
        con.execute("DELETE FROM settings WHERE key = ?", (offset_key("bench"),))
        con.execute("DELETE FROM cel_events")
        con.execute("DELETE FROM call_steps")
        con.execute("DELETE FROM calls")
        if at_end:
            st = os.stat(config.cel_journal)
            con.execute("INSERT INTO settings (key, value) VALUES (?, ?)",
                        (offset_key("bench"), json.dumps({"inode": st.st_ino, "offset": st.st_size})))


def saved_offset(config: Config) -> int:
    db = config.database.url.split("///", 1)[1]
    with sqlite3.connect(db, timeout=10) as con:
        row = con.execute("SELECT value FROM settings WHERE key = ?", (offset_key("bench"),)).fetchone()
    return int(json.loads(row[0]).get("offset", 0)) if row else 0


def hwm_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def start_once(work: Path, config: Config, wait_caught_up: bool) -> dict[str, float]:
    env = {**os.environ, "IVR_CONFIG": str(work / "ivr.toml")}
    log = open(work / "controller.log", "ab")
    t0 = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "ivr.app"], cwd=work, env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the controller exited ({proc.returncode}): see {work}/controller.log")
            try:
                with socket.create_connection(("127.0.0.1", config.agi.port), timeout=0.2):
                    break
            except OSError:
                time.sleep(0.005)
        ready = time.monotonic() - t0
        out = {"fastagi_s": ready}
        if wait_caught_up:
            end = os.stat(config.cel_journal).st_size
            while saved_offset(config) < end:
                time.sleep(0.1)
            out["caught_up_s"] = time.monotonic() - t0
        else:
            time.sleep(1.0)  # serving: the recorder thread has loaded its state by then
        out["rss_mib"] = hwm_kib(proc.pid) / 1024
        return out
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--behind", default="10000,100000", help="sizes also started with no position")
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
    # the baseline: an empty journal, started in the same rounds (the machine's load drifts:
    # each round starts every size once, in turn)
    sizes = [0] + [int(s) for s in args.sizes.split(",") if s]
    behind = [int(s) for s in args.behind.split(",") if s]
    rows: list[tuple[str, int, dict[str, float]]] = []
    with tempfile.TemporaryDirectory(prefix="ivr-bench-restart-") as tmp:
        configs = {}
        for n in sizes:
            work = Path(tmp) / str(n)
            work.mkdir()
            configs[n] = (work, prepare(work, n))
            print(f"  journal of {n} events written", file=sys.stderr)
        runs: dict[int, list[dict[str, float]]] = {n: [] for n in sizes}
        for rep in range(args.reps):
            for n in sizes:
                work, config = configs[n]
                set_position(config, at_end=True)
                runs[n].append(start_once(work, config, wait_caught_up=False))
            print(f"  round {rep + 1} of {args.reps} done", file=sys.stderr)
        for n in sizes:
            rows.append(("recorded", n, {k: statistics.median(r[k] for r in runs[n])
                                         for k in runs[n][0]}))
        for n in [0, *behind]:
            work, config = configs[n]
            set_position(config, at_end=False)
            rows.append(("behind", n, start_once(work, config, wait_caught_up=n > 0)))
    base = {state: figs for state, n, figs in rows if n == 0}
    print(f"{'state':9} {'events':>9} {'FastAGI s':>10} {'ratio':>6} {'peak RSS MiB':>13} {'ratio':>6}"
          f" {'caught up s':>12}")
    for state, n, figs in rows:
        b = base[state]
        print(f"{state:9} {n:>9} {figs['fastagi_s']:>10.3f} {figs['fastagi_s'] / b['fastagi_s']:>6.2f}"
              f" {figs['rss_mib']:>13.1f} {figs['rss_mib'] / b['rss_mib']:>6.2f}"
              f" {figs.get('caught_up_s', float('nan')):>12.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
