"""one outcome model (issue 7 A): outcomes answered / voicemail / missed / abandoned / refused /
interrupted, call kinds, who answered (role), seconds waited, where the caller abandoned; each
step keeps its own result (a message or voicemail step cut by the caller is ``CUT``, never the
channel's last dial status).

Stored rows are converted by the boundary rule on their stored steps: an unanswered call whose
route reached a ``message`` or ``voicemail`` step is ``missed``, else ``abandoned`` (old
``busy``, ``no-answer``, ``failed`` and ``abandoned``). Not recoverable from stored rows:
``voicemail_secs`` of old messages (left null) and a dial status that a cut step inherited from
an earlier step of the same kind (a cut ``direct``/``deputy`` step keeps what was stored).

Revision ID: 0008
Revises: 0006 (the lead rebases onto 0007 at merge when part C's caller_raw migration exists)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels = None
depends_on = None

QUEUE_RESULTS = ("TIMEOUT", "FULL", "JOINEMPTY", "LEAVEEMPTY", "JOINUNAVAIL", "LEAVEUNAVAIL",
                 "CONTINUE", "ANSWER")
DIAL_RESULTS = ("ANSWER", "BUSY", "NOANSWER", "CANCEL", "CONGESTION", "CHANUNAVAIL", "DONTCALL",
                "TORTURE", "INVALIDARGS")
OLD_UNANSWERED = ("busy", "no-answer", "failed", "abandoned")


def _in(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


def _seconds(dialect: str, end: str, start: str) -> str:
    if dialect == "postgresql":
        return f"ROUND(CAST(EXTRACT(EPOCH FROM ({end} - {start})) AS NUMERIC), 1)"
    return f"ROUND((julianday({end}) - julianday({start})) * 86400.0, 1)"


def upgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("kind", sa.String(length=24), server_default="citizen",
                                   nullable=False))
        batch.add_column(sa.Column("answered_role", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("confirmed", sa.Boolean(), nullable=True))
        batch.add_column(sa.Column("waited_secs", sa.Float(), nullable=True))
        batch.add_column(sa.Column("abandoned_during", sa.String(length=16), nullable=True))
        batch.create_index(batch.f("ix_calls_kind"), ["kind"], unique=False)
    dialect = op.get_bind().dialect.name
    # each step its own result
    op.execute("UPDATE call_steps SET result = 'CUT' WHERE kind = 'message' "
               "AND (result IS NULL OR result <> 'PLAYED')")
    op.execute("UPDATE call_steps SET result = 'CUT' WHERE kind = 'voicemail' "
               "AND (result IS NULL OR result <> 'RECORDED')")
    op.execute(f"UPDATE call_steps SET result = 'CUT' WHERE kind = 'menu' "
               f"AND (result IS NULL OR result IN ({_in(DIAL_RESULTS)}))")
    op.execute(f"UPDATE call_steps SET result = 'CANCEL' WHERE kind = 'pool' "
               f"AND (result IS NULL OR result NOT IN ({_in(QUEUE_RESULTS)}))")
    # a recording the old fold did not count as a message (under 0.5 s) is no message
    op.execute("UPDATE call_steps SET result = 'EMPTY' WHERE kind = 'voicemail' "
               "AND result = 'RECORDED' AND call_id IN "
               f"(SELECT id FROM calls WHERE outcome IN ({_in(OLD_UNANSWERED)}))")
    # the boundary: the route's final step (message or voicemail greeting) had started
    final = ("EXISTS (SELECT 1 FROM call_steps s WHERE s.call_id = calls.id "
             "AND s.kind IN ('message', 'voicemail'))")
    op.execute(f"UPDATE calls SET outcome = CASE WHEN {final} THEN 'missed' ELSE 'abandoned' END "
               f"WHERE outcome IN ({_in(OLD_UNANSWERED)})")
    op.execute("UPDATE calls SET answered_role = CASE answered_kind WHEN 'direct' THEN 'official' "
               "WHEN 'deputy' THEN 'deputy' WHEN 'pool' THEN 'operator' END "
               "WHERE outcome = 'answered'")
    op.execute(f"UPDATE calls SET waited_secs = {_seconds(dialect, 'answered_at', 'started_at')} "
               "WHERE outcome = 'answered' AND answered_at IS NOT NULL")
    op.execute(f"UPDATE calls SET waited_secs = {_seconds(dialect, 'ended_at', 'started_at')} "
               "WHERE outcome = 'abandoned' AND ended_at IS NOT NULL")
    op.execute("UPDATE calls SET abandoned_during = COALESCE((SELECT CASE s.kind "
               "WHEN 'direct' THEN 'ringing' WHEN 'deputy' THEN 'ringing' WHEN 'pool' THEN 'queued' "
               "WHEN 'menu' THEN 'menu' END FROM call_steps s WHERE s.call_id = calls.id "
               "ORDER BY s.seq DESC LIMIT 1), 'routing') WHERE outcome = 'abandoned'")


def downgrade() -> None:
    # lossy: step results stay as converted; missed → busy when the first dialled step was busy
    busy = ("(SELECT s.result FROM call_steps s WHERE s.call_id = calls.id "
            "AND s.kind IN ('direct', 'deputy') ORDER BY s.seq LIMIT 1) = 'BUSY'")
    op.execute(f"UPDATE calls SET outcome = CASE WHEN {busy} THEN 'busy' ELSE 'no-answer' END "
               "WHERE outcome = 'missed'")
    op.execute("UPDATE calls SET outcome = 'failed' WHERE outcome = 'interrupted'")
    with op.batch_alter_table("calls") as batch:
        batch.drop_index(batch.f("ix_calls_kind"))
        batch.drop_column("abandoned_during")
        batch.drop_column("waited_secs")
        batch.drop_column("confirmed")
        batch.drop_column("answered_role")
        batch.drop_column("kind")
