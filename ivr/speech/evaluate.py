"""Accuracy on the city's own audio: ``ivr models evaluate DIR``.

DIR holds WAV files, each with a reference transcript beside it (``msg01.wav`` + ``msg01.txt``,
typed by a person who listened). Every installed model of the references' language decodes every
file (in this process, the same decoding as the voicemail workers); the tool prints the error
rate, the real-time factor and the worst files.

Error rates (the normalisation is fixed, so two runs and two cities compare):
- text is NFKC-normalised (full-width letters and digits become half-width, compatibility
  forms unified), case-folded, and every punctuation and symbol character is removed (Unicode
  categories P* and S*: ，。！？ "[9]"'s brackets …);
- CER (zh, ko): characters, whitespace removed (digits are characters like any other: "52" is
  two); WER (en and other space-separated languages): words split on whitespace;
- the rate is the edit distance (substitutions + deletions + insertions) summed over the files,
  divided by the reference length summed over the files (so long messages weigh more).
"""

from __future__ import annotations

import time
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ivr.speech.audio import read_wav
from ivr.speech.models import InstalledModel
from ivr.speech.transcribe import decode_audio, join_words

CER_LANGUAGES = ("zh", "ko", "ja")


def normalise(text: str) -> str:
    """NFKC, case-folded, punctuation and symbols removed; whitespace kept as single spaces."""
    text = unicodedata.normalize("NFKC", text).casefold()
    kept = "".join(" " if c.isspace() else c for c in text
                   if c.isspace() or unicodedata.category(c)[0] not in "PS")
    return " ".join(kept.split())


def units(text: str, language: str) -> list[str]:
    """What the error rate counts: characters (CER languages) or words."""
    clean = normalise(text)
    if language in CER_LANGUAGES:
        return [c for c in clean if not c.isspace()]
    return clean.split()


def edit_distance(ref: Sequence[str], hyp: Sequence[str]) -> int:
    """Levenshtein distance: substitutions, deletions and insertions, each counting 1."""
    previous = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        current = [i]
        for j, h in enumerate(hyp, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1,
                               previous[j - 1] + (r != h)))
        previous = current
    return previous[-1]


def metric(language: str) -> str:
    return "CER" if language in CER_LANGUAGES else "WER"


def error_rate(reference: str, hypothesis: str, language: str) -> tuple[int, int]:
    """(errors, reference length) of one pair; the rate is errors / length."""
    ref, hyp = units(reference, language), units(hypothesis, language)
    return edit_distance(ref, hyp), len(ref)


@dataclass(frozen=True, slots=True)
class FileResult:
    name: str
    reference: str
    hypothesis: str
    errors: int
    length: int
    seconds: float          # audio duration
    decode_seconds: float

    @property
    def rate(self) -> float:
        return self.errors / self.length if self.length else float(self.errors > 0)


@dataclass(frozen=True, slots=True)
class Report:
    model: str
    language: str
    metric: str
    files: tuple[FileResult, ...]
    load_seconds: float

    @property
    def rate(self) -> float:
        length = sum(f.length for f in self.files)
        errors = sum(f.errors for f in self.files)
        return errors / length if length else 0.0

    @property
    def rtf(self) -> float:
        audio = sum(f.seconds for f in self.files)
        return sum(f.decode_seconds for f in self.files) / audio if audio else 0.0

    def worst(self, n: int = 5) -> list[FileResult]:
        return sorted(self.files, key=lambda f: (-f.rate, f.name))[:n]


class EvaluationError(ValueError):
    """The evaluation folder is unusable (no pairs, unreadable reference)."""


def pairs(directory: Path) -> list[tuple[Path, str]]:
    """(wav, reference text) for every WAV with a non-empty ``.txt`` beside it, by name."""
    if not directory.is_dir():
        raise EvaluationError(f"{directory}: not a folder")
    found = []
    for wav in sorted(directory.glob("*.wav")):
        ref = wav.with_suffix(".txt")
        if ref.is_file():
            text = ref.read_text(encoding="utf-8").strip()
            if text:
                found.append((wav, text))
    if not found:
        raise EvaluationError(f"{directory}: no WAV file with a reference .txt beside it")
    return found


Decoder = Callable[[Path], tuple[str, float, float]]   # wav → (text, audio s, decode s)


def vosk_decoder(model: InstalledModel, language: str) -> tuple[Decoder, float]:
    """Load the model once (timed); the decoder the evaluation calls per file."""
    import vosk

    vosk.SetLogLevel(-1)
    started = time.perf_counter()
    loaded: Any = vosk.Model(str(model.path))
    load = time.perf_counter() - started

    def decode(wav: Path) -> tuple[str, float, float]:
        audio = read_wav(wav)
        words, seconds = decode_audio(loaded, audio)
        return join_words([w.word for w in words], language), audio.duration, seconds
    return decode, load


def evaluate(name: str, language: str, items: Sequence[tuple[Path, str]], decode: Decoder,
             load_seconds: float = 0.0,
             progress: Callable[[int, int], None] | None = None) -> Report:
    results = []
    for i, (wav, reference) in enumerate(items, 1):
        text, seconds, decode_seconds = decode(wav)
        errors, length = error_rate(reference, text, language)
        results.append(FileResult(wav.name, reference, text, errors, length, seconds,
                                  decode_seconds))
        if progress is not None:
            progress(i, len(items))
    return Report(name, language, metric(language), tuple(results), load_seconds)


def format_report(report: Report, worst: int = 5) -> str:
    lines = [f"{report.model} ({report.language}): {report.metric} {report.rate:.1%} over "
             f"{len(report.files)} files ({sum(f.length for f in report.files)} reference "
             f"{'characters' if report.metric == 'CER' else 'words'}), RTF {report.rtf:.2f}, "
             f"model load {report.load_seconds:.1f} s",
             f"  worst files ({report.metric}):"]
    for f in report.worst(worst):
        lines.append(f"    {f.rate:6.1%}  {f.name}\n"
                     f"            reference: {f.reference}\n"
                     f"            heard:     {f.hypothesis}")
    return "\n".join(lines)
