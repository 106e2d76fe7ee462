"""Configuration sections of the features (voicemail, cases, records), kept apart from the
loader in ``ivr.core.config`` (which re-exports them) so each module stays small.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


def doc_field(default: Any, doc: str) -> Any:
    """A setting with its default and the sentence docs/config.md shows for it."""
    return field(default=default, metadata={"doc": doc})


_doc = doc_field


@dataclass(frozen=True, slots=True)
class VoicemailConfig:
    workers: int = _doc(0, "transcription worker processes; 0: one per CPU core")
    scan_seconds: float = _doc(30.0, "seconds between scans of the recording folder")
    poll_seconds: float = _doc(5.0, "seconds between polls of the transcription job queue")
    preload: bool = _doc(False, "load the speech models at start instead of at the first job")
    max_attempts: int = _doc(3, "transcription attempts per message before the job fails")


@dataclass(frozen=True, slots=True)
class RecordsConfig:
    poll_seconds: float = _doc(0.2, "seconds between looks at the CEL journal when it has "
                                    "nothing new (records follow a call's end by about this much)")
    chunk_bytes: int = _doc(262144, "journal bytes recorded per transaction (bounds memory and "
                                    "the length of a write)")
    keep_raw_days: float = _doc(30.0, "days raw CEL events are kept once their call is "
                                      "recorded; 0: kept for ever")


@dataclass(frozen=True, slots=True)
class ReportsConfig:
    auto_monthly: bool = _doc(True, "generate last month's supervision reports (city-wide and per "
                                    "official, HTML and PDF) once the month is over; one node "
                                    "of several does it (docs/supervision.md)")
    check_seconds: float = _doc(600.0, "seconds between looks for a month without its report "
                                       "(the first look comes this long after the start)")


@dataclass(frozen=True, slots=True)
class CasesConfig:
    triage_rules: str = _doc("", "path of the triage rules YAML; empty: the shipped "
                                 "ivr/followup/triage_rules.yaml")
    deadline_hours: Mapping[str, float] = field(default_factory=dict, metadata={"doc": (
        "hours to call back per urgency, e.g. {urgent = 1, normal = 48} (env: JSON); unset "
        "urgencies keep the defaults (urgent 2, normal 24); superseded by [deadlines] contact "
        "(these hours count as working hours)")})
