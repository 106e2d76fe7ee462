"""Directory import: YAML/CSV parsing, idempotent upserts, all-or-nothing, audit, secrets."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from ivr.core.config import Config
from ivr.core.errors import (
    Conflict,
    InvalidDirectory,
    InvalidEndpoint,
    InvalidMode,
    InvalidSchedule,
    IvrError,
    MalformedNumber,
)
from ivr.core.sipauth import sip_ha1
from ivr.db.models import AuditEntry, Base, Device, Operator
from ivr.db.session import Db, create_engine, make_sessionmaker, upgrade
from ivr.directory.importer import import_directory, import_file, import_text
from ivr.directory.services import get_official, list_officials, list_operators
from ivr.directory.spec import parse_csv, parse_yaml
from ivr.routing.services import set_mode

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "directory.yaml"

SMALL = """
pools: [{name: main}]
operators: [{name: 话务员, endpoint: op-1, pool: main}]
officials:
  - slug: a
    name: 甲
    numbers: ["0558-5550001"]
    devices: [{sip: o-a}, {mobile: 13800000001}]
  - slug: b
    name: 乙
    numbers: ["0558-5550002"]
    deputy: a
    schedule: [{days: mon-fri, start: 18:00, end: 08:30, mode: pool}]
"""


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Db]:
    url = db_url
    upgrade(url)
    engine = create_engine(Config.build(database={"url": url}))
    yield make_sessionmaker(engine)
    await engine.dispose()


async def snapshot(db: Db) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table: to prove that a failed operation changed nothing."""
    async with db() as session:
        return {t.name: [tuple(r) for r in (await session.execute(
                    text(f'SELECT * FROM "{t.name}" ORDER BY 1'))).all()]
                for t in Base.metadata.sorted_tables}


async def test_import_example(db: Db) -> None:
    result = await import_file(db, EXAMPLE, "tester")
    assert result.created == {"pools": 1, "operators": 2, "officials": 5}
    officials = {o.slug: o for o in await list_officials(db)}
    zhang = officials["zhang-wei"]
    assert zhang.name == "张伟" and zhang.deputy is not None and zhang.deputy.slug == "li-qiang"
    assert sorted(n.number for n in zhang.numbers) == ["+865585551001", "+865585551011"]
    assert [(d.kind, d.endpoint, d.number) for d in zhang.devices] == [
        ("sip", "o-zhang-wei", None), ("mobile", None, "+8613800001001")]
    assert [(w.days, w.start, w.end, w.mode) for w in officials["wang-min"].windows] == [
        ("mon-fri", "18:00", "24:00", "pool"), ("mon-fri", "00:00", "08:30", "pool"),
        ("sat,sun", "00:00", "24:00", "pool")]
    assert sum(o.policy is not None and o.policy.mode == "pool" for o in officials.values()) == 2
    stored = {d.endpoint: d.sip_ha1 for o in officials.values() for d in o.devices if d.kind == "sip"}
    stored |= {o.endpoint: o.sip_ha1 for o in await list_operators(db)}
    creds = result.new_credentials
    assert set(creds) == set(stored) == {"op-1", "op-2", "o-zhang-wei", "o-li-qiang", "o-wang-min"}
    # generated secrets, distinct; stored only as their digest HA1, never in clear
    assert len(set(creds.values())) == 5 and all(len(s) >= 30 for s in creds.values())
    assert stored == {e: sip_ha1(e, s) for e, s in creds.items()}
    assert not set(creds.values()) & set(stored.values())
    async with db() as session:
        entries = (await session.execute(select(AuditEntry).where(AuditEntry.field == "policy"))).scalars().all()
    assert len(entries) == 5 and {e.actor for e in entries} == {"tester"}


async def test_reimport_is_idempotent(db: Db) -> None:
    await import_file(db, EXAMPLE, "tester")
    before = await snapshot(db)
    result = await import_file(db, EXAMPLE, "tester")
    assert result.created == {"pools": 0, "operators": 0, "officials": 0}
    assert result.updated == {"pools": 0, "operators": 0, "officials": 0}
    assert result.changed_officials == [] and result.new_credentials == {}
    assert await snapshot(db) == before


