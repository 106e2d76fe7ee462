"""the callback guard (issue 9): callbacks.node, the node that originated the callback, for the
per-node hourly limit of originated calls

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("callbacks") as batch:
        batch.add_column(sa.Column("node", sa.String(length=63), nullable=False,
                                   server_default=""))
        batch.create_index("ix_callbacks_node", ["node"])


def downgrade() -> None:
    with op.batch_alter_table("callbacks") as batch:
        batch.drop_index("ix_callbacks_node")
        batch.drop_column("node")
