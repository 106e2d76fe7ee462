"""records from the journal (issue 7 B): an index for the recorder's start (this node's
unfolded events) and for pruning raw events of written calls (folded, older than N days).

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_cel_events_node_folded_time", "cel_events",
                    ["node", "folded", "eventtime"])


def downgrade() -> None:
    op.drop_index("ix_cel_events_node_folded_time", table_name="cel_events")
