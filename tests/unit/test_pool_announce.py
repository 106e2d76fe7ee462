"""What a caller waiting in a pool hears (issue 15): the [announce] defaults, a pool's own
``announce:`` in the directory, their rendering into queues.conf and say.conf, the prompts.
End to end on Asterisk: tests/e2e/test_pool_announce.py."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from ivr.asterisk.render import QueueDef, RenderError, RenderInput, render_all, say_rules
from ivr.core.config import Config, ConfigError
from ivr.core.config_announce import NUMBER_MAX, QUEUE_SOUNDS, AnnounceConfig, PoolAnnounce
from ivr.core.constants import LANGUAGES
from ivr.core.errors import InvalidDirectory
from ivr.directory.spec import parse_directory
from ivr.followup.prompts import ANNOUNCE_PROMPTS, number_prompts, zh_number

CONFIG = Config.build(ami={"secret": "a" * 32}, routing={"default_pool": "main"})
PROMPTS = CONFIG.prompts_dir_inside


def section(text: str, name: str) -> dict[str, str]:
    """One ``[name]`` section of a rendered file as key → value."""
    body = text.split(f"[{name}]\n", 1)[1].split("\n\n", 1)[0]
    return dict(line.split(" = ", 1) if " = " in line else (line.rstrip(" ="), "")
                for line in body.splitlines() if line and not line.startswith(";"))


def queues(*defs: QueueDef, config: Config = CONFIG) -> str:
    return render_all(RenderInput(config, queues=defs))["queues.conf"]


# --- queues.conf ---------------------------------------------------------------------------

def test_a_pool_announcing_position_and_wait_renders_app_queues_options() -> None:
    q = section(queues(QueueDef("pool-main", announce=PoolAnnounce(True, True, 30))), "pool-main")
    assert q["announce-position"] == "limit" and q["announce-position-limit"] == str(NUMBER_MAX)
    assert q["announce-holdtime"] == "yes" and q["announce-round-seconds"] == "0"
    # every 30 s, and not sooner when the position changes (a hand-over moves everyone up)
    assert q["announce-frequency"] == q["min-announce-frequency"] == "30"
    assert q["announce-to-first-user"] == "no" and q["periodic-announce-frequency"] == "0"
    # our prompts, by a path without language: Asterisk inserts the channel's (zh/en/ko)
    for key, name in QUEUE_SOUNDS.items():
        assert q[key] == f"{PROMPTS}/{name}", key
    assert q["queue-thankyou"] == ""  # nothing after the announcement


def test_each_setting_of_a_pool_renders_on_its_own() -> None:
    text = queues(QueueDef("pool-a", announce=PoolAnnounce(False, True, 60)),
                  QueueDef("pool-b", announce=PoolAnnounce(True, False, 15)),
                  QueueDef("pool-c", announce=PoolAnnounce(False, False, 45)))
    a, b, c = (section(text, f"pool-{n}") for n in "abc")
    assert (a["announce-position"], a["announce-holdtime"], a["announce-frequency"]) == \
        ("no", "yes", "60")
    assert (b["announce-position"], b["announce-holdtime"], b["announce-frequency"]) == \
        ("limit", "no", "15")
    # neither: no announcement at all, no sounds named
    assert (c["announce-position"], c["announce-holdtime"], c["announce-frequency"]) == \
        ("no", "no", "0")
    assert not any(k.startswith("queue-") for k in c)


# --- say.conf ------------------------------------------------------------------------------

def _rule_regex(pattern: str) -> str:
    """An extension pattern of say.conf (``_[n]um:[1-9]X``, ``_[n]um:.``) as a regex."""
    body, out, i = pattern.removeprefix("_").replace("[n]", "n"), "", 0
    while i < len(body):
        if body[i] == "[":
            j = body.index("]", i)
            out, i = out + body[i:j + 1], j + 1
            continue
        out, i = out + {"X": "[0-9]", ".": ".+"}.get(body[i], re.escape(body[i])), i + 1
    return out


def spoken(say_conf: str, language: str, number: int) -> str:
    """The file the first matching rule of ``language`` plays for ``number``."""
    rules = section(say_conf.replace(" => ", " = "), language)
    for pattern, target in rules.items():  # in file order, as app_playback tries them
        if re.fullmatch(_rule_regex(pattern), f"num:{number}"):
            return target.replace("${SAY}", str(number))
    raise AssertionError(f"no rule for {number}")


def test_say_conf_reads_numbers_with_our_prompts_in_every_language() -> None:
    say = render_all(RenderInput(CONFIG))["say.conf"]
    assert "[general]\nmode = new\n" in say
    for lang in LANGUAGES:
        for n in (1, 2, 9, 10, 23, 99):
            assert spoken(say, lang, n) == f"{PROMPTS}/ivr-num-{n}", (lang, n)
        for n in (100, 1234):
            assert spoken(say, lang, n) == f"{PROMPTS}/ivr-num-more", (lang, n)


@pytest.mark.parametrize("bad", ["relative/prompts", "/a b/prompts", "/p,q", "/" + "x" * 120])
def test_a_prompts_folder_say_conf_cannot_name_is_refused(bad: str) -> None:
    with pytest.raises(RenderError, match="prompts folder"):
        say_rules(bad)


def test_the_pool_step_sets_the_calls_language_and_early_media_before_the_queue() -> None:
    ext = render_all(RenderInput(CONFIG))["extensions.conf"]
    step = ext.split("[ivr-step-pool]\n", 1)[1].split("\n[", 1)[0]
    lang = step.index("Set(CHANNEL(language)=${IVR_LANG})")
    assert lang < step.index("Progress()") < step.index("Queue(${IVR_TARGET}")


# --- prompts -------------------------------------------------------------------------------

def test_mandarin_number_words() -> None:
    assert [zh_number(n) for n in (1, 2, 10, 11, 19, 20, 23, 90, 99)] == \
        ["一", "二", "十", "十一", "十九", "二十", "二十三", "九十", "九十九"]
    with pytest.raises(ValueError):
        zh_number(100)


def test_every_sound_the_announcements_name_is_a_prompt_in_every_language() -> None:
    names = {p.name for p in (*ANNOUNCE_PROMPTS, *number_prompts())}
    assert set(QUEUE_SOUNDS.values()) <= names
    assert {f"ivr-num-{n}" for n in range(1, NUMBER_MAX + 1)} | {"ivr-num-more"} <= names
    for prompt in (*ANNOUNCE_PROMPTS, *number_prompts()):
        for lang in LANGUAGES:
            assert prompt.text(lang).strip(), (prompt.name, lang)
    # a city may record its own words (PUT /api/v1/prompts/{lang}/{name}); numbers stay ours
    from ivr.followup.prompts_http import PROMPTS as REPLACEABLE
    assert {p.name for p in ANNOUNCE_PROMPTS} <= set(REPLACEABLE)
    assert not any(n.startswith("ivr-num-") for n in REPLACEABLE)


# --- configuration: [announce] and the directory's announce: --------------------------------

def test_announce_defaults_and_their_range() -> None:
    assert CONFIG.announce == AnnounceConfig(True, True, 45)
    assert Config.build(announce={"every": 15, "holdtime": False}).announce.holdtime is False
    for bad in (14, 601):
        with pytest.raises(ConfigError, match="every"):
            Config.build(announce={"every": bad})
    with pytest.raises(ConfigError, match="unknown setting 'often'"):
        Config.build(announce={"often": 30})


def test_a_pools_own_settings_override_the_defaults_one_by_one() -> None:
    defaults = AnnounceConfig(position=True, holdtime=False, every=60)
    assert PoolAnnounce.resolve(defaults) == PoolAnnounce(True, False, 60)
    assert PoolAnnounce.resolve(defaults, False, None, 20) == PoolAnnounce(False, False, 20)
    assert not PoolAnnounce(False, False, 20).enabled


def _pools(announce: str) -> str:
    return f"pools:\n  - {{name: main, announce: {announce}}}\n"


def test_the_directory_reads_a_pools_announce() -> None:
    assert parse_directory(_pools("{position: no, every: 30}"), "yaml").pools[0].announce == \
        (False, None, 30)
    assert parse_directory(_pools("{holdtime: yes}"), "yaml").pools[0].announce == \
        (None, True, None)
    assert parse_directory("pools: [{name: main}]\n", "yaml").pools[0].announce == \
        (None, None, None)


@pytest.mark.parametrize(("announce", "message"), [
    ("{position: yes, often: 30}", "unknown field.*often"),
    ("{every: 5}", "out of range 15..600"),
    ("{holdtime: perhaps}", "true or false"),
    ("yes", "expected a mapping"),
])
def test_a_bad_announce_is_refused_naming_its_place(announce: str, message: str) -> None:
    with pytest.raises(InvalidDirectory, match=message) as err:
        parse_directory(_pools(announce), "yaml")
    assert err.value.details["where"].startswith("pools[0].announce") and err.value.status == 400


async def test_imported_pool_settings_reach_queues_conf(tmp_path: Path) -> None:
    from ivr.db.models import Base
    from ivr.db.session import create_engine, make_sessionmaker
    from ivr.directory.asterisk_input import load_render_input
    from ivr.directory.importer import import_text

    config = Config.build(database={"url": f"sqlite+aiosqlite:///{tmp_path / 'ivr.db'}"},
                          ami={"secret": "a" * 32}, routing={"default_pool": "main"},
                          announce={"every": 50})
    engine = create_engine(config)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
        db = make_sessionmaker(engine)
        text = ("pools:\n  - {name: main}\n"
                "  - {name: night, announce: {position: no, holdtime: yes, every: 20}}\n")
        await import_text(db, text, "yaml", "tester")

        async def rendered() -> str:
            return render_all(await load_render_input(db, config))["queues.conf"]
        q = await rendered()
        main, night = section(q, "pool-main"), section(q, "pool-night")
        assert (main["announce-position"], main["announce-holdtime"],
                main["announce-frequency"]) == ("limit", "yes", "50")  # the defaults
        assert (night["announce-position"], night["announce-holdtime"],
                night["announce-frequency"]) == ("no", "yes", "20")
        # the file is the truth: a pool's announce removed → the defaults again
        result = await import_text(db, "pools:\n  - {name: main}\n  - {name: night}\n",
                                   "yaml", "tester")
        assert result.updated["pools"] == 1
        night = section(await rendered(), "pool-night")
        assert (night["announce-position"], night["announce-frequency"]) == ("limit", "50")
        again = await import_text(db, "pools:\n  - {name: main}\n  - {name: night}\n",
                                  "yaml", "tester")
        assert again.updated["pools"] == 0
    finally:
        await engine.dispose()


# --- the pools API ---------------------------------------------------------------------------

async def test_the_pools_api_sets_shows_and_audits_a_pools_announce(tmp_path: Path) -> None:
    from aiohttp.test_utils import TestClient, TestServer

    from ivr.app import create_app
    from tests.unit.apps import unit_config

    token = "deployment-token-for-tests"
    config = unit_config(tmp_path, database={"url": f"sqlite+aiosqlite:///{tmp_path / 'ivr.db'}"},
                         http={"api_token": token})
    client = TestClient(TestServer(create_app(config)))
    await client.start_server()
    auth = {"Authorization": f"Bearer {token}"}
    try:
        r = await client.post("/api/v1/pools", headers=auth, json={
            "name": "night", "announce": {"position": False, "every": 20}})
        assert r.status == 201, await r.text()
        assert (await r.json())["announce"] == {"position": False, "holdtime": None, "every": 20}
        # refused before anything changes: an unknown key, out of range, not a mapping
        for bad in ({"often": 3}, {"every": 5}, {"holdtime": "maybe"}, "yes"):
            r = await client.put("/api/v1/pools/night", headers=auth, json={"announce": bad})
            body = await r.json()
            assert (r.status, body["error_id"]) == (400, "invalid-directory"), (bad, body)
        # absent: unchanged; a mapping replaces the pool's own settings
        r = await client.put("/api/v1/pools/night", headers=auth, json={"max_wait": 90})
        assert (await r.json())["announce"] == {"position": False, "holdtime": None, "every": 20}
        r = await client.put("/api/v1/pools/night", headers=auth,
                             json={"announce": {"holdtime": False}})
        assert (await r.json())["announce"] == {"position": None, "holdtime": False, "every": None}
        r = await client.get("/api/v1/pools/night", headers=auth)
        assert (await r.json())["announce"]["holdtime"] is False
        r = await client.get("/api/v1/audit?limit=10", headers=auth)
        assert r.status == 200, await r.text()
        changes = [(json.loads(e["old_value"] or "{}"), json.loads(e["new_value"]))
                   for e in (await r.json())["items"] if e["field"] == "pool"]
        # created, max_wait changed, announce replaced: three entries, the refusals none
        assert len(changes) == 3, changes
        old, new = next(c for c in changes if c[1]["announce_holdtime"] is False)
        assert (old["announce_position"], old["announce_every"]) == (False, 20)
        assert (new["announce_position"], new["announce_every"]) == (None, None)
    finally:
        await client.close()


def test_an_upgrade_adds_the_new_prompts_and_keeps_a_citys_own(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ivr.followup import prompts

    made: list[Path] = []

    def fake(text: str, language: str, out: Path, **kw: object) -> Path:
        made.append(out)
        return out
    monkeypatch.setattr(prompts, "synthesize", fake)
    monkeypatch.setattr(prompts, "beep", lambda out, **kw: fake("", "", out))
    own = tmp_path / "zh" / "ivr-unavailable.wav"  # a city's recording, and an older default
    own.parent.mkdir()
    own.write_bytes(b"RIFF")
    (tmp_path / "zh" / "ivr-beep.wav").write_bytes(b"RIFF")
    prompts.generate_default_prompts(tmp_path, missing_only=True)
    assert own not in made and tmp_path / "zh" / "ivr-beep.wav" not in made
    assert {tmp_path / lang / "ivr-num-23.wav" for lang in LANGUAGES} <= set(made)
    assert tmp_path / "zh" / "ivr-queue-next.wav" in made
    made.clear()
    prompts.generate_default_prompts(tmp_path)  # first start: everything
    assert own in made


async def test_the_operators_page_says_what_each_pool_announces(tmp_path: Path) -> None:
    from aiohttp.test_utils import TestClient, TestServer

    from ivr.accounts import services as accounts
    from ivr.app import create_app
    from ivr.directory.importer import import_text
    from ivr.http.keys import DB
    from tests.unit.apps import unit_config

    config = unit_config(tmp_path, database={"url": f"sqlite+aiosqlite:///{tmp_path / 'ivr.db'}"},
                         announce={"every": 50})
    app = create_app(config)
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        db = app[DB]
        await import_text(db, "pools:\n  - {name: main}\n"
                              "  - {name: night, announce: {position: no, every: 20}}\n"
                              "  - {name: quiet, announce: {position: no, holdtime: no}}\n",
                          "yaml", "test")
        user = await accounts.create_user(db, "admin-1", "correct horse battery staple", "admin")
        key, _ = await accounts.open_session(db, user.id)
        pages = {}
        for lang in ("zh", "en"):
            r = await client.get("/admin/operators", cookies={"ivr_session": key, "ivr_lang": lang})
            assert r.status == 200, await r.text()
            pages[lang] = await r.text()
        assert "排队播报" in pages["zh"] and "排队位置、预计等待，每50秒" in pages["zh"]
        assert "预计等待，每20秒" in pages["zh"] and "不播报" in pages["zh"]
        assert "place in the queue, expected wait, every 50 s" in pages["en"]
        assert "expected wait, every 20 s" in pages["en"] and ">none<" in pages["en"]
    finally:
        await client.close()
