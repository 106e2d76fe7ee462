"""Verified model installs: ``ivr models download NAME`` and, for a network without internet,
``ivr models install FILE.zip`` (the same archive carried in). Both verify the archive the same
way before anything appears in the models folder, and write a manifest that
``ivr models list --verify`` rechecks later.

Verification of an archive, in order: a SHA-256 must be known (the catalogue's, see
:mod:`ivr.speech.models`, or one the operator gives; without one the install is refused, never
done unverified); the exact size when the catalogue has it; the SHA-256; every zip member's CRC;
no member escapes the target; the unpacked folder is a model (``am/`` and ``conf/``). The folder
is unpacked beside the target and renamed into place only once everything passed.

The manifest, ``<model>/ivr-manifest.json``: the archive's name, size and SHA-256, and the SHA-256
of every unpacked file, so a file changed or lost after the install is found.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import urllib.request
import zipfile
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ivr.core.timeutil import utcnow
from ivr.speech.models import (
    CatalogueEntry,
    catalogue,
    catalogue_entry,
    guess_language,
    is_model_dir,
    models_dir,
)

MANIFEST = "ivr-manifest.json"
Progress = Callable[[str, int, int | None], None]   # (stage, done, total or None)


class Download(Protocol):
    """What ``download`` reads from an opened model URL (urllib's response)."""
    @property
    def headers(self) -> Mapping[str, str]: ...

    def read(self, amt: int, /) -> bytes: ...


class DownloadError(RuntimeError):
    """A model download or install failed or did not verify (nothing was installed)."""


def _expected_sha(entry: CatalogueEntry | None, given: str | None, what: str) -> str:
    given = (given or "").strip().lower() or None
    known = entry.sha256 if entry is not None else None
    if given and known and given != known:
        raise DownloadError(f"{what}: the given SHA-256 differs from the catalogue's ({known})")
    sha = given or known
    if not sha:
        raise DownloadError(
            f"{what}: no SHA-256 is known for this archive (the model host publishes none), so "
            "it is not installed unverified; give one you trust with --sha256")
    if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
        raise DownloadError(f"{what}: --sha256 must be 64 hexadecimal digits")
    return sha


def file_sha256(path: Path, progress: Progress | None = None, stage: str = "checksum") -> str:
    digest, done, total = hashlib.sha256(), 0, path.stat().st_size
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
            done += len(block)
            if progress is not None:
                progress(stage, done, total)
    return digest.hexdigest()


def download(name: str, dest: Path | None = None, progress: Progress | None = None, *,
             sha256: str | None = None,
             opener: Callable[[str], AbstractContextManager[Download]] | None = None,
             chunk_size: int = 1 << 16) -> Path:
    """Download a catalogue model and install it (:func:`install_archive`) into ``dest/<name>``.
    Refused before any byte is fetched when no SHA-256 is known."""
    entry = catalogue_entry(name)
    dest = models_dir() if dest is None else dest
    if is_model_dir(dest / name):
        return dest / name
    expected = _expected_sha(entry, sha256, name)
    open_url: Callable[[str], AbstractContextManager[Download]] = (
        opener or (lambda u: urllib.request.urlopen(u, timeout=60)))
    dest.mkdir(parents=True, exist_ok=True)
    limit = entry.size or entry.approx_mb * 1024 * 1024 * 3
    with tempfile.TemporaryDirectory(dir=dest, prefix=f".{name}-dl-") as tmp:
        archive, done = Path(tmp) / f"{name}.zip", 0
        try:
            with open_url(entry.url) as resp, archive.open("wb") as out:
                length = resp.headers.get("Content-Length")
                total = int(length) if length else entry.size
                while block := resp.read(chunk_size):
                    out.write(block)
                    done += len(block)
                    if done > limit:
                        raise DownloadError(f"{name}: download exceeds {limit} bytes, refusing")
                    if progress is not None:
                        progress("download", done, total)
        except DownloadError:
            raise
        except Exception as exc:  # network and HTTP errors of any kind
            raise DownloadError(f"{name}: download failed: {exc}") from exc
        if length and done != int(length):
            raise DownloadError(f"{name}: truncated download ({done} of {length} bytes)")
        return install_archive(archive, dest, progress, name=name, sha256=expected)


def install_archive(archive: Path, dest: Path | None = None, progress: Progress | None = None,
                    *, name: str | None = None, sha256: str | None = None) -> Path:
    """Install a model zip from a file (carried in on an air-gapped network) into
    ``dest/<name>``, verified as described above. ``name`` defaults to the catalogue entry whose
    SHA-256 the file has, else the file name without ``.zip``."""
    dest = models_dir() if dest is None else dest
    if not archive.is_file():
        raise DownloadError(f"{archive}: no such file")
    actual = file_sha256(archive, progress)
    by_sha = {e.sha256: e for e in catalogue() if e.sha256}
    name = name or (by_sha[actual].name if actual in by_sha else archive.name.removesuffix(".zip"))
    entry = next((e for e in catalogue() if e.name == name), None)
    expected = _expected_sha(entry, sha256, name)
    size = archive.stat().st_size
    if entry is not None and entry.size is not None and size != entry.size:
        raise DownloadError(f"{name}: the archive has {size} bytes, the catalogue {entry.size}")
    if actual != expected:
        raise DownloadError(f"{name}: SHA-256 mismatch (the archive has {actual}, "
                            f"expected {expected}): not installed")
    target = dest / name
    if is_model_dir(target):
        raise DownloadError(f"{name} is already installed in {target} (remove it first)")
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest, prefix=f".{name}-") as tmp:
        unpack = Path(tmp) / "unpacked"
        try:
            with zipfile.ZipFile(archive) as zf:
                bad = zf.testzip()
                if bad is not None:
                    raise DownloadError(f"{name}: corrupt zip member {bad}")
                _safe_extract(zf, unpack, progress)
        except zipfile.BadZipFile as exc:
            raise DownloadError(f"{name}: not a valid zip: {exc}") from exc
        root = unpack / name if (unpack / name).is_dir() else unpack
        if not is_model_dir(root):
            subdirs = [p for p in unpack.iterdir() if p.is_dir()]
            root = subdirs[0] if len(subdirs) == 1 and is_model_dir(subdirs[0]) else root
        if not is_model_dir(root):
            raise DownloadError(f"{name}: archive holds no model folder (am/ and conf/)")
        write_manifest(root, name=name, archive=archive.name, size=size, sha256=actual,
                       language=entry.language if entry else guess_language(name))
        shutil.move(str(root), str(target))
    return target


