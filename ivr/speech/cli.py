"""``ivr models``: list (and verify) installed speech models, download or install one, and
measure their accuracy on the city's own recordings.

    ivr models list [--verify]
    ivr models download NAME [--sha256 HEX]
    ivr models install FILE.zip [--name NAME] [--sha256 HEX]     (no internet needed)
    ivr models evaluate DIR [--language zh|en|ko] [--model NAME] [--worst N]

Every command takes ``--dest`` (the models folder, default ``models/`` or ``$IVR_MODELS_DIR``).
"""

from __future__ import annotations

import argparse
import itertools
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO, TypeVar

from ivr.speech import install, models

T = TypeVar("T")


def _progress(out: TextIO) -> install.Progress:
    state: dict[str, object] = {"last": None}

    def report(stage: str, done: int, total: int | None) -> None:
        key = (stage, done * 100 // total if total else done // 5_000_000)
        if key == state["last"]:
            return
        if state["last"] is not None and stage != state["last"][0]:  # type: ignore[index]
            out.write("\n")
        state["last"] = key
        if total:
            out.write(f"\r{stage:9} {done / 1e6:8.1f} / {total / 1e6:.1f} MB ({key[1]}%)")
        else:
            out.write(f"\r{stage:9} {done / 1e6:8.1f} MB")
        out.flush()
    return report


@contextmanager
def spinner(out: TextIO, what: str) -> Iterator[None]:
    """A spinner with the elapsed time while something reports no progress (a model load)."""
    stop, started = threading.Event(), time.monotonic()

    def spin() -> None:
        for mark in itertools.cycle("|/-\\"):
            out.write(f"\r{what} {mark} {time.monotonic() - started:5.1f} s")
            out.flush()
            if stop.wait(0.2):
                break
    thread = threading.Thread(target=spin, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        out.write(f"\r{what} done in {time.monotonic() - started:.1f} s\n")


def _list(out: TextIO, dest: Path, check: bool) -> int:
    have = models.installed(dest)
    out.write(f"Installed speech models (models folder: {dest}):\n")
    bad = 0
    for m in have:
        size = sum(p.stat().st_size for p in m.path.rglob("*") if p.is_file())
        line = f"  {m.name:32} {m.language or '?':3} {m.source:10} {size / 1e6:8.1f} MB  "
        if m.source != "models-dir":
            line += "pip package (no ivr manifest)"
        elif check:
            v = install.verify(m.path)
            bad += v.status == "modified"
            line += v.status + "".join(f"\n      {p}" for p in v.problems[:10])
        else:
            line += ("manifest (check with --verify)" if (m.path / install.MANIFEST).is_file()
                     else "no-manifest")
        out.write(f"{line}  {m.path}\n")
    if not have:
        out.write("  (none)\n")
    names = {m.name for m in have}
    out.write("Catalogue (ivr models download NAME, or ivr models install NAME.zip offline; "
              "SHA-256 as observed by independent public projects: the host publishes none):\n")
    for e in models.catalogue():
        shown = f"{e.size:,} bytes" if e.size else f"~{e.approx_mb} MB"
        out.write(f"  {e.name:32} {e.language:3} {shown}, memory {e.memory}, "
                  f"sha256 {e.sha256 or '(unknown: give --sha256)'}"
                  f"{'  [installed]' if e.name in names else ''}\n      {e.description}\n")
    return 1 if bad else 0


def _evaluate(out: TextIO, args: argparse.Namespace, dest: Path) -> int:
    from ivr.speech import evaluate as ev  # numpy and vosk: only when evaluating
    items = ev.pairs(Path(args.name))
    language = args.language or _guess_language(" ".join(t for _, t in items))
    chosen = [m for m in models.installed(dest) if m.language == language
              and (not args.model or m.name == args.model)]
    if not chosen:
        raise models.ModelMissing(f"no installed model for language {language!r}"
                                  + (f" named {args.model!r}" if args.model else ""))
    out.write(f"{len(items)} recordings with references, language {language} "
              f"({ev.metric(language)})\n")
    for m in chosen:
        with spinner(out, f"loading {m.name} (Vosk reports no load progress)"):
            decode, load = ev.vosk_decoder(m, language)

        def step(i: int, n: int) -> None:
            out.write(f"\rdecoding {i}/{n}")
            out.flush()
        report = ev.evaluate(m.name, language, items, decode, load, step)
        out.write("\n" + ev.format_report(report, args.worst) + "\n")
    return 0


def _guess_language(text: str) -> str:
    if any("\uac00" <= c <= "\ud7a3" for c in text):
        return "ko"
    if any("\u3400" <= c <= "\u9fff" for c in text):
        return "zh"
    return "en"


def _run(out: TextIO, action: Callable[[], T]) -> T | None:
    try:
        return action()
    except (models.ModelMissing, install.DownloadError, ValueError) as exc:
        # ValueError: CatalogueError, EvaluationError, unreadable audio
        out.write(f"\nerror: {exc}\n")
        return None


def cli_models(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Run the ``models`` subcommand; returns the process exit code."""
    out = out or sys.stdout
    action = getattr(args, "action", None) or "list"
    dest_arg = getattr(args, "dest", None)
    dest = Path(dest_arg) if dest_arg else models.models_dir()
    name, sha = getattr(args, "name", None), getattr(args, "sha256", None)
    if action == "list":
        code = _run(out, lambda: _list(out, dest, bool(getattr(args, "verify", False))))
        return 1 if code is None else code
    if not name:
        out.write(f"error: ivr models {action} needs "
                  f"{'a FILE.zip' if action == 'install' else 'a DIR' if action == 'evaluate' else 'a model NAME'}\n")
        return 2
    if action == "download":
        path = _run(out, lambda: install.download(name, dest, _progress(out), sha256=sha))
    elif action == "install":
        path = _run(out, lambda: install.install_archive(
            Path(name), dest, _progress(out), name=getattr(args, "model", None), sha256=sha))
    elif action == "evaluate":
        code = _run(out, lambda: _evaluate(out, args, dest))
        return 1 if code is None else code
    else:
        out.write(f"error: unknown action {action!r} (list, download, install, evaluate)\n")
        return 2
    if path is None:
        return 1
    out.write(f"\n{path.name} verified and installed in {path}\n")
    return 0


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", nargs="?", default="list",
                   choices=("list", "download", "install", "evaluate"))
    p.add_argument("name", nargs="?",
                   help="download: catalogue NAME; install: FILE.zip; evaluate: DIR")
    p.add_argument("--dest", help="models folder (default: models/ or $IVR_MODELS_DIR)")
    p.add_argument("--verify", action="store_true",
                   help="list: recheck every installed file against its install manifest")
    p.add_argument("--sha256", help="download/install: the archive's SHA-256, when the "
                                    "catalogue has none")
    p.add_argument("--model", help="install: the model's name (default: the catalogue entry "
                                   "with this checksum, else the file name); evaluate: only it")
    p.add_argument("--language", help="evaluate: the references' language (default: guessed)")
    p.add_argument("--worst", type=int, default=5, help="evaluate: how many worst files to show")
