"""several controllers on one database: the change feed (revisions), per-node settings keys
(settings.key 40 → 120 characters), the node that took a call (calls.node, cel_events.node)

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels = None
depends_on = None

KINDS = ("routing", "directory", "operators")


def upgrade() -> None:
    revisions = op.create_table(
        "revisions",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_revisions")))
    op.bulk_insert(revisions, [{"name": k, "value": 0} for k in KINDS])
    with op.batch_alter_table("settings") as batch:
        batch.alter_column("key", existing_type=sa.String(length=40), type_=sa.String(length=120),
                           existing_nullable=False)
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("node", sa.String(length=64), nullable=True))
    with op.batch_alter_table("cel_events") as batch:
        batch.add_column(sa.Column("node", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cel_events") as batch:
        batch.drop_column("node")
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("node")
    with op.batch_alter_table("settings") as batch:
        batch.alter_column("key", existing_type=sa.String(length=120), type_=sa.String(length=40),
                           existing_nullable=False)
    op.drop_table("revisions")
