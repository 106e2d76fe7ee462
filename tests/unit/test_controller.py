"""The controller's resync after an AMI login: every step on its own, the mirror first."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from ivr.controller import Controller
from ivr.core.config import Config
from ivr.db.session import Db, create_engine, make_sessionmaker, upgrade
from ivr.directory.importer import import_file

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "directory.yaml"


class FakeAmi:
    """Records AstDB writes; every other action fails as an Asterisk without app_queue would."""

    def __init__(self) -> None:
        self.puts: dict[str, str] = {}

    async def db_tree(self, family: str) -> dict[str, str]:
        return {}

    async def db_put(self, family: str, key: str, value: str) -> None:
        self.puts[key] = value

    async def db_del(self, family: str, key: str) -> None:
        self.puts.pop(key, None)

    async def action(self, name: str, timeout: float | None = None, **fields: Any) -> Any:
        raise RuntimeError(f"{name}: no such command")

    async def action_list(self, name: str, timeout: float | None = None, **fields: Any) -> Any:
        raise RuntimeError(f"{name}: no such command")


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
    config = Config.build(asterisk={"root": str(tmp_path), "instance": "/ast"}, ami={"secret": ""})
    ctrl = Controller(config, db)
    fake = FakeAmi()
    ctrl.mirror.ami = fake  # type: ignore[assignment]
    await ctrl.on_ami_login(fake)  # type: ignore[arg-type]
    assert ctrl.mirror.in_sync and "meta/synced" in fake.puts
    assert any(key.startswith("num/") for key in fake.puts)
    assert ctrl.resync_failures.get("config") == 1
    assert ctrl.resync_failures.get("queue members") == 1
    assert "mirror" not in ctrl.resync_failures and "journal" not in ctrl.resync_failures
    assert ctrl.resyncs == 1
