"""supervision (issue 12): named indexes for the calls page's keyset pages (newest first by
(started_at, id)) alone and per official, dialled number, caller, and for the pool filter
(calls whose steps entered a queue); the stored monthly reports (HTML and PDF).

Revision ID: 0017
Revises: 0016
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels = None
depends_on = None

INDEXES = (
    ("ix_calls_started_id", "calls", ["started_at", "id"]),
    ("ix_calls_official_started", "calls", ["official_id", "started_at", "id"]),
    ("ix_calls_number_started", "calls", ["number_dialed", "started_at"]),
    ("ix_calls_caller_started", "calls", ["caller", "started_at"]),
    ("ix_call_steps_kind_target", "call_steps", ["kind", "target", "call_id"]),
)


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)
    op.create_table(
        "monthly_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("month", sa.String(7), nullable=False),
        sa.Column("scope", sa.String(64), nullable=False),
        sa.Column("generated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("generated_by", sa.String(80), nullable=False),
        sa.Column("html", sa.Text(), nullable=False),
        sa.Column("pdf", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_monthly_reports"),
        sa.UniqueConstraint("month", "scope", name="uq_monthly_reports_month_scope"))


def downgrade() -> None:
    op.drop_table("monthly_reports")
    for name, table, _ in INDEXES:
        op.drop_index(name, table_name=table)
