"""A device's ``confirm`` (issue 8): YAML and CSV import (defaults: mobiles yes, SIP phones no),
re-import, the audited service and the API route."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from ivr.core.config import Config
from ivr.core.errors import InvalidDirectory, InvalidInput, UnknownDevice
from ivr.db.models import AuditEntry, Device
from ivr.db.session import Db, create_engine, make_sessionmaker, upgrade
from ivr.directory.importer import import_text
from ivr.routing.services import set_device_confirm

YAML = """
officials:
  - slug: a
    name: 甲
    numbers: ["0558-5550001"]
    devices: [{sip: o-a}, {mobile: 13800000001}, {sip: o-a2, confirm: true},
              {mobile: 13800000002, confirm: "false"}]
"""


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Db]:
    upgrade(db_url)
    engine = create_engine(Config.build(database={"url": db_url}))
    yield make_sessionmaker(engine)
    await engine.dispose()


async def confirms(db: Db) -> dict[str, bool]:
    async with db() as session:
        rows = (await session.execute(select(Device))).scalars().all()
        return {str(d.endpoint or d.number): d.confirm for d in rows}


async def test_yaml_defaults_and_explicit_values(db: Db) -> None:
    await import_text(db, YAML, "yaml", "tester")
    assert await confirms(db) == {"o-a": False, "+8613800000001": True, "o-a2": True,
                                  "+8613800000002": False}
    changed = YAML.replace('confirm: "false"', "confirm: true")
    await import_text(db, changed, "yaml", "tester")
    assert (await confirms(db))["+8613800000002"] is True


async def test_yaml_confirm_must_be_a_boolean(db: Db) -> None:
    with pytest.raises(InvalidDirectory) as err:
        await import_text(db, YAML.replace('"false"', "maybe"), "yaml", "tester")
    assert "devices[3].confirm" in str(err.value)


CSV = "slug,name,numbers,sip,mobile,confirm\n"


async def test_csv_confirm_column(db: Db) -> None:
    await import_text(db, CSV + "a,甲,0558-5550001,o-a;o-b,13800000001;13800000002,"
                      "o-b;138 0000 0002\n", "csv", "tester")
    assert await confirms(db) == {"o-a": False, "o-b": True, "+8613800000001": False,
                                  "+8613800000002": True}
    await import_text(db, CSV + "a,甲,0558-5550001,o-a,13800000001,none\n", "csv", "tester")
    assert await confirms(db) == {"o-a": False, "+8613800000001": False}
    await import_text(db, CSV + "a,甲,0558-5550001,o-a,13800000001,\n", "csv", "tester")
    assert await confirms(db) == {"o-a": False, "+8613800000001": True}  # the defaults


@pytest.mark.parametrize("row", ["a,甲,,o-a,,o-z", "a,甲,,,,o-a", "a,甲,,o-a,,13800000009"])
async def test_csv_confirm_names_only_the_rows_devices(db: Db, row: str) -> None:
    with pytest.raises(InvalidInput):
        await import_text(db, CSV + row + "\n", "csv", "tester")
    assert await confirms(db) == {}


async def test_service_changes_one_device_audited(db: Db) -> None:
    await import_text(db, YAML, "yaml", "tester")
    seen: list[int] = []

    async def hook(official_id: int) -> None:
        seen.append(official_id)
    official = await set_device_confirm(db, "a", "138 0000 0001", False, "admin", "测试",
                                        on_change=hook)
    assert {str(d.number or d.endpoint): d.confirm for d in official.devices}["+8613800000001"] is False
    await set_device_confirm(db, "a", "o-a", True, "admin", on_change=hook)
    # no change: nothing audited, but the mirror is asked again (it may be behind the first one)
    await set_device_confirm(db, "a", "o-a", True, "admin", on_change=hook)
    assert seen == [official.id, official.id, official.id]
    async with db() as session:
        audit = (await session.execute(select(AuditEntry).where(AuditEntry.field == "confirm")
                                       .order_by(AuditEntry.id))).scalars().all()
    assert [(a.old_value, a.new_value) for a in audit] == [
        ("+8613800000001:true", "+8613800000001:false"), ("o-a:false", "o-a:true")]
    with pytest.raises(UnknownDevice):
        await set_device_confirm(db, "a", "o-nobody", True, "admin")
    with pytest.raises(InvalidInput):
        await set_device_confirm(db, "a", "o-a", "perhaps", "admin")
