"""The notification hook (issue 11) against real local HTTP servers: a receiver that answers 500
first gets the same idempotency key again and accepts exactly one delivery; the outbox survives
a restart (a new notifier delivers what the old one could not); the shipped receiver
(examples/webhook_receiver.py, run as a process) verifies the HMAC and refuses a wrong one."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import select

from ivr.core.config import Config
from ivr.core.config_followup import WebhooksConfig
from ivr.db.followup_models import WebhookDelivery
from ivr.db.session import Db, create_engine, make_sessionmaker, upgrade_async
from ivr.followup.cases import add_event, load_case, new_case
from ivr.followup.webhooks import Notifier, backoff, collect, signature
from ivr.lab import ports
from tests.unit.deadline_helpers import round_the_clock

SECRET = "s3cret-for-tests"
RECEIVER = Path(__file__).resolve().parents[2] / "examples" / "webhook_receiver.py"


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Db]:
    await upgrade_async(db_url)
    engine = create_engine(Config.build(database={"url": db_url}))
    yield make_sessionmaker(engine)
    await engine.dispose()


class Receiver:
    """A real HTTP server: answers ``statuses`` in turn (then 200), records every request."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.requests: list[tuple[int, dict[str, str], bytes]] = []
        self.got = asyncio.Event()

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        status = self.statuses.pop(0) if self.statuses else 200
        self.requests.append((status, dict(request.headers), body))
        self.got.set()
        return web.Response(status=status, text="ok" if status == 200 else "boom")

    async def wait(self, n: int) -> None:
        while len(self.requests) < n:
            self.got.clear()
            await asyncio.wait_for(self.got.wait(), 10)


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    rec = Receiver([500])
    app = web.Application()
    app.router.add_post("/hook", rec.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = ports.free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield rec, f"http://127.0.0.1:{port}/hook"
    await runner.cleanup()


def hook_config(url: str, secret: str = SECRET) -> WebhooksConfig:
    # no backoff: a retry is due at once (the backoff itself: test_backoff_doubles_up_to_max)
    return WebhooksConfig(urls={"bridge": url}, secret=secret, backoff_initial=0.0,
                          backoff_max=0.0, timeout=5.0, max_attempts=3)


async def _open_case(db: Db) -> int:
    async with db() as s, s.begin():
        case = new_case("missed", created_at=datetime.now(UTC), deadlines=round_the_clock(),
                        caller="13900000088", number_dialed="05585551001")
        s.add(case)
    return case.id


async def _rows(db: Db) -> list[WebhookDelivery]:
    async with db() as s:
        return list((await s.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id))).all())


async def test_500_then_exactly_one_accepted_delivery_same_key(
        db: Db, receiver: tuple[Receiver, str]) -> None:
    rec, url = receiver
    config = hook_config(url)
    assert await collect(db, ["bridge"]) == 0  # the first look starts at the newest event
    case_id = await _open_case(db)
    async with db() as s, s.begin():  # an event that is not notified
        add_event(await load_case(s, case_id), "tester", "assigned", None, "x")

    first = Notifier(db, config)
    counts = await first.once()
    await first.close()  # the controller stops after the failed attempt
    assert counts == {"delivered": 0, "retried": 1, "failed": 0}
    assert [(r.status, r.attempts, r.last_error) for r in await _rows(db)] == [
        ("pending", 1, "HTTP 500")]

    second = Notifier(db, config)  # a new controller: the outbox is in the database
    try:
        while (await _rows(db))[0].status == "pending":
            await second.once()
        await second.once()  # nothing left to send
    finally:
        await second.close()
    await rec.wait(2)
    assert [status for status, _, _ in rec.requests] == [500, 200]
    keys = {h["X-IVR-Idempotency-Key"] for _, h, _ in rec.requests}
    assert keys == {f"case-{case_id}-created"}
    for _, headers, body in rec.requests:
        assert headers["X-IVR-Signature"] == signature(SECRET, headers["X-IVR-Timestamp"], body)
        assert headers["X-IVR-Event"] == "case.created"
    body = json.loads(rec.requests[1][2])
    assert body["event"] == "case.created" and body["idempotency_key"] == f"case-{case_id}-created"
    assert body["case"]["id"] == case_id and body["case"]["contact_deadline"]
    rows = await _rows(db)
    assert [(r.status, r.attempts, r.event) for r in rows] == [("delivered", 2, "case.created")]
    assert await collect(db, ["bridge"]) == 0  # nothing collected twice


