"""Routing services: audited changes in one transaction, hook after commit, queries."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import select, text

from ivr.core.config import Config
from ivr.core.errors import (
    ChangeNotInEffect,
    InvalidAvailability,
    InvalidChain,
    InvalidInput,
    InvalidMode,
    InvalidRingTimeout,
    InvalidSchedule,
    IvrError,
    UnknownOfficial,
    UnknownPool,
)
from ivr.core.windows import WindowError, format_days, parse_days, parse_time, window_parts
from ivr.db.models import AuditEntry, Base, Call, CallStep
from ivr.db.session import Db, create_engine, make_sessionmaker, upgrade
from ivr.directory.importer import import_text
from ivr.directory.services import get_official
from ivr.routing import services as rs

DIRECTORY = """
pools: [{name: main}, {name: night}]
officials:
  - {slug: zhang-wei, name: 张伟, title: 局长, numbers: ["0558-5551001"], devices: [{sip: o-zw}]}
  - {slug: li-qiang, name: 李强, title: 副局长, numbers: ["0558-5551002"]}
"""


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Db]:
    url = db_url
    upgrade(url)
    engine = create_engine(Config.build(database={"url": url}))
    sm = make_sessionmaker(engine)
    await import_text(sm, DIRECTORY, "yaml", "setup")
    yield sm
    await engine.dispose()


async def snapshot(db: Db) -> dict[str, list[tuple[Any, ...]]]:
    async with db() as session:
        return {t.name: [tuple(r) for r in (await session.execute(
                    text(f'SELECT * FROM "{t.name}" ORDER BY 1'))).all()]
                for t in Base.metadata.sorted_tables}


class Hook:
    def __init__(self) -> None:
        self.calls: list[int] = []

    async def __call__(self, official_id: int) -> None:
        self.calls.append(official_id)


async def test_set_mode_audits_and_bumps_version(db: Db) -> None:
    hook = Hook()
    o = await rs.set_mode(db, "zhang-wei", "pool", "admin", "出差一周", on_change=hook)
    assert o.policy is not None and o.policy.mode == "pool" and o.policy.version == 2
    assert hook.calls == [o.id]
    entries = await rs.audit_log(db, official="zhang-wei", field="mode")
    assert [(e.actor, e.field, e.old_value, e.new_value, e.reason) for e in entries] == [
        ("admin", "mode", "direct", "pool", "出差一周")]
    same = await rs.set_mode(db, o.id, "pool", "admin", "again", on_change=hook)  # by id, no-op
    # nothing saved or audited, but the mirror is asked again (it may be behind the first one)
    assert same.policy is not None and same.policy.version == 2 and hook.calls == [o.id, o.id]
    assert len(await rs.audit_log(db, field="mode")) == 1


Call_ = Callable[[Db], Awaitable[Any]]


@pytest.mark.parametrize(("call", "error"), [
    (lambda db: rs.set_mode(db, "zhang-wei", "sometimes", "admin"), InvalidMode),
    (lambda db: rs.set_mode(db, "nobody", "pool", "admin"), UnknownOfficial),
    (lambda db: rs.set_mode(db, 999, "pool", "admin"), UnknownOfficial),
    (lambda db: rs.set_mode(db, "zhang-wei", "pool", ""), InvalidInput),
    (lambda db: rs.set_mode(db, "zhang-wei", "pool", "admin", "x" * 501), InvalidInput),
    (lambda db: rs.set_availability(db, "zhang-wei", "asleep", "admin"), InvalidAvailability),
    (lambda db: rs.set_schedule(db, "zhang-wei", [{"days": "mon", "start": "25:00", "end": "26:00",
                                                   "mode": "pool"}], "admin"), InvalidSchedule),
    (lambda db: rs.set_schedule(db, "zhang-wei", [{"days": "someday", "start": "08:00",
                                                   "end": "09:00", "mode": "pool"}], "admin"),
     InvalidSchedule),
    (lambda db: rs.set_schedule(db, "zhang-wei", [{"days": "mon", "start": "08:00", "end": "09:00",
                                                   "mode": "message"}], "admin"), InvalidSchedule),
    (lambda db: rs.set_schedule(db, "zhang-wei", "mon 8-9", "admin"),  # type: ignore[arg-type]
     InvalidSchedule),
    (lambda db: rs.set_chain(db, "zhang-wei", ["pool", "message"], "admin"), InvalidChain),
    (lambda db: rs.set_chain(db, "zhang-wei", ["pool", "pool"], "admin"), InvalidChain),
    (lambda db: rs.set_ring_timeout(db, "zhang-wei", 4, "admin"), InvalidRingTimeout),
    (lambda db: rs.set_ring_timeout(db, "zhang-wei", 121, "admin"), InvalidRingTimeout),
    (lambda db: rs.set_deputy(db, "zhang-wei", "zhang-wei", "admin"), InvalidInput),
    (lambda db: rs.set_deputy(db, "zhang-wei", "nobody", "admin"), UnknownOfficial),
    (lambda db: rs.set_pool(db, "zhang-wei", "nowhere", "admin"), UnknownPool),
    (lambda db: rs.set_pool(db, "zhang-wei", ["main"], "admin"), InvalidInput),  # type: ignore[arg-type]
    (lambda db: rs.set_deputy(db, "zhang-wei", {"slug": "li-qiang"}, "admin"),  # type: ignore[arg-type]
     InvalidInput),
])
async def test_invalid_input_changes_nothing(db: Db, call: Call_, error: type[IvrError]) -> None:
    hook = Hook()
    before = await snapshot(db)
    with pytest.raises(error) as info:
        await call(db)
    assert 400 <= info.value.status < 500 and info.value.error_id
    assert await snapshot(db) == before and hook.calls == []


async def test_all_setters(db: Db) -> None:
    hook = Hook()
    windows = [{"days": "mon-fri", "start": "18:00", "end": "8:30", "mode": "pool"},
               {"days": "sun,sat", "start": "00:00", "end": "24:00", "mode": "voicemail"}]
    o = await rs.set_schedule(db, "zhang-wei", windows, "admin", on_change=hook)
    assert rs.windows_of(o) == [{"days": "mon-fri", "start": "18:00", "end": "08:30", "mode": "pool"},
                                {"days": "sat,sun", "start": "00:00", "end": "24:00", "mode": "voicemail"}]
    o = await rs.set_availability(db, "zhang-wei", "meeting", "admin", note="常务会", on_change=hook)
    assert (o.availability, o.availability_note) == ("meeting", "常务会")
    o = await rs.set_chain(db, "zhang-wei", ["pool", "voicemail"], "admin", on_change=hook)
    assert o.policy is not None and o.policy.chain == ["pool", "voicemail"]
    o = await rs.set_chain(db, "zhang-wei", None, "admin", on_change=hook)
    assert o.policy is not None and o.policy.chain is None
    o = await rs.set_ring_timeout(db, "zhang-wei", "30", "admin", on_change=hook)  # type: ignore[arg-type]
    assert o.policy is not None and o.policy.ring_timeout == 30
    o = await rs.set_deputy(db, "zhang-wei", "li-qiang", "admin", on_change=hook)
    assert o.deputy is not None and o.deputy.slug == "li-qiang"
    o = await rs.set_pool(db, "zhang-wei", "night", "admin", on_change=hook)
    assert o.policy is not None and o.policy.pool is not None and o.policy.pool.name == "night"
    assert o.policy.version == 8 and len(hook.calls) == 7  # availability+note: one change
    fields = [e.field for e in await rs.audit_log(db, official="zhang-wei", limit=20)]
    assert fields[:9] == ["pool", "deputy", "ring_timeout", "chain", "chain", "availability_note",
                          "availability", "schedule", "policy"]
    o = await rs.set_schedule(db, "zhang-wei", [], "admin", on_change=hook)
    assert o.windows == []


async def test_failing_hook_keeps_the_change_and_says_not_in_effect(
        db: Db, caplog: pytest.LogCaptureFixture) -> None:
    async def broken(official_id: int) -> None:
        raise ConnectionError("AMI down")
    with pytest.raises(ChangeNotInEffect) as err:  # 202: saved, not in effect yet
        await rs.set_mode(db, "li-qiang", "voicemail", "admin", on_change=broken)
    assert err.value.status == 202 and err.value.error_id == "not-in-effect"
    assert "AMI down" in err.value.message
    assert "on_change hook failed" in caplog.text
    o = await get_official(db, "li-qiang")  # the change is saved and audited all the same
    assert o.policy is not None and o.policy.mode == "voicemail"
    assert (await rs.audit_log(db, official="li-qiang", limit=1))[0].new_value == "voicemail"


async def _add_calls(db: Db) -> datetime:
    t0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    zhang = (await rs.audit_log(db, official="zhang-wei"))[0].official_id
    async with db() as session, session.begin():
        for i, outcome in enumerate(["answered", "voicemail", None, "answered"]):
            call = Call(linkedid=f"L{i}", caller="13900000000", number_dialed="05585551001",
                        official_id=zhang if i < 3 else None, outcome=outcome,
                        started_at=t0 + timedelta(minutes=i))
            call.steps = [CallStep(seq=1, kind="direct", target="PJSIP/o-zw", started_at=t0),
                          CallStep(seq=2, kind="voicemail", target="1", started_at=t0)]
            session.add(call)
    return t0


async def test_list_calls_filters(db: Db) -> None:
    t0 = await _add_calls(db)
    calls = await rs.list_calls(db)
    assert [c.linkedid for c in calls] == ["L3", "L2", "L1", "L0"]
    assert [s.seq for s in calls[0].steps] == [1, 2]  # eagerly loaded, usable detached
    assert [c.linkedid for c in await rs.list_calls(db, official="zhang-wei")] == ["L2", "L1", "L0"]
    assert [c.linkedid for c in await rs.list_calls(db, outcome="answered")] == ["L3", "L0"]
    assert [c.linkedid for c in await rs.list_calls(db, outcome="in-progress")] == ["L2"]
    shanghai = timezone(timedelta(hours=8))
    got = await rs.list_calls(db, since=(t0 + timedelta(minutes=1)).astimezone(shanghai),
                              until=t0 + timedelta(minutes=3))
    assert [c.linkedid for c in got] == ["L2", "L1"]
    assert [c.linkedid for c in await rs.list_calls(db, limit=1, offset=1)] == ["L2"]
    assert (await rs.get_call(db, calls[0].id)).linkedid == "L3"
    for bad in ({"outcome": "great"}, {"limit": 0}, {"limit": 5000}, {"offset": -1}):
        with pytest.raises(InvalidInput):
            await rs.list_calls(db, **bad)
    with pytest.raises(UnknownOfficial):
        await rs.list_calls(db, official="nobody")
    with pytest.raises(IvrError) as info:
        await rs.get_call(db, 12345)
    assert info.value.status == 404


async def test_audit_entry_written_in_same_transaction(db: Db) -> None:
    await rs.set_mode(db, "zhang-wei", "voicemail", "admin", "r")
    async with db() as session:
        entry = (await session.execute(select(AuditEntry).where(AuditEntry.field == "mode"))).scalar_one()
    assert entry.new_value == "voicemail"


def test_window_helpers() -> None:
    assert parse_days("daily") == frozenset(range(7))
    assert parse_days("Mon-Fri") == frozenset(range(5))
    assert parse_days("sat, sun") == frozenset({5, 6})
    assert parse_days("mon") == frozenset({0})
    assert format_days({0, 1, 2, 4}) == "mon-wed,fri"
    assert format_days({5, 6}) == "sat,sun"
    assert parse_time("08:30") == 30600 and parse_time("23:59:59") == 86399
    assert parse_time("24:00", end=True) == 86400
    assert window_parts("mon-fri", "18:00", "08:30", "pool") == (frozenset(range(5)), 64800, 30600, "pool")
    for bad in ("", "mon-", "fri-mon", "monday", "mon,,tue"):
        with pytest.raises(WindowError):
            parse_days(bad)
    for bad_time in ("24:00", "8", "08:60", "08:00:60", "25:00", "8h30"):
        with pytest.raises(WindowError):
            parse_time(bad_time)
