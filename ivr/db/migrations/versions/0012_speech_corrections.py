"""a transcript corrected by the case owner (issue 17): transcripts.corrected_text, corrected_by,
corrected_at; the recognised text stays in transcripts.text, every correction is a case event

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("transcripts") as batch:
        batch.add_column(sa.Column("corrected_text", sa.Text(), nullable=True))
        batch.add_column(sa.Column("corrected_by", sa.String(length=80), nullable=True))
        batch.add_column(sa.Column("corrected_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("transcripts") as batch:
        batch.drop_column("corrected_at")
        batch.drop_column("corrected_by")
        batch.drop_column("corrected_text")
