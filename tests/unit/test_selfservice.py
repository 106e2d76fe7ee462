"""Officials' self-service (issue 15): availability with a return time (validated, audited,
written back as ``system`` when it passes), a failed mirror write told to whoever changed it,
feature codes from an official's own SIP device only, and the self-service API's rules (own
record only, own mode only when an admin allowed it)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from ivr.accounts import services as accounts
from ivr.core.config import Config, ConfigError
from ivr.core.errors import InvalidAvailability, InvalidInput
from ivr.db.models import AuditEntry
from ivr.db.session import Db
from ivr.directory.importer import import_text
from ivr.http.keys import DB
from ivr.routing import services as rs
from ivr.routing.selfmode import set_city_self_mode
from ivr.selfservice.phone import feature_code
from ivr.web import auth
from tests.unit.apps import real_app, unit_config
from tests.unit.dbseed import seeded

DIRECTORY = """
pools: [{name: main}]
operators:
  - {name: 话务员 王芳, endpoint: op-1, pool: main}
officials:
  - {slug: zhang-wei, name: 张伟, title: 局长, numbers: ["0558-5551001"], devices: [{sip: o-zw}]}
  - {slug: li-qiang, name: 李强, title: 副局长, numbers: ["0558-5551002"], devices: [{sip: o-lq}]}
