"""working calendar, two deadlines per case in working time, escalation, webhook outbox (issue 11)

New tables ``calendar_days`` (holidays and make-up working days) and ``webhook_deliveries``
(the notification hook's outbox); ``officials.superior_id``; on ``cases`` the resolve deadline,
the escalation state and the alerts already sent.

Existing cases: both deadlines are recomputed in working time from their creation, kind and
urgency with the default rules and the default week (Monday to Friday 09:00-12:00, 13:00-18:00)
in the city's timezone — no holiday is known yet at this point; importing a calendar
(``ivr calendar import``) recomputes the deadlines of the cases still open.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

import sqlalchemy as sa
from alembic import op

from ivr.core.deadline_rules import DeadlineRules
from ivr.core.timeutil import as_utc
from ivr.core.workcalendar import WorkCalendar

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "calendar_days",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("day"))
    op.create_index(op.f("ix_calendar_days_year"), "calendar_days", ["year"], unique=False)
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("target", sa.String(length=40), nullable=False),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("idempotency_key", sa.String(length=120), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("target", "idempotency_key"))
    op.create_index(op.f("ix_webhook_deliveries_status"), "webhook_deliveries", ["status"])
    op.create_index(op.f("ix_webhook_deliveries_next_attempt_at"), "webhook_deliveries",
                    ["next_attempt_at"])
    with op.batch_alter_table("officials") as batch:
        batch.add_column(sa.Column("superior_id", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_officials_superior_id", "officials", ["superior_id"], ["id"],
                                 ondelete="SET NULL")
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("resolve_deadline", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("escalation_level", sa.Integer(), nullable=False,
                                   server_default="0"))
        batch.add_column(sa.Column("escalation_reason", sa.String(length=8), nullable=True))
        batch.add_column(sa.Column("escalation_deadline", sa.DateTime(timezone=True),
                                   nullable=True))
        batch.add_column(sa.Column("escalated_to", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("alerts", sa.JSON(), nullable=False, server_default="[]"))
        batch.create_index(batch.f("ix_cases_resolve_deadline"), ["resolve_deadline"])
        batch.create_index(batch.f("ix_cases_escalated_to"), ["escalated_to"])
        batch.create_foreign_key("fk_cases_escalated_to", "officials", ["escalated_to"], ["id"],
                                 ondelete="SET NULL")
    _recompute_deadlines()


def _recompute_deadlines() -> None:
    bind = op.get_bind()
    settings = sa.table("settings", sa.column("key", sa.String()), sa.column("value", sa.JSON()))
    tz = bind.execute(sa.select(settings.c.value).where(settings.c.key == "timezone")).scalar()
    calendar = WorkCalendar(tz=ZoneInfo(str(tz or "Asia/Shanghai")))
    rules = DeadlineRules.build()
    cases = sa.table("cases", sa.column("id", sa.Integer()), sa.column("kind", sa.String()),
                     sa.column("urgency", sa.String()),
                     sa.column("created_at", sa.DateTime(timezone=True)),
                     sa.column("deadline", sa.DateTime(timezone=True)),
                     sa.column("resolve_deadline", sa.DateTime(timezone=True)),
                     sa.column("alerts", sa.JSON()))
    rows = bind.execute(sa.select(cases.c.id, cases.c.kind, cases.c.urgency,
                                  cases.c.created_at)).all()
    for row in rows:
        created = as_utc(row.created_at)
        bind.execute(cases.update().where(cases.c.id == row.id).values(
            deadline=rules.due("contact", calendar, created, row.kind, row.urgency),
            resolve_deadline=rules.due("resolve", calendar, created, row.kind, row.urgency),
            alerts=[]))


def downgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.drop_constraint("fk_cases_escalated_to", type_="foreignkey")
        batch.drop_index(batch.f("ix_cases_escalated_to"))
        batch.drop_index(batch.f("ix_cases_resolve_deadline"))
        for column in ("alerts", "escalated_to", "escalation_deadline", "escalation_reason",
                       "escalation_level", "resolve_deadline"):
            batch.drop_column(column)
    with op.batch_alter_table("officials") as batch:
        batch.drop_constraint("fk_officials_superior_id", type_="foreignkey")
        batch.drop_column("superior_id")
    op.drop_index(op.f("ix_webhook_deliveries_next_attempt_at"), table_name="webhook_deliveries")
    op.drop_index(op.f("ix_webhook_deliveries_status"), table_name="webhook_deliveries")
    op.drop_table("webhook_deliveries")
    op.drop_index(op.f("ix_calendar_days_year"), table_name="calendar_days")
    op.drop_table("calendar_days")
