"""Voicemail follow-up tables: voicemails, transcription jobs, transcripts, cases, callbacks.

On ``ivr.db.models.Base`` (same metadata, so Alembic sees them; migration 0002). Idempotency
keys: a voicemail per file path, a job and a transcript per voicemail, a case per call and per
voicemail. Times are timezone-aware UTC.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ivr.core.deadline_rules import CASE_KINDS as CASE_KINDS  # call: opened from a call
from ivr.core.deadline_rules import URGENCIES as URGENCIES
from ivr.core.timeutil import utcnow
from ivr.db.models import Base

JOB_STATES = ("pending", "running", "done", "failed")
CASE_STATES = ("new", "assigned", "called_back", "resolved")
CALLBACK_STATES = ("originating", "ringing", "dialing", "answered", "ended", "failed")


class Voicemail(Base):
    __tablename__ = "voicemails"
    id: Mapped[int] = mapped_column(primary_key=True)
    path: Mapped[str] = mapped_column(String(255), unique=True)  # as Asterisk sees it
    linkedid: Mapped[str] = mapped_column(String(64), index=True)
    call_id: Mapped[int | None] = mapped_column(ForeignKey("calls.id", ondelete="SET NULL"),
                                                index=True)
    official_id: Mapped[int | None] = mapped_column(
        ForeignKey("officials.id", ondelete="SET NULL"), index=True)
    number_dialed: Mapped[str] = mapped_column(String(40), default="")
    caller: Mapped[str] = mapped_column(String(40), default="")
    duration: Mapped[float] = mapped_column(Float, default=0.0)
    language: Mapped[str] = mapped_column(String(8), default="zh")
    received_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    source: Mapped[str] = mapped_column(String(8), default="event")  # event | scan


class TranscriptionJob(Base):
    __tablename__ = "transcription_jobs"
    id: Mapped[int] = mapped_column(primary_key=True)
    voicemail_id: Mapped[int] = mapped_column(ForeignKey("voicemails.id", ondelete="CASCADE"),
                                              unique=True)
    status: Mapped[str] = mapped_column(String(12), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    voicemail: Mapped[Voicemail] = relationship()


class Transcript(Base):
    __tablename__ = "transcripts"
    id: Mapped[int] = mapped_column(primary_key=True)
    voicemail_id: Mapped[int] = mapped_column(ForeignKey("voicemails.id", ondelete="CASCADE"),
                                              unique=True)
    text: Mapped[str] = mapped_column(Text, default="")
    # [{"word", "start", "end", "conf"}, …]: per-word confidence and timestamps (seconds)
    words: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    confidence: Mapped[float] = mapped_column(Float, default=0.0)
    model: Mapped[str] = mapped_column(String(80))
    language: Mapped[str] = mapped_column(String(8))
    duration: Mapped[float] = mapped_column(Float, default=0.0)
    rtf: Mapped[float] = mapped_column(Float, default=0.0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # migration 0012: the case owner's correction (``text`` stays what was recognised; every
    # correction is also a case event); triage runs on the corrected text
    corrected_text: Mapped[str | None] = mapped_column(Text)
    corrected_by: Mapped[str | None] = mapped_column(String(80))
    corrected_at: Mapped[datetime | None] = mapped_column()

    @property
    def current_text(self) -> str:
        return self.text if self.corrected_text is None else self.corrected_text


class Case(Base):
    """Every unanswered call is followed up: a voicemail, or a missed call without one."""
    __tablename__ = "cases"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(12))  # voicemail | missed | call
    call_id: Mapped[int | None] = mapped_column(ForeignKey("calls.id", ondelete="SET NULL"),
                                                unique=True)
    voicemail_id: Mapped[int | None] = mapped_column(
        ForeignKey("voicemails.id", ondelete="SET NULL"), unique=True)
    official_id: Mapped[int | None] = mapped_column(
        ForeignKey("officials.id", ondelete="SET NULL"), index=True)
    caller: Mapped[str] = mapped_column(String(40), default="")
    number_dialed: Mapped[str] = mapped_column(String(40), default="")
    category: Mapped[str | None] = mapped_column(String(40), index=True)
    matched_keywords: Mapped[list[str]] = mapped_column(JSON, default=list)
    urgency: Mapped[str] = mapped_column(String(8), default="normal", index=True)
    needs_listening: Mapped[bool] = mapped_column(Boolean, default=False)
    listen_reasons: Mapped[list[str]] = mapped_column(JSON, default=list)
    repeat_caller: Mapped[bool] = mapped_column(Boolean, default=False)
    # kind "call" (migration 0005): what the operator wrote, and the call it was opened from
    # (by linkedid: call_id stays free for the call's own voicemail/missed case, and a live call
    # has no stored record yet)
    summary: Mapped[str] = mapped_column(Text, default="", server_default="")
    linkedid: Mapped[str | None] = mapped_column(String(64), index=True)
    triaged_at: Mapped[datetime | None] = mapped_column()
    status: Mapped[str] = mapped_column(String(12), default="new", index=True)
    assigned_to: Mapped[str | None] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    deadline: Mapped[datetime] = mapped_column(index=True)  # contact the citizen by (issue 11)
    # issue 11 (migration 0011): resolve deadline, escalation, alerts already sent
    resolve_deadline: Mapped[datetime | None] = mapped_column(index=True)
    escalation_level: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    escalation_reason: Mapped[str | None] = mapped_column(String(8))  # contact | resolve
    escalation_deadline: Mapped[datetime | None] = mapped_column()
    escalated_to: Mapped[int | None] = mapped_column(
        ForeignKey("officials.id", ondelete="SET NULL"), index=True)
    alerts: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")  # "near:contact"
    # issue 10 (0016): the automatic callback duty — None: not seen yet; open | closed |
    # unreachable | off (not called back automatically)
    callback_duty: Mapped[str | None] = mapped_column(String(12), index=True)
    events: Mapped[list[CaseEvent]] = relationship(cascade="all, delete-orphan",
                                                     order_by="CaseEvent.id")
    callbacks: Mapped[list[Callback]] = relationship(cascade="all, delete-orphan",
                                                       order_by="Callback.id")


class CaseEvent(Base):
    """History of a case: who did what when (created, triaged, assigned, status, callback)."""
    __tablename__ = "case_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(80))
    action: Mapped[str] = mapped_column(String(24))
    old_value: Mapped[str | None] = mapped_column(String(80))
    new_value: Mapped[str | None] = mapped_column(String(80))
    note: Mapped[str] = mapped_column(Text, default="")


class Callback(Base):
    __tablename__ = "callbacks"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    placed_by: Mapped[str] = mapped_column(String(80))
    endpoint: Mapped[str] = mapped_column(String(40))  # the phone rung first
    number: Mapped[str] = mapped_column(String(24))  # the citizen's number dialled
    linkedid: Mapped[str] = mapped_column(String(64), unique=True)  # Originate ChannelId
    state: Mapped[str] = mapped_column(String(12), default="originating")
    result: Mapped[str | None] = mapped_column(String(24))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    answered_at: Mapped[datetime | None] = mapped_column()
    ended_at: Mapped[datetime | None] = mapped_column()
    # the node (controller + Asterisk) that originated it: the per-node hourly limit (0010)
    node: Mapped[str] = mapped_column(String(63), default="", server_default="", index=True)


class CallbackJob(Base):
    """One scheduled automatic callback attempt (issue 10): claimed by one controller (the
    origin node), dialled once, then settled. ``pending`` → ``claimed`` → ``dialled`` →
    ``done``; or ``cancelled`` (the duty closed meanwhile)."""
    __tablename__ = "callback_jobs"
    __table_args__ = (UniqueConstraint("case_id", "attempt", name="uq_callback_jobs_attempt"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    due_at: Mapped[datetime] = mapped_column(index=True)
    state: Mapped[str] = mapped_column(String(12), default="pending", index=True)
    node: Mapped[str] = mapped_column(String(63), default="")
    claimed_at: Mapped[datetime | None] = mapped_column()
    callback_id: Mapped[int | None] = mapped_column(
        ForeignKey("callbacks.id", ondelete="SET NULL"))
    result: Mapped[str | None] = mapped_column(String(24))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Survey(Base):
    """A satisfaction follow-up call (回访, issue 10): one per answered call and one per
    resolved case, at most one rating each; attempts retried within the limit. ``pending`` →
    ``claimed`` → ``dialled`` → ``done`` (rated, or opted out) | ``ended`` (no key: retried or
    ``failed``) | ``cancelled``."""
    __tablename__ = "surveys"
    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int | None] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"),
                                                unique=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"),
                                                unique=True)
    number: Mapped[str] = mapped_column(String(24))  # the citizen's number, as dialled
    present: Mapped[str] = mapped_column(String(40), default="")  # the published number
    official_id: Mapped[int | None] = mapped_column(
        ForeignKey("officials.id", ondelete="SET NULL"), index=True)
    pool: Mapped[str | None] = mapped_column(String(40), index=True)  # answered by its operator
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    due_at: Mapped[datetime] = mapped_column(index=True)
    state: Mapped[str] = mapped_column(String(12), default="pending", index=True)
    node: Mapped[str] = mapped_column(String(63), default="")
    claimed_at: Mapped[datetime | None] = mapped_column()
    linkedid: Mapped[str | None] = mapped_column(String(64), unique=True)  # the last attempt's
    answered_at: Mapped[datetime | None] = mapped_column()
    rating: Mapped[int | None] = mapped_column(Integer)  # 1 satisfied, 2 fairly, 3 not
    result: Mapped[str | None] = mapped_column(String(24))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column()


class SurveyOptOut(Base):
    """A number that pressed 9: never surveyed again."""
    __tablename__ = "survey_optouts"
    number: Mapped[str] = mapped_column(String(24), primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    linkedid: Mapped[str] = mapped_column(String(64), default="")


class CalendarDay(Base):
    """A dated exception of the working calendar (issue 11): a public holiday, or a make-up
    working day (调休). Imported per year; the weekly hours are the setting ``work_week``."""
    __tablename__ = "calendar_days"
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))  # holiday | workday
    name: Mapped[str] = mapped_column(String(80), default="")
    year: Mapped[int] = mapped_column(Integer, index=True)


class WebhookDelivery(Base):
    """The durable outbox of the notification hook: one row per event and target, written in
    the transaction that records the event; delivered (retried with backoff) by the sender."""
    __tablename__ = "webhook_deliveries"
    id: Mapped[int] = mapped_column(primary_key=True)
    target: Mapped[str] = mapped_column(String(40))
    event: Mapped[str] = mapped_column(String(32))
    idempotency_key: Mapped[str] = mapped_column(String(120))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(12), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column()
    __table_args__ = (UniqueConstraint("target", "idempotency_key"),)