@pytest.mark.parametrize(("bad", "error", "where"), [
    ('numbers: ["0558-12"]', MalformedNumber, "officials[2](c).numbers[0]"),
    ("mode: sometimes", InvalidMode, "officials[2](c).mode"),
    ("devices: [{sip: Bad_Endpoint}]", InvalidEndpoint, "officials[2](c).devices[0].sip"),
    ('schedule: [{days: "fri-mon", start: "1:00", end: "2:00", mode: pool}]', InvalidSchedule,
     "officials[2](c).schedule"),
    ("deputy: nobody", InvalidDirectory, "officials[2](c).deputy"),
    ("pool: nowhere", InvalidDirectory, "officials[2](c).pool"),
    ("colour: blue", InvalidDirectory, "officials[2]"),
])
async def test_bad_row_changes_nothing(db: Db, bad: str, error: type[IvrError], where: str) -> None:
    await import_text(db, SMALL, "yaml", "tester")
    before = await snapshot(db)
    doc = SMALL.replace("pools: [{name: main}]", "pools: [{name: main, max_wait: 90}]") + \
        f"  - slug: c\n    name: 丙\n    numbers: [\"0558-5550003\"]\n    {bad}\n"
    doc = doc.replace('name: 甲', 'name: 甲甲')  # an earlier row that would change
    with pytest.raises(error) as info:
        await import_text(db, doc, "yaml", "tester")
    assert info.value.details["where"] == where
    assert where in str(info.value)
    assert await snapshot(db) == before


async def test_conflict_with_database_changes_nothing(db: Db) -> None:
    await import_text(db, SMALL, "yaml", "tester")
    before = await snapshot(db)
    other = 'officials:\n  - {slug: z, name: 丁}\n  - {slug: c, name: 丙, numbers: ["05585550001"]}\n'
    with pytest.raises(Conflict, match="already published for official 'a'") as info:
        await import_text(db, other, "yaml", "tester")
    assert info.value.status == 409 and "officials[1](c)" in info.value.details["where"]
    assert await snapshot(db) == before


async def test_endpoint_shared_by_operator_and_device_rejected(db: Db) -> None:
    await import_text(db, SMALL, "yaml", "tester")
    before = await snapshot(db)
    with pytest.raises(Conflict, match="op-1"):
        await import_text(db, "officials: [{slug: c, name: 丙, devices: [{sip: op-1}]}]", "yaml", "t")
    with pytest.raises(InvalidEndpoint):
        parse_yaml("pools: [{name: main}]\noperators: [{name: x, endpoint: o-a, pool: main}]\n"
                   "officials: [{slug: a, name: 甲, devices: [{sip: o-a}]}]")
    assert await snapshot(db) == before


async def test_reimport_applies_changes_with_audit_and_keeps_unlisted(db: Db) -> None:
    await import_text(db, SMALL, "yaml", "tester")
    await set_mode(db, "b", "voicemail", "admin", "away")  # an admin's change, not in the file
    changed = SMALL.replace('numbers: ["0558-5550001"]', 'numbers: ["0558-5550009"]\n    mode: pool')
    changed = changed.replace("devices: [{sip: o-a}, {mobile: 13800000001}]", "devices: [{sip: o-a}]")
    seen: list[int] = []

    async def hook(official_id: int) -> None:
        seen.append(official_id)
    result = await import_text(db, changed, "yaml", "importer", on_change=hook)
    a = await get_official(db, "a")
    assert a.policy is not None and a.policy.mode == "pool" and a.policy.version == 2
    assert [n.number for n in a.numbers] == ["+865585550009"]
    assert [d.endpoint for d in a.devices] == ["o-a"]
    b = await get_official(db, "b")
    assert b.policy is not None and b.policy.mode == "voicemail"  # mode not in the file: kept
    assert result.changed_officials == [a.id] and seen == [a.id]
    async with db() as session:
        entry = (await session.execute(select(AuditEntry).where(
            AuditEntry.field == "mode", AuditEntry.actor == "importer"))).scalar_one()
    assert (entry.official_id, entry.old_value, entry.new_value) == (a.id, "direct", "pool")


async def test_number_and_endpoint_move_between_officials_in_one_file(db: Db) -> None:
    await import_text(db, SMALL, "yaml", "tester")
    async with db() as session:
        secret = (await session.execute(select(Device.sip_ha1).where(Device.endpoint == "o-a"))).scalar_one()
    swapped = """
officials:
  - {slug: a, name: 甲, numbers: ["0558-5550002"], devices: []}
  - {slug: b, name: 乙, numbers: ["0558-5550001"], devices: [{sip: o-a}]}
"""
    await import_text(db, swapped, "yaml", "tester")
    a, b = await get_official(db, "a"), await get_official(db, "b")
    assert [n.number for n in a.numbers] == ["+865585550002"] and a.devices == []
    assert [n.number for n in b.numbers] == ["+865585550001"]
    assert [(d.endpoint, d.sip_ha1) for d in b.devices] == [("o-a", secret)]  # secret kept


