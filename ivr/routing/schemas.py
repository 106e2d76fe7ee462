"""Request and response shapes of the routing routes: an official's audited routing changes,
a published number's menu and language, and the audit log.

The changed value is loosely typed (``loose``): the routing services validate it and raise
their specific error (``invalid-mode``, ``invalid-schedule``, …); a missing field is
``invalid-input``."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from ivr.core.constants import (
    AVAILABILITY,
    CHAIN_KINDS,
    MODES,
    RING_TIMEOUT_RANGE,
)
from ivr.core.errors import (
    InvalidAvailability,
    InvalidChain,
    InvalidMode,
    InvalidRingTimeout,
    InvalidSchedule,
)
from ivr.core.ids import MAX_ID
from ivr.core.windows import DAY_NAMES, MAX_WINDOWS
from ivr.db.models import AuditEntry, PublishedNumber
from ivr.directory.schemas import OfficialOut
from ivr.http.inputs import Actor, QueryText, QueryTime, loose
from ivr.http.schemas import Time, iso_time

_REASON: dict[str, Any] = {"type": "string", "maxLength": 500, "description": "why (kept in the audit log)"}
_NULLABLE_TEXT: dict[str, Any] = {"type": ["string", "null"]}


_DAY_ITEM = "(" + "|".join(f"{d}(-({'|'.join(DAY_NAMES[i:])}))?" for i, d in enumerate(DAY_NAMES)) + ")"
_HHMM = r"([01]?[0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?"
# a window as ``ivr.core.windows.parse_window`` takes it (start equal to end: invalid-schedule)
_WINDOW: dict[str, Any] = {
    "type": "object", "additionalProperties": False, "required": ["days", "start", "end", "mode"],
    "properties": {
        "days": {"type": "string", "examples": ["mon-fri", "sat,sun", "daily", "holiday"],
                 "pattern": f"^(daily|all|everyday|holidays?|{_DAY_ITEM}(,{_DAY_ITEM})*)$"},
        "start": {"type": "string", "pattern": f"^{_HHMM}$", "examples": ["18:00"]},
        "end": {"type": "string", "pattern": f"^({_HHMM}|24:00(:00)?)$", "examples": ["08:30"]},
        "mode": {"enum": list(MODES)}}}


class ChangeIn(BaseModel):
    reason: Any = loose(_REASON, "")
    actor: Actor = None


class ModeIn(ChangeIn):
    mode: Any = loose({"enum": list(MODES)}, error=InvalidMode)


class DeviceConfirmIn(ChangeIn):
    confirm: Any = loose({"type": "boolean", "description": "the callee presses 1 first"})


class AvailabilityIn(ChangeIn):
    availability: Any = loose({"enum": list(AVAILABILITY)}, error=InvalidAvailability)
    note: Any = loose({"type": "string", "maxLength": 200}, None)
    until: QueryTime = Field(None, description="the automatic return to available (meeting, "
                             "leave, dnd only); without offset: the city's local time")
    minutes: Any = loose({"type": ["integer", "null"], "minimum": 1, "maximum": 527040}, None,
                         description="or: return to available after this many minutes")


class ChangedOut(OfficialOut):
    """An official after a change, and whether Asterisk's mirror was written."""
    mirror_written: bool = Field(description="false: saved, but Asterisk's mirror was not "
                                 "written (calls with the controller down may not follow yet; "
                                 "it is resynced when the controller reconnects)")
    warning: str | None = None


class ScheduleIn(ChangeIn):
    windows: Any = loose({"type": "array", "maxItems": MAX_WINDOWS, "items": _WINDOW},
                         error=InvalidSchedule)


class ChainIn(ChangeIn):
    chain: Any = loose({"type": ["array", "null"], "items": {"enum": list(CHAIN_KINDS)},
                        "uniqueItems": True}, error=InvalidChain,
                       description="null: the city default chain")


class RingTimeoutIn(ChangeIn):
    ring_timeout: Any = loose({"type": "integer", "minimum": RING_TIMEOUT_RANGE[0],
                               "maximum": RING_TIMEOUT_RANGE[1]}, error=InvalidRingTimeout)


class DeputyIn(ChangeIn):
    deputy: Any = loose({**_NULLABLE_TEXT, "description": "slug, or null"})


class PoolChoiceIn(ChangeIn):
    pool: Any = loose({**_NULLABLE_TEXT, "description": "pool name, or null for the default"})


class NumberIn(BaseModel):
    menu: Any = loose({"type": "boolean"}, None,
                      description="a DTMF menu: 1 message, 0 operator, 9 repeat")
    language: Any = loose({"type": ["string", "null"]}, None,
                          description="a selectable language (GET /languages; zh, en, ko), null: "
                                      "the official's language; absent: unchanged")
    reason: Any = loose(_REASON, "")
    actor: Actor = None


class NumberOut(BaseModel):
    number: str
    official_id: int
    menu: bool
    language: str | None
    warning: str | None = None   # e.g. no speech model installed for the language

    @classmethod
    def of(cls, row: PublishedNumber, warning: str | None = None) -> NumberOut:
        return cls(number=row.number, official_id=row.official_id, menu=row.menu,
                   language=row.language, warning=warning)


class AuditQuery(BaseModel):
    official: QueryText = Field(None, description="slug or id")
    field: QueryText = Field(None, description="e.g. mode")
    since: QueryTime = Field(None, description="inclusive; ISO 8601, without offset in the "
                                               "deployment timezone")
    until: QueryTime = Field(None, description="exclusive")
    limit: int = Field(100, ge=1, le=1000, description="page size")
    offset: int = Field(0, ge=0, le=MAX_ID, description="skip this many")


class AuditOut(BaseModel):
    id: int
    at: Time
    actor: str
    official_id: int | None
    field: str
    old_value: str | None
    new_value: str | None
    reason: str

    @classmethod
    def of(cls, a: AuditEntry) -> AuditOut:
        return cls(id=a.id, at=iso_time(a.at), actor=a.actor, official_id=a.official_id,
                   field=a.field, old_value=a.old_value, new_value=a.new_value, reason=a.reason)


class EffectiveOut(BaseModel):
    """What the next call to one official does now, and why (the pages show the same)."""
    slug: str
    name: str
    mode: str = Field(description="the mode in effect now")
    stored: str = Field(description="the admin's switch (the mode outside every window)")
    source: str = Field(description="switch | window (a weekly window) | holiday (a holiday "
                                    "window): what sets the mode now")
    window: dict[str, str] | None = Field(description="the window in effect ({days, start, "
                                                      "end}), null for the switch")
    availability: str
    first_step: str = Field(description="where calls go first: direct, deputy, pool, "
                                        "voicemail or message")
    pool: str = Field(description="the pool of the pool step")
    deputy: str = Field(description="the deputy's name, empty when none")
    next_change: str | None = Field(description="the next schedule boundary, city time "
                                                "(YYYY-MM-DD HH:MM:SS), null when none")
