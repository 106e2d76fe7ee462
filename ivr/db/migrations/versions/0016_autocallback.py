"""automatic callbacks and surveys (issue 10): cases.callback_duty and the callback_jobs
schedule (the cases that exist already are not called back automatically: duty "off"); the
surveys and the numbers that opted out

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("callback_duty", sa.String(length=12), nullable=True))
        batch.create_index("ix_cases_callback_duty", ["callback_duty"])
    op.execute("UPDATE cases SET callback_duty = 'off'")
    op.create_table(
        "callback_jobs",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("cases.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("node", sa.String(length=63), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("callback_id", sa.Integer(),
                  sa.ForeignKey("callbacks.id", ondelete="SET NULL"), nullable=True),
        sa.Column("result", sa.String(length=24), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("case_id", "attempt", name="uq_callback_jobs_attempt"),
    )
    op.create_index("ix_callback_jobs_case_id", "callback_jobs", ["case_id"])
    op.create_index("ix_callback_jobs_due_at", "callback_jobs", ["due_at"])
    op.create_index("ix_callback_jobs_state", "callback_jobs", ["state"])
    op.create_table(
        "surveys",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("call_id", sa.Integer(), sa.ForeignKey("calls.id", ondelete="CASCADE"),
                  nullable=True, unique=True),
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("cases.id", ondelete="CASCADE"),
                  nullable=True, unique=True),
        sa.Column("number", sa.String(length=24), nullable=False),
        sa.Column("present", sa.String(length=40), nullable=False),
        sa.Column("official_id", sa.Integer(),
                  sa.ForeignKey("officials.id", ondelete="SET NULL"), nullable=True),
        sa.Column("pool", sa.String(length=40), nullable=True),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("node", sa.String(length=63), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("linkedid", sa.String(length=64), nullable=True, unique=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rating", sa.Integer(), nullable=True),
        sa.Column("result", sa.String(length=24), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
    )
    for column in ("official_id", "pool", "due_at", "state"):
        op.create_index(f"ix_surveys_{column}", "surveys", [column])
    op.create_table(
        "survey_optouts",
        sa.Column("number", sa.String(length=24), primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("linkedid", sa.String(length=64), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("survey_optouts")
    op.drop_table("surveys")
    op.drop_table("callback_jobs")
    with op.batch_alter_table("cases") as batch:
        batch.drop_index("ix_cases_callback_duty")
        batch.drop_column("callback_duty")
