"""cases opened by an operator from a call: summary and the call's linkedid

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("summary", sa.Text(), nullable=False, server_default=""))
        batch.add_column(sa.Column("linkedid", sa.String(length=64), nullable=True))
        batch.create_index(batch.f("ix_cases_linkedid"), ["linkedid"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.drop_index(batch.f("ix_cases_linkedid"))
        batch.drop_column("linkedid")
        batch.drop_column("summary")
