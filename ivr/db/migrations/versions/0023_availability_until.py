"""officials' self-service (issue 15): availability with an automatic return time
(``availability_until``, UTC; null: until changed) and whether the official may change their own
mode (``self_mode``; off by default, an admin turns it on per official or city-wide with the
``self_service_mode`` setting).

Revision ID: 0023
Revises: 0021
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("officials") as batch:
        batch.add_column(sa.Column("availability_until", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("self_mode", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("officials") as batch:
        batch.drop_column("self_mode")
        batch.drop_column("availability_until")
