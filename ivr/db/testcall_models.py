"""Scheduled test calls (拨测, issue 13; migration 0018), on ``ivr.db.models.Base``.

A :class:`TestSchedule` is what a supervisor asked for: its numbers, ``now`` (one test call per
number at once) or ``daily`` (``per_day`` test calls per number each day at random instants
within ``hours``, city time, from ``first_day`` to ``last_day``). Each planned call is a
:class:`TestCall`: ``pending`` → ``claimed`` (by one node) → ``dialled`` (its linkedid
``ivrtc-…`` written before the Originate) → ``done`` with its result; or ``cancelled`` (the
schedule was stopped before it was due). (schedule, day, number, seq) is unique, so two nodes
planning the same day plan it once."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ivr.core.timeutil import utcnow
from ivr.db.models import Base


class TestSchedule(Base):
    __test__ = False  # not a pytest class
    __tablename__ = "test_schedules"
    id: Mapped[int] = mapped_column(primary_key=True)
    numbers: Mapped[str] = mapped_column(Text)  # E.164 published numbers, comma-separated
    mode: Mapped[str] = mapped_column(String(8))  # now | daily
    per_day: Mapped[int] = mapped_column(Integer, default=1)
    hours: Mapped[str] = mapped_column(String(11), default="")  # HH:MM-HH:MM (daily)
    first_day: Mapped[str] = mapped_column(String(10))  # YYYY-MM-DD, city calendar
    last_day: Mapped[str] = mapped_column(String(10))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    note: Mapped[str] = mapped_column(String(200), default="")
    created_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TestCall(Base):
    __test__ = False
    __tablename__ = "test_calls"
    id: Mapped[int] = mapped_column(primary_key=True)
    schedule_id: Mapped[int] = mapped_column(
        ForeignKey("test_schedules.id", ondelete="CASCADE"), index=True)
    number: Mapped[str] = mapped_column(String(20))  # E.164
    day: Mapped[str] = mapped_column(String(10))  # the city date it was planned for
    seq: Mapped[int] = mapped_column(Integer, default=1)
    due_at: Mapped[datetime] = mapped_column(index=True)
    state: Mapped[str] = mapped_column(String(12), default="pending", index=True)
    node: Mapped[str] = mapped_column(String(63), default="")
    claimed_at: Mapped[datetime | None] = mapped_column()
    linkedid: Mapped[str | None] = mapped_column(String(64), unique=True)
    placed_at: Mapped[datetime | None] = mapped_column()
    result: Mapped[str | None] = mapped_column(String(24), index=True)
    official_id: Mapped[int | None] = mapped_column(
        ForeignKey("officials.id", ondelete="SET NULL"), index=True)
    answered_by: Mapped[str | None] = mapped_column(String(80))  # the device
    answered_role: Mapped[str | None] = mapped_column(String(16))  # official|deputy|operator
    answered_secs: Mapped[float | None] = mapped_column(Float)  # placed → a callee answered
    ack_key: Mapped[str | None] = mapped_column(String(8))  # the key pressed ("" none)
    ack_secs: Mapped[float | None] = mapped_column(Float)  # placed → the key
    ended: Mapped[str] = mapped_column(String(64), default="")  # not answered: "<n>:<kind>:<result>"
    call_id: Mapped[int | None] = mapped_column(ForeignKey("calls.id", ondelete="SET NULL"))
    note: Mapped[str] = mapped_column(String(255), default="")
    ended_at: Mapped[datetime | None] = mapped_column()
    __table_args__ = (UniqueConstraint("schedule_id", "day", "number", "seq",
                                       name="uq_test_calls_plan"),)
