"""Deadline rules (pure): how long, in working time, a case has to be followed up.

Two deadlines per case: **contact** (call the citizen back; "followed up on time" in the
supervision figures means this one) and **resolve**; a third, **escalated**, is the second
deadline a case gets when it is escalated. Each is a duration in working time — ``"2h"``
(working hours), ``"30m"`` (working minutes) or ``"1d"`` (working days, see
:class:`~ivr.core.workcalendar.WorkCalendar`) — chosen by the case's kind and urgency: the key
``"<kind>.<urgency>"`` wins over ``"<urgency>"`` (e.g. ``"missed.normal" = "2d"``).

Defaults: contact urgent 2 working hours, normal 1 working day; resolve 3 working days;
escalated urgent 2 working hours, normal 1 working day.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from ivr.core.errors import InvalidCaseInput
from ivr.core.workcalendar import WorkCalendar

URGENCIES = ("urgent", "normal")
CASE_KINDS = ("voicemail", "missed", "call")
DEFAULTS: dict[str, dict[str, str]] = {
    "contact": {"urgent": "2h", "normal": "1d"},
    "resolve": {"urgent": "3d", "normal": "3d"},
    "escalated": {"urgent": "2h", "normal": "1d"},
}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([dhm])\s*$")


@dataclass(frozen=True, slots=True)
class Duration:
    amount: float
    unit: str  # d | h | m

    def after(self, calendar: WorkCalendar, start: datetime) -> datetime:
        if self.unit == "d":
            return calendar.add_days(start, int(self.amount))
        return calendar.add_hours(start, self.amount / 60 if self.unit == "m" else self.amount)

    def __str__(self) -> str:
        return f"{self.amount:g}{self.unit}"


def parse_duration(value: object, where: str) -> Duration:
    m = _DURATION.match(value) if isinstance(value, str) else None
    if m is None or float(m[1]) <= 0 or (m[2] == "d" and not float(m[1]).is_integer()):
        raise InvalidCaseInput(f"{where}: {value!r} is not a working-time duration such as "
                               f"\"2h\", \"30m\" or \"1d\" (whole days)", {"where": where})
    return Duration(float(m[1]), m[2])


@dataclass(frozen=True, slots=True)
class DeadlineRules:
    rules: Mapping[str, Mapping[str, Duration]] = field(default_factory=dict)

    @classmethod
    def build(cls, given: Mapping[str, Mapping[str, str]] | None = None) -> DeadlineRules:
        """The defaults overridden by ``{"contact": {"urgent": "1h", "missed.normal": "2d"}}``."""
        out: dict[str, dict[str, Duration]] = {}
        given = given or {}
        for name in DEFAULTS:
            merged = {**DEFAULTS[name], **dict(given.get(name) or {})}
            for key in merged:
                kind, _, urgency = key.rpartition(".")
                if urgency not in URGENCIES or (kind and kind not in CASE_KINDS):
                    raise InvalidCaseInput(f"[deadlines] {name}.{key}: expected <urgency> or "
                                           f"<kind>.<urgency> (kinds {', '.join(CASE_KINDS)}, "
                                           f"urgencies {', '.join(URGENCIES)})", {"key": key})
            out[name] = {k: parse_duration(v, f"[deadlines] {name}.{k}") for k, v in merged.items()}
        return cls(out)

    def duration(self, name: str, kind: str, urgency: str) -> Duration:
        table = self.rules[name]
        urgency = urgency if urgency in URGENCIES else "normal"
        return table.get(f"{kind}.{urgency}") or table[urgency]

    def due(self, name: str, calendar: WorkCalendar, start: datetime, kind: str,
            urgency: str) -> datetime:
        return self.duration(name, kind, urgency).after(calendar, start)
