"""Migration 0011 (issue 11) recomputes the deadlines of existing cases in working time (the
default week, the city's timezone), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import text

from ivr.core.config import Config
from ivr.core.timeutil import as_utc
from ivr.db.session import create_engine, upgrade_async

TZ = ZoneInfo("Asia/Shanghai")


def _local(value: datetime | str) -> str:
    stored = datetime.fromisoformat(value) if isinstance(value, str) else value  # SQLite: text
    return as_utc(stored).astimezone(TZ).strftime("%Y-%m-%d %H:%M")


def _utc(local: str) -> datetime:
    return datetime.fromisoformat(local).replace(tzinfo=TZ).astimezone(UTC).replace(tzinfo=None)


async def test_0011_recomputes_existing_cases(db_url: str) -> None:
    await upgrade_async(db_url, "0008")
    engine = create_engine(Config.build(database={"url": db_url}))
    rows = {  # id: (kind, urgency, created local time, old calendar-hour deadline)
        1: ("missed", "normal", "2030-10-18 10:00", "2030-10-19 10:00"),  # Friday
        2: ("voicemail", "urgent", "2030-10-16 17:55", "2030-10-16 19:55"),
    }
    try:
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO settings (key, value) VALUES ('timezone', "
                                    "'\"Asia/Shanghai\"')"))
            for cid, (kind, urgency, created, old) in rows.items():
                await conn.execute(text(
                    "INSERT INTO cases (id, kind, caller, number_dialed, matched_keywords, urgency, "
                    "needs_listening, listen_reasons, repeat_caller, summary, status, created_at, "
                    "updated_at, deadline) VALUES (:id, :kind, '', '', '[]', :urgency, false, '[]', "
                    "false, '', 'new', :created, :created, :old)"),
                    {"id": cid, "kind": kind, "urgency": urgency, "created": _utc(created),
                     "old": _utc(old)})
        await upgrade_async(db_url)
        async with engine.connect() as conn:
            got = {r.id: (_local(r.deadline), _local(r.resolve_deadline), r.escalation_level)
                   for r in (await conn.execute(text(
                       "SELECT id, deadline, resolve_deadline, escalation_level FROM cases"))).all()}
    finally:
        await engine.dispose()
    assert got == {1: ("2030-10-21 10:00", "2030-10-23 10:00", 0),
                   2: ("2030-10-17 10:55", "2030-10-21 17:55", 0)}
