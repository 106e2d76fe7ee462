"""Voicemail triage: topic, urgency, "listen to the audio" flag, repeat callers. Pure functions.

Rules come from ``triage_rules.yaml`` (a city may edit it; :func:`load_rules` validates it and
names the field at fault). Matching, for every message whatever its language:
- Mandarin keywords: the transcript (whitespace removed, Vosk puts spaces between words) is
  segmented with jieba; a keyword hits when it is one of jieba's words or, for keywords of two
  characters or more, a substring of the text (jieba may segment a keyword differently).
- English keywords: lowercase words; a keyword of several words matches that word sequence.
A keyword that lies inside a longer keyword hit of the same category is not counted again
(公交 inside 公交车). The category with the most distinct hits wins; ties go to the earlier
category in the file; no hit gives ``default_category``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import yaml

DEFAULT_RULES_PATH = Path(__file__).with_name("triage_rules.yaml")
Urgency = Literal["urgent", "normal"]
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


class RulesError(ValueError):
    """The triage rules file is missing, unreadable or malformed."""


@dataclass(frozen=True, slots=True)
class Category:
    key: str
    label_zh: str
    label_en: str
    keywords_zh: tuple[str, ...]
    keywords_en: tuple[tuple[str, ...], ...]   # each keyword as its lowercase words


@dataclass(frozen=True, slots=True)
class Rules:
    categories: tuple[Category, ...]
    default_category: str
    urgent_zh: tuple[str, ...]
    urgent_en: tuple[tuple[str, ...], ...]
    min_confidence: float = 0.6
    min_characters_zh: int = 4
    min_words_en: int = 3
    repeat_calls: int = 3
    repeat_days: int = 7


@dataclass(frozen=True, slots=True)
class Triage:
    category: str
    matched_keywords: tuple[str, ...]
    urgency: Urgency
    needs_listening: bool
    scores: Mapping[str, int] = field(default_factory=dict)
    urgent_keywords: tuple[str, ...] = ()
    listen_reasons: tuple[str, ...] = ()


# ---------------------------------------------------------------- rules file

def load_rules(path: str | Path | None = None) -> Rules:
    path = Path(path) if path is not None else DEFAULT_RULES_PATH
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise RulesError(f"{path}: cannot read triage rules: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise RulesError(f"{path}: not valid YAML: {exc}") from exc
    return parse_rules(data, source=str(path))


def _fail(source: str, where: str, problem: str) -> RulesError:
    return RulesError(f"{source}: {where}: {problem}")


def _strings(value: Any, source: str, where: str, *, required: bool = True) -> tuple[str, ...]:
    if value is None and not required:
        return ()
    if not isinstance(value, list) or (required and not value):
        raise _fail(source, where, "must be a non-empty list of strings")
    out: list[str] = []
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item.strip():
            raise _fail(source, f"{where}[{i}]", f"must be a non-empty string, got {item!r}")
        out.append(item.strip())
    return tuple(out)


def _number(data: Mapping[str, Any], key: str, default: float, source: str, where: str,
            lo: float, hi: float, integer: bool) -> Any:
    value = data.get(key, default)
    kind = int if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kind) or not lo <= value <= hi:
        raise _fail(source, f"{where}{key}", f"must be a {'whole ' if integer else ''}number "
                                             f"between {lo:g} and {hi:g}, got {value!r}")
    return value


def _english(words: tuple[str, ...]) -> tuple[tuple[str, ...], ...]:
    return tuple(tuple(_WORD.findall(w.lower())) for w in words if _WORD.findall(w.lower()))


def parse_rules(data: Any, source: str = "<rules>") -> Rules:
    """Validate a parsed rules mapping; errors name the field (``categories.housing.label_zh``)."""
    if not isinstance(data, dict):
        raise _fail(source, "top level", "must be a mapping")
    unknown = set(data) - {"version", "default_category", "min_confidence", "min_characters_zh",
                           "min_words_en", "repeat", "urgency", "categories"}
    if unknown:
        raise _fail(source, "top level", f"unknown keys {sorted(unknown)}")
    cats = data.get("categories")
    if not isinstance(cats, dict) or not cats:
        raise _fail(source, "categories", "must be a non-empty mapping of category key -> rules")
    categories: list[Category] = []
    for key, spec in cats.items():
        where = f"categories.{key}"
        if not isinstance(key, str) or not re.fullmatch(r"[a-z][a-z0-9_]{0,40}", key):
            raise _fail(source, where, "key must be lowercase letters, digits, underscores")
        if not isinstance(spec, dict):
            raise _fail(source, where, "must be a mapping")
        extra = set(spec) - {"label_zh", "label_en", "keywords_zh", "keywords_en"}
        if extra:
            raise _fail(source, where, f"unknown keys {sorted(extra)}")
        for label in ("label_zh", "label_en"):
            if not isinstance(spec.get(label), str) or not spec[label].strip():
                raise _fail(source, f"{where}.{label}", "must be a non-empty string")
        zh = _strings(spec.get("keywords_zh"), source, f"{where}.keywords_zh")
        en = _strings(spec.get("keywords_en"), source, f"{where}.keywords_en")
        categories.append(Category(key, spec["label_zh"].strip(), spec["label_en"].strip(),
                                   tuple("".join(k.split()) for k in zh), _english(en)))
    default = data.get("default_category", "other")
    if not isinstance(default, str) or not default.strip():
        raise _fail(source, "default_category", "must be a non-empty string")
    urgency = data.get("urgency")
    if not isinstance(urgency, dict):
        raise _fail(source, "urgency", "must be a mapping with urgent_zh and urgent_en")
    repeat = data.get("repeat", {}) or {}
    if not isinstance(repeat, dict):
        raise _fail(source, "repeat", "must be a mapping with calls and days")
    return Rules(
        categories=tuple(categories), default_category=default.strip(),
        urgent_zh=tuple("".join(k.split())
                        for k in _strings(urgency.get("urgent_zh"), source, "urgency.urgent_zh")),
        urgent_en=_english(_strings(urgency.get("urgent_en"), source, "urgency.urgent_en")),
        min_confidence=float(_number(data, "min_confidence", 0.6, source, "", 0.0, 1.0, False)),
        min_characters_zh=_number(data, "min_characters_zh", 4, source, "", 0, 1000, True),
        min_words_en=_number(data, "min_words_en", 3, source, "", 0, 1000, True),
        repeat_calls=_number(repeat, "calls", 3, source, "repeat.", 2, 1000, True),
        repeat_days=_number(repeat, "days", 7, source, "repeat.", 1, 3650, True),
    )


# ---------------------------------------------------------------- matching

def segment_zh(text: str) -> list[str]:
    """jieba words of a Mandarin text (whitespace removed first)."""
    import jieba

    jieba.setLogLevel(logging.WARNING)
    return [w for w in jieba.lcut("".join(text.split())) if w.strip()]


def _zh_hits(keywords: Sequence[str], compact: str, words: set[str]) -> list[str]:
    return [k for k in keywords if k in words or (len(k) >= 2 and k in compact)]


def _en_hits(keywords: Sequence[tuple[str, ...]], tokens: list[str]) -> list[str]:
    joined = f" {' '.join(tokens)} "
    return [" ".join(k) for k in keywords if f" {' '.join(k)} " in joined]


def _drop_nested(hits: list[str]) -> list[str]:
    return [h for h in hits if not any(h != o and h in o for o in hits)]


def triage(transcript_text: str, language: str, confidence: float, rules: Rules) -> Triage:
    """Classify one transcript. Deterministic; no I/O (jieba's dictionary loads on first use)."""
    compact = "".join(transcript_text.split())
    has_cjk = bool(_CJK.search(compact))
    zh_words = set(segment_zh(compact)) if has_cjk else set()
    tokens = _WORD.findall(transcript_text.lower())
    scores: dict[str, int] = {}
    matched: dict[str, list[str]] = {}
    for cat in rules.categories:
        hits = _zh_hits(cat.keywords_zh, compact, zh_words) if has_cjk else []
        hits += _en_hits(cat.keywords_en, tokens)
        hits = _drop_nested(list(dict.fromkeys(hits)))
        scores[cat.key] = len(hits)
        matched[cat.key] = hits
    best = max(rules.categories, key=lambda c: scores[c.key], default=None)
    category = best.key if best is not None and scores[best.key] > 0 else rules.default_category
    urgent = (_zh_hits(rules.urgent_zh, compact, zh_words) if has_cjk else [])
    urgent += _en_hits(rules.urgent_en, tokens)
    reasons: list[str] = []
    if not compact:
        reasons.append("empty transcript")
    elif language.lower().startswith("en"):
        if len(tokens) < rules.min_words_en:
            reasons.append(f"only {len(tokens)} words")
    elif len(compact) < rules.min_characters_zh:
        reasons.append(f"only {len(compact)} characters")
    if confidence < rules.min_confidence:
        reasons.append(f"low confidence {confidence:.2f} < {rules.min_confidence:.2f}")
    return Triage(category=category, matched_keywords=tuple(matched.get(category, ())),
                  urgency="urgent" if urgent else "normal", needs_listening=bool(reasons),
                  scores=scores, urgent_keywords=tuple(_drop_nested(urgent)),
                  listen_reasons=tuple(reasons))


def is_repeat(caller: str | None, history_timestamps: Sequence[datetime], now: datetime,
              n: int = 3, days: int = 7) -> bool:
    """True when this message and the caller's earlier ones within ``days`` days reach ``n``.

    ``history_timestamps`` are the caller's earlier messages (any order; future ones ignored).
    A withheld or empty caller number is never a repeat: different people share "anonymous".
    """
    if not caller or not caller.strip() or caller.strip().lower() in {"anonymous", "unknown"}:
        return False
    if n < 1 or days < 0:
        raise ValueError("n must be >= 1 and days >= 0")
    since = now - timedelta(days=days)
    recent = sum(1 for t in history_timestamps if since <= t <= now)
    return recent + 1 >= n