async def test_dry_run_changes_nothing(db: Db) -> None:
    before = await snapshot(db)
    result = await import_file(db, EXAMPLE, "tester", dry_run=True)
    assert result.dry_run and result.created["officials"] == 5
    assert await snapshot(db) == before


def test_yaml_plain_scalars_stay_text() -> None:
    spec = parse_yaml(SMALL)
    b = spec.officials[1]
    assert [w.as_dict() for w in b.schedule] == [
        {"days": "mon-fri", "start": "18:00", "end": "08:30", "mode": "pool"}]  # not 1080 (base 60)
    assert spec.officials[0].devices[1].number == "+8613800000001"
    assert "mode" not in b.given and "deputy" in b.given


def test_yaml_errors_name_the_place() -> None:
    with pytest.raises(InvalidDirectory, match="not valid YAML"):
        parse_yaml("officials: [")
    with pytest.raises(InvalidDirectory, match=r"officials\[0\]\(a\).devices\[0\]"):
        parse_yaml("officials: [{slug: a, name: x, devices: [{sip: o-a, mobile: '13800000001'}]}]")
    with pytest.raises(InvalidDirectory, match="listed twice"):
        parse_yaml("officials: [{slug: a, name: x}, {slug: a, name: y}]")
    with pytest.raises(MalformedNumber, match="already listed"):
        parse_yaml("officials: [{slug: a, name: x, numbers: ['13800000001']},"
                   " {slug: b, name: y, numbers: ['+86 138 0000 0001']}]")
    with pytest.raises(InvalidDirectory, match="settings.timezone"):
        parse_yaml("settings: {timezone: Mars/Olympus}")
    with pytest.raises(InvalidDirectory, match="slug"):
        parse_yaml("officials: [{slug: '123', name: x}]")  # digit strings address ids
    with pytest.raises(InvalidDirectory, match="forbidden character"):
        parse_yaml("officials: [{slug: a, name: 'x|y'}]")


CSV = """\ufeffslug,name,title,department,numbers,sip,mobile,deputy,mode
zhang-wei,张伟,局长,市交通运输局,0558-5551001;+86 558 5551011,o-zhang-wei,13800001001,li-qiang,direct
li-qiang,李强,副局长,市交通运输局,(0558) 5551002,o-li-qiang,,,pool
"""


async def test_csv_import(db: Db) -> None:
    result = await import_text(db, CSV, "csv", "tester")
    assert result.created["officials"] == 2
    zhang = await get_official(db, "zhang-wei")
    assert sorted(n.number for n in zhang.numbers) == ["+865585551001", "+865585551011"]
    assert [(d.kind, d.endpoint or d.number) for d in zhang.devices] == [
        ("sip", "o-zhang-wei"), ("mobile", "+8613800001001")]
    assert zhang.deputy is not None and zhang.deputy.slug == "li-qiang"
    li = await get_official(db, "li-qiang")
    assert li.policy is not None and li.policy.mode == "pool"
    again = await import_text(db, CSV, "csv", "tester")
    assert again.changed_officials == []


async def test_csv_bad_row_names_row_and_changes_nothing(db: Db) -> None:
    bad = CSV + "wang-min,王敏,主任,市信访局,0558-12,,,,direct\n"
    with pytest.raises(MalformedNumber) as info:
        await import_text(db, bad, "csv", "tester")
    assert info.value.details["where"] == "row 4 (wang-min), numbers[0]"
    assert (await snapshot(db))["officials"] == []
    with pytest.raises(InvalidDirectory, match="row 1"):
        parse_csv("slug,name,colour\na,b,c\n")
    with pytest.raises(InvalidMode, match="row 2"):
        parse_csv("slug,name,mode\na,甲,loud\n")


async def test_operator_upsert_keeps_secret(db: Db) -> None:
    await import_text(db, SMALL, "yaml", "tester")
    async with db() as session:
        secret = (await session.execute(select(Operator.sip_ha1))).scalar_one()
    result = await import_text(db, SMALL.replace("name: 话务员,", "name: 话务员甲,"), "yaml", "tester")
    assert result.updated["operators"] == 1
    ops = await list_operators(db)
    assert [(o.name, o.sip_ha1) for o in ops] == [("话务员甲", secret)]


async def test_actor_required(db: Db) -> None:
    with pytest.raises(IvrError, match="actor"):
        await import_directory(db, parse_yaml(SMALL), "  ")
