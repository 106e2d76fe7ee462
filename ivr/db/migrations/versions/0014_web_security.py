"""Web security (issue 9): the sign-in throttle (attempts and locks per account and per source)
and the access log (failed sign-ins, locks, citizens' audio listened to or downloaded).

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'login_throttle',
        sa.Column('key', sa.String(length=80), nullable=False),
        sa.Column('failures', sa.Integer(), nullable=False),
        sa.Column('last_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('key', name=op.f('pk_login_throttle')))
    op.create_table(
        'access_log',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('kind', sa.String(length=24), nullable=False),
        sa.Column('actor', sa.String(length=60), nullable=False),
        sa.Column('source', sa.String(length=64), nullable=False),
        sa.Column('subject', sa.String(length=120), nullable=False),
        sa.Column('detail', sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_access_log')))
    op.create_index(op.f('ix_access_log_at'), 'access_log', ['at'], unique=False)
    op.create_index(op.f('ix_access_log_kind'), 'access_log', ['kind'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_access_log_kind'), table_name='access_log')
    op.drop_index(op.f('ix_access_log_at'), table_name='access_log')
    op.drop_table('access_log')
    op.drop_table('login_throttle')
