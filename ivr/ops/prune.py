"""``ivr records prune``: raw CEL events of recorded calls, older than ``--days`` (default
``[records] keep_raw_days``), deleted in batches — optionally archived first to a gzip'd JSON
lines file (one event per line, every column; appended to, so one file can take many runs).

The recorder's thread does the same every ten minutes (``CallRecorder.prune``); the command is
for a first clean-up of a large backlog, for another ``--days`` than the config's, and for
archiving. Only events whose call is written (``folded``) are touched: the call records, their
steps and the cases that point to them are rows of their own and stay.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, cast

from sqlalchemy import Table, delete, select

from ivr.core.config import Config
from ivr.db.models import CelEvent
from ivr.db.session import Db, create_engine, make_sessionmaker
from ivr.evidence.retention import release_cel


async def prune_raw(db: Db, node: str, keep_days: float, archive: Path | None = None,
                    batch: int = 5000) -> int:
    """Delete (after archiving, with ``archive``) this node's folded events older than
    ``keep_days``; how many."""
    before = (datetime.now(UTC) - timedelta(days=keep_days)).timestamp()
    ev = cast(Table, CelEvent.__table__)
    total = 0
    out: IO[str] | None = gzip.open(archive, "at", encoding="utf-8") if archive else None
    try:
        while True:
            async with db() as session, session.begin():
                rows = (await session.execute(
                    select(ev).where(ev.c.folded.is_(True), ev.c.eventtime < before,
                                     ev.c.node == node).order_by(ev.c.id).limit(batch))).all()
                if not rows:
                    return total
                if out is not None:
                    out.writelines(json.dumps(dict(r._mapping), ensure_ascii=False) + "\n"
                                   for r in rows)
                    out.flush()  # archived before the delete commits
                await session.execute(delete(ev).where(ev.c.id.in_([r.id for r in rows])))
                # the evidence chain: a retention entry releases their sealed entries
                await release_cel(session, node, [r.key for r in rows], keep_days, "prune")
            total += len(rows)
    finally:
        if out is not None:
            out.close()


def cli_records(args: argparse.Namespace) -> int:
    """``ivr records prune [--days D] [--archive FILE.jsonl.gz] [--node NAME]``."""
    config = Config.load(getattr(args, "config", None))
    days = config.records.keep_raw_days if args.days is None else args.days
    if days <= 0:
        print("[records] keep_raw_days is 0 (kept for ever): nothing pruned; --days D prunes")
        return 0
    node = args.node or config.node.name

    async def run() -> int:
        engine = create_engine(config)
        try:
            return await prune_raw(make_sessionmaker(engine), node, days,
                                   Path(args.archive) if args.archive else None)
        finally:
            await engine.dispose()
    n = asyncio.run(run())
    where = f", archived to {args.archive}" if args.archive else ""
    print(f"pruned {n} raw events of node {node} older than {days:g} days{where}")
    return 0
