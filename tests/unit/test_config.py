"""The deployment config: typed sections, unknown keys refused by name, environment overrides,
the old flat format accepted with a warning, `ivr init` round trip, one timezone source."""

from __future__ import annotations

import asyncio
import logging
import tomllib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from ivr.cli import main
from ivr.core.config import LEGACY_KEYS, Config, ConfigError, env_name, settings
from ivr.db.models import Call
from ivr.db.session import Db, create_engine, make_sessionmaker, upgrade_async
from ivr.db.settings import current_timezone, seed_settings
from ivr.directory.importer import import_text
from ivr.routing.store import load_snapshot
from tests.unit.apps import real_app, unit_config

REPO = Path(__file__).resolve().parents[2]


def load(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> Config:
    path = tmp_path / "ivr.toml"
    path.write_text(text, encoding="utf-8")
    return Config.load(path, env=env or {})


# --- unknown keys --------------------------------------------------------------------------

def test_unknown_top_level_key_is_refused_with_its_name(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown setting 'api_tokn'"):
        load(tmp_path, 'api_tokn = "secret"\n')


def test_unknown_key_in_a_section_is_refused_with_its_name(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown setting 'api_tokn' in \[http\]"):
        load(tmp_path, '[http]\napi_tokn = "secret"\n')
    with pytest.raises(ConfigError, match=r"\[http\] must be a table"):
        load(tmp_path, 'http = 8080\n')


def test_unknown_setting_variables_are_refused_other_ivr_variables_ignored(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="IVR_HTTP__PROT.*'prot'.*\\[http\\]"):
        load(tmp_path, "", {"IVR_HTTP__PROT": "1"})
    with pytest.raises(ConfigError, match=r"IVR_HTTPS__PORT.*no section \[https\]"):
        load(tmp_path, "", {"IVR_HTTPS__PORT": "1"})
    # variables of scripts, tests and docker-compose that are not settings
    others = {"IVR_CACHE": "/x", "IVR_SKIP_APT": "1", "IVR_EXTRA_PACKAGES": "a b",
              "IVR_DB_PASSWORD": "pw", "IVR_PG_PORT": "5433", "IVR_API_URL": "http://x",
              "IVR_MODELS_DIR": "/m", "IVR_PORT_LEASES": "/l"}
    assert load(tmp_path, "", others) == load(tmp_path, "")


# --- environment ---------------------------------------------------------------------------

def test_every_setting_can_be_set_from_the_environment(tmp_path: Path) -> None:
    config = load(tmp_path, '[http]\nport = 8081\n[voicemail]\nworkers = 4\n', {
        "IVR_HTTP__PORT": "9090", "IVR_VOICEMAIL__PRELOAD": "true",
        "IVR_AGI__ANSWER_TIMEOUT": "0.5", "IVR_CASES__DEADLINE_HOURS": '{"urgent": 1}',
        "IVR_CASES__TRIAGE_RULES": "/etc/ivr/rules.yaml", "IVR_NODE__NAME": "node a"})
    assert config.http.port == 9090  # the environment beats the file
    assert config.voicemail.workers == 4  # the file beats the default
    assert config.voicemail.preload is True and config.agi.answer_timeout == 0.5
    assert config.cases.deadline_hours == {"urgent": 1.0}
    assert config.cases.triage_rules == "/etc/ivr/rules.yaml"
    assert config.node.name == "node_a"  # a slug: Asterisk systemname, settings key
    # every declared setting has its variable, and it reaches the setting
    for section, key, default, kind, _ in settings():
        value = {"str": "x-1", "int": "7", "float": "7.5", "bool": "1",
                 "tuple": "10.0.0.0/8, 192.0.2.1"}.get(kind, '{"normal": 3}')
        if (section, key) == ("database", "timezone"):
            value = "Europe/Berlin"
        value = {("database", "timezone"): "Europe/Berlin", ("outbound", "country_code"): "852",
                 ("outbound", "allow_prefixes"): "+852",
                 ("alerts", "pool_hours"): "07:00-19:00",
                 ("backup", "at"): "04:15", ("autocallback", "hours"): "09:00-17:00",
                 ("autocallback", "first"): "deputy", ("survey", "after"): "pooled",
                 ("survey", "hours"): "10:00-18:00", ("survey", "after_resolved"): "0",
                 ("autocallback", "officials"): '{"zhang-wei": "attempts=2"}',
                 ("reports", "auto_monthly"): "0",
                 ("evidence", "publish"): "0",
                 ("testcalls", "caller"): "13912340000",
                 ("announce", "position"): "0", ("announce", "holdtime"): "0",
                 ("announce", "every"): "30"}.get((section, key),
                                                                                   value)
        if section in ("deadlines", "webhooks") and kind == "Mapping":  # tables of strings
            value = '{"normal": "3d"}'
        got = getattr(getattr(load(tmp_path, "", {env_name(section, key): value}), section), key)
        assert got != default, (section, key)


def test_type_errors_name_the_setting(tmp_path: Path) -> None:
    for text, env, message in [
            ('[http]\nport = "abc"\n', {}, r"\[http\] port: 'abc' is not a whole number"),
            ('[http]\nhost = 5\n', {}, r"\[http\] host: 5 is not a string"),
            ('[voicemail]\npreload = "maybe"\n', {}, r"\[voicemail\] preload: 'maybe' is not true"),
            ('[cases]\ndeadline_hours = {urgent = "soon"}\n', {}, r"deadline_hours.urgent: 'soon'"),
            ("", {"IVR_AGI__ANSWER_TIMEOUT": "soon"}, r"\[agi\] answer_timeout: 'soon' is not a number"),
            ("", {"IVR_CASES__DEADLINE_HOURS": "urgent=1"}, r"deadline_hours: 'urgent=1' is not a JSON"),
            ('[database]\ntimezone = "Mars/Olympus"\n', {}, r"\[database\] timezone: unknown IANA zone"),
            ('[outbound]\nnational_pattern = "1[3-9"\n', {}, r"\[outbound\] national_pattern"),
            ('[outbound]\ncountry_code = "+86"\n', {}, r"\[outbound\] country_code"),
            ('[outbound]\nallow_prefixes = "+852, 9x"\n', {}, r"allow_prefixes: '9x'"),
            ("", {"IVR_OUTBOUND__CALLBACK_MAX_SECONDS": "0"}, r"callback_max_seconds: must be")]:
        with pytest.raises(ConfigError, match=message):
            load(tmp_path, text, env)


# --- the old flat format -------------------------------------------------------------------

def test_old_flat_keys_are_accepted_with_a_warning_naming_the_new_key(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="ivr.core.config"):
        config = load(tmp_path, 'db_url = "sqlite+aiosqlite:///old.db"\napi_token = "tok"\n'
                                'agi_port = 4999\nvoicemail_workers = 2\n'
                                'case_deadline_hours = {urgent = 1}\n')
    assert (config.database.url, config.http.api_token, config.agi.port) == (
        "sqlite+aiosqlite:///old.db", "tok", 4999)
    assert config.voicemail.workers == 2 and config.cases.deadline_hours == {"urgent": 1.0}
    text = caplog.text
    assert "db_url is now [database] url" in text and "api_token is now [http] api_token" in text
    assert "voicemail_workers is now [voicemail] workers" in text
    # the old names of the environment too
    with caplog.at_level(logging.WARNING, logger="ivr.core.config"):
        config = load(tmp_path, "", {"IVR_DB_URL": "sqlite+aiosqlite:///env.db"})
    assert config.database.url == "sqlite+aiosqlite:///env.db"
    assert "IVR_DB_URL is now IVR_DATABASE__URL" in caplog.text
    # set twice, the old and the new way: refused rather than guessed
    with pytest.raises(ConfigError, match=r"db_url and \[database\] url are both set"):
        load(tmp_path, 'db_url = "a"\n[database]\nurl = "b"\n')


def test_every_old_key_moves_to_a_declared_setting() -> None:
    declared = {(s, k) for s, k, *_ in settings()}
    assert set(LEGACY_KEYS.values()) <= declared
    for old, (section, key) in LEGACY_KEYS.items():
        assert Config.from_mapping({old: getattr(getattr(Config(), section), key)}) == Config()


# --- ivr init ------------------------------------------------------------------------------

def test_init_writes_sections_that_round_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "ivr.toml"
    assert main(["init", "--out", str(path), "--http-port", "8181", "--timezone", "Asia/Urumqi"],
                out=lambda _: None) == 0
    doc = tomllib.loads(path.read_text(encoding="utf-8"))
    assert not set(doc) & set(LEGACY_KEYS), "init writes the old flat keys"
    assert doc["http"]["port"] == 8181 and doc["database"]["timezone"] == "Asia/Urumqi"
    assert "name" not in doc["node"]  # each node defaults to its host name
    with caplog.at_level(logging.WARNING, logger="ivr.core.config"):
        config = Config.load(path, env={})
    assert caplog.text == ""  # nothing deprecated in a fresh file
    assert Config.from_mapping(tomllib.loads(config.to_toml())) == config
    assert len(config.http.api_token) >= 40 and len(config.ami.secret) >= 40


def test_to_toml_round_trips_every_kind_of_value() -> None:
    config = Config.build(http={"port": 8181}, voicemail={"preload": True, "scan_seconds": 2.5},
                          cases={"deadline_hours": {"urgent": 1.5}}, node={"name": "n1"},
                          database={"url": 'sqlite+aiosqlite:///a "quoted" path.db'})
    assert Config.from_mapping(tomllib.loads(config.to_toml())) == config
    assert config.replace(node={"name": "n2"}).node.name == "n2"
    with pytest.raises(ConfigError, match=r"unknown setting 'nam' in \[node\]"):
        config.replace(node={"nam": "n2"})


def test_docs_list_every_setting() -> None:
    text = (REPO / "docs" / "config.md").read_text(encoding="utf-8")
    missing = [f"[{s}] {k}" for s, k, *_ in settings()
               if f"`[{s}] {k}` | `{env_name(s, k)}`" not in text]
    assert not missing, f"docs/config.md lacks {missing}"


# --- one timezone source -------------------------------------------------------------------

@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Db]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'ivr.db'}"
    await upgrade_async(url)
    engine = create_engine(Config.build(database={"url": url}))
    yield make_sessionmaker(engine)
    await engine.dispose()


async def test_config_timezone_only_seeds_a_fresh_database(db: Db) -> None:
    berlin = Config.build(database={"timezone": "Europe/Berlin"})
    assert await seed_settings(db, berlin) is True
    assert await current_timezone(db) == "Europe/Berlin"
    assert (await load_snapshot(db, berlin)).tz_name == "Europe/Berlin"
    # seeded once: another config's value changes nothing
    assert await seed_settings(db, Config.build(database={"timezone": "Asia/Urumqi"})) is False
    assert await current_timezone(db) == "Europe/Berlin"
    # admins change it in the directory: everything follows, whatever the config says
    await import_text(db, "settings: {timezone: America/New_York}\n", "yaml", "admin")
    assert await current_timezone(db) == "America/New_York"
    assert (await load_snapshot(db, berlin)).tz_name == "America/New_York"


def test_db_upgrade_seeds_the_timezone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IVR_CONFIG", raising=False)
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    path = tmp_path / "ivr.toml"
    path.write_text(f'[database]\nurl = "{url}"\ntimezone = "Asia/Urumqi"\n', encoding="utf-8")
    lines: list[str] = []
    assert main(["--config", str(path), "db", "upgrade"], out=lines.append) == 0
    assert any("Asia/Urumqi" in line for line in lines)

    async def zone() -> str:
        engine = create_engine(Config.build(database={"url": url}))
        try:
            return await current_timezone(make_sessionmaker(engine))
        finally:
            await engine.dispose()
    assert asyncio.run(zone()) == "Asia/Urumqi"


async def test_api_local_times_follow_the_database_timezone(db: Db, tmp_path: Path) -> None:
    """A time without an offset (``since``) is read in the database's zone, not the config's."""
    async with db() as s:  # 00:30 UTC = 08:30 in Shanghai = 19:30 the day before in New York
        s.add(Call(linkedid="tz.1", started_at=datetime(2025, 1, 1, 0, 30, tzinfo=UTC)))
        await s.commit()
    config = unit_config(tmp_path, http={"api_token": "t"},
                         database={"url": f"sqlite+aiosqlite:///{tmp_path / 'ivr.db'}",
                                   "timezone": "Asia/Shanghai"})
    async with TestClient(TestServer(real_app(config))) as client:
        async def listed() -> list[str]:
            r = await client.get("/api/v1/calls", params={"since": "2025-01-01T01:00"},
                                 headers={"Authorization": "Bearer t"})
            assert r.status == 200, await r.text()
            return [c["linkedid"] for c in (await r.json())["items"]]
        await seed_settings(db, config)  # Shanghai: since = 2024-12-31 17:00 UTC
        assert await listed() == ["tz.1"]
        await import_text(db, "settings: {timezone: America/New_York}\n", "yaml", "admin")
        assert await listed() == []  # since = 2025-01-01 06:00 UTC, after the call
