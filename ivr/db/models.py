"""ORM models. SQLite by default, PostgreSQL by URL; schema changes go through Alembic.

Times are stored as timezone-aware UTC datetimes; the deployment timezone only matters for
schedule windows and for display.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from ivr.core.timeutil import utcnow

# Named constraints, so that later migrations (SQLite batch mode, PostgreSQL) can address them.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: DateTime(timezone=True), dict[str, Any]: JSON}


class Official(Base):
    __tablename__ = "officials"
    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(40), unique=True)  # used in endpoint names
    name: Mapped[str] = mapped_column(String(80))
    title: Mapped[str] = mapped_column(String(80), default="")
    department: Mapped[str] = mapped_column(String(120), default="")
    deputy_id: Mapped[int | None] = mapped_column(ForeignKey("officials.id", ondelete="SET NULL"))
    # escalation goes to the superior (issue 11; cycles refused by the directory import)
    superior_id: Mapped[int | None] = mapped_column(ForeignKey("officials.id", ondelete="SET NULL"))
    availability: Mapped[str] = mapped_column(String(16), default="available")
    availability_note: Mapped[str] = mapped_column(String(200), default="")
    # the automatic return to ``available`` (UTC; None: until changed), mirrored as an epoch
    availability_until: Mapped[datetime | None] = mapped_column()
    # the official may change their own mode (issue 15; or city-wide: setting self_service_mode)
    self_mode: Mapped[bool] = mapped_column(default=False, server_default=false())
    language: Mapped[str] = mapped_column(String(8), default="zh")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    numbers: Mapped[list[PublishedNumber]] = relationship(back_populates="official",
                                                            cascade="all, delete-orphan")
    devices: Mapped[list[Device]] = relationship(back_populates="official",
                                                   cascade="all, delete-orphan",
                                                   order_by="Device.priority")
    policy: Mapped[RoutingPolicy | None] = relationship(back_populates="official",
                                                          cascade="all, delete-orphan")
    windows: Mapped[list[ScheduleWindow]] = relationship(back_populates="official",
                                                           cascade="all, delete-orphan",
                                                           order_by="ScheduleWindow.id")
    deputy: Mapped[Official | None] = relationship(remote_side="Official.id",
                                                     foreign_keys=[deputy_id])
    superior: Mapped[Official | None] = relationship(remote_side="Official.id",
                                                       foreign_keys=[superior_id])

    @property
    def display_name(self) -> str:
        return f"{self.name} {self.title}".strip()


class PublishedNumber(Base):
    __tablename__ = "published_numbers"
    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)  # normalised E.164, "+86…"
    # the form the directory gave at import ("0558-5551004"), shown on the pages (0020)
    published: Mapped[str | None] = mapped_column(String(40))
    official_id: Mapped[int] = mapped_column(ForeignKey("officials.id", ondelete="CASCADE"))
    language: Mapped[str | None] = mapped_column(String(8))  # None: the official's
    # a DTMF menu before the route: 1 leave a message, 0 an operator, 9 repeat
    menu: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    official: Mapped[Official] = relationship(back_populates="numbers")


class Device(Base):
    """A phone that reaches an official: a registered SIP phone or a mobile via the carrier."""
    __tablename__ = "devices"
    id: Mapped[int] = mapped_column(primary_key=True)
    official_id: Mapped[int] = mapped_column(ForeignKey("officials.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(8))  # "sip" | "mobile"
    endpoint: Mapped[str | None] = mapped_column(String(40), unique=True)  # sip: PJSIP endpoint
    number: Mapped[str | None] = mapped_column(String(20))  # mobile: E.164
    # sip: digest HA1 of the generated password (ivr/core/sipauth.py; never the password)
    sip_ha1: Mapped[str | None] = mapped_column(String(64))
    static_contact: Mapped[str | None] = mapped_column(String(120))  # lab/demo phones
    priority: Mapped[int] = mapped_column(Integer, default=0)
    # the callee presses 1 before the call is theirs (default: mobiles yes, SIP phones no)
    confirm: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    official: Mapped[Official] = relationship(back_populates="devices")


class Pool(Base):
    __tablename__ = "pools"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(40), unique=True)  # queue is "pool-<name>"
    strategy: Mapped[str] = mapped_column(String(16), default="leastrecent")
    max_wait: Mapped[int] = mapped_column(Integer, default=60)
    # what a waiting caller hears (0024); null: the [announce] default (ivr.core.config_announce)
    announce_position: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    announce_holdtime: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    announce_every: Mapped[int | None] = mapped_column(Integer, nullable=True)
    operators: Mapped[list[Operator]] = relationship(back_populates="pool")

    @property
    def queue(self) -> str:
        return f"pool-{self.name}"


class Operator(Base):
    __tablename__ = "operators"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    endpoint: Mapped[str] = mapped_column(String(40), unique=True)
    sip_ha1: Mapped[str] = mapped_column(String(64))  # digest HA1, as for devices
    static_contact: Mapped[str | None] = mapped_column(String(120))
    pool_id: Mapped[int] = mapped_column(ForeignKey("pools.id"))
    state: Mapped[str] = mapped_column(String(16), default="logged_out")
    paused_reason: Mapped[str] = mapped_column(String(80), default="")
    # paused by the system because the phone unregistered (0021): resumed when it registers
    auto_paused: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    pool: Mapped[Pool] = relationship(back_populates="operators")


class PhoneRegistration(Base):
    """A SIP phone's registration as one node's Asterisk reports it (contact events over AMI,
    resynced after every AMI login; ivr.pool.registrations). A phone with a static contact has
    no row: it counts as registered."""
    __tablename__ = "phone_registrations"
    endpoint: Mapped[str] = mapped_column(String(40), primary_key=True)
    node: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))  # registered | unregistered | unreachable
    contact: Mapped[str] = mapped_column(String(255), default="", server_default="")
    user_agent: Mapped[str] = mapped_column(String(255), default="", server_default="")
    since: Mapped[datetime] = mapped_column(default=utcnow)


class RoutingPolicy(Base):
    __tablename__ = "routing_policies"
    official_id: Mapped[int] = mapped_column(ForeignKey("officials.id", ondelete="CASCADE"),
                                             primary_key=True)
    mode: Mapped[str] = mapped_column(String(16), default="direct")
    chain: Mapped[list[str] | None] = mapped_column(JSON)  # None: the city-wide default chain
    ring_timeout: Mapped[int] = mapped_column(Integer, default=20)
    pool_id: Mapped[int | None] = mapped_column(ForeignKey("pools.id"))  # None: default pool
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    official: Mapped[Official] = relationship(back_populates="policy")
    pool: Mapped[Pool | None] = relationship()


class ScheduleWindow(Base):
    """A weekly window in the deployment timezone during which another mode applies."""
    __tablename__ = "schedule_windows"
    id: Mapped[int] = mapped_column(primary_key=True)
    official_id: Mapped[int] = mapped_column(ForeignKey("officials.id", ondelete="CASCADE"))
    days: Mapped[str] = mapped_column(String(40))  # "mon-fri", "sat,sun", "daily"
    start: Mapped[str] = mapped_column(String(8))  # "HH:MM" or "HH:MM:SS"
    end: Mapped[str] = mapped_column(String(8))  # may be earlier than start: crosses midnight
    mode: Mapped[str] = mapped_column(String(16))
    official: Mapped[Official] = relationship(back_populates="windows")


class Setting(Base):
    """City-wide settings, e.g. ``default_chain``."""
    __tablename__ = "settings"
    key: Mapped[str] = mapped_column(String(120), primary_key=True)  # per-node keys: 120
    value: Mapped[Any] = mapped_column(JSON)


class Revision(Base):
    """The change feed (ivr.db.feed): a counter per kind of change (``routing``, ``directory``,
    ``operators``), incremented in SQL after every committed change; every controller polls them."""
    __tablename__ = "revisions"
    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[int] = mapped_column(Integer, default=0)


class AuditEntry(Base):
    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(80))
    official_id: Mapped[int | None] = mapped_column(ForeignKey("officials.id", ondelete="SET NULL"))
    field: Mapped[str] = mapped_column(String(40))  # "mode", "availability", "schedule", …
    old_value: Mapped[str | None] = mapped_column(Text)
    new_value: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text, default="")


class Call(Base):
    """One call to a published number, folded from Asterisk's events (never from the plan)."""
    __tablename__ = "calls"
    id: Mapped[int] = mapped_column(primary_key=True)
    linkedid: Mapped[str] = mapped_column(String(64), unique=True)
    number_dialed: Mapped[str] = mapped_column(String(40), default="")
    caller: Mapped[str] = mapped_column(String(40), default="")
    # the caller ID as received, escaped (\r \n \xNN), and whether caller differs from it
    caller_raw: Mapped[str] = mapped_column(String(255), default="", server_default="")
    caller_altered: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    official_id: Mapped[int | None] = mapped_column(ForeignKey("officials.id", ondelete="SET NULL"),
                                                    index=True)
    route_source: Mapped[str] = mapped_column(String(16), default="")  # agi | mirror | default
    mode: Mapped[str] = mapped_column(String(16), default="")
    # CALL_KINDS; OUTCOMES, None while in progress (docs/architecture.md, "Call outcomes")
    kind: Mapped[str] = mapped_column(String(24), default="citizen", server_default="citizen",
                                      index=True)
    outcome: Mapped[str | None] = mapped_column(String(16), index=True)
    answered_by: Mapped[str | None] = mapped_column(String(80))  # the device
    answered_kind: Mapped[str | None] = mapped_column(String(16))  # direct|deputy|pool
    answered_role: Mapped[str | None] = mapped_column(String(16))  # official|deputy|operator
    confirmed: Mapped[bool | None] = mapped_column(Boolean)  # by a person (confirmation issue)
    waited_secs: Mapped[float | None] = mapped_column(Float)  # to the answer, or to abandoning
    abandoned_during: Mapped[str | None] = mapped_column(String(16))  # ringing|queued|menu|routing
    started_at: Mapped[datetime] = mapped_column(index=True)
    answered_at: Mapped[datetime | None] = mapped_column()
    ended_at: Mapped[datetime | None] = mapped_column()
    voicemail_file: Mapped[str | None] = mapped_column(String(255))
    voicemail_secs: Mapped[float | None] = mapped_column(Float)
    node: Mapped[str | None] = mapped_column(String(64))  # the Asterisk node that took it
    steps: Mapped[list[CallStep]] = relationship(back_populates="call", cascade="all, delete-orphan",
                                                   order_by="CallStep.seq")
    # the supervisors' calls page: keyset pages by (started_at, id), alone or per filter (0017)
    __table_args__ = (
        Index("ix_calls_started_id", "started_at", "id"),
        Index("ix_calls_official_started", "official_id", "started_at", "id"),
        Index("ix_calls_number_started", "number_dialed", "started_at"),
        Index("ix_calls_caller_started", "caller", "started_at"),
    )


