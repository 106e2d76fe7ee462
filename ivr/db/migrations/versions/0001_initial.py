"""Initial schema: directory, routing policy, schedule, audit, calls, CEL events.

Revision ID: 0001
Revises:
Create Date: 2026-11-22 16:57:57.026992
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('cel_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('linkedid', sa.String(length=64), nullable=False),
    sa.Column('uniqueid', sa.String(length=64), nullable=False),
    sa.Column('eventtype', sa.String(length=24), nullable=False),
    sa.Column('userdeftype', sa.String(length=32), nullable=False),
    sa.Column('eventtime', sa.Float(), nullable=False),
    sa.Column('channel', sa.String(length=120), nullable=False),
    sa.Column('exten', sa.String(length=80), nullable=False),
    sa.Column('context', sa.String(length=80), nullable=False),
    sa.Column('cid_num', sa.String(length=80), nullable=False),
    sa.Column('extra', sa.Text(), nullable=False),
    sa.Column('folded', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cel_events')),
    sa.UniqueConstraint('key', name=op.f('uq_cel_events_key'))
    )
    op.create_index(op.f('ix_cel_events_linkedid'), 'cel_events', ['linkedid'], unique=False)

    op.create_table('officials',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('slug', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=80), nullable=False),
    sa.Column('title', sa.String(length=80), nullable=False),
    sa.Column('department', sa.String(length=120), nullable=False),
    sa.Column('deputy_id', sa.Integer(), nullable=True),
    sa.Column('availability', sa.String(length=16), nullable=False),
    sa.Column('availability_note', sa.String(length=200), nullable=False),
    sa.Column('language', sa.String(length=8), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['deputy_id'], ['officials.id'], name=op.f('fk_officials_deputy_id_officials'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_officials')),
    sa.UniqueConstraint('slug', name=op.f('uq_officials_slug'))
    )
    op.create_table('pools',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('strategy', sa.String(length=16), nullable=False),
    sa.Column('max_wait', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pools')),
    sa.UniqueConstraint('name', name=op.f('uq_pools_name'))
    )
    op.create_table('settings',
    sa.Column('key', sa.String(length=40), nullable=False),
    sa.Column('value', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_settings'))
    )
    op.create_table('audit_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=80), nullable=False),
    sa.Column('official_id', sa.Integer(), nullable=True),
    sa.Column('field', sa.String(length=40), nullable=False),
    sa.Column('old_value', sa.Text(), nullable=True),
    sa.Column('new_value', sa.Text(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['official_id'], ['officials.id'], name=op.f('fk_audit_log_official_id_officials'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log'))
    )
    op.create_index(op.f('ix_audit_log_at'), 'audit_log', ['at'], unique=False)

    op.create_table('calls',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('linkedid', sa.String(length=64), nullable=False),
    sa.Column('number_dialed', sa.String(length=40), nullable=False),
    sa.Column('caller', sa.String(length=40), nullable=False),
    sa.Column('official_id', sa.Integer(), nullable=True),
    sa.Column('route_source', sa.String(length=16), nullable=False),
    sa.Column('mode', sa.String(length=16), nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=True),
    sa.Column('answered_by', sa.String(length=80), nullable=True),
    sa.Column('answered_kind', sa.String(length=16), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('voicemail_file', sa.String(length=255), nullable=True),
    sa.Column('voicemail_secs', sa.Float(), nullable=True),
    sa.ForeignKeyConstraint(['official_id'], ['officials.id'], name=op.f('fk_calls_official_id_officials'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_calls')),
    sa.UniqueConstraint('linkedid', name=op.f('uq_calls_linkedid'))
    )
    op.create_index(op.f('ix_calls_official_id'), 'calls', ['official_id'], unique=False)
    op.create_index(op.f('ix_calls_outcome'), 'calls', ['outcome'], unique=False)
    op.create_index(op.f('ix_calls_started_at'), 'calls', ['started_at'], unique=False)

    op.create_table('devices',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('official_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('endpoint', sa.String(length=40), nullable=True),
    sa.Column('number', sa.String(length=20), nullable=True),
    sa.Column('secret', sa.String(length=64), nullable=True),
    sa.Column('static_contact', sa.String(length=120), nullable=True),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['official_id'], ['officials.id'], name=op.f('fk_devices_official_id_officials'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_devices')),
    sa.UniqueConstraint('endpoint', name=op.f('uq_devices_endpoint'))
    )
    op.create_table('operators',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=80), nullable=False),
    sa.Column('endpoint', sa.String(length=40), nullable=False),
    sa.Column('secret', sa.String(length=64), nullable=False),
    sa.Column('static_contact', sa.String(length=120), nullable=True),
    sa.Column('pool_id', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('paused_reason', sa.String(length=80), nullable=False),
    sa.ForeignKeyConstraint(['pool_id'], ['pools.id'], name=op.f('fk_operators_pool_id_pools')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_operators')),
    sa.UniqueConstraint('endpoint', name=op.f('uq_operators_endpoint'))
    )
    op.create_table('published_numbers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('number', sa.String(length=20), nullable=False),
    sa.Column('official_id', sa.Integer(), nullable=False),
    sa.Column('language', sa.String(length=8), nullable=True),
    sa.ForeignKeyConstraint(['official_id'], ['officials.id'], name=op.f('fk_published_numbers_official_id_officials'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_published_numbers')),
    sa.UniqueConstraint('number', name=op.f('uq_published_numbers_number'))
    )
    op.create_table('routing_policies',
    sa.Column('official_id', sa.Integer(), nullable=False),
    sa.Column('mode', sa.String(length=16), nullable=False),
    sa.Column('chain', sa.JSON(), nullable=True),
    sa.Column('ring_timeout', sa.Integer(), nullable=False),
    sa.Column('pool_id', sa.Integer(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['official_id'], ['officials.id'], name=op.f('fk_routing_policies_official_id_officials'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['pool_id'], ['pools.id'], name=op.f('fk_routing_policies_pool_id_pools')),
    sa.PrimaryKeyConstraint('official_id', name=op.f('pk_routing_policies'))
    )
    op.create_table('schedule_windows',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('official_id', sa.Integer(), nullable=False),
    sa.Column('days', sa.String(length=40), nullable=False),
    sa.Column('start', sa.String(length=8), nullable=False),
    sa.Column('end', sa.String(length=8), nullable=False),
    sa.Column('mode', sa.String(length=16), nullable=False),
    sa.ForeignKeyConstraint(['official_id'], ['officials.id'], name=op.f('fk_schedule_windows_official_id_officials'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_schedule_windows'))
    )
    op.create_table('call_steps',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('call_id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('target', sa.String(length=255), nullable=False),
    sa.Column('result', sa.String(length=24), nullable=True),
    sa.Column('answered_by', sa.String(length=80), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['call_id'], ['calls.id'], name=op.f('fk_call_steps_call_id_calls'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_call_steps')),
    sa.UniqueConstraint('call_id', 'seq', name=op.f('uq_call_steps_call_id_seq'))
    )
    op.create_index(op.f('ix_call_steps_call_id'), 'call_steps', ['call_id'], unique=False)



def downgrade() -> None:
    op.drop_index(op.f('ix_call_steps_call_id'), table_name='call_steps')

    op.drop_table('call_steps')
    op.drop_table('schedule_windows')
    op.drop_table('routing_policies')
    op.drop_table('published_numbers')
    op.drop_table('operators')
    op.drop_table('devices')
    op.drop_index(op.f('ix_calls_started_at'), table_name='calls')
    op.drop_index(op.f('ix_calls_outcome'), table_name='calls')
    op.drop_index(op.f('ix_calls_official_id'), table_name='calls')

    op.drop_table('calls')
    op.drop_index(op.f('ix_audit_log_at'), table_name='audit_log')

    op.drop_table('audit_log')
    op.drop_table('settings')
    op.drop_table('pools')
    op.drop_table('officials')
    op.drop_index(op.f('ix_cel_events_linkedid'), table_name='cel_events')

    op.drop_table('cel_events')
