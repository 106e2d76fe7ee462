"""The whole route table × roles: every route of ivr.app.create_app has an authorization rule,
and every route rejects every role (and the anonymous visitor) that may not use it — by browser
session and by admin-issued API token. Routes added later without a rule fail here.

Also: passwords are scrypt hashes; sessions are HttpOnly + SameSite; CSRF is required on
unsafe methods; scopes keep officials to their own data and operators to their own endpoint.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from ivr.accounts import services as accounts
from ivr.core.config import Config
from ivr.core.constants import ANY, PUBLIC, ROLES
from ivr.http import ROUTES
from ivr.http.keys import DB
from ivr.lab import ports
from ivr.web import auth
from tests.unit.apps import with_astdb

TOKEN = "deployment-token-for-tests"
DIRECTORY = """
version: 1
pools:
  - {name: main}
operators:
  - {name: 话务员 王芳, endpoint: op-1, pool: main}
  - {name: 话务员 李娜, endpoint: op-2, pool: main}
officials:
  - {slug: zhang-wei, name: 张伟, title: 局长, numbers: ["0558-5551001"], mode: direct}
  - {slug: li-qiang, name: 李强, title: 副局长, numbers: ["0558-5551002"], mode: direct}
"""
PASSWORD = "correct horse battery"
SAMPLE = {"slug": "li-qiang", "endpoint": "op-2", "name": "no-such-pool", "id": "999999",
          "code": "en", "official": "li-qiang"}
OWN = {"official": {"slug": "zhang-wei"}, "operator": {"endpoint": "op-1"}}


def app_routes(app: web.Application) -> list[tuple[str, str]]:
    out = []
    for route in app.router.routes():
        resource = route.resource
        if route.method == "HEAD" or resource is None:
            continue
        out.append((route.method, resource.canonical))
    return sorted(set(out))


def fill(path: str, values: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), SAMPLE.get(m.group(1), "x")), path)


class Env:
    client: TestClient
    app: web.Application
    sessions: dict[str, tuple[str, str]]
    tokens: dict[str, str]


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    from ivr.app import create_app
    from ivr.directory.importer import import_text

    config = Config.build(database={"url": f"sqlite+aiosqlite:///{tmp_path / 'ivr.db'}"},
                          http={"api_token": TOKEN}, agi={"port": ports.free_port()},
                          asterisk={"root": str(tmp_path), "instance": "/inst"},
                          ami={"port": ports.free_port(), "secret": "s", "backoff_initial": 5.0,
                               "backoff_max": 5.0})
    app = with_astdb(create_app(config))  # routing changes in effect (200)
    client = TestClient(TestServer(app))
    await client.start_server()
    db = app[DB]
    await import_text(db, DIRECTORY, "yaml", "test")
    e = Env()
    e.client, e.app, e.sessions, e.tokens = client, app, {}, {}
    for role in ROLES:
        kw: dict[str, Any] = {}
        if role == "operator":
            kw["operator"] = "op-1"
        if role == "official":
            kw["official"] = "zhang-wei"
        await accounts.create_user(db, f"u-{role}", PASSWORD, role, **kw)
        e.tokens[role], _ = await accounts.issue_token(db, f"u-{role}", "test", "test")
    e.sessions = {}
    yield e
    await client.close()


async def _session(e: Env, role: str) -> tuple[str, str]:
    db = e.app[DB]
    user = next(u for u in await accounts.list_users(db) if u.username == f"u-{role}")
    return await accounts.open_session(db, user.id)


async def _request(e: Env, method: str, path: str, *, role: str | None, via: str) -> int:
    headers: dict[str, str] = {}
    cookies: dict[str, str] = {}
    if role is not None and via == "session":
        key, csrf = await _session(e, role)  # a fresh one: POST /logout ends it
        cookies[auth.SESSION_COOKIE] = key
        headers["X-CSRF-Token"] = csrf
    elif role is not None:
        headers["Authorization"] = f"Bearer {e.tokens[role]}"
    e.client.session.cookie_jar.clear()
    async with e.client.request(method, path, headers=headers, cookies=cookies,
                                allow_redirects=False, json={} if method in auth.UNSAFE else None) as r:
        return r.status


def test_every_route_has_a_rule() -> None:
    from ivr.app import create_app

    app = create_app(Config.build(http={"api_token": TOKEN}))
    routes = app_routes(app)
    missing = [r for r in routes if app[ROUTES].rule_for(*r) is None]
    assert not missing, f"routes without a declaration (roles): {missing}"
    assert len(routes) > 40


async def test_route_table_times_roles(env: Env) -> None:
    """Every route × every role × (session, token) + anonymous: refused iff not allowed, and
    an allowed role never gets a 5xx."""
    checked = 0
    for method, path in app_routes(env.app):
        rule = env.app[ROUTES].rule_for(method, path)
        assert rule is not None, (method, path)
        allowed = rule.allowed_roles()
        is_api = path.startswith("/api/v1") or path in auth.MACHINE_PATHS
        url = fill(path, {})
        anon = await _request(env, method, url, role=None, via="session")
        if PUBLIC in rule.roles:
            # POST /login refuses a form without its double-submit cookie (CSRF), not the role
            assert anon not in (401, 403) or (method, path) == ("POST", "/login"), (method, path, anon)
            assert anon < 500, (method, path, anon)
        else:
            assert anon in ((401,) if is_api or method != "GET" else (303,)), (method, path, anon)
        for role in ROLES:
            for via in ("session", "token") if is_api else ("session",):
                own = fill(path, OWN.get(role, {}))
                status = await _request(env, method, own, role=role, via=via)
                checked += 1
                if (method, path) == ("POST", "/login"):
                    continue
                if role in allowed or PUBLIC in rule.roles:
                    # allowed: neither refused nor broken (a 500 is a bug, not a pass)
                    assert status not in (401, 403) and status < 500, (method, path, role, via, status)
                else:
                    assert status == 403, (method, path, role, via, status)
    assert checked > 100


async def test_scopes_narrow_official_and_operator(env: Env) -> None:
    """An official may read their own official but not another's, nor another's calls; an
    operator may set their own state only."""
    for role, path, method in (("official", "/api/v1/officials/li-qiang", "GET"),
                               ("operator", "/api/v1/operators/op-2/state", "PUT")):
        assert await _request(env, method, path, role=role, via="token") == 403
    assert await _request(env, "GET", "/api/v1/officials/zhang-wei", role="official", via="token") == 200
    assert await _request(env, "GET", "/api/v1/calls?official=li-qiang", role="official",
                          via="token") == 403
    # the list of calls is narrowed to the official's own, whatever was asked
    r = await env.client.get("/api/v1/stats", headers={"Authorization": f"Bearer {env.tokens['official']}"})
    body = await r.json()
    assert [o["slug"] for o in body["officials"]] == ["zhang-wei"]


async def test_deployment_token_is_system(env: Env) -> None:
    r = await env.client.get("/api/v1/me", headers={"Authorization": f"Bearer {TOKEN}"})
    assert (await r.json())["role"] == "system"
    r = await env.client.get("/api/v1/me", headers={"Authorization": "Bearer wrong"})
    assert r.status == 401


async def test_revoked_token_refused(env: Env) -> None:
    db = env.app[DB]
    token, row = await accounts.issue_token(db, "u-admin", "temp", "test")
    h = {"Authorization": f"Bearer {token}"}
    assert (await env.client.get("/api/v1/users", headers=h)).status == 200
    await accounts.revoke_token(db, row.id)
    assert (await env.client.get("/api/v1/users", headers=h)).status == 401


async def test_csrf_required_for_session_posts(env: Env) -> None:
    key, csrf = await _session(env, "admin")
    cookies = {auth.SESSION_COOKIE: key}
    data = {"mode": "pool", "reason": "test"}
    r = await env.client.post("/admin/officials/zhang-wei/mode", data=data, cookies=cookies,
                              allow_redirects=False)
    assert r.status == 403 and "security token" in await r.text()
    r = await env.client.post("/admin/officials/zhang-wei/mode", data={**data, "csrf": "nope"},
                              cookies=cookies, allow_redirects=False)
    assert r.status == 403
    r = await env.client.get("/api/v1/officials/zhang-wei", headers={"Authorization": f"Bearer {TOKEN}"})
    assert (await r.json())["policy"]["mode"] == "direct"  # nothing changed
    r = await env.client.post("/admin/officials/zhang-wei/mode", data={**data, "csrf": csrf},
                              cookies=cookies, allow_redirects=False)
    assert r.status == 303
    # session-authenticated API writes need the header too
    r = await env.client.put("/api/v1/officials/zhang-wei/mode", json={"mode": "direct"},
                             cookies=cookies)
    assert r.status == 403 and (await r.json())["error_id"] == "csrf-failed"


async def test_login_sets_safe_cookie_and_password_is_scrypt(env: Env) -> None:
    db = env.app[DB]
    user = next(u for u in await accounts.list_users(db) if u.username == "u-admin")
    assert user.password_hash.startswith("scrypt$") and PASSWORD not in user.password_hash
    r = await env.client.get("/login")
    page = await r.text()
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    r = await env.client.post("/login", data={"username": "u-admin", "password": "wrong password",
                                              "csrf": csrf}, allow_redirects=False)
    assert r.status == 401 and "wrong user name or password" in await r.text()
    r = await env.client.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', await r.text()).group(1)
    r = await env.client.post("/login", data={"username": "u-admin", "password": PASSWORD, "csrf": csrf},
                              allow_redirects=False)
    assert r.status == 303 and r.headers["Location"] == "/admin"
    cookie = next(v for k, v in r.headers.items() if k == "Set-Cookie" and auth.SESSION_COOKIE in v)
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    # a login form without its CSRF cookie is refused
    env.client.session.cookie_jar.clear()
    r = await env.client.post("/login", data={"username": "u-admin", "password": PASSWORD, "csrf": csrf},
                              allow_redirects=False)
    assert r.status == 403


async def test_rules_reference_known_roles_only() -> None:
    from ivr.app import create_app

    for rule in create_app(Config.build(http={"api_token": TOKEN}))[ROUTES]:
        assert rule.roles <= set(ROLES) | {PUBLIC, ANY}, (rule.method, rule.path)
        if rule.scope:
            assert rule.scope.roles <= set(ROLES), rule.scope.name


async def test_audit_actor_is_the_account_not_what_the_request_claims(env: Env) -> None:
    """An issued token cannot write someone else's name into the audit log; the deployment
    token (CLI, automation) may name the actor."""
    h = {"Authorization": f"Bearer {env.tokens['admin']}", "X-IVR-Actor": "mayor"}
    r = await env.client.put("/api/v1/officials/zhang-wei/mode", headers=h,
                             json={"mode": "pool", "reason": "test", "actor": "mayor"})
    assert r.status == 200, await r.text()
    h = {"Authorization": f"Bearer {TOKEN}"}
    r = await env.client.put("/api/v1/officials/zhang-wei/mode", headers=h,
                             json={"mode": "direct", "reason": "back", "actor": "ivr-cli:ops"})
    assert r.status == 200, await r.text()
    audit = await (await env.client.get("/api/v1/audit?limit=2", headers=h)).json()
    assert [e["actor"] for e in audit["items"]] == ["ivr-cli:ops", "web:u-admin"]
