"""Request and response shapes of the directory's HTTP routes (pydantic; one declaration feeds
validation, serialisation and the OpenAPI document).

Request bodies keep most fields loosely typed (``loose``): the directory services validate the
values and raise their own errors (``invalid-endpoint``, ``invalid-directory``, …); the models
check that required fields are present and document the shapes."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, BeforeValidator, Field

from ivr.core.config_announce import EVERY_RANGE
from ivr.core.constants import AVAILABILITY, CHAIN_KINDS, MODES, QUEUE_STRATEGIES
from ivr.core.errors import InvalidDirectory, InvalidEndpoint, InvalidInput
from ivr.core.names import CONTACT_RE, ENDPOINT_RE, POOL_RE
from ivr.core.numbers import NumberError, dial_forms, national_form
from ivr.db.models import (
    Device,
    Official,
    Operator,
    Pool,
    PublishedNumber,
    RoutingPolicy,
    ScheduleWindow,
)
from ivr.http.inputs import SOLID, Actor, loose
from ivr.http.schemas import Time, iso_time

_OK = r"""[^\x00-\x1f\x7f"';|^,\\<>]"""  # a character a name may hold (NAME_FORBIDDEN)
# a person's or team's name: 1-80 characters, not blank, none of NAME_FORBIDDEN
_NAME: dict[str, Any] = {"type": "string", "maxLength": 80,
                         "pattern": rf"^{_OK}*(?={SOLID}){_OK}+$"}
_POOL: dict[str, Any] = {"type": "string", "pattern": POOL_RE.pattern}
_ENDPOINT: dict[str, Any] = {"type": "string", "pattern": ENDPOINT_RE.pattern}
_CONTACT: dict[str, Any] = {"type": ["string", "null"], "pattern": f"^$|{CONTACT_RE.pattern}"}
_NULLABLE_TEXT: dict[str, Any] = {"type": ["string", "null"]}
_STRATEGY: dict[str, Any] = {"enum": list(QUEUE_STRATEGIES)}
# a pool's own announcements (docs/directory.md, announce:); a key null or left out: [announce]
_ANNOUNCE: dict[str, Any] = {
    "type": ["object", "null"], "additionalProperties": False,
    "properties": {"position": {"type": ["boolean", "null"]},
                   "holdtime": {"type": ["boolean", "null"]},
                   "every": {"type": ["integer", "null"], "minimum": EVERY_RANGE[0],
                             "maximum": EVERY_RANGE[1]}}}


# --- officials ------------------------------------------------------------------------------

def _forms(number: str) -> list[str]:
    try:
        return dial_forms(number)
    except NumberError:
        return []


class NumberOut(BaseModel):
    number: str
    dial_forms: list[str]
    published: str = Field("", description="the number as published (the directory's form, "
                                           "else the national form), for display")

    @classmethod
    def of(cls, n: PublishedNumber) -> NumberOut:
        return cls(number=n.number, dial_forms=_forms(n.number),
                   published=n.published or national_form(n.number))


class DeviceOut(BaseModel):
    kind: str = Field(json_schema_extra={"enum": ["sip", "mobile"]})
    endpoint: str | None
    number: str | None
    static_contact: str | None
    priority: int
    confirm: bool = Field(description="the callee presses 1 before the call is theirs")

    @classmethod
    def of(cls, d: Device) -> DeviceOut:
        return cls(kind=d.kind, endpoint=d.endpoint, number=d.number,
                   static_contact=d.static_contact, priority=d.priority, confirm=d.confirm)


class PolicyOut(BaseModel):
    mode: str = Field(json_schema_extra={"enum": list(MODES)})
    chain: list[str] | None = Field(description="null: the city default chain",
                                    json_schema_extra={"items": {"enum": list(CHAIN_KINDS)}})
    ring_timeout: int
    pool: str | None = Field(description="null: the default pool")
    version: int
    updated_at: Time

    @classmethod
    def of(cls, p: RoutingPolicy | None) -> PolicyOut:
        if p is None:
            return cls(mode="direct", chain=None, ring_timeout=20, pool=None, version=0,
                       updated_at=None)
        return cls(mode=p.mode, chain=p.chain, ring_timeout=p.ring_timeout,
                   pool=p.pool.name if p.pool else None, version=p.version,
                   updated_at=iso_time(p.updated_at))


class WindowOut(BaseModel):
    days: str = Field(examples=["mon-fri", "sat,sun", "daily"])
    start: str = Field(examples=["18:00"])
    end: str = Field(examples=["08:30", "24:00"])
    mode: str = Field(json_schema_extra={"enum": list(MODES)})

    @classmethod
    def of(cls, w: ScheduleWindow) -> WindowOut:
        return cls(days=w.days, start=w.start, end=w.end, mode=w.mode)


class OfficialOut(BaseModel):
    id: int
    slug: str
    name: str
    title: str
    department: str
    display_name: str
    language: str
    availability: str = Field(json_schema_extra={"enum": list(AVAILABILITY)})
    availability_note: str
    availability_until: Time = Field(None, description="the automatic return to available "
                                     "(null: until changed)")
    self_mode: bool = Field(False, description="the official may change their own mode "
                            "(or every official: setting self_service_mode)")
    deputy: str | None = Field(description="the deputy's slug")
    superior: str | None = Field(None, description="the superior's slug: overdue cases are "
                                                   "escalated to them")
    numbers: list[NumberOut]
    devices: list[DeviceOut] = Field(description="mobiles only for admins and the official")
    policy: PolicyOut
    schedule: list[WindowOut] = Field(description="weekly windows; the last listed wins")

    @classmethod
    def of(cls, o: Official, *, private: bool = True) -> OfficialOut:
        """``private=False``: without the official's mobiles (personal numbers; only admins and
        the official themselves see them)."""
        devices = [d for d in o.devices if private or d.kind != "mobile"]
        return cls(
            id=o.id, slug=o.slug, name=o.name, title=o.title, department=o.department,
            display_name=o.display_name, language=o.language, availability=o.availability,
            availability_note=o.availability_note,
            availability_until=iso_time(o.availability_until), self_mode=bool(o.self_mode),
            deputy=o.deputy.slug if o.deputy else None,
            superior=o.superior.slug if o.superior else None,
            numbers=[NumberOut.of(n) for n in sorted(o.numbers, key=lambda n: n.number)],
            devices=[DeviceOut.of(d) for d in devices], policy=PolicyOut.of(o.policy),
            schedule=[WindowOut.of(w) for w in sorted(o.windows, key=lambda w: w.id or 0)])


# --- operators and pools --------------------------------------------------------------------

class OperatorOut(BaseModel):
    name: str
    endpoint: str
    pool: str | None
    static_contact: str | None
    state: str
    paused_reason: str

    @classmethod
    def of(cls, o: Operator) -> OperatorOut:
        return cls(name=o.name, endpoint=o.endpoint, pool=o.pool.name if o.pool else None,
                   static_contact=o.static_contact, state=o.state, paused_reason=o.paused_reason)


class OperatorCreated(OperatorOut):
    secret: str = Field(description="the SIP password, shown in this response only")

    @classmethod
    def of_new(cls, o: Operator, secret: str) -> OperatorCreated:
        return cls(**OperatorOut.of(o).model_dump(), secret=secret)


class PoolAnnounceOut(BaseModel):
    """The pool's own announcement settings; null: the [announce] default of the deployment."""
    position: bool | None
    holdtime: bool | None
    every: int | None


class PoolOut(BaseModel):
    name: str
    queue: str
    strategy: str = Field(json_schema_extra=_STRATEGY)
    max_wait: int
    announce: PoolAnnounceOut
    operators: list[str]

    @classmethod
    def of(cls, p: Pool) -> PoolOut:
        return cls(name=p.name, queue=p.queue, strategy=p.strategy, max_wait=p.max_wait,
                   announce=PoolAnnounceOut(position=p.announce_position,
                                            holdtime=p.announce_holdtime,
                                            every=p.announce_every),
                   operators=sorted(o.endpoint for o in p.operators))


class PoolIn(BaseModel):
    error: ClassVar[type[InvalidInput]] = InvalidDirectory
    name: Any = loose(_POOL)
    strategy: Any = loose(_STRATEGY, "leastrecent")
    max_wait: Any = loose({"type": "integer", "minimum": 5, "maximum": 3600}, 60,
                          description="seconds a caller waits in the queue")
    announce: Any = loose(_ANNOUNCE, None, description="what a waiting caller hears; a key "
                          "left out or null: the [announce] default")
    actor: Actor = None


class PoolChange(BaseModel):
    error: ClassVar[type[InvalidInput]] = InvalidDirectory
    strategy: Any = loose(_STRATEGY, None)
    max_wait: Any = loose({"type": "integer", "minimum": 5, "maximum": 3600}, None)
    announce: Any = loose(_ANNOUNCE, None, description="replaces the pool's own announcement "
                          "settings (a key left out or null: the default; {}: all defaults); "
                          "null or absent: unchanged")
    actor: Actor = None


class OperatorIn(BaseModel):
    error: ClassVar[type[InvalidInput]] = InvalidDirectory
    name: Any = loose(_NAME)
    endpoint: Any = loose(_ENDPOINT, description="PJSIP endpoint name", error=InvalidEndpoint)
    pool: Any = loose(_POOL)
    static_contact: Any = loose(_CONTACT, None, description="sip:user@host:port")
    actor: Actor = None


class OperatorChange(BaseModel):
    error: ClassVar[type[InvalidInput]] = InvalidDirectory
    name: Any = loose(_NAME, None)
    pool: Any = loose(_POOL, None)
    static_contact: Any = loose(_CONTACT, None, description="null clears it")
    actor: Actor = None


# --- import and audit -----------------------------------------------------------------------

def _yes(value: Any) -> bool:
    """1, true or yes; 0, false, no or empty; anything else is refused (400)."""
    text = str(value).lower()
    if text not in ("1", "true", "yes", "0", "false", "no", ""):
        raise ValueError("expected true or false")
    return text in ("1", "true", "yes")


class ImportQuery(BaseModel):
    actor: Actor = None
    dry_run: Annotated[bool, BeforeValidator(_yes)] = Field(
        False, description="validate against the database, change nothing (1, true or yes)")


class ImportCounts(BaseModel):
    pools: int
    operators: int
    officials: int


class ImportResultOut(BaseModel):
    created: ImportCounts
    updated: ImportCounts
    changed_officials: list[int]
    new_endpoints: list[str]
    dry_run: bool


class ImportResultCommitted(ImportResultOut):
    new_credentials: dict[str, str] = Field(description="endpoint → generated secret")