"""
PASSWORD = "correct horse battery"


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Db]:
    async with seeded(db_url, DIRECTORY) as sm:
        yield sm


async def audits(db: Db, field: str | None = None) -> list[AuditEntry]:
    async with db() as session:
        q = select(AuditEntry).order_by(AuditEntry.id)
        if field is not None:
            q = q.where(AuditEntry.field == field)
        return list((await session.scalars(q)).all())


def aware(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


async def test_availability_with_a_return_time_is_stored_and_audited(db: Db) -> None:
    until = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=2)
    o = await rs.set_availability(db, "zhang-wei", "meeting", "web:admin", "开会",
                                  until=until.astimezone(timezone(timedelta(hours=8))))
    assert (o.availability, rs._utc(o.availability_until)) == ("meeting", until)
    entries = {a.field: a for a in await audits(db)}
    assert (entries["availability"].old_value, entries["availability"].new_value) == (
        "available", "meeting")
    assert aware(entries["availability_until"].new_value) == until
    assert entries["availability_until"].actor == "web:admin"
    # back to available by hand: the return time goes with it
    o = await rs.set_availability(db, "zhang-wei", "available", "web:admin")
    assert (o.availability, o.availability_until) == ("available", None)


@pytest.mark.parametrize("state, until", [
    ("meeting", datetime.now(UTC) - timedelta(minutes=1)),             # in the past
    ("available", datetime.now(UTC) + timedelta(hours=1)),            # nothing to return from
    ("meeting", datetime.now() + timedelta(hours=1)),                 # no timezone
    ("leave", datetime.now(UTC) + timedelta(days=400)),               # beyond a year
])
async def test_bad_return_times_change_nothing(db: Db, state: str, until: datetime) -> None:
    n = len(await audits(db))
    with pytest.raises(InvalidInput) as err:
        await rs.set_availability(db, "zhang-wei", state, "web:admin", until=until)
    assert err.value.status == 400
    o = await rs.get_official(db, "zhang-wei")
    assert (o.availability, o.availability_until) == ("available", None)
    assert len(await audits(db)) == n


async def test_expiry_is_written_back_once_as_system(db: Db) -> None:
    soon = datetime.now(UTC) + timedelta(minutes=5)
    await rs.set_availability(db, "zhang-wei", "dnd", "phone:o-zw", until=soon)
    await rs.set_availability(db, "li-qiang", "leave", "web:admin")  # no return time
    hooked: list[int] = []

    async def hook(oid: int) -> bool:
        hooked.append(oid)
        return True
    assert await rs.expire_availability(db, soon - timedelta(seconds=1), on_change=hook) == []
    done = await rs.expire_availability(db, soon, on_change=hook)
    zhang = await rs.get_official(db, "zhang-wei")
    assert done == [zhang.id] and hooked == [zhang.id]
    assert (zhang.availability, zhang.availability_until) == ("available", None)
    assert (await rs.get_official(db, "li-qiang")).availability == "leave"
    last = (await audits(db, "availability"))[-1]
    assert (last.actor, last.old_value, last.new_value) == ("system", "dnd", "available")
    assert await rs.expire_availability(db, soon + timedelta(hours=1), on_change=hook) == []
    assert len(await audits(db, "availability")) == 3


async def test_a_failed_mirror_write_is_reported(db: Db) -> None:
    async def not_written(oid: int) -> bool:
        return False

    async def broken(oid: int) -> None:
        raise ConnectionError("AMI gone")

    async def written(oid: int) -> bool:
        return True
    for hook, told in ((not_written, ["mirror"]), (broken, ["mirror"]), (written, [])):
        report: list[str] = []
        state = "meeting" if not told or hook is broken else "dnd"
        await rs.set_availability(db, "zhang-wei", "available", "x", on_change=written)
        await rs.set_availability(db, "zhang-wei", state, "web:admin", on_change=hook,
                                  report=report)
        assert report == told, hook
        assert (await rs.get_official(db, "zhang-wei")).availability == state  # kept


async def test_feature_codes_from_an_officials_own_device_only(db: Db) -> None:
    config = Config.build(self_service={"meeting_minutes": 90})
    before = datetime.now(UTC)
    assert await feature_code(db, config, "o-zw", "61", None) == "meeting"
    o = await rs.get_official(db, "zhang-wei")
    until = rs._utc(o.availability_until)
    assert o.availability == "meeting" and until is not None
    assert timedelta(minutes=89) < until - before < timedelta(minutes=91)
    entry = (await audits(db, "availability"))[-1]
    assert (entry.actor, entry.new_value) == ("phone:o-zw", "meeting")
    assert await feature_code(db, config, "o-zw", "60", None) == "available"
    assert (await rs.get_official(db, "zhang-wei")).availability_until is None
    n = len(await audits(db))
    # an operator's phone, an unknown or malformed endpoint, a code that is not a feature
    for endpoint, code in (("op-1", "61"), ("nobody", "61"), ("o-zw;x", "61"), ("", "61"),
                           ("o-zw", "69"), ("o-zw", "")):
        assert await feature_code(db, config, endpoint, code, None) == "denied"
    assert len(await audits(db)) == n

    async def not_written(oid: int) -> bool:
        return False
    assert await feature_code(db, config, "o-lq", "62", not_written) == "unsynced"
    assert (await rs.get_official(db, "li-qiang")).availability == "leave"


def test_self_service_durations_are_checked() -> None:
    assert Config.build().self_service.minutes("meeting") == 120
    assert Config.build().self_service.minutes("available") is None
    for bad in (0, -5, True, "2h", 10**7):
        with pytest.raises(ConfigError):
            Config.build(self_service={"dnd_minutes": bad})


async def test_unknown_availability_is_refused(db: Db) -> None:
    with pytest.raises(InvalidAvailability):
        await rs.set_availability(db, "zhang-wei", "lunch", "web:admin")


# --- the API -------------------------------------------------------------------------------

@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[tuple[TestClient, Any]]:
    config = unit_config(tmp_path, database={"url": f"sqlite+aiosqlite:///{tmp_path / 'ivr.db'}"})
    app = real_app(config)
    c = TestClient(TestServer(app))
    await c.start_server()
    db = app[DB]
    await import_text(db, DIRECTORY, "yaml", "test")
    await accounts.create_user(db, "zw", PASSWORD, "official", official="zhang-wei")
    await accounts.create_user(db, "boss", PASSWORD, "admin")
    yield c, db
    await c.close()


async def _as(c: TestClient, db: Db, user: str, method: str, path: str,
              body: dict[str, Any]) -> tuple[int, Any]:
    u = next(x for x in await accounts.list_users(db) if x.username == user)
    key, csrf = await accounts.open_session(db, u.id)
    c.session.cookie_jar.clear()
    async with c.request(method, path, json=body, cookies={auth.SESSION_COOKIE: key},
                         headers={"X-CSRF-Token": csrf}) as r:
        return r.status, await r.json()


async def test_an_official_sets_their_own_availability_only(client: Any) -> None:
    c, db = client
    status, body = await _as(c, db, "zw", "PUT", "/api/v1/officials/zhang-wei/availability",
                             {"availability": "meeting", "minutes": 30})
    assert status == 200, body  # the app's stand-in AstDB took it (tests/unit/apps.py)
    assert body["availability"] == "meeting" and body["availability_until"]
    assert body["mirror_written"] is True and body["warning"] is None
    entry = (await audits(db, "availability"))[-1]
    assert entry.actor == "web:zw"
    status, body = await _as(c, db, "zw", "PUT", "/api/v1/officials/li-qiang/availability",
                             {"availability": "meeting"})
    assert status == 403, body
    assert (await rs.get_official(db, "li-qiang")).availability == "available"
    status, body = await _as(c, db, "zw", "PUT", "/api/v1/officials/zhang-wei/availability",
                             {"availability": "leave", "minutes": 30,
                              "until": "2099-01-01T10:00"})
    assert status == 400, body
    status, body = await _as(c, db, "zw", "PUT", "/api/v1/officials/zhang-wei/availability",
                             {"availability": "leave", "until": "2020-01-01T10:00"})
    assert status == 400 and body["error_id"] == "invalid-return-time", body


async def test_own_mode_only_when_an_admin_allows_it(client: Any) -> None:
    c, db = client
    mode = "/api/v1/officials/zhang-wei/mode"
    status, body = await _as(c, db, "zw", "PUT", mode, {"mode": "pool"})
    assert (status, body["error_id"]) == (409, "self-mode-off"), body
    status, body = await _as(c, db, "boss", "PUT", "/api/v1/officials/zhang-wei/self-service",
                             {"mode": True})
    assert status == 200 and body["self_mode"] is True, body
    status, body = await _as(c, db, "zw", "PUT", mode, {"mode": "pool"})
    assert status == 200 and body["policy"]["mode"] == "pool", body
    assert body["mirror_written"] is True  # the app's stand-in AstDB took it
    status, body = await _as(c, db, "zw", "PUT", "/api/v1/officials/li-qiang/mode",
                             {"mode": "pool"})
    assert status == 403, body
    # city-wide: every official
    await _as(c, db, "boss", "PUT", "/api/v1/officials/zhang-wei/self-service", {"mode": False})
    assert (await _as(c, db, "zw", "PUT", mode, {"mode": "direct"}))[0] == 409
    await set_city_self_mode(db, True, "web:boss")
    assert (await _as(c, db, "zw", "PUT", mode, {"mode": "direct"}))[0] == 200
    fields = [a.field for a in await audits(db)]
    assert fields.count("self_mode") == 2 and "self_service_mode" in fields


async def _page(c: TestClient, db: Db, user: str, method: str, path: str,
                form: dict[str, str] | None = None) -> tuple[int, str, str]:
    u = next(x for x in await accounts.list_users(db) if x.username == user)
    key, csrf = await accounts.open_session(db, u.id)
    c.session.cookie_jar.clear()
    data = {**(form or {}), "csrf": csrf} if method == "POST" else None
    async with c.request(method, path, data=data, cookies={auth.SESSION_COOKIE: key},
                         headers={"Cookie": f"{auth.SESSION_COOKIE}={key}"},
                         allow_redirects=False) as r:
        return r.status, r.headers.get("Location", ""), await r.text()


async def test_the_officials_page_is_their_home_and_sets_their_availability(client: Any) -> None:
    c, db = client
    status, where, _ = await _page(c, db, "zw", "GET", "/")
    assert (status, where) == (303, "/me")
    status, _, html = await _page(c, db, "zw", "GET", "/me")
    assert status == 200, html
    title = html.split("<title>", 1)[1].split("</title>", 1)[0]
    assert "我的状态" in title and "监督统计" not in title
    assert 'name="viewport"' in html and "*61" in html
    assert 'action="/me/mode"' not in html  # not allowed by an admin yet
    status, where, html = await _page(c, db, "zw", "POST", "/me/availability",
                                      {"availability": "leave", "minutes": "120", "note": "出差"})
    assert status == 303, html
    assert where == "/me?saved=1"  # the stand-in AstDB took it (a failed write: ?saved=mirror)
    o = await rs.get_official(db, "zhang-wei")
    assert (o.availability, o.availability_note) == ("leave", "出差")
    assert o.availability_until is not None
    status, _, html = await _page(c, db, "zw", "GET", "/me?saved=mirror")
    assert "未能写入电话系统" in html and 'data-state="leave"' in html
    # a return time in the city's local time (Asia/Shanghai: UTC+8)
    day = (datetime.now(UTC) + timedelta(days=2)).date()
    status, where, html = await _page(c, db, "zw", "POST", "/me/availability",
                                      {"availability": "meeting", "until": f"{day}T16:00"})
    assert status == 303, html
    o = await rs.get_official(db, "zhang-wei")
    assert rs._utc(o.availability_until) == datetime(day.year, day.month, day.day, 8, 0, tzinfo=UTC)
    status, _, html = await _page(c, db, "zw", "POST", "/me/availability",
                                  {"availability": "meeting", "until": "tomorrow"})
    assert status == 400
    status, _, html = await _page(c, db, "zw", "POST", "/me/mode", {"mode": "pool"})
    assert status == 409 and "未开放自助修改" in html
    assert (await rs.get_official(db, "zhang-wei")).policy.mode == "direct"
    status, where, html = await _page(c, db, "zw", "POST", "/me/availability",
                                      {"availability": "available"})
    assert status == 303
    o = await rs.get_official(db, "zhang-wei")
    assert (o.availability, o.availability_until) == ("available", None)


async def test_a_directory_import_setting_availability_drops_the_old_return_time(db: Db) -> None:
    await rs.set_availability(db, "zhang-wei", "meeting", "web:admin",
                              until=datetime.now(UTC) + timedelta(hours=1))
    await import_text(db, DIRECTORY.replace('devices: [{sip: o-zw}]}',
                                            'devices: [{sip: o-zw}], availability: leave}'),
                      "yaml", "import")
    o = await rs.get_official(db, "zhang-wei")
    assert (o.availability, o.availability_until) == ("leave", None)  # not back in an hour
    assert (await audits(db, "availability_until"))[-1].new_value is None
