"""What differs between SQLite and PostgreSQL: the CEL recorder's deduplicating insert
(``ON CONFLICT DO NOTHING``), JSON settings, timezone-aware times; URL handling."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC
from pathlib import Path

import pytest
from sqlalchemy import func, select

from ivr.calls.events import from_journal_line
from ivr.calls.journal import offset_key
from ivr.calls.recorder import CallRecorder
from ivr.core.config import Config, ConfigError
from ivr.db.models import Call, CallStep, CelEvent, Setting
from ivr.db.session import Db, create_engine, database_url, make_sessionmaker, upgrade_async
from ivr.directory.importer import import_text

T0 = 1_700_000_000.25
DIRECTORY = """
pools: [{name: main}]
officials:
  - {slug: zhang-wei, name: 张伟, numbers: ["0558-5551001"], devices: [{sip: o-zw}]}
"""


def _line(etype: str, t: float, extra: str = "", uniqueid: str = "1.1") -> str:
    return json.dumps({"eventtype": etype, "userdeftype": etype if etype.startswith("IVR_") else "",
                       "eventtime": f"{t:.6f}", "uniqueid": uniqueid, "linkedid": "1.1",
                       "channame": "PJSIP/carrier-00000001", "exten": "05585551001",
                       "context": "ivr-citizens", "eventextra": extra})


CALL = [_line("IVR_CALL", T0, "dialed=05585551001;caller=13900001111;caller_raw=%EF%BC%91"
                         "3900001111"),
        _line("IVR_ROUTE", T0 + 0.1, "official=1;src=agi;mode=direct"),
        _line("IVR_STEP", T0 + 0.2, "n=1;kind=direct;target=PJSIP/o-zw"),
        _line("IVR_STEP_END", T0 + 20.2, "n=1;kind=direct;result=NOANSWER"),
        _line("IVR_STEP", T0 + 20.3, "n=2;kind=message;target=ivr-unavailable"),
        _line("HANGUP", T0 + 25.0, '{"hangupcause": 16}'),
        _line("LINKEDID_END", T0 + 25.1)]


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Db]:
    await upgrade_async(db_url)
    engine = create_engine(Config.build(database={"url": db_url}))
    sm = make_sessionmaker(engine)
    await import_text(sm, DIRECTORY, "yaml", "setup")  # official 1, whom the calls reach
    yield sm
    await engine.dispose()


async def _counts(db: Db) -> tuple[int, int, int]:
    async with db() as s:
        n = [int(await s.scalar(select(func.count()).select_from(m)) or 0)
             for m in (CelEvent, Call, CallStep)]
    return n[0], n[1], n[2]


async def test_recorder_dedupes_repeated_events(db: Db, tmp_path: Path) -> None:
    config = Config.build(asterisk={"root": str(tmp_path), "instance": "/inst"})
    config.cel_journal.parent.mkdir(parents=True)
    config.cel_journal.write_text("\n".join(CALL[:4]) + "\n", encoding="utf-8")
    recorder = CallRecorder(db, config)
    assert await recorder.drain() == 4
    assert (await _counts(db))[0] == 4  # the events are stored (the record waits for the end)
    # the same events again (a chunk read twice): nothing new is stored
    records = [r for line in CALL if (r := from_journal_line(line)) is not None]
    await recorder.record(records[:4])
    assert (await _counts(db))[0] == 4
    # a restart: a new recorder picks up the unfinished call from the stored events
    recorder = CallRecorder(db, config)
    await recorder.load()
    await recorder.record(records[4:])
    assert await _counts(db) == (7, 1, 2)
    # the journal grows: only what is new is read, and deduped against what is stored
    with config.cel_journal.open("a", encoding="utf-8") as fh:
        fh.write("\n".join(CALL[4:]) + "\n")
    assert await recorder.drain() == 3
    assert await _counts(db) == (7, 1, 2)
    async with db() as s:
        call = (await s.scalars(select(Call))).one()
        offset = (await s.get(Setting, offset_key(config.node.name)))
    assert call.caller == "13900001111" and call.outcome is not None
    assert (call.caller_raw, call.caller_altered) == ("１3900001111", True)  # full-width 1
    started = call.started_at
    assert started is not None
    if started.tzinfo is None:  # SQLite keeps no zone: naive UTC (PostgreSQL: timestamptz)
        started = started.replace(tzinfo=UTC)
    assert abs(started.timestamp() - T0) < 1e-3
    assert offset is not None and offset.value["offset"] == config.cel_journal.stat().st_size


def test_postgresql_url_means_asyncpg() -> None:
    assert database_url("postgresql://u:p%40ss@db/ivr").drivername == "postgresql+asyncpg"
    assert database_url("postgresql://u:p%40ss@db/ivr").password == "p@ss"
    assert database_url("sqlite+aiosqlite:///x.db").drivername == "sqlite+aiosqlite"


def test_missing_asyncpg_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "asyncpg" else real(name, *a))
    with pytest.raises(ConfigError, match=r"ivr\[postgres\]"):
        database_url("postgresql+asyncpg://u@h/db")
