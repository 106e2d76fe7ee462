"""issue 15: the published form of a number as the directory gave it ("0558-5551004"), shown
on the pages; the E.164 number stays the key.

Revision ID: 0020
Revises: 0019
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("published_numbers") as batch:
        batch.add_column(sa.Column("published", sa.String(40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("published_numbers") as batch:
        batch.drop_column("published")
