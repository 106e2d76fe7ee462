"""The officials' self-service section (issue 15), beside ``ivr.core.config`` (which lists it in
its ``SECTIONS``); documented in docs/config.md and docs/selfservice.md."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ivr.core.sections import ConfigError

# the feature codes an official dials from their own phone: code → availability
FEATURE_CODES: dict[str, str] = {"60": "available", "61": "meeting", "62": "leave", "63": "dnd"}
MAX_MINUTES = 366 * 24 * 60


def _doc(default: Any, doc: str) -> Any:
    return field(default=default, metadata={"doc": doc})


@dataclass(frozen=True, slots=True)
class SelfServiceConfig:
    """How long a state set by a feature code lasts before it returns to available by itself
    (*60 available, *61 meeting, *62 leave, *63 do not disturb; docs/selfservice.md)."""
    meeting_minutes: int = _doc(120, "*61 meeting: minutes until the automatic return")
    leave_minutes: int = _doc(600, "*62 leave: minutes until the automatic return")
    dnd_minutes: int = _doc(60, "*63 do not disturb: minutes until the automatic return")

    def __post_init__(self) -> None:
        for name in ("meeting_minutes", "leave_minutes", "dnd_minutes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_MINUTES:
                raise ConfigError(f"[self_service] {name}: minutes 1..{MAX_MINUTES}")

    def minutes(self, availability: str) -> int | None:
        """The duration of a state set by phone (None: ``available``, no return time)."""
        return {"meeting": self.meeting_minutes, "leave": self.leave_minutes,
                "dnd": self.dnd_minutes}.get(availability)
