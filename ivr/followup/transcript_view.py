"""How the inbox shows a voicemail's transcript: each recognised word with its confidence (the
uncertain ones marked), the correction beside the recognised text, and why the case asks for
listening, in the page's language: the service's English reason (kept by the API) is read for
its figures and the command that fixes it, never shown as it is."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ivr.db.followup_models import Case, Transcript

# reason prefix (as the pipeline and triage write it) → message key
REASONS: tuple[tuple[str, str], ...] = (
    ("no transcript: ModelMissing", "listen.no_model"),
    ("no transcript:", "listen.failed"),
    ("low confidence", "listen.low_confidence"),
    ("empty transcript", "listen.empty"),
    ("only ", "listen.short"),
)
TEXTS: dict[str, tuple[str, str]] = {
    "listen.title": ("请听录音", "Listen to the recording"),
    "listen.no_model": ("未安装该语言的语音模型，无法转写", "No speech model for this language"),
    "listen.failed": ("转写失败", "Transcription failed"),
    "listen.low_confidence": ("识别置信度低", "Low recognition confidence"),
    "listen.empty": ("未识别出内容", "Nothing recognised"),
    "listen.short": ("识别内容过短", "Too little recognised"),
    "listen.other": ("需人工核听", "Needs listening"),
    "listen.low_confidence.n": ("识别置信度 {0}，低于 {1}", "recognition confidence {0}, under {1}"),
    "listen.short.words": ("只识别出 {0} 个词", "only {0} words recognised"),
    "listen.short.chars": ("只识别出 {0} 个字", "only {0} characters recognised"),
    "listen.fix": ("安装方法", "to install"),
    "transcript.uncertain": ("不确定的词（置信度低）已标出", "Uncertain words (low confidence) are marked"),
    "transcript.confidence": ("置信度", "confidence"),
    "transcript.corrected": ("已更正", "Corrected"),
    "transcript.original": ("识别原文", "As recognised"),
    "transcript.correct": ("更正转写", "Correct the transcript"),
    "transcript.save": ("保存更正（重新分类）", "Save correction (re-triaged)"),
    "transcript.none": ("（无识别结果）", "(nothing recognised)"),
}


@dataclass(frozen=True, slots=True)
class Word:
    text: str
    conf: float
    uncertain: bool


@dataclass(frozen=True, slots=True)
class Reason:
    key: str        # message key of the page-language text
    detail: str     # the English reason as stored (the API's; not shown on the pages)
    figures: str = ""           # message key of the figures' text ("" none)
    args: tuple[str, ...] = ()  # its figures
    command: str = ""           # the command that fixes it (shown as code)


@dataclass(frozen=True, slots=True)
class TranscriptView:
    words: tuple[Word, ...]
    spaced: bool                 # words separated by spaces (not Mandarin)
    original: str
    corrected: str | None
    corrected_by: str | None
    confidence: float | None
    reasons: tuple[Reason, ...]

    @property
    def current(self) -> str:
        return self.original if self.corrected is None else self.corrected

    @property
    def any_uncertain(self) -> bool:
        return any(w.uncertain for w in self.words)


def reason_key(reason: str) -> str:
    return next((key for prefix, key in REASONS if reason.startswith(prefix)), "listen.other")


_FIGURES = ((re.compile(r"low confidence ([\d.]+) < ([\d.]+)"), "listen.low_confidence.n"),
            (re.compile(r"only (\d+) words"), "listen.short.words"),
            (re.compile(r"only (\d+) characters"), "listen.short.chars"))
_COMMAND = re.compile(r"(ivr models (?:download|install) [\w.-]+|pip install [\w.-]+)")


def reason_of(reason: str) -> Reason:
    """A stored reason as the pages show it: its text, its figures, the command that fixes it."""
    for pattern, key in _FIGURES:
        if m := pattern.match(reason):
            return Reason(reason_key(reason), reason, key, m.groups())
    command = _COMMAND.search(reason)
    return Reason(reason_key(reason), reason, command=command.group(1) if command else "")


def view(case: Case, tr: Transcript | None, min_confidence: float) -> TranscriptView:
    """The transcript of ``case`` (None: nothing recognised) as the inbox shows it; a word is
    uncertain below ``min_confidence`` (the triage rules' threshold for a whole message)."""
    words: tuple[Word, ...] = ()
    if tr is not None:
        words = tuple(Word(str(w.get("word", "")), float(w.get("conf", 0.0)),
                           float(w.get("conf", 0.0)) < min_confidence)
                      for w in tr.words or ())
    reasons = tuple(reason_of(r) for r in (case.listen_reasons or ())) \
        if case.needs_listening else ()
    return TranscriptView(
        words=words, spaced=(tr.language if tr is not None else "zh") != "zh",
        original=tr.text if tr is not None else "",
        corrected=tr.corrected_text if tr is not None else None,
        corrected_by=tr.corrected_by if tr is not None else None,
        confidence=tr.confidence if tr is not None and tr.words else None, reasons=reasons)
