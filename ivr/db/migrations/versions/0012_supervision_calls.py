"""supervision's calls page (issue 12): named indexes for its keyset pages (newest first by
(started_at, id)) alone and per official, dialled number, caller, and for the pool filter
(calls whose steps entered a queue).

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
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


def downgrade() -> None:
    for name, table, _ in INDEXES:
        op.drop_index(name, table_name=table)
