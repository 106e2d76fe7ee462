"""The ivr command line on a real database (SQLite and PostgreSQL); --api through a real aiohttp
server; ``ivr init``."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tomllib
import types
from argparse import Namespace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer

from ivr.cli import main, table
from ivr.core.config import Config
from ivr.db.session import create_engine, make_sessionmaker
from tests.unit.apps import real_app, unit_config

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "directory.yaml"


def _write_cfg(tmp_path: Path, url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    for var in ("IVR_API_URL", "IVR_API_TOKEN", "IVR_DB_URL", "IVR_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    path = tmp_path / "ivr.toml"
    path.write_text(f'[database]\nurl = "{url}"\n[http]\napi_token = "tok"\n', encoding="utf-8")
    return path


@pytest.fixture
def cfg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A config on SQLite, for the commands whose database does not matter."""
    return _write_cfg(tmp_path, f"sqlite+aiosqlite:///{tmp_path}/var/ivr.db", monkeypatch)


@pytest.fixture
def db_cfg(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A config on a fresh database: SQLite, then PostgreSQL."""
    return _write_cfg(tmp_path, db_url, monkeypatch)


def run(cfg: Path, *args: str) -> tuple[int, str]:
    lines: list[str] = []
    code = main(["--config", str(cfg), *args], out=lines.append)
    return code, "\n".join(lines)


def test_workflow(db_cfg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = db_cfg
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
    _add_calls(cfg)
    code, out = run(cfg, "calls", "--official", "zhang-wei")
    assert code == 0 and out.startswith("id"), out
    assert "13900000001" in out and "direct:ANSWER" in out and "o-zhang" in out, out
    assert "13900000002" not in out, out  # li-qiang's call is not zhang-wei's
    code, out = run(cfg, "calls")
    assert code == 0 and "13900000001" in out and "13900000002" in out, out
    capsys.readouterr()
    assert run(cfg, "set-mode", "nobody", "pool", "--reason", "x")[0] == 1
    assert "unknown-official" in capsys.readouterr().err
    assert run(cfg, "import", str(REPO / "pyproject.toml"))[0] == 1
    assert "invalid-directory" in capsys.readouterr().err


def _add_calls(cfg: Path) -> None:
    """One answered call to zhang-wei's number, one to li-qiang's."""
    from sqlalchemy import select

    from ivr.db.models import Call, CallStep, Official

    async def add() -> None:
        engine = create_engine(Config.load(cfg))
        try:
            async with make_sessionmaker(engine)() as s, s.begin():
                t0 = datetime.now(UTC) - timedelta(hours=1)
                for n, (slug, caller) in enumerate((("zhang-wei", "13900000001"),
                                                    ("li-qiang", "13900000002"))):
                    oid = await s.scalar(select(Official.id).where(Official.slug == slug))
                    s.add(Call(linkedid=f"cli-{n}", official_id=oid, caller=caller,
                               number_dialed="05585551001", route_source="agi", mode="direct",
                               outcome="answered", answered_kind="direct", answered_by="o-zhang",
                               started_at=t0, answered_at=t0, ended_at=t0 + timedelta(minutes=1),
                               steps=[CallStep(seq=1, kind="direct", target="PJSIP/o-zhang",
                                               result="ANSWER", answered_by="o-zhang",
                                               started_at=t0)]))
        finally:
            await engine.dispose()
    asyncio.run(add())


def test_not_migrated_database(db_cfg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = db_cfg
    assert run(cfg, "officials")[0] == 1
    assert "ivr db upgrade" in capsys.readouterr().err


def test_set_mode_reason_required(cfg: Path) -> None:
    with pytest.raises(SystemExit) as info:
        run(cfg, "set-mode", "zhang-wei", "pool")
    assert info.value.code == 2


async def test_set_mode_and_import_via_api(db_cfg: Path) -> None:
    cfg = db_cfg
    assert (await asyncio.to_thread(run, cfg, "db", "upgrade"))[0] == 0
    config = Config.load(cfg)
    changes: list[int | None] = []
    app = real_app(unit_config(cfg.parent, database={"url": config.database.url},
                               http={"api_token": config.http.api_token}),
                   changes)
    async with TestServer(app) as server:
        base = str(server.make_url("/")).rstrip("/")
        code, out = await asyncio.to_thread(run, cfg, "--api", base, "import", str(EXAMPLE))
        assert code == 0 and "created 1 pools" in out and len(changes) == 5
        changes.clear()
        code, out = await asyncio.to_thread(run, cfg, "--api", base, "set-mode", "li-qiang", "voicemail",
                                            "--reason", "休假")
        assert code == 0 and "via API" in out and len(changes) == 1  # the mirror hook ran
    code, out = await asyncio.to_thread(run, cfg, "show", "li-qiang")
    assert "mode voicemail" in out


async def test_api_wrong_token(cfg: Path, monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture[str]) -> None:
    config = Config.load(cfg)
    app = real_app(unit_config(cfg.parent, database={"url": config.database.url},
                               http={"api_token": config.http.api_token}))
    monkeypatch.setenv("IVR_API_TOKEN", "wrong")
    async with TestServer(app) as server:
        code, _ = await asyncio.to_thread(run, cfg, "--api", str(server.make_url("/")), "set-mode",
                                          "li-qiang", "pool", "--reason", "r")
    assert code == 1 and "unauthorized" in capsys.readouterr().err


def test_render_and_serve_are_lazy(cfg: Path, monkeypatch: pytest.MonkeyPatch,
                                   tmp_path: Path) -> None:
    probe = ("import sys, ivr.cli; ivr.cli.build_parser().parse_args(['serve']); "
             "assert 'ivr.app' not in sys.modules and 'ivr.asterisk.render' not in sys.modules")
    subprocess.run([sys.executable, "-c", probe], check=True, cwd=REPO)
    # the commands import their module only when run, then hand it the parsed arguments
    seen: list[tuple[str, Namespace]] = []

    def cli_serve(args: Namespace) -> int:
        seen.append(("serve", args))
        return 0

    def cli_render(args: Namespace) -> int:
        seen.append(("render", args))
        return 0
    fake_app = types.ModuleType("ivr.app")
    fake_app.cli_serve = cli_serve  # type: ignore[attr-defined]
    fake_render = types.ModuleType("ivr.directory.asterisk_input")
    fake_render.cli_render = cli_render  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "ivr.app", fake_app)
    monkeypatch.setitem(sys.modules, "ivr.directory.asterisk_input", fake_render)
    run(cfg, "serve")
    run(cfg, "render", "--out", str(tmp_path / "out"))
    assert [name for name, _ in seen] == ["serve", "render"]
    assert seen[0][1].config == str(cfg) and seen[1][1].out == str(tmp_path / "out")


def test_table_aligns_wide_characters() -> None:
    lines = table(["slug", "name"], [["a", "张伟"], ["bb", "x"]]).splitlines()
    assert lines[2] == "a     张伟" and lines[3] == "bb    x"


# --- ivr init ----------------------------------------------------------------------------------

def test_init_generates_secrets_per_deployment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("IVR_CONFIG", raising=False)
    (tmp_path / "ivr.toml").write_text("this is [not toml", encoding="utf-8")  # not even read
    a, b = tmp_path / "a" / "ivr.toml", tmp_path / "b.toml"
    assert main(["init", "--out", str(a)], out=lambda _: None) == 0
    assert main(["init", "--out", str(b), "--db-url", "postgresql+asyncpg://ivr:p%40ss@db/ivr",
                 "--sip-port", "5070", "--ami-port", "5039", "--agi-port", "4574",
                 "--http-port", "8081", "--carrier-host", "sip.carrier.example",
                 "--carrier-match", "203.0.113.0/24", "--timezone", "Asia/Urumqi"],
                out=lambda _: None) == 0
    ca, cb = Config.load(a, env={}), Config.load(b, env={})
    assert a.stat().st_mode & 0o777 == 0o600
    for c in (ca, cb):
        assert len(c.ami.secret) >= 40 and len(c.http.api_token) >= 40
        assert c.ami.secret not in Config().to_toml() and c.ami.secret != c.http.api_token
        assert c.ami.host == "127.0.0.1"  # AMI stays on loopback
    assert ca.ami.secret != cb.ami.secret and ca.http.api_token != cb.http.api_token
    assert (cb.database.url, cb.sip.port, cb.ami.port, cb.agi.port, cb.http.port) == (
        "postgresql+asyncpg://ivr:p%40ss@db/ivr", 5070, 5039, 4574, 8081)
    assert (cb.carrier.host, cb.carrier.match, cb.database.timezone) == (
        "sip.carrier.example", ("203.0.113.0/24",), "Asia/Urumqi")
    assert ca.database.url == Config().database.url and ca.sip.port == 5060


def test_init_refuses_to_overwrite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "ivr.toml"
    assert main(["init", "--out", str(path)], out=lambda _: None) == 0
    before = path.read_text(encoding="utf-8")
    assert main(["init", "--out", str(path)], out=lambda _: None) == 1
    assert "--force" in capsys.readouterr().err and path.read_text(encoding="utf-8") == before
    assert main(["init", "--out", str(path), "--force"], out=lambda _: None) == 0
    assert Config.load(path, env={}).ami.secret != tomllib.loads(before)["ami"]["secret"]


@pytest.mark.parametrize("args, message", [
    (["--timezone", "Mars/Olympus"], "timezone"),
    (["--sip-port", "70000"], "sip_port"),
    (["--ami-port", "5060"], "must differ"),
    (["--carrier-match", "carrier.example"], "carrier_match"),
    (["--carrier-host", "a b"], "carrier_host"),
    (["--db-url", "mysql://x@y/z"], "db_url"),
])
def test_init_rejects_bad_values(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                 args: list[str], message: str) -> None:
    path = tmp_path / "ivr.toml"
    assert main(["init", "--out", str(path), *args], out=lambda _: None) == 2
    assert message in capsys.readouterr().err and not path.exists()


def test_render_refuses_a_config_without_secrets() -> None:
    from ivr.asterisk.render import RenderError, RenderInput, template_values

    with pytest.raises(RenderError, match="ivr init"):
        template_values(RenderInput(config=Config()))
