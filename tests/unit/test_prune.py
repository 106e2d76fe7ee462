"""``ivr records prune``: raw events of recorded calls deleted (archived first with --archive);
the records, their steps and the cases that point to them stay valid; calls in progress keep
their events. Reuses the recorder tests' synthetic CEL calls."""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from ivr.calls.recorder import CallRecorder
from ivr.calls.schemas import CallOut
from ivr.cli import main
from ivr.core.config import Config
from ivr.core.timeutil import utcnow
from ivr.db.followup_models import Case
from ivr.db.models import CelEvent
from ivr.db.session import Db, create_engine, make_sessionmaker, upgrade
from tests.unit.test_recorder import T0, _split, answered_call, calls, config, count  # noqa: F401


@pytest.fixture
async def db(config: Config) -> AsyncIterator[Db]:  # noqa: F811 - migrated, as the command needs
    upgrade(config.database.url)
    engine = create_engine(config)
    yield make_sessionmaker(engine)
    await engine.dispose()


async def _views(db: Db) -> list[dict[str, object]]:  # noqa: F811
    from ivr.routing.services import list_calls
    async with db() as s:
        cases = [(c.call_id, c.kind) for c in (await s.scalars(select(Case))).all()]
    return [CallOut.of(c).model_dump(mode="json") for c in await list_calls(db, limit=50)] + \
        [{"cases": cases}]


async def test_prune_archives_then_deletes_and_records_stay(db: Db, config: Config,  # noqa: F811
                                                            tmp_path: Path) -> None:
    old = answered_call("1795366780.80", t0=T0 - 86400 * 40).records()
    recent = answered_call("1795366780.81", t0=T0).records()
    going = _split(answered_call("1795366780.82", t0=T0 - 86400 * 40).records())[0]
    rec = CallRecorder(db, config)
    await rec.record(old + recent + going)
    first = (await calls(db))[0]
    async with db() as s, s.begin():
        s.add(Case(kind="call", call_id=first.id, caller="13800000000", deadline=utcnow()))
    before = await _views(db)
    assert await count(db, CelEvent) == len(old) + len(recent) + len(going)

    cfg = tmp_path / "ivr.toml"
    cfg.write_text(f'[database]\nurl = "{config.database.url}"\n[node]\nname = "{rec.node}"\n'
                   f'[asterisk]\nroot = "{config.asterisk.root}"\n'
                   f'instance = "{config.asterisk.instance}"\n', encoding="utf-8")
    archive = tmp_path / "raw.jsonl.gz"
    # days from now: the synthetic calls are dated from T0 (2026-11-22), 40 days before it
    days = (T0 - (T0 - 86400 * 40)) / 86400 - 1
    assert await asyncio.to_thread(main, ["--config", str(cfg), "records", "prune", "--days",
                                          str(days), "--archive", str(archive)]) == 0
    # only the old written call's events went; the recent call and the call in progress stay
    left = await count(db, CelEvent)
    assert left == len(recent) + len(going), left
    with gzip.open(archive, "rt", encoding="utf-8") as fh:
        archived = [json.loads(line) for line in fh]
    assert {a["linkedid"] for a in archived} == {"1795366780.80"} and len(archived) == len(old)
    assert await _views(db) == before  # records, steps and cases unchanged
    assert await asyncio.to_thread(main, ["--config", str(cfg), "records", "prune", "--days",
                                          str(days)]) == 0
    assert await count(db, CelEvent) == left  # nothing more to prune