def _safe_extract(zf: zipfile.ZipFile, into: Path, progress: Progress | None) -> None:
    into = into.resolve()
    members = zf.infolist()
    for member in members:
        path = (into / member.filename).resolve()
        if not path.is_relative_to(into):
            raise DownloadError(f"zip member escapes the target folder: {member.filename}")
    total, done = sum(m.file_size for m in members), 0
    for member in members:
        zf.extract(member, into)
        done += member.file_size
        if progress is not None:
            progress("unpack", done, total)


def _files(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): file_sha256(p) for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != MANIFEST}


def write_manifest(root: Path, *, name: str, archive: str, size: int, sha256: str,
                   language: str | None) -> None:
    data = {"name": name, "language": language, "archive": archive, "archive_size": size,
            "archive_sha256": sha256, "installed_at": utcnow().isoformat(), "files": _files(root)}
    (root / MANIFEST).write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")


@dataclass(frozen=True, slots=True)
class Verification:
    status: str                  # verified | modified | no-manifest
    problems: tuple[str, ...] = ()
    archive_sha256: str | None = None
    size: int = 0                # bytes on disk (the model's files)


def verify(root: Path) -> Verification:
    """Recheck an installed model against its manifest (every file's SHA-256)."""
    size = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    try:
        data = json.loads((root / MANIFEST).read_text(encoding="utf-8"))
        recorded = dict(data["files"])
    except (OSError, ValueError, KeyError, TypeError):
        return Verification("no-manifest", ("no install manifest (not installed by "
                                             "ivr models download/install)",), None, size)
    actual = _files(root)
    problems = [f"missing: {f}" for f in sorted(set(recorded) - set(actual))]
    problems += [f"changed: {f}" for f in sorted(set(recorded) & set(actual))
                 if recorded[f] != actual[f]]
    problems += [f"added: {f}" for f in sorted(set(actual) - set(recorded))]
    return Verification("modified" if problems else "verified", tuple(problems),
                        data.get("archive_sha256"), size)
