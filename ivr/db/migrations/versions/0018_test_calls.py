"""scheduled test calls (拨测, issue 13): the schedules supervisors make and each planned test
call with its result

Revision ID: 0018
Revises: 0017
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "test_schedules",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("numbers", sa.Text(), nullable=False),
        sa.Column("mode", sa.String(length=8), nullable=False),
        sa.Column("per_day", sa.Integer(), nullable=False),
        sa.Column("hours", sa.String(length=11), nullable=False),
        sa.Column("first_day", sa.String(length=10), nullable=False),
        sa.Column("last_day", sa.String(length=10), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("note", sa.String(length=200), nullable=False),
        sa.Column("created_by", sa.String(length=80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "test_calls",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("schedule_id", sa.Integer(),
                  sa.ForeignKey("test_schedules.id", ondelete="CASCADE"), nullable=False),
        sa.Column("number", sa.String(length=20), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("node", sa.String(length=63), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("linkedid", sa.String(length=64), nullable=True, unique=True),
        sa.Column("placed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("result", sa.String(length=24), nullable=True),
        sa.Column("official_id", sa.Integer(),
                  sa.ForeignKey("officials.id", ondelete="SET NULL"), nullable=True),
        sa.Column("answered_by", sa.String(length=80), nullable=True),
        sa.Column("answered_role", sa.String(length=16), nullable=True),
        sa.Column("answered_secs", sa.Float(), nullable=True),
        sa.Column("ack_key", sa.String(length=8), nullable=True),
        sa.Column("ack_secs", sa.Float(), nullable=True),
        sa.Column("ended", sa.String(length=64), nullable=False),
        sa.Column("call_id", sa.Integer(), sa.ForeignKey("calls.id", ondelete="SET NULL"),
                  nullable=True),
        sa.Column("note", sa.String(length=255), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("schedule_id", "day", "number", "seq", name="uq_test_calls_plan"),
    )
    for column in ("schedule_id", "due_at", "state", "result", "official_id"):
        op.create_index(f"ix_test_calls_{column}", "test_calls", [column])


def downgrade() -> None:
    op.drop_table("test_calls")
    op.drop_table("test_schedules")
