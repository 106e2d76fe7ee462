"""per-leg confirmation (issue 8): ``devices.confirm``, ``call_steps.legs``

``devices.confirm``: the callee presses 1 before a call is theirs (a carrier's voicemail or
announcement never counts as the official answering). Existing mobiles confirm, SIP desk
phones do not — the directory's defaults. ``call_steps.legs``: the confirming legs of a
direct/deputy step and what each did (``<device>=CONFIRMED|UNCONFIRMED|DECLINED`` joined by ``,``).

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.add_column(sa.Column("confirm", sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
    op.execute(sa.text("UPDATE devices SET confirm = :yes WHERE kind = 'mobile'")
               .bindparams(yes=True))
    with op.batch_alter_table("call_steps", schema=None) as batch_op:
        batch_op.add_column(sa.Column("legs", sa.String(length=255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("call_steps", schema=None) as batch_op:
        batch_op.drop_column("legs")
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.drop_column("confirm")
