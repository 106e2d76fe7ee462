"""what a caller waiting in a pool hears (issue 15): the pool's own announcement settings —
position, expected wait, seconds between two announcements; null: the ``[announce]`` default.

Revision ID: 0024
Revises: 0023
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("pools") as batch:
        batch.add_column(sa.Column("announce_position", sa.Boolean(), nullable=True))
        batch.add_column(sa.Column("announce_holdtime", sa.Boolean(), nullable=True))
        batch.add_column(sa.Column("announce_every", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("pools") as batch:
        batch.drop_column("announce_every")
        batch.drop_column("announce_holdtime")
        batch.drop_column("announce_position")
