"""evidence chains (issue 13): the append-only ``evidence`` table (one hashed entry per sealed
row or retention action, chained per stream and node) and ``evidence_heads`` (the newest entry
of each chain: the row appenders lock, and what is published).

Revision ID: 0019
Revises: 0018
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "evidence",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("stream", sa.String(16), nullable=False),
        sa.Column("node", sa.String(64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("ref", sa.String(64), nullable=False),
        sa.Column("rev", sa.Integer(), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("entry_hash", sa.String(64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=True),
        sa.Column("salt", sa.String(32), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_evidence"),
        sa.UniqueConstraint("stream", "node", "seq", name="uq_evidence_stream_node_seq"),
        sa.UniqueConstraint("kind", "ref", "rev", name="uq_evidence_kind_ref_rev"),
    )
    op.create_index("ix_evidence_kind_ref", "evidence", ["kind", "ref"])
    op.create_table(
        "evidence_heads",
        sa.Column("stream", sa.String(16), nullable=False),
        sa.Column("node", sa.String(64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("entry_hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("stream", "node", name="pk_evidence_heads"),
    )


def downgrade() -> None:
    op.drop_table("evidence_heads")
    op.drop_index("ix_evidence_kind_ref", table_name="evidence")
    op.drop_table("evidence")
