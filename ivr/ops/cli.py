"""``ivr backup``, ``ivr restore``, ``ivr records prune``: their arguments; the work is imported
only when run."""

from __future__ import annotations

import argparse
import importlib
from typing import Any


def _lazy(module: str, function: str) -> Any:
    def run(args: argparse.Namespace, _config: Any, _out: Any) -> int:
        return int(getattr(importlib.import_module(module), function)(args) or 0)
    return run


def add_commands(sub: Any) -> None:
    b = sub.add_parser("backup", help="snapshot the database, recordings, prompts, journal and "
                                      "config into DEST/ivr-backup-<node>-<time>.tar.gz")
    b.add_argument("dest", metavar="DEST", help="folder of the archives")
    b.add_argument("--keep-daily", type=int, default=0, metavar="N",
                   help="then keep only the newest archive of each of the last N days …")
    b.add_argument("--keep-monthly", type=int, default=0, metavar="M",
                   help="… and of each of the last M months (0 and 0: remove nothing)")
    b.set_defaults(run=_lazy("ivr.ops.backup", "cli_backup"), needs_config=False)

    r = sub.add_parser("restore", help="restore a backup archive (or the newest of a folder) "
                                       "into this deployment; its controller stopped")
    r.add_argument("src", metavar="SRC")
    r.add_argument("--write-config", metavar="PATH",
                   help="write the backup's config (its secrets) to PATH and restore into it")
    r.add_argument("--force", action="store_true",
                   help="replace a database that holds officials or calls; overwrite PATH")
    r.set_defaults(run=_lazy("ivr.ops.restore", "cli_restore"), needs_config=False)

    rec = sub.add_parser("records", help="call records' raw events: prune (optionally archive)")
    rec.add_argument("action", choices=("prune",))
    rec.add_argument("--days", type=float, help="older than D days (default [records] "
                                                "keep_raw_days)")
    rec.add_argument("--archive", metavar="FILE.jsonl.gz", help="append them to this file first")
    rec.add_argument("--node", help="whose events (default this node)")
    rec.set_defaults(run=_lazy("ivr.ops.prune", "cli_records"), needs_config=False)
