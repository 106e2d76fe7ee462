"""The working calendar's import (issue 11): YAML and CSV, per year and idempotent, the shipped
sample refused until checked, bad files named, open cases' deadlines recomputed; the API, the
admin page and ``ivr calendar import``. Dates come from the fixture calendar (made up), never
from the sample."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from ivr.accounts import services as accounts
from ivr.cli import main
from ivr.core.config import Config
from ivr.core.errors import InvalidCalendar
from ivr.db.followup_models import Case
from ivr.db.session import Db, create_engine, make_sessionmaker, upgrade_async
from ivr.followup import calendar as cal
from ivr.followup.cases import load_case, new_case
from ivr.followup.deadlines import Deadlines, load_calendar
from ivr.http.keys import DB
from tests.unit.test_web_authz import Env, env  # noqa: F401  (fixture)

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / "tests" / "fixtures" / "calendar-2030.yaml"
SAMPLE = REPO / "examples" / "holidays-2025.example.yaml"
TZ = ZoneInfo("Asia/Shanghai")
CSV = "date,kind,name\n2031-01-01,休,元旦(测试)\n2031-01-04,班,调休(测试)\n"


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Db]:
    await upgrade_async(db_url)
    engine = create_engine(Config.build(database={"url": db_url}))
    yield make_sessionmaker(engine)
    await engine.dispose()


def _spec(path: Path = FIXTURE) -> cal.CalendarSpec:
    return cal.parse_calendar(path.read_text(encoding="utf-8"), "yaml")


async def test_import_per_year_idempotent_and_csv(db: Db) -> None:
    deadlines = Deadlines.of(Config())
    first = await cal.import_calendar(db, _spec(), deadlines, "test")
    assert (first.years, first.holidays, first.workdays) == ([2030], 7, 2)
    again = await cal.import_calendar(db, _spec(), deadlines, "test")
    assert (again.holidays, again.workdays, again.recomputed) == (7, 2, 0)
    await cal.import_calendar(db, cal.parse_calendar(CSV, "csv"), deadlines, "test")
    calendar = await load_calendar(db)
    assert sorted(calendar.holidays)[0].isoformat() == "2030-10-01" and len(calendar.holidays) == 8
    assert [d.isoformat() for d in sorted(calendar.workdays)] == [
        "2030-09-29", "2030-10-12", "2031-01-04"]
    # a new file for 2030 replaces 2030 only
    await cal.import_calendar(db, cal.parse_calendar(
        "year: 2030\nholidays: [{name: x, date: 2030-05-01}]\n", "yaml"), deadlines, "test")
    week, days = await cal.overview(db)
    assert [(d.day.isoformat(), d.kind) for d in days] == [
        ("2030-05-01", "holiday"), ("2031-01-01", "holiday"), ("2031-01-04", "workday")]
    assert week["mon"] == ["09:00-12:00", "13:00-18:00"] and "sat" not in week


@pytest.mark.parametrize(("text", "fmt", "where"), [
    ("year: 2030\nholidays: [{name: x, date: 2031-01-01}]\n", "yaml", "holidays[0]"),
    ("year: 2030\nholidays: [{name: x, date: 2030-10-01}]\nworkdays: [{date: 2030-10-01}]\n",
     "yaml", "workdays[0]"),
    ("year: 2030\nholidays: [{name: x, from: 2030-10-07, to: 2030-10-01}]\n", "yaml", "holidays[0]"),
    ("year: 2030\nweek: {mon: ['18:00-09:00']}\n", "yaml", "week.mon[0]"),
    ("year: 2030\nholiday: []\n", "yaml", None),
    ("year: soon\n", "yaml", "year"),
    ("date,kind,name\n2030-01-01,maybe,x\n", "csv", "row 2"),
    ("day,kind\n", "csv", "row 1"),
])
def test_bad_files_are_named(text: str, fmt: str, where: str | None) -> None:
    with pytest.raises(InvalidCalendar) as info:
        cal.parse_calendar(text, fmt)
    assert info.value.details.get("where") == where


async def test_sample_is_refused_until_checked(db: Db) -> None:
    spec = _spec(SAMPLE)
    assert spec.example and spec.years == [2025]
    with pytest.raises(InvalidCalendar, match="example"):
        await cal.import_calendar(db, spec, Deadlines.of(Config()), "test")
    assert (await cal.overview(db))[1] == []
    result = await cal.import_calendar(db, spec, Deadlines.of(Config()), "test", allow_example=True)
    assert result.years == [2025]


async def test_import_recomputes_open_cases(db: Db) -> None:
    deadlines = Deadlines.of(Config())
    await deadlines.refresh(db)  # the default week, no holiday known
    eve = datetime(2030, 9, 30, 15, 0, tzinfo=TZ).astimezone(UTC)  # stored times are UTC
    async with db() as s, s.begin():
        open_case = new_case("missed", created_at=eve, deadlines=deadlines)
        done = new_case("missed", created_at=eve, deadlines=deadlines)
        done.status = "resolved"
        s.add_all([open_case, done])
    assert open_case.deadline.astimezone(TZ).isoformat() == "2030-10-01T15:00:00+08:00"
    result = await cal.import_calendar(db, _spec(), deadlines, "admin")
    assert result.recomputed == 1
    async with db() as s:
        moved = await load_case(s, open_case.id)
        kept = await s.get(Case, done.id)
    assert moved.deadline.replace(tzinfo=UTC).astimezone(TZ).isoformat() == "2030-10-08T15:00:00+08:00"
    assert [(e.action, e.actor) for e in moved.events][-1] == ("deadlines", "admin")
    assert kept is not None and kept.deadline.replace(tzinfo=UTC) == done.deadline


async def test_api_and_admin_page(env: Env) -> None:  # noqa: F811
    admin = {"Authorization": f"Bearer {env.tokens['admin']}"}
    r = await env.client.post("/api/v1/calendar/import", data=SAMPLE.read_bytes(),
                              headers={**admin, "Content-Type": "application/yaml"})
    assert r.status == 400 and (await r.json())["error_id"] == "invalid-calendar"
    r = await env.client.post("/api/v1/calendar/import", data=FIXTURE.read_bytes(),
                              headers={**admin, "Content-Type": "application/yaml"})
    assert r.status == 200 and (await r.json())["holidays"] == 7
    r = await env.client.post("/api/v1/calendar/import", data=CSV.encode(),
                              headers={**admin, "Content-Type": "text/csv"})
    assert r.status == 200 and (await r.json())["years"] == [2031]
    sup = {"Authorization": f"Bearer {env.tokens['supervisor']}"}
    body = await (await env.client.get("/api/v1/calendar?year=2030", headers=sup)).json()
    assert [d["date"] for d in body["days"] if d["kind"] == "workday"] == ["2030-09-29", "2030-10-12"]
    assert (await env.client.get("/api/v1/calendar?year=1999", headers=sup)).status == 400
    db = env.app[DB]
    user = next(u for u in await accounts.list_users(db) if u.username == "u-admin")
    key, csrf = await accounts.open_session(db, user.id)
    page = await (await env.client.get("/admin/calendar", cookies={"ivr_session": key})).text()
    assert "国庆节(测试)" in page and "调休上班" in page and "2031-01-04" in page
    form = aiohttp.FormData({"csrf": csrf})
    form.add_field("file", b"year: 2030\nholidays: [{date: 2030-02-30}]\n", filename="bad.yaml")
    r = await env.client.post("/admin/calendar", data=form, cookies={"ivr_session": key})
    assert r.status == 400 and "工作日历无效" in await r.text()


def test_cli_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("IVR_API_URL", "IVR_API_TOKEN", "IVR_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    cfg = tmp_path / "ivr.toml"
    cfg.write_text(f'[database]\nurl = "sqlite+aiosqlite:///{tmp_path}/ivr.db"\n', encoding="utf-8")
    assert main(["--config", str(cfg), "db", "upgrade"], out=lambda _: None) == 0
    assert main(["--config", str(cfg), "calendar", "import", str(SAMPLE)]) == 1  # an example
    assert main(["--config", str(cfg), "calendar", "import", str(FIXTURE)]) == 0
    assert main(["--config", str(cfg), "calendar", "import"]) == 1  # no file


def test_cli_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                    capsys: pytest.CaptureFixture[str]) -> None:
    test_cli_import(tmp_path, monkeypatch)
    out = capsys.readouterr()
    assert "imported 2030: 7 holidays, 2 make-up working days" in out.out
    assert "invalid-calendar" in out.err and "status: example" in out.err
    assert main(["--config", str(tmp_path / "ivr.toml"), "calendar", "show", "--year", "2030"]) == 0
    assert "2030-10-12  workday  国庆节调休(测试)" in capsys.readouterr().out


async def test_week_of_the_database_is_used(db: Db) -> None:
    await cal.import_calendar(db, cal.parse_calendar(
        "year: 2030\nweek: {sat: ['10:00-12:00']}\n", "yaml"), Deadlines.of(Config()), "t")
    calendar = await load_calendar(db)
    assert calendar.is_working_day(datetime(2030, 10, 19).date())  # a Saturday
    assert not calendar.is_working_day(datetime(2030, 10, 21).date())  # Monday: not in the week
    assert calendar.add_hours(datetime(2030, 10, 19, 11, 0, tzinfo=TZ), 2).astimezone(TZ) == \
        datetime(2030, 10, 26, 11, 0, tzinfo=TZ)



async def test_admin_page_upload(env: Env) -> None:  # noqa: F811
    db = env.app[DB]
    user = next(u for u in await accounts.list_users(db) if u.username == "u-admin")
    key, csrf = await accounts.open_session(db, user.id)
    form = aiohttp.FormData({"csrf": csrf})
    form.add_field("file", CSV.encode(), filename="2031.csv")
    r = await env.client.post("/admin/calendar", data=form, cookies={"ivr_session": key})
    assert r.status == 200 and 'id="imported"' in (text := await r.text()) and "2031-01-04" in text


async def test_cli_import_via_api_reloads_routing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from aiohttp.test_utils import TestServer

    from tests.unit.apps import real_app, unit_config

    for var in ("IVR_API_URL", "IVR_API_TOKEN", "IVR_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    url = f"sqlite+aiosqlite:///{tmp_path}/ivr.db"
    cfg = tmp_path / "ivr.toml"
    cfg.write_text(f'[database]\nurl = "{url}"\n[http]\napi_token = "tok"\n', encoding="utf-8")
    changes: list[int | None] = []
    app = real_app(unit_config(tmp_path, database={"url": url}, http={"api_token": "tok"}),
                   changes)
    async with TestServer(app) as server:
        base = str(server.make_url("/")).rstrip("/")
        code = await asyncio.to_thread(main, ["--config", str(cfg), "--api", base, "calendar",
                                              "import", str(FIXTURE)])
        assert code == 0 and changes == [None]  # the routing hook ran (holiday windows)
        code = await asyncio.to_thread(main, ["--config", str(cfg), "--api", base, "calendar",
                                              "import", str(SAMPLE)])
        assert code == 1 and changes == [None]
    out = capsys.readouterr()
    assert '"holidays": 7' in out.out and "status: example" in out.err


@pytest.mark.parametrize("text", ["\r\xf1\U0006fbe4", 'date,kind\n"2030-01-01,holiday\r'])
def test_malformed_csv_is_bad_input(text: str) -> None:
    """What the OpenAPI fuzzer sent (a lone CR in an unquoted field): 400, not a 500."""
    from ivr.core.errors import InvalidCalendar, InvalidDirectory
    from ivr.directory.spec import parse_csv as directory_csv
    from ivr.followup.calendar import parse_csv
    with pytest.raises(InvalidCalendar):
        parse_csv(text)
    with pytest.raises(InvalidDirectory):
        directory_csv(text)
