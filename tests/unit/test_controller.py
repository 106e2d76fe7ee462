"""The controller's resync after an AMI login: every step on its own, the mirror first; a
routing change acknowledged only once the mirror holds it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from ivr.controller import Controller
from ivr.core.config import Config
from ivr.core.errors import ChangeNotInEffect
from ivr.db.session import Db, create_engine, make_sessionmaker, upgrade
from ivr.directory.importer import import_file
from ivr.routing import services as rs

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "directory.yaml"


class FakeAmi:
    """Records AstDB writes; queue actions fail ``queue_failures`` times, as an Asterisk still
    loading app_queue right after a restart answers."""

    def __init__(self, queue_failures: int = 0) -> None:
        self.puts: dict[str, str] = {}
        self.queue_failures = queue_failures
        self.commands: list[str] = []
        self.logged_in = asyncio.Event()
        self.logged_in.set()

    async def db_tree(self, family: str) -> dict[str, str]:
        return {}

    async def db_put(self, family: str, key: str, value: str) -> None:
        self.puts[key] = value

    async def db_del(self, family: str, key: str) -> None:
        self.puts.pop(key, None)

    async def action(self, name: str, timeout: float | None = None, **fields: Any) -> Any:
        self.commands.append(fields.get("Command", name))
        return {}

    async def action_list(self, name: str, timeout: float | None = None, **fields: Any) -> Any:
        if self.queue_failures and name == "QueueStatus":
            self.queue_failures -= 1
            raise RuntimeError(f"{name}: Invalid/unknown command")
        return []


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Db]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'ivr.db'}"
    upgrade(url)
    engine = create_engine(Config.build(database={"url": url}))
    sessionmaker = make_sessionmaker(engine)
    await import_file(sessionmaker, EXAMPLE, "test")
    yield sessionmaker
    await engine.dispose()


async def test_render_error_never_blocks_the_mirror(db: Db, tmp_path: Path) -> None:
    # no AMI secret: rendering manager.conf refuses (RenderError), the mirror must still follow
    config = Config.build(asterisk={"root": str(tmp_path), "instance": "/ast"}, ami={"secret": ""},
                          database={"url": f"sqlite+aiosqlite:///{tmp_path / 'ivr.db'}"})
    ctrl = Controller(config, db)
    fake = FakeAmi(queue_failures=2)
    ctrl.mirror.ami = fake  # type: ignore[assignment]
    ctrl.recorder.start()  # the journal step asks the recorder (no journal here: nothing open)
    try:
        await ctrl.on_ami_login(fake)  # type: ignore[arg-type]
    finally:
        await ctrl.recorder.stop()
    assert ctrl.mirror.in_sync and "meta/synced" in fake.puts
    assert any(key.startswith("num/") for key in fake.puts)
    assert ctrl.resync_failures.get("config") == 1  # a render error: logged, not retried
    assert ctrl.resync_failures.get("queue members") == 2  # not loaded yet: retried until done
    assert "mirror" not in ctrl.resync_failures and "journal" not in ctrl.resync_failures
    assert ctrl.resync_pending == set() and ctrl.resyncs == 1


async def test_retries_stop_when_the_session_ends(db: Db, tmp_path: Path) -> None:
    config = Config.build(asterisk={"root": str(tmp_path), "instance": "/ast"}, ami={"secret": "s"},
                          database={"url": f"sqlite+aiosqlite:///{tmp_path / 'ivr.db'}"})
    ctrl = Controller(config, db)
    fake = FakeAmi(queue_failures=10 ** 6)
    ctrl.mirror.ami = fake  # type: ignore[assignment]
    ctrl.recorder.start()
    try:
        task = asyncio.create_task(ctrl.on_ami_login(fake))  # type: ignore[arg-type]
        while ctrl.resync_failures.get("queue members", 0) < 2:
            await asyncio.sleep(0.01)
        fake.logged_in.clear()  # AMI went away: the next login resyncs from the start
        await asyncio.wait_for(task, 30)
    finally:
        await ctrl.recorder.stop()
    assert ctrl.resync_pending == {"queue members"} and ctrl.resyncs == 0


async def test_the_queued_callback_is_offered_only_to_numbers_the_guard_would_dial(
        db: Db, tmp_path: Path) -> None:
    base = {"asterisk": {"root": str(tmp_path), "instance": "/ast"},
            "database": {"url": f"sqlite+aiosqlite:///{tmp_path / 'ivr.db'}"}}
    off = Controller(Config.build(**base), db)
    on = Controller(Config.build(**base, autocallback={"queue_offer_seconds": 30}), db)
    assert off.queued_callback_offer({"agi_callerid": "13912345678"}) == "0"  # offer off
    offers = {caller: on.queued_callback_offer({"agi_callerid": caller}) for caller in (
        "13912345678", "05585551009", "+8821612345678", "139-1234-5678", "", "anonymous")}
    assert offers == {"13912345678": "1", "05585551009": "1", "+8821612345678": "0",
                      "139-1234-5678": "0", "": "0", "anonymous": "0"}, offers


class BrokenAmi(FakeAmi):
    async def db_put(self, family: str, key: str, value: str) -> None:
        raise TimeoutError("AMI did not answer")


async def test_a_change_is_acknowledged_once_the_mirror_holds_it(db: Db, tmp_path: Path) -> None:
    config = Config.build(asterisk={"root": str(tmp_path), "instance": "/ast"},
                          database={"url": f"sqlite+aiosqlite:///{tmp_path / 'ivr.db'}"})
    ctrl = Controller(config, db)
    fake = FakeAmi()
    ctrl.mirror.ami = fake  # type: ignore[assignment]
    await ctrl._resync_mirror()
    o = await rs.set_mode(db, "zhang-wei", "voicemail", "admin", on_change=ctrl.on_change)
    assert fake.puts[f"o/{o.id}/mode"] == "voicemail"  # in the mirror before the answer

    ctrl.mirror.ami = BrokenAmi()  # type: ignore[assignment]  # the write fails: 202
    with pytest.raises(ChangeNotInEffect, match="not in effect yet"):
        await rs.set_mode(db, "zhang-wei", "pool", "admin", on_change=ctrl.on_change)
    assert not ctrl.mirror.in_sync
    ctrl.mirror.ami = fake  # type: ignore[assignment]  # AMI back, but no resync yet: still 202
    with pytest.raises(ChangeNotInEffect, match="not in sync"):
        await rs.set_mode(db, "zhang-wei", "deputy", "admin", on_change=ctrl.on_change)
    assert fake.puts[f"o/{o.id}/mode"] == "voicemail"
    await ctrl._resync_mirror()  # the next login's full sync puts the saved changes in effect
    assert fake.puts[f"o/{o.id}/mode"] == "deputy"
    o = await rs.set_mode(db, "zhang-wei", "direct", "admin", on_change=ctrl.on_change)
    assert fake.puts[f"o/{o.id}/mode"] == "direct"
