"""``ivr models [list|download NAME]``: list installed speech models, download catalogue ones.

Wire it into the CLI with a subparser whose Namespace has ``action`` ("list" or "download") and
``name`` (the model for download), and optionally ``dest`` (a folder, default ``models/``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TextIO

from ivr.speech import models


def _progress(out: TextIO) -> models.Progress:
    state = {"last": -1}

    def report(done: int, total: int | None) -> None:
        if total:
            pct = done * 100 // total
            if pct != state["last"]:
                state["last"] = pct
                out.write(f"\r{done / 1e6:8.1f} / {total / 1e6:.1f} MB ({pct}%)")
        elif done // 5_000_000 != state["last"]:
            state["last"] = done // 5_000_000
            out.write(f"\r{done / 1e6:8.1f} MB")
        out.flush()
    return report


def cli_models(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Run the ``models`` subcommand; returns the process exit code."""
    out = out or sys.stdout
    action = getattr(args, "action", None) or "list"
    dest_arg = getattr(args, "dest", None)
    dest = Path(dest_arg) if dest_arg else models.models_dir()
    if action == "list":
        have = models.installed(dest)
        out.write(f"Installed speech models (models folder: {dest}):\n")
        for m in have:
            out.write(f"  {m.name:32} {m.language or '?':3} {m.source:10} {m.path}\n")
        if not have:
            out.write("  (none)\n")
        names = {m.name for m in have}
        out.write("Downloadable (ivr models download NAME):\n")
        for e in models.CATALOGUE:
            mark = "installed" if e.name in names else ""
            out.write(f"  {e.name:32} {e.language:3} ~{e.approx_mb} MB, memory {e.memory}: "
                      f"{e.description} {mark}\n")
        return 0
    if action == "download":
        name = getattr(args, "name", None)
        if not name:
            out.write("error: ivr models download needs a model NAME\n")
            return 2
        try:
            path = models.download(name, dest, _progress(out))
        except (models.ModelMissing, models.DownloadError) as exc:
            out.write(f"\nerror: {exc}\n")
            return 1
        out.write(f"\n{name} installed in {path}\n")
        return 0
    out.write(f"error: unknown action {action!r} (use list or download NAME)\n")
    return 2


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Optional helper for whoever wires the CLI: adds ``models`` with its arguments."""
    p = subparsers.add_parser("models", help="list or download offline speech models")
    p.add_argument("action", nargs="?", default="list", choices=("list", "download"))
    p.add_argument("name", nargs="?", help="model to download")
    p.add_argument("--dest", help="models folder (default: models/ or $IVR_MODELS_DIR)")
    p.set_defaults(func=cli_models)
