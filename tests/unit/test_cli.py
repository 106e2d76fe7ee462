"""The ivr command line on a real SQLite DB; --api through a real aiohttp server."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import types
from argparse import Namespace
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from ivr.cli import main, table
from ivr.config import Config
from ivr.db.session import create_engine, make_sessionmaker
from ivr.web.api import setup_api
from ivr.web.keys import CONFIG, DB_SESSIONMAKER, ON_CHANGE

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "directory.yaml"


@pytest.fixture
def cfg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for var in ("IVR_API_URL", "IVR_API_TOKEN", "IVR_DB_URL", "IVR_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    path = tmp_path / "ivr.toml"
    path.write_text(f'db_url = "sqlite+aiosqlite:///{tmp_path}/var/ivr.db"\napi_token = "tok"\n',
                    encoding="utf-8")
    return path


def run(cfg: Path, *args: str) -> tuple[int, str]:
    lines: list[str] = []
    code = main(["--config", str(cfg), *args], out=lines.append)
    return code, "\n".join(lines)


def test_workflow(cfg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(cfg, "db", "upgrade")[0] == 0
    code, out = run(cfg, "import", str(EXAMPLE), "--actor", "demo", "--show-secrets")
    assert code == 0 and "created 1 pools, 2 operators, 5 officials" in out and "op-1  secret " in out
    code, out = run(cfg, "officials")
    assert code == 0 and "张伟 局长" in out and "+865585551001 +865585551011" in out
    code, out = run(cfg, "set-mode", "zhang-wei", "pool", "--reason", "出差", "--actor", "王主任")
    assert code == 0 and "mode pool (version 2" in out
    code, out = run(cfg, "show", "zhang-wei")
    assert code == 0 and "mode pool" in out and "dialled as 865585551001, 05585551001" in out
    code, out = run(cfg, "audit", "--official", "zhang-wei", "--limit", "1")
    assert code == 0 and "王主任" in out and "出差" in out
    code, out = run(cfg, "calls", "--official", "zhang-wei")
    assert code == 0 and out.startswith("id")
    capsys.readouterr()
    assert run(cfg, "set-mode", "nobody", "pool", "--reason", "x")[0] == 1
    assert "unknown-official" in capsys.readouterr().err
    assert run(cfg, "import", str(REPO / "pyproject.toml"))[0] == 1
    assert "invalid-directory" in capsys.readouterr().err


def test_not_migrated_database(cfg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(cfg, "officials")[0] == 1
    assert "ivr db upgrade" in capsys.readouterr().err


def test_set_mode_reason_required(cfg: Path) -> None:
    with pytest.raises(SystemExit) as info:
        run(cfg, "set-mode", "zhang-wei", "pool")
    assert info.value.code == 2


async def test_set_mode_and_import_via_api(cfg: Path) -> None:
    assert (await asyncio.to_thread(run, cfg, "db", "upgrade"))[0] == 0
    config = Config.load(cfg)
    engine = create_engine(config)
    changes: list[int] = []

    async def on_change(official_id: int) -> None:
        changes.append(official_id)
    app = web.Application()
    app[DB_SESSIONMAKER] = make_sessionmaker(engine)
    app[CONFIG] = config
    app[ON_CHANGE] = on_change
    setup_api(app)
    async with TestServer(app) as server:
        base = str(server.make_url("/")).rstrip("/")
        code, out = await asyncio.to_thread(run, cfg, "--api", base, "import", str(EXAMPLE))
        assert code == 0 and "created 1 pools" in out and len(changes) == 5
        changes.clear()
        code, out = await asyncio.to_thread(run, cfg, "--api", base, "set-mode", "li-qiang", "voicemail",
                                            "--reason", "休假")
        assert code == 0 and "via API" in out and len(changes) == 1  # the mirror hook ran
    await engine.dispose()
    code, out = await asyncio.to_thread(run, cfg, "show", "li-qiang")
    assert "mode voicemail" in out


async def test_api_wrong_token(cfg: Path, monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture[str]) -> None:
    config = Config.load(cfg)
    app = web.Application()
    app[CONFIG] = config
    setup_api(app)
    monkeypatch.setenv("IVR_API_TOKEN", "wrong")
    async with TestServer(app) as server:
        code, _ = await asyncio.to_thread(run, cfg, "--api", str(server.make_url("/")), "set-mode",
                                          "li-qiang", "pool", "--reason", "r")
    assert code == 1 and "unauthorized" in capsys.readouterr().err


def test_render_and_serve_are_lazy(cfg: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    probe = ("import sys, ivr.cli; ivr.cli.build_parser().parse_args(['serve']); "
             "assert 'ivr.app' not in sys.modules and 'ivr.asterisk.render' not in sys.modules")
    subprocess.run([sys.executable, "-c", probe], check=True, cwd=REPO)
    seen: list[Namespace] = []

    def cli_serve(args: Namespace) -> int:
        seen.append(args)
        return 0

    def cli_render(args: Namespace) -> int:
        seen.append(args)
        return 3
    fake_app = types.ModuleType("ivr.app")
    fake_app.cli_serve = cli_serve  # type: ignore[attr-defined]
    fake_render = types.ModuleType("ivr.asterisk.render")
    fake_render.cli_render = cli_render  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "ivr.app", fake_app)
    monkeypatch.setitem(sys.modules, "ivr.asterisk.render", fake_render)
    assert run(cfg, "serve")[0] == 0
    assert run(cfg, "render", "--out", "/tmp/x")[0] == 3
    assert seen[0].config == str(cfg) and seen[1].out == "/tmp/x"


def test_table_aligns_wide_characters() -> None:
    lines = table(["slug", "name"], [["a", "张伟"], ["bb", "x"]]).splitlines()
    assert lines[2] == "a     张伟" and lines[3] == "bb    x"
