"""Supervision views at scale: the calls page's first page and a month's figures over a year of
synthetic calls (default 1,000,000), on SQLite and on PostgreSQL.

    .venv/bin/python bench/bench_supervision.py                       # 1M calls, both databases
    .venv/bin/python bench/bench_supervision.py --calls 100000 --backends sqlite --reps 10

A synthetic city: 200 officials in 20 departments, 3 pools; calls spread evenly over the last
365 days (the city's timezone Asia/Shanghai); the outcome mix of a weekday (answered by the
official 45 %, by the deputy or pool 25 %, voicemail 8 %, missed 10 %, abandoned 10 %, refused,
interrupted and test 2 %); 1–3 steps per call (a pool step for a third); a case for every
missed, abandoned and voicemail call (contact deadline +1 day; reached in time, late or never),
with its events. Loaded with executemany (SQLite) / COPY (PostgreSQL) after the migrations, so
every index of the schema (0012 included) is in place; then ANALYZE.

Timed, ``--reps`` times each (median and p95 printed): the calls page's first page (unfiltered;
one official; one outcome; one department), the exceptions' first page of the last month, and a
month's figures (``reports.figures``: every grouping). A benchmark, never a test: nothing is
asserted; targets from issue 12 are printed beside the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sqlalchemy import select  # noqa: E402

from ivr.core.config import Config  # noqa: E402
from ivr.db.models import Official  # noqa: E402
from ivr.db.session import Db, create_engine, make_sessionmaker, upgrade_async  # noqa: E402
from ivr.directory.importer import import_text  # noqa: E402
from ivr.supervision import calls_query as cq  # noqa: E402
from ivr.supervision import exceptions as ex  # noqa: E402
from ivr.supervision import monthly, reports  # noqa: E402

TZ = "Asia/Shanghai"
OFFICIALS, DEPARTMENTS, POOLS = 200, 20, 3
NOW = datetime.now(UTC).replace(microsecond=0)
OUTCOMES = ([("answered", "direct")] * 45 + [("answered", "pool")] * 15 +
            [("answered", "deputy")] * 10 + [("voicemail", None)] * 8 + [("missed", None)] * 10 +
            [("abandoned", None)] * 10 + [("refused", None), ("interrupted", None)])
CALL_COLS = ("id", "linkedid", "number_dialed", "caller", "caller_raw", "caller_altered",
             "official_id", "route_source", "mode", "kind", "outcome", "answered_by",
             "answered_kind", "answered_role", "waited_secs", "abandoned_during", "started_at",
             "answered_at", "ended_at", "node")
STEP_COLS = ("id", "call_id", "seq", "kind", "target", "result", "started_at", "ended_at")
CASE_COLS = ("id", "kind", "call_id", "official_id", "caller", "number_dialed",
             "matched_keywords", "urgency", "needs_listening", "listen_reasons", "repeat_caller",
             "summary", "status", "created_at", "updated_at", "deadline", "escalation_level",
             "alerts")
EVENT_COLS = ("id", "case_id", "at", "actor", "action", "old_value", "new_value", "note")


def directory() -> str:
    """The synthetic city as a directory YAML (imported like a real one)."""
    lines = ["pools: [" + ", ".join(f"{{name: p{i}}}" for i in range(1, POOLS + 1)) + "]",
             "officials:"]
    lines += [f"  - {{slug: o{i:03d}, name: 官员{i:03d}, department: 部门{i % DEPARTMENTS:02d}, "
              f"numbers: [\"0558-555{i:04d}\"], pool: p{i % POOLS + 1}}}"
              for i in range(1, OFFICIALS + 1)]
    return "\n".join(lines) + "\n"


async def official_ids(db: Db) -> list[int]:
    async with db() as session:
        return list((await session.scalars(select(Official.id).order_by(Official.slug))).all())


def generate(n: int, ids: list[int], seed: int = 12) -> Iterator[tuple[str, tuple[Any, ...]]]:
    """("calls" | "call_steps" | "cases" | "case_events", row) for ``n`` calls to the
    officials ``ids`` (o001, o002, … in order)."""
    rnd = random.Random(seed)
    span = 365 * 86400
    step_id = case_id = event_id = 0
    for i in range(1, n + 1):
        t = NOW - timedelta(seconds=span * (n - i) / n + rnd.random())
        slot = rnd.randint(1, OFFICIALS)
        oid = ids[slot - 1]
        outcome, kind = rnd.choice(OUTCOMES)
        call_kind = "test" if rnd.random() < 0.005 else "citizen"
        mode = "pool" if kind == "pool" and rnd.random() < 0.5 else "direct"
        wait = round(rnd.uniform(2, 40), 1)
        answered = outcome == "answered"
        caller = f"139{rnd.randint(0, 99999999):08d}"
        yield "calls", (
            i, f"bench-{i}", f"0558555{slot:04d}", caller, caller, False, oid, "agi", mode,
            call_kind, outcome, "dev" if answered else None, kind,
            {"direct": "official", "deputy": "deputy", "pool": "operator"}.get(kind or ""),
            wait if answered or outcome == "abandoned" else None,
            "ringing" if outcome == "abandoned" else None, t,
            t + timedelta(seconds=wait) if answered else None, t + timedelta(seconds=60), "n1")
        pooled = kind == "pool" or (not answered and rnd.random() < 0.33)
        steps = [("direct", f"PJSIP/o{slot:03d}")] + (
            [("pool", f"pool-p{slot % POOLS + 1}")] if pooled else [])
        for seq, (skind, target) in enumerate(steps, start=1):
            step_id += 1
            yield "call_steps", (step_id, i, seq, skind, target, "NOANSWER", t,
                                 t + timedelta(seconds=20))
        if outcome in ("missed", "abandoned", "voicemail") and call_kind == "citizen":
            case_id += 1
            deadline = t + timedelta(days=1)
            fate = rnd.random()
            status = "called_back" if fate < 0.8 else "new"
            yield "cases", (case_id, "missed", i, oid, caller, f"0558555{slot:04d}", "[]",
                            "normal", False, "[]", False, "", status, t, t, deadline, 0, "[]")
            event_id += 1
            yield "case_events", (event_id, case_id, t, "system", "created", None, "new", "")
            if status == "called_back":
                at = t + timedelta(hours=2 if fate < 0.65 else 30)
                event_id += 1
                yield "case_events", (event_id, case_id, at, "op", "status", "new",
                                      "called_back", "")


def _sqlite_value(v: Any) -> Any:
    return v.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f") if isinstance(v, datetime) else v


COLS = {"calls": CALL_COLS, "call_steps": STEP_COLS, "cases": CASE_COLS,
        "case_events": EVENT_COLS}


def load_sqlite(path: Path, n: int, ids: list[int]) -> None:
    con = sqlite3.connect(path)
    batches: dict[str, list[tuple[Any, ...]]] = {k: [] for k in COLS}

    def flush(table: str) -> None:
        cols = COLS[table]
        con.executemany(f"INSERT INTO {table} ({', '.join(cols)}) VALUES "
                        f"({', '.join('?' * len(cols))})", batches[table])
        batches[table].clear()
    for table, row in generate(n, ids):
        batches[table].append(tuple(_sqlite_value(v) for v in row))
        if len(batches[table]) >= 50_000:
            flush(table)
    for table in COLS:
        flush(table)
    con.commit()
    con.execute("ANALYZE")
    con.close()


async def load_pg(url: str, n: int, ids: list[int]) -> None:
    import asyncpg

    dsn = url.replace("postgresql+asyncpg://", "postgresql://")
    con = await asyncpg.connect(dsn)
    try:
        batches: dict[str, list[tuple[Any, ...]]] = {k: [] for k in COLS}

        async def flush(table: str) -> None:
            await con.copy_records_to_table(table, records=batches[table], columns=COLS[table])
            batches[table].clear()
        for table, row in generate(n, ids):
            batches[table].append(row)
            if len(batches[table]) >= 50_000:
                for t in COLS:  # in the order of the foreign keys
                    await flush(t)
        for table in COLS:
            await flush(table)
        for table in COLS:
            await con.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                              f"(SELECT max(id) FROM {table}))")
        await con.execute("ANALYZE")
    finally:
        await con.close()


async def timed(reps: int, fn: Callable[[], Awaitable[Any]]) -> tuple[float, float]:
    """(median, p95) milliseconds of ``reps`` runs after one warm-up."""
    await fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        await fn()
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, round(0.95 * len(times)) - 1)]


async def measure(db: Db, reps: int) -> list[tuple[str, float, float, str]]:
    month = monthly.previous_month(NOW, TZ)
    since, until = monthly.month_bounds(month, TZ)
    last_day = (until - timedelta(days=1)).date().isoformat()
    out = []

    async def first_page(f: cq.CallFilter) -> None:
        await cq.page(db, await cq.filtered(db, f, TZ), "", 50)
    for name, f in (("calls page 1, last 7 days", cq.CallFilter()),
                    ("calls page 1, one official, a year", cq.CallFilter(
                        official="o017", since=(NOW - timedelta(days=364)).date().isoformat())),
                    ("calls page 1, outcome missed", cq.CallFilter(outcome="missed")),
                    ("calls page 1, one department", cq.CallFilter(department="部门07"))):
        med, p95 = await timed(reps, lambda f=f: first_page(f))
        out.append((name, med, p95, "p95 <= 300 ms"))

    async def exceptions_page() -> None:
        f = cq.CallFilter(since=since.date().isoformat(), until=last_day)
        await cq.page(db, await ex.query(db, f, TZ, NOW), "", 50, ascending=True)
    med, p95 = await timed(reps, exceptions_page)
    out.append((f"exceptions page 1, {month}", med, p95, ""))
    med, p95 = await timed(max(3, reps // 4), lambda: reports.figures(db, TZ, since, until))
    out.append((f"figures of {month} (every grouping)", med, p95, "<= 2000 ms"))
    return out


async def run_backend(backend: str, n: int, reps: int, work: Path) -> None:
    server = None
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{work / 'bench.db'}"
    else:
        sys.path.insert(0, str(REPO / "tests" / "unit"))
        import conftest_pg

        server = conftest_pg.PgServer(conftest_pg.pg_bindir() or Path("/usr/bin"), work / "pg",
                                      conftest_pg.ports.free_port(), [])
        server.root.mkdir()
        import os
        import shutil
        if os.geteuid() == 0:
            server.as_user = ["runuser", "-u", "postgres", "--"]
            shutil.chown(server.root, "postgres", "postgres")
        server.start()
        url = server.url(server.create_database())
    try:
        t0 = time.perf_counter()
        await upgrade_async(url)
        engine = create_engine(Config.build(database={"url": url}))
        try:
            db = make_sessionmaker(engine)
            await import_text(db, directory(), "yaml", "bench")
            ids = await official_ids(db)
            if backend == "sqlite":
                await asyncio.to_thread(load_sqlite, work / "bench.db", n, ids)
            else:
                await load_pg(url, n, ids)
            print(f"\n[{backend}] {n:,} calls loaded in {time.perf_counter() - t0:.0f} s")
            for name, med, p95, target in await measure(db, reps):
                print(f"  {name:42s} median {med:8.1f} ms   p95 {p95:8.1f} ms   {target}")
        finally:
            await engine.dispose()
    finally:
        if server is not None:
            server.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", type=int, default=1_000_000)
    ap.add_argument("--backends", default="sqlite,postgresql")
    ap.add_argument("--reps", type=int, default=20)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="ivr-bench-sv-", dir="/tmp") as tmp:
        work = Path(tmp)
        import os
        os.chmod(work, 0o755)
        for backend in args.backends.split(","):
            asyncio.run(run_backend(backend.strip(), args.calls, args.reps, work))


if __name__ == "__main__":
    main()
