"""``ivr verify``, ``ivr evidence heads|seal``, ``ivr retention run`` (docs/operations.md).

``ivr verify`` exits 0 when every chain and sealed row checks, 1 when something is broken (the
first broken entry first: stream, node, seq, what differs), 2 on a config error."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from ivr.core.config import Config
from ivr.db.session import Db, create_engine, make_sessionmaker
from ivr.evidence.chain import seal_backlog
from ivr.evidence.heads import check_signature, load_key, load_published, signed_heads
from ivr.evidence.retention import run_retention
from ivr.evidence.verify import Problem, verify

T = TypeVar("T")


def _run(config: Config, work: Callable[[Db], Awaitable[T]]) -> T:
    async def go() -> T:
        engine = create_engine(config)
        try:
            return await work(make_sessionmaker(engine))
        finally:
            await engine.dispose()
    return asyncio.run(go())


def cli_verify(args: argparse.Namespace) -> int:
    config = Config.load(args.config)
    published: dict[str, Any] | None = None
    if args.against:
        try:
            published = load_published(Path(args.against).read_text(encoding="utf-8"))
        except (ValueError, KeyError) as exc:
            print(f"ivr: {args.against}: {exc}", file=sys.stderr)
            return 2
    report = _run(config, lambda db: verify(db, published))
    if published is not None:
        why = check_signature(published, load_key(config))
        if why:
            report.problems.insert(0, Problem("heads", "-", None, why))
        elif not config.evidence.key_file and published.get("signature"):
            report.notes.append("the published heads are signed but [evidence] key_file is not "
                                "set here: the signature was not checked")
    if args.json:
        print(json.dumps({"ok": report.ok, "chains": report.chains, "entries": report.entries,
                          "rows": report.rows, "problems": [str(p) for p in report.problems],
                          "notes": report.notes}, ensure_ascii=False, indent=2))
    else:
        for note in report.notes:
            print(f"注意 note: {note}")
        if report.ok:
            print(f"证据链完整 evidence intact: {report.chains} chains, {report.entries} "
                  f"entries, {report.rows} sealed rows checked")
        else:
            print(f"证据链已损坏 evidence BROKEN: {len(report.problems)} problem(s); "
                  f"first: {report.problems[0]}", file=sys.stderr)
            for problem in report.problems[:50]:
                print(f"  {problem}")
    return 0 if report.ok else 1


def cli_evidence(args: argparse.Namespace) -> int:
    config = Config.load(args.config)
    if args.action == "seal":
        async def all_of_it(db: Db) -> int:
            total = 0
            rescan = True  # the first round from the first row, then from where it got
            while n := await seal_backlog(db, config.node.name, args.batch, rescan=rescan):
                total, rescan = total + n, False
            return total
        n = _run(config, all_of_it)
        print(f"sealed {n} rows into node {config.node.name}'s chains")
        return 0
    body = _run(config, lambda db: signed_heads(db, load_key(config)))
    text = json.dumps(body, ensure_ascii=False, indent=2, sort_keys=True)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")
        print(f"heads of {len(body['heads'])} chains written to {args.out}"
              + (" (signed)" if "signature" in body else " (unsigned: no [evidence] key_file)"))
    else:
        print(text)
    return 0


def cli_retention(args: argparse.Namespace) -> int:
    config = Config.load(args.config)
    periods = config.retention.periods()
    for data in periods:
        given = getattr(args, f"{data}_days")
        if given is not None:
            if given < 0:
                print(f"ivr: --{data}-days must be 0 or more", file=sys.stderr)
                return 2
            periods[data] = given
    if not any(v > 0 for v in periods.values()):
        print("no retention period set ([retention] or --caller-days/--transcripts-days/"
              "--audio-days): nothing done")
        return 0
    counts = _run(config, lambda db: run_retention(db, config, periods, args.actor))
    for data, n in counts.items():
        print(f"{data}: {n} anonymised or deleted (older than {periods[data]:g} days)")
    return 0


def add_commands(sub: Any, lazy: Callable[[str, str], Any]) -> None:
    v = sub.add_parser("verify", help="check the evidence chains and every sealed record")
    v.add_argument("--against", metavar="FILE",
                   help="published heads (ivr evidence heads, or an evidence.heads payload)")
    v.add_argument("--json", action="store_true")
    v.set_defaults(run=lazy("ivr.evidence.cli", "cli_verify"), needs_config=False)

    e = sub.add_parser("evidence", help="evidence chains: heads (print/publish), seal (now)")
    e.add_argument("action", choices=("heads", "seal"))
    e.add_argument("--out", metavar="FILE", help="heads: write them to FILE")
    e.add_argument("--batch", type=int, default=500, help="seal: rows per kind")
    e.set_defaults(run=lazy("ivr.evidence.cli", "cli_evidence"), needs_config=False)

    r = sub.add_parser("retention", help="anonymise or delete personal data past its period")
    r.add_argument("action", choices=("run",))
    for data in ("caller", "transcripts", "audio"):
        r.add_argument(f"--{data}-days", type=float,
                       help=f"override [retention] {data}_days")
    r.add_argument("--actor", default="cli", help="who, for the retention entry")
    r.set_defaults(run=lazy("ivr.evidence.cli", "cli_retention"), needs_config=False)
