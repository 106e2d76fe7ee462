"""Alerts: the book (hold, raise, clear), the recorder's lag, pool hours; then the real app on a
real database: /metrics parsed by prometheus_client's parser, /api/v1/alerts, the page, the
transcription backlog raised and cleared by real rows, notifications in the webhook outbox.
With Asterisk (AMI down, restart, full disk, operators logged out, recorder lag):
tests/e2e/test_alerts.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select, update

from ivr.accounts import services as accounts
from ivr.core.timeutil import utcnow
from ivr.db.followup_models import TranscriptionJob, Voicemail, WebhookDelivery
from ivr.db.session import Db, create_engine, make_sessionmaker, upgrade
from ivr.directory.importer import import_file
from ivr.ops.alerts import AlertBook, Reading
from ivr.ops.checks import RecorderLag, in_hours
from ivr.ops.http import MONITOR
from ivr.ops.scheduled import next_run
from ivr.web.auth import SESSION_COOKIE
from tests.e2e.routing_helpers import eventually
from tests.unit.apps import real_app, unit_config

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "directory.yaml"
TOKEN = "ops-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def test_book_raises_after_the_hold_and_clears_itself() -> None:
    book = AlertBook()
    bad = Reading("ami_disconnected", "", True, 1, "down", hold=30)
    assert book.update([bad], 100.0) == [] and book.raised() == []  # pending
    (change,) = book.update([bad], 130.0)
    assert (change.what, change.alert.kind, change.alert.since) == ("raised", "ami_disconnected", 100.0)
    assert book.update([bad], 140.0) == []  # raised once
    # a round that could not check the kind leaves it as it is
    assert book.update([], 150.0, checked=["pool_unstaffed"]) == [] and len(book.raised()) == 1
    (change,) = book.update([Reading("ami_disconnected", "", False, 0, "up", hold=30)], 160.0)
    assert change.what == "cleared" and book.raised() == []
    # a condition that ends before its hold never raises nor clears anything
    assert book.update([bad], 170.0) == [] and book.update([], 175.0, ["ami_disconnected"]) == []


def test_recorder_lag_is_the_age_of_the_oldest_unrecorded_line() -> None:
    lag = RecorderLag()
    assert lag.lag({"inode": 1, "offset": 100}, {"inode": 1, "offset": 100}, 0.0) == 0.0
    assert lag.lag({"inode": 1, "offset": 200}, {"inode": 1, "offset": 100}, 10.0) == 0.0
    assert lag.lag({"inode": 1, "offset": 300}, {"inode": 1, "offset": 100}, 25.0) == 15.0
    assert lag.lag({"inode": 1, "offset": 300}, {"inode": 1, "offset": 250}, 30.0) == 5.0
    assert lag.lag({"inode": 1, "offset": 300}, {"inode": 1, "offset": 300}, 31.0) == 0.0
    # always a little behind under load, never for long: no lag builds up
    for t in range(40, 100, 5):
        assert lag.lag({"inode": 1, "offset": 300 + t * 10}, {"inode": 1, "offset": 300 + (t - 5) * 10},
                       float(t)) <= 5.0
    assert lag.lag({"inode": 2, "offset": 50}, {"inode": 1, "offset": 9999}, 200.0) == 0.0


def test_pool_hours() -> None:
    at = datetime(2026, 11, 26, 7, 59)
    assert not in_hours("08:00-18:00", at) and in_hours("08:00-18:00", at.replace(hour=8, minute=0))
    assert not in_hours("08:00-18:00", at.replace(hour=18, minute=0)) and in_hours("", at)
    assert in_hours("22:00-06:00", at.replace(hour=23)) and not in_hours("22:00-06:00", at.replace(hour=12))
    assert in_hours("00:00-24:00", at.replace(hour=23, minute=59))


def series(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    out: dict[tuple[tuple[str, str], ...], float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name:
                out[tuple(sorted((k, v) for k, v in s.labels.items() if k != "node"))] = s.value
    return out


@pytest.fixture
async def ops(db_url: str, tmp_path: Path) -> AsyncIterator[tuple[TestClient[Any, Any], Db]]:
    upgrade(db_url)
    config = unit_config(tmp_path, database={"url": db_url}, http={"api_token": TOKEN},
                         alerts={"interval": 0.1, "ami_down_seconds": 0.3, "pool_hours": "",
                                 "pool_unstaffed_seconds": 0, "transcription_oldest_seconds": 600},
                         webhooks={"urls": {"ops": "http://127.0.0.1:9/hook"},
                                   "backoff_initial": 3600},
                         backup={"dir": str(tmp_path / "backups"), "keep_daily": 1,
                                 "keep_monthly": 2})
    config.voicemail_dir.mkdir(parents=True)
    engine = create_engine(config)
    db = make_sessionmaker(engine)
    await import_file(db, EXAMPLE, "setup")
    async with TestClient(TestServer(real_app(config))) as client:
        yield client, db
    await engine.dispose()


async def test_metrics_page_api_and_notifications(ops: tuple[TestClient[Any, Any], Db]) -> None:
    client, db = ops
    anonymous = await client.get("/metrics")
    assert anonymous.status == 401 and (await anonymous.json())["error_id"] == "unauthorized"

    async def metrics() -> str:
        r = await client.get("/metrics", headers=AUTH)
        assert r.status == 200 and r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        return await r.text()

    async def alert(kind: str, subject: str, value: float) -> str | None:
        text = await metrics()
        return text if series(text, "ivr_alert").get(
            (("alert", kind), ("subject", subject))) == value else None

    # no Asterisk here: AMI is down; the example's pool has nobody logged in
    text = await eventually(lambda: alert("ami_disconnected", "", 1.0), timeout=10)
    assert series(text, "ivr_ami_connected") == {(): 0.0}
    assert series(text, "ivr_alert")[(("alert", "pool_unstaffed"), ("subject", "main"))] == 1.0
    assert series(text, "ivr_pool_ready_operators") == {(("pool", "main"),): 0.0}
    assert series(text, "ivr_alert")[(("alert", "transcription_backlog"), ("subject", ""))] == 0.0
    disks = series(text, "ivr_disk_free_ratio")  # the recordings' folder, the database's file
    assert disks and all(0 < v <= 1 for v in disks.values()), disks

    # a message waiting 20 minutes: the backlog alert, cleared once the job is done
    async with db() as s, s.begin():
        vm = Voicemail(path="/inst/spool/ivr-voicemail/x.wav", linkedid="L1")
        s.add(vm)
        await s.flush()
        s.add(TranscriptionJob(voicemail_id=vm.id, status="pending",
                               created_at=utcnow() - timedelta(minutes=20)))
    text = await eventually(lambda: alert("transcription_backlog", "", 1.0), timeout=10)
    assert series(text, "ivr_transcription_waiting") == {(): 1.0}
    r = await client.get("/api/v1/alerts", headers=AUTH)
    body = await r.json()
    assert r.status == 200 and {a["kind"] for a in body["items"]} == \
        {"ami_disconnected", "pool_unstaffed", "transcription_backlog"}, body
    await accounts.create_user(db, "admin1", "correct horse battery", "admin")
    user = next(u for u in await accounts.list_users(db) if u.username == "admin1")
    key, _csrf = await accounts.open_session(db, user.id)
    page = await client.get("/admin/alerts", cookies={SESSION_COOKIE: key})
    html = await page.text()
    assert page.status == 200 and "转写积压" in html and 'id="alert-pool_unstaffed-main"' in html
    # each detail in words with its figures, never the English detail of the API
    assert "1 条留言等待转写，最早的已等待 20 分钟" in html and "messages waiting" not in html
    assert "工作时间内话务组无人就绪" in html and "AMI disconnected" not in html
    en = await (await client.get("/admin/alerts", cookies={SESSION_COOKIE: key,
                                                          "ivr_lang": "en"})).text()
    assert "1 messages waiting, the oldest 20 min" in en and "转写" not in en
    async with db() as s, s.begin():
        await s.execute(update(TranscriptionJob).values(status="done"))
    await eventually(lambda: alert("transcription_backlog", "", 0.0), timeout=10)

    async with db() as s:
        rows = (await s.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id))).all()
    rows = [r for r in rows if r.event.startswith("alert.")]  # the daily evidence.heads aside
    events = [(r.event, r.payload["alert"]) for r in rows]
    assert ("alert.raised", "transcription_backlog") in events
    assert ("alert.cleared", "transcription_backlog") in events
    assert all(r.target == "ops" and r.payload["node"] for r in rows)
    assert len({r.idempotency_key for r in rows}) == len(rows)


def test_next_scheduled_backup() -> None:
    tz = ZoneInfo("Asia/Shanghai")
    assert next_run("03:30", datetime(2026, 11, 26, 2, 0, tzinfo=tz)) == \
        datetime(2026, 11, 26, 3, 30, tzinfo=tz)
    assert next_run("03:30", datetime(2026, 11, 26, 3, 30, tzinfo=tz)) == \
        datetime(2026, 11, 27, 3, 30, tzinfo=tz)


async def test_scheduled_backup_failure_raises_an_alert_until_one_succeeds(
        ops: tuple[TestClient[Any, Any], Db], tmp_path: Path) -> None:
    client, _db = ops
    monitor = client.server.app[MONITOR]
    dest = tmp_path / "backups"
    dest.write_text("a file where the folder should be")  # the backup cannot be written
    assert await monitor.backups.run_once() is None and monitor.backups.last_error

    async def backup_alert(value: float) -> bool:
        r = await client.get("/metrics", headers=AUTH)
        return series(await r.text(), "ivr_alert").get(
            (("alert", "backup_failed"), ("subject", ""))) == value
    await eventually(lambda: backup_alert(1.0), timeout=10)

    dest.unlink()
    dest.mkdir()
    old = [dest / f"ivr-backup-n-2020010{d}T033000Z.tar.gz" for d in (1, 2, 3)]
    for p in old:
        p.write_bytes(b"")
    path = await monitor.backups.run_once()
    assert path is not None and path.exists() and monitor.backups.last_error is None
    # retention (1 daily, 2 monthly): the new archive, and the newest of January 2020 (the month
    # before, among the months that have one)
    assert sorted(p.name for p in dest.iterdir()) == sorted([path.name, old[2].name])
    await eventually(lambda: backup_alert(0.0), timeout=10)
