"""The supervision office's stored monthly reports (issue 12; migration 0017).

On ``ivr.db.models.Base`` (same metadata, so Alembic sees them). One row per month and scope
(``city`` or ``official:<slug>``): the printable HTML and its PDF, kept so that a download is
the report as it was generated (regenerating on demand replaces it)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ivr.core.timeutil import utcnow
from ivr.db.models import Base


class MonthlyReport(Base):
    __tablename__ = "monthly_reports"
    id: Mapped[int] = mapped_column(primary_key=True)
    month: Mapped[str] = mapped_column(String(7))  # YYYY-MM, the city's timezone
    scope: Mapped[str] = mapped_column(String(64))  # city | official:<slug>
    generated_at: Mapped[datetime] = mapped_column(default=utcnow)
    generated_by: Mapped[str] = mapped_column(String(80))  # web:<user>, api, node:<name>
    html: Mapped[str] = mapped_column(Text)
    pdf: Mapped[bytes] = mapped_column(LargeBinary)
    __table_args__ = (UniqueConstraint("month", "scope", name="uq_monthly_reports_month_scope"),)
