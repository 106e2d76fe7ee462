"""phones (issue 15): the registration of every SIP phone as each node's Asterisk reports it
(contact events over AMI, resynced after every AMI login), and whether an operator's pause was
made by the system (their phone unregistered: resumed when it registers again; a pause the
operator made survives a re-registration).

Revision ID: 0021
Revises: 0020
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "phone_registrations",
        sa.Column("endpoint", sa.String(40), nullable=False),
        sa.Column("node", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("contact", sa.String(255), nullable=False, server_default=""),
        sa.Column("user_agent", sa.String(255), nullable=False, server_default=""),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("endpoint", "node", name="pk_phone_registrations"))
    with op.batch_alter_table("operators") as batch:
        batch.add_column(sa.Column("auto_paused", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("operators") as batch:
        batch.drop_column("auto_paused")
    op.drop_table("phone_registrations")
