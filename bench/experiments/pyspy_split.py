"""Split a py-spy raw profile (``py-spy record --format raw``) of the controller into buckets.

    python pyspy_split.py profile.txt [more.txt ...]

Buckets, first match from the root of each stack: recorder ingest (event insert / finish),
AMI read+parse+dispatch, FastAGI, web (healthz), other. Prints samples and % of non-idle.
"""

from __future__ import annotations

import sys
from collections import Counter

BUCKETS = [
    ("recorder: _finish (fold + write call record)", ("_finish (ivr/calls/recorder.py",)),
    ("recorder: _insert_events (store raw events)", ("_insert_events (ivr/calls/recorder.py",)),
    ("recorder: other (ingest, session, commit)", ("ingest (ivr/calls/recorder.py", "run (ivr/calls/recorder.py")),
    ("AMI: read/parse/dispatch (incl. from_ami)", ("_read_loop (ivr/asterisk/ami.py", "_handle (ivr/asterisk/ami.py")),
    ("FastAGI: _client/_serve/route", ("_client (ivr/asterisk/agi.py", "_serve (ivr/asterisk/agi.py",
                                       "route (ivr/controller.py")),
    ("web (aiohttp request handling: healthz, API)", ("web_protocol.py", "healthz")),
    ("aiosqlite worker thread", ("aiosqlite/core.py",)),
]


IDLE = ("EpollSelector.select", "aiosqlite/core.py:59)")


def bucket(stack: str) -> str:
    for name, keys in BUCKETS:
        if any(k in stack for k in keys):
            return name
    return "other"


def main() -> None:
    c: Counter[str] = Counter()
    leaf: Counter[str] = Counter()
    total = 0
    for path in sys.argv[1:]:
        for line in open(path, errors="replace"):
            stack, _, n = line.rstrip("\n").rpartition(" ")
            if not n.isdigit():
                continue
            k = int(n)
            last = stack.split(";")[-1]
            if any(x in last for x in IDLE):
                continue  # waiting (epoll, the aiosqlite worker's queue): not CPU
            total += k
            c[bucket(stack)] += k
            leaf[stack.split(";")[-1]] += k
    print(f"{total} samples (non-idle)")
    for name, k in c.most_common():
        print(f"  {100 * k / max(1, total):5.1f} %  {k:>6}  {name}")
    print("top leaf frames:")
    for name, k in leaf.most_common(15):
        print(f"  {100 * k / max(1, total):5.1f} %  {name[:150]}")


if __name__ == "__main__":
    main()