async def test_gives_up_after_max_attempts(db: Db) -> None:
    port = ports.free_port()  # nobody listens: connection refused
    config = hook_config(f"http://127.0.0.1:{port}/hook")
    await collect(db, ["bridge"])
    await _open_case(db)
    notifier = Notifier(db, config)
    try:
        for _ in range(3):
            await notifier.once()
    finally:
        await notifier.close()
    (row,) = await _rows(db)
    assert (row.status, row.attempts) == ("failed", 3) and "Connect" in (row.last_error or "")


async def _shipped_receiver(port: int) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, str(RECEIVER), "--port", str(port)],
                            env={**os.environ, "IVR_WEBHOOK_SECRET": SECRET},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    line = await asyncio.to_thread(proc.stdout.readline)
    assert line.startswith("listening on"), line
    return proc


async def test_shipped_receiver_verifies_the_signature(db: Db) -> None:
    port = ports.free_port()
    proc = await _shipped_receiver(port)
    url = f"http://127.0.0.1:{port}/"
    try:
        await collect(db, ["bridge"])
        case_id = await _open_case(db)
        wrong = Notifier(db, hook_config(url, secret="not-the-secret"))
        try:
            assert (await wrong.once())["retried"] == 1  # 401: refused
        finally:
            await wrong.close()
        right = Notifier(db, hook_config(url))
        try:
            assert (await right.once())["delivered"] == 1
        finally:
            await right.close()
    finally:
        proc.terminate()
        out, _ = await asyncio.to_thread(proc.communicate, timeout=10)
    lines = out.splitlines()
    assert lines[0].startswith(f"rejected: bad signature (case-{case_id}-created)")
    assert lines[1] == f"verified case.created key=case-{case_id}-created case={case_id} to=-"


def test_receiver_verify_function() -> None:
    sys.path.insert(0, str(RECEIVER.parent))
    try:
        import webhook_receiver as r
    finally:
        sys.path.pop(0)
    body: Any = b'{"event":"case.created"}'
    good = signature(SECRET, "1000", body)
    assert r.verify(SECRET, "1000", body, good, now=1000)
    assert not r.verify(SECRET, "1000", body + b" ", good, now=1000)  # body changed
    assert not r.verify("other", "1000", body, good, now=1000)
    assert not r.verify(SECRET, "1000", body, good, now=1000 + 301)  # too old
    assert not r.verify(SECRET, "x", body, good, now=1000)


def test_backoff_doubles_up_to_max() -> None:
    config = WebhooksConfig(backoff_initial=5.0, backoff_max=60.0)
    assert [backoff(config, n).total_seconds() for n in (1, 2, 3, 4, 5, 9)] == [
        5.0, 10.0, 20.0, 40.0, 60.0, 60.0]


async def test_every_notified_event_and_its_key(db: Db) -> None:
    from datetime import timedelta

    from ivr.followup.escalation import sweep

    await collect(db, ["a", "b"])
    case_id = await _open_case(db)
    async with db() as s, s.begin():
        add_event(await load_case(s, case_id), "system", "callback_failed", None, "BUSY")
    deadlines = round_the_clock()
    later = datetime.now(UTC) + timedelta(days=1, minutes=1)
    await sweep(db, deadlines, max_levels=2, near=timedelta(hours=1), now=later - timedelta(minutes=9))
    await sweep(db, deadlines, max_levels=2, near=timedelta(hours=1), now=later)
    await sweep(db, deadlines, max_levels=2, near=timedelta(hours=1), now=later)  # nothing new
    assert await collect(db, ["a", "b"]) == 10  # five notified events, two targets
    rows = [r for r in await _rows(db) if r.target == "a"]
    assert [(r.event, r.idempotency_key.removeprefix(f"case-{case_id}-")) for r in rows] == [
        ("case.created", "created"), ("callback.unreachable", rows[1].idempotency_key.removeprefix(
            f"case-{case_id}-")), ("case.deadline_near", "near-contact-0"),
        ("case.overdue", "overdue-1"), ("case.escalated", "escalated-1")]
    assert rows[1].idempotency_key.startswith(f"case-{case_id}-event-")
    assert rows[4].payload["case"]["escalation_level"] == 1
    assert rows[4].payload["detail"]["new"] == "supervisors"  # no superior in this directory
