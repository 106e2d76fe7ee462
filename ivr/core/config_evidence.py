"""Configuration sections of the evidence chains and retention (issue 13), beside
``ivr.core.config`` (which lists them in its ``SECTIONS``); documented in docs/config.md."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


def _doc(default: Any, doc: str) -> Any:
    return field(default=default, metadata={"doc": doc})


@dataclass(frozen=True, slots=True)
class EvidenceConfig:
    """The evidence chains' published heads (docs/operations.md, "Evidence and verification")."""
    key_file: str = _doc("", "file holding the HMAC key that signs the published chain heads "
                             "(kept where the database administrator cannot read it); empty: "
                             "heads are published unsigned")
    publish: bool = _doc(True, "publish the chain heads once a day through the notification "
                               "hook ([webhooks] urls)")
    seal_seconds: float = _doc(2.0, "seconds between rounds of sealing case events and audit "
                                    "entries into the chains")

    def __post_init__(self) -> None:
        if self.seal_seconds <= 0:
            raise ValueError("[evidence] seal_seconds must be positive")


@dataclass(frozen=True, slots=True)
class RetentionConfig:
    """How long personal data is kept (``ivr retention run``); 0: kept for ever."""
    caller_days: float = _doc(0.0, "days caller numbers are kept in call records, raw events, "
                                   "voicemails and cases; then blanked")
    transcripts_days: float = _doc(0.0, "days transcripts (and corrected texts) are kept")
    audio_days: float = _doc(0.0, "days voicemail recordings are kept on disk")

    def __post_init__(self) -> None:
        if min(self.caller_days, self.transcripts_days, self.audio_days) < 0:
            raise ValueError("[retention] periods are days, 0 or more")

    def periods(self) -> dict[str, float]:
        return {"caller": self.caller_days, "transcripts": self.transcripts_days,
                "audio": self.audio_days}
