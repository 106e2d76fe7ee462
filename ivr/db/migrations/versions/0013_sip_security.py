"""SIP security (issue 9): phones' digest passwords become their HA1 (``md5_cred``), and the
``sip_bans`` table (sources banned after repeated failed logins).

``devices.secret`` and ``operators.secret`` are renamed ``sip_ha1`` and every stored password is
replaced by MD5("endpoint:ivr:password"), realm ``ivr`` (ivr/core/sipauth.py; written out here so
that this migration never changes with the code). Phones keep working: the digest they compute
from their password matches. Downgrade restores the column names only; a password cannot be
recovered from its HA1 (phones would need new secrets).

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels = None
depends_on = None

REALM = "ivr"


def _ha1(endpoint: str, password: str) -> str:
    return hashlib.md5(f"{endpoint}:{REALM}:{password}".encode(), usedforsecurity=False).hexdigest()


def upgrade() -> None:
    conn = op.get_bind()
    for table in ("devices", "operators"):
        rows = conn.execute(sa.text(f"SELECT id, endpoint, secret FROM {table} "
                                    "WHERE secret IS NOT NULL AND endpoint IS NOT NULL")).all()
        for row_id, endpoint, secret in rows:
            conn.execute(sa.text(f"UPDATE {table} SET secret = :h WHERE id = :id"),
                         {"h": _ha1(endpoint, secret), "id": row_id})
        with op.batch_alter_table(table) as batch:
            batch.alter_column("secret", new_column_name="sip_ha1",
                               existing_type=sa.String(length=64))
    op.create_table(
        "sip_bans",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("node", sa.String(length=64), nullable=False),
        sa.Column("banned_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lifted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lifted_by", sa.String(length=80), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sip_bans")))
    op.create_index(op.f("ix_sip_bans_address"), "sip_bans", ["address"])
    op.create_index(op.f("ix_sip_bans_expires_at"), "sip_bans", ["expires_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_sip_bans_expires_at"), table_name="sip_bans")
    op.drop_index(op.f("ix_sip_bans_address"), table_name="sip_bans")
    op.drop_table("sip_bans")
    for table in ("devices", "operators"):
        with op.batch_alter_table(table) as batch:
            batch.alter_column("sip_ha1", new_column_name="secret",
                               existing_type=sa.String(length=64))
