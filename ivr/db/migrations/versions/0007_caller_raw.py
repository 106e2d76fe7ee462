"""the caller ID as received beside the normalised caller: calls.caller_raw (escaped) and
calls.caller_altered (issue 7, part C: nothing a caller sends can forge data)

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("caller_raw", sa.String(length=255), nullable=False,
                                   server_default=""))
        batch.add_column(sa.Column("caller_altered", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("caller_altered")
        batch.drop_column("caller_raw")