class CallStep(Base):
    __tablename__ = "call_steps"
    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    target: Mapped[str] = mapped_column(String(255), default="")
    result: Mapped[str | None] = mapped_column(String(24))
    answered_by: Mapped[str | None] = mapped_column(String(80))
    # confirming legs and what each did: "<device>=CONFIRMED|UNCONFIRMED|DECLINED" joined by ","
    legs: Mapped[str | None] = mapped_column(String(255))
    started_at: Mapped[datetime] = mapped_column()
    ended_at: Mapped[datetime | None] = mapped_column()
    call: Mapped[Call] = relationship(back_populates="steps")
    __table_args__ = (UniqueConstraint("call_id", "seq"),
                      Index("ix_call_steps_kind_target", "kind", "target", "call_id"))  # 0012


class CelEvent(Base):
    """Raw Asterisk CEL events kept durably before they are folded into calls."""
    __tablename__ = "cel_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)  # dedupe: live and CSV replay
    linkedid: Mapped[str] = mapped_column(String(64), index=True)
    uniqueid: Mapped[str] = mapped_column(String(64))
    eventtype: Mapped[str] = mapped_column(String(24))
    userdeftype: Mapped[str] = mapped_column(String(32), default="")
    eventtime: Mapped[float] = mapped_column(Float)
    channel: Mapped[str] = mapped_column(String(120), default="")
    exten: Mapped[str] = mapped_column(String(80), default="")
    context: Mapped[str] = mapped_column(String(80), default="")
    cid_num: Mapped[str] = mapped_column(String(80), default="")
    extra: Mapped[str] = mapped_column(Text, default="")
    folded: Mapped[bool] = mapped_column(Boolean, default=False)
    node: Mapped[str | None] = mapped_column(String(64))  # the controller's node that stored it
    # the recorder's start (this node's unfolded events) and prune (folded, older than …)
    __table_args__ = (Index("ix_cel_events_node_folded_time", "node", "folded", "eventtime"),)
