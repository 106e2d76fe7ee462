"""The ``[testcalls]`` section: scheduled test calls (拨测, issue 13; docs/supervision.md,
"Test calls"), beside ``ivr.core.config`` (which lists it in its ``SECTIONS``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ivr.core.numbers import sanitize_caller_id


def _doc(default: Any, doc: str) -> Any:
    return field(default=default, metadata={"doc": doc})


@dataclass(frozen=True, slots=True)
class TestCallsConfig:
    """Scheduled test calls to the published numbers, placed like a citizen's call."""
    __test__ = False  # not a pytest class
    enabled: bool = _doc(False, "test calls can be scheduled, and this node places them")
    caller: str = _doc("", "the citizen-like number a test call presents (digits, e.g. a "
                       "mobile of the supervision office); needed to schedule test calls")
    ring_seconds: int = _doc(120, "how long a test call waits for its route to answer")
    ack_seconds: int = _doc(8, "seconds the callee has to press 1 after the announcement "
                            "(played twice at most)")
    max_seconds: int = _doc(60, "a test call ends at the latest this long after it was answered")
    tick_seconds: float = _doc(5.0, "seconds between two looks at the test calls due")
    lost_after_seconds: float = _doc(900.0, "a placed test call whose record never came is "
                                     "recorded as lost this long after it was placed (at "
                                     "least ring_seconds + max_seconds + 300)")

    def __post_init__(self) -> None:
        if self.caller and (sanitize_caller_id(self.caller) != self.caller
                            or not self.caller.lstrip("+").isdigit()):
            raise ValueError(f"[testcalls] caller: {self.caller!r} is not a number")
        if not 5 <= self.ring_seconds <= 3600 or not 2 <= self.ack_seconds <= 60 \
                or not 5 <= self.max_seconds <= 600:
            raise ValueError("[testcalls] ring_seconds is 5-3600, ack_seconds 2-60 and "
                             "max_seconds 5-600")
