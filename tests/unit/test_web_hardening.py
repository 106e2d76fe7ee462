"""Issue 9, the web side, on the real app (``create_app``): no 5xx from any input (each bad
input a 4xx with an error_id, nothing changed), 405 with Allow, the open redirect closed, the
headers every response carries, Secure cookies behind a trusted proxy, the sign-in form bound
to a pre-session, /healthz details only with a token, officials' mobiles only for those who
need them."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from ivr.accounts import services as accounts
from ivr.core.config import Config
from ivr.core.constants import ROLES
from ivr.directory.importer import import_text
from ivr.http.keys import DB
from ivr.web import auth
from ivr.web.shell import safe_next
from tests.unit.apps import unit_config

TOKEN = "deployment-token-for-tests"
HEALTH_TOKEN = "health-token-for-tests"
PASSWORD = "correct horse battery staple"
# one official with a desk phone and a private mobile
DIRECTORY = """
version: 1
pools: [{name: main}]
operators: [{name: 话务员 王芳, endpoint: op-1, pool: main}]
officials:
  - {slug: zhang-wei, name: 张伟, numbers: ["0558-5551001"], mode: direct,
     devices: [{sip: o-zhang}, {mobile: "13800001009"}]}
"""
BIG = str(2 ** 64 + 7)  # beyond 64 bits
HUGE = "9" * 40
# (method, path, JSON body or None): each is refused with a 4xx and an error_id
BAD: list[tuple[str, str, Any]] = [
    # ids that pass str.isdigit() but not int(), and ids beyond 64 bits
    *[(m, f"/api/v1/{p}", b) for raw in ("²", "³²", "١٢", BIG, HUGE) for m, p, b in [
        ("GET", f"calls/{raw}", None), ("GET", f"cases/{raw}", None),
        ("GET", f"cases/{raw}/audio", None), ("PUT", f"cases/{raw}/status", {"status": "closed"}),
        ("PUT", f"cases/{raw}/assignee", {"assignee": None}),
        ("POST", f"cases/{raw}/callback", {}), ("POST", f"cases/{raw}/transcription", {}),
        ("DELETE", f"tokens/{raw}", None)]],
    # officials named by such ids: an unknown official, not a crash
    *[("GET", f"/api/v1/officials/{raw}", None) for raw in ("²", BIG, HUGE)],
    *[("PUT", f"/api/v1/officials/{raw}/mode", {"mode": "pool"}) for raw in ("²", BIG)],
    # offsets, limits and filters beyond 64 bits
    *[("GET", f"/api/v1/{p}?{q}", None) for p in ("calls", "audit", "cases")
      for q in (f"offset={BIG}", f"offset={HUGE}", f"limit={BIG}")],
    *[("GET", f"/api/v1/{p}?official={raw}", None) for p in ("calls", "audit")
      for raw in (BIG, "²")],  # (GET /cases answers an unknown official with no cases)
    ("GET", f"/api/v1/stats?official={BIG}", None), ("GET", "/api/v1/stats?official=²", None),
    # times at datetime's limits (a timezone shift or a day more overflows)
    *[("GET", f"/api/v1/{p}?{q}", None) for p in ("calls", "audit", "stats")
      for q in ("since=0001-01-01", "until=9999-12-31", "since=0001-01-01T00:00:00",
                "until=9999-12-31T23:59:59", "since=not-a-time", "until=2026-02-30")],
    # bodies: wrong types where a list is expected, numbers beyond 64 bits
    ("PUT", "/api/v1/officials/zhang-wei/chain", {"chain": False}),
    ("PUT", "/api/v1/officials/zhang-wei/schedule", {"windows": False}),
    ("PUT", "/api/v1/officials/zhang-wei/schedule", {"windows": 7}),
    ("PUT", "/api/v1/officials/zhang-wei/ring-timeout", {"ring_timeout": 2 ** 70}),
    ("POST", "/api/v1/pools", {"name": "big", "max_wait": 2 ** 70}),
    ("POST", "/api/v1/cases", {"call_id": 2 ** 70, "summary": "x"}),
    ("POST", "/api/v1/cases", {"official": BIG, "summary": "x"}),
    ("POST", "/api/v1/users", {"username": "x1", "password": PASSWORD, "role": "official",
                               "official": BIG}),
]
NESTED = "[" * 100_000 + "]" * 100_000


class Env:
    client: TestClient
    app: web.Application


def _config(tmp_path: Path, **http: Any) -> Config:
    return unit_config(tmp_path, database={"url": f"sqlite+aiosqlite:///{tmp_path / 'ivr.db'}"},
                       http={"api_token": TOKEN, "health_token": HEALTH_TOKEN, **http})


async def _start(config: Config) -> Env:
    from ivr.app import create_app
    app = create_app(config)
    client = TestClient(TestServer(app))
    await client.start_server()
    db = app[DB]
    await import_text(db, DIRECTORY, "yaml", "test")
    for role in ROLES:
        kw: dict[str, Any] = {"operator": "op-1"} if role == "operator" else \
            {"official": "zhang-wei"} if role == "official" else {}
        await accounts.create_user(db, f"u-{role}", PASSWORD, role, **kw)
    e = Env()
    e.client, e.app = client, app
    return e


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    e = await _start(_config(tmp_path, trusted_proxies="127.0.0.1"))
    yield e
    await e.client.close()


def _bearer(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _snapshot(e: Env) -> str:
    """What the API shows of the data: unchanged by a refused request."""
    parts = []
    for path in ("/api/v1/officials", "/api/v1/pools", "/api/v1/cases", "/api/v1/users",
                 "/api/v1/audit"):
        r = await e.client.get(path, headers=_bearer())
        assert r.status == 200, path
        parts.append(await r.text())
    return "\n".join(parts)


async def test_bad_inputs_get_a_4xx_with_an_error_id_and_change_nothing(env: Env) -> None:
    before = await _snapshot(env)
    wrong = []
    for method, path, body in BAD:
        r = await env.client.request(method, path, headers=_bearer(),
                                     json=body if body is not None else None)
        data = await r.json(content_type=None)
        if not (400 <= r.status < 500 and isinstance(data, dict) and data.get("error_id")):
            wrong.append((method, path, body, r.status, data))
    assert not wrong, wrong
    for path in ("/api/v1/officials/zhang-wei/chain", "/api/v1/pools"):  # deeply nested JSON
        r = await env.client.request("PUT" if "chain" in path else "POST", path, data=NESTED,
                                     headers={**_bearer(), "Content-Type": "application/json"})
        assert r.status == 400 and (await r.json())["error_id"] == "malformed-json"
    r = await env.client.post("/api/v1/directory/import", data=NESTED,  # and YAML
                              headers={**_bearer(), "Content-Type": "application/yaml"})
    assert r.status == 400 and (await r.json())["error_id"] == "invalid-directory"
    assert await _snapshot(env) == before


async def test_405_names_the_allowed_methods(env: Env) -> None:
    r = await env.client.request("PATCH", "/api/v1/officials/zhang-wei/mode", headers=_bearer())
    assert r.status == 405 and (await r.json())["error_id"] == "method-not-allowed"
    assert set(r.headers["Allow"].split(",")) == {"PUT"}
    r = await env.client.request("DELETE", "/login")
    assert r.status == 405 and {"GET", "POST"} <= set(r.headers["Allow"].split(","))


@pytest.mark.parametrize("value", [
    "/%09/evil.example/x", "/\t/evil.example/x", "//evil.example", "/\\evil.example",
    "\\\\evil.example", "https://evil.example/", "http:evil.example", "/%2F/evil.example",
    "/%5Cevil.example", "/a/..//evil.example", "/./\n/evil.example", "evil.example",
    "javascript:alert(1)", "/%0d%0aSet-Cookie:x=1", ""])
def test_next_is_only_a_path_of_this_site(value: str) -> None:
    got = safe_next(value)
    if got is not None:  # what a browser makes of it stays on this site
        assert got.startswith("/") and not got.startswith("//"), got
        assert not re.search(r"[\x00-\x20\\]", unquote(got)), got
        assert urlsplit(urljoin("https://ivr.example/", got)).netloc == "ivr.example", got


def test_next_keeps_a_local_path_normalised() -> None:
    assert safe_next("/calls?official=zhang-wei") == "/calls?official=zhang-wei"
    assert safe_next("/admin/../cases/") == "/cases/"
    assert safe_next("/a//b") == "/a/b"


async def test_open_redirect_refused_at_lang_and_login(env: Env) -> None:
    for target in ("/%09/evil.example/x", "//evil.example/x", "/%5Cevil.example"):
        r = await env.client.get(f"/lang/en?next={target}", allow_redirects=False)
        assert r.status == 303 and r.headers["Location"] == "/", (target, r.headers["Location"])
        r = await env.client.get(f"/login?next={target}")
        assert 'name="next" value=""' in await r.text()
    r = await env.client.get("/lang/en?next=/cases", allow_redirects=False)
    assert r.headers["Location"] == "/cases"
    csrf = await _login_form(env)
    r = await env.client.post("/login", data={"username": "u-admin", "password": PASSWORD,
                                              "csrf": csrf, "next": "/%09/evil.example/x"},
                              allow_redirects=False)
    assert r.status == 303 and r.headers["Location"] == "/admin"


async def _login_form(e: Env, headers: dict[str, str] | None = None) -> str:
    r = await e.client.get("/login", headers=headers or {})
    match = re.search(r'name="csrf" value="([^"]+)"', await r.text())
    assert match
    # a Secure cookie is not sent back over plain HTTP by the client: hand it over
    e.client.session.cookie_jar.update_cookies(
        {auth.LOGIN_CSRF_COOKIE: r.cookies[auth.LOGIN_CSRF_COOKIE].value})
    return match.group(1)


async def test_every_response_says_nosniff_and_no_version(env: Env) -> None:
    for method, path, headers in [("GET", "/api/v1/officials", _bearer()), ("GET", "/login", {}),
                                  ("GET", "/static/app.css", {}), ("GET", "/nowhere", {}),
                                  ("GET", "/api/v1/nowhere", _bearer()),
                                  ("GET", "/api/v1/officials", {}), ("GET", "/healthz", {}),
                                  ("PATCH", "/api/v1/me", _bearer())]:
        r = await env.client.request(method, path, headers=headers, allow_redirects=False)
        assert r.headers.get("X-Content-Type-Options") == "nosniff", (method, path, r.status)
        assert r.headers.get("Server") == "ivr", (path, r.headers.get("Server"))
    r = await env.client.post("/api/v1/tokens", json={"username": "u-admin"}, headers=_bearer())
    assert r.status == 201 and (await r.json())["token"]
    assert r.headers["Cache-Control"] == "no-store"


async def test_secure_cookies_behind_a_trusted_proxy(env: Env, tmp_path: Path) -> None:
    async def cookies(e: Env, headers: dict[str, str]) -> list[str]:
        e.client.session.cookie_jar.clear()
        csrf = await _login_form(e, headers)
        r = await e.client.post("/login", data={"username": "u-admin", "password": PASSWORD,
                                                "csrf": csrf}, headers=headers,
                                allow_redirects=False)
        assert r.status == 303
        return [v for k, v in r.headers.items() if k == "Set-Cookie" and auth.SESSION_COOKIE in v]
    # the test client connects from 127.0.0.1, a trusted proxy in this app
    [cookie] = await cookies(env, {"X-Forwarded-Proto": "https"})
    assert "Secure" in cookie
    [cookie] = await cookies(env, {})
    assert "Secure" not in cookie
    other = await _start(_config(tmp_path / "b", trusted_proxies="10.9.9.9"))
    try:  # the same header from an address that is not a configured proxy: ignored
        [cookie] = await cookies(other, {"X-Forwarded-Proto": "https"})
        assert "Secure" not in cookie
        for e, source in ((other, "127.0.0.1"), (env, "203.0.113.99")):  # and X-Forwarded-For
            e.client.session.cookie_jar.clear()
            csrf = await _login_form(e)
            r = await e.client.post("/login", data={"username": "u-admin", "password": "wrong one",
                                                "csrf": csrf},
                                headers={"X-Forwarded-For": "203.0.113.99"})
            assert r.status == 401, await r.text()
            r = await e.client.get("/api/v1/access-log?kind=login-failed", headers=_bearer())
            assert [x["source"] for x in (await r.json())["items"]] == [source]
    finally:
        await other.client.close()


async def test_login_form_is_bound_to_its_pre_session(env: Env) -> None:
    data = {"username": "u-admin", "password": PASSWORD}
    # a pair the attacker picks (the old double-submit accepted any equal cookie and field)
    env.client.session.cookie_jar.clear()
    r = await env.client.post("/login", data={**data, "csrf": "chosen.1"},
                              cookies={auth.LOGIN_CSRF_COOKIE: "chosen.1"}, allow_redirects=False)
    assert r.status == 403
    # a real form token with another pre-session cookie
    csrf = await _login_form(env)
    env.client.session.cookie_jar.clear()
    await _login_form(env)
    r = await env.client.post("/login", data={**data, "csrf": csrf}, allow_redirects=False)
    assert r.status == 403
    csrf = await _login_form(env)
    r = await env.client.post("/login", data={**data, "csrf": csrf}, allow_redirects=False)
    assert r.status == 303


async def test_healthz_details_need_a_token_or_an_admin(env: Env) -> None:
    r = await env.client.get("/healthz")
    assert await r.json() == {"status": "not ok"}  # no Asterisk here
    r = await env.client.get("/healthz", headers=_bearer("wrong"))
    assert set(await r.json()) == {"status"}
    for token in (HEALTH_TOKEN, TOKEN):
        r = await env.client.get("/healthz", headers=_bearer(token))
        body = await r.json()
        assert body["status"] == "not ok" and "ami_logins" in body and "node" in body
    for role, sees in (("admin", True), ("supervisor", False), ("operator", False)):
        user = next(u for u in await accounts.list_users(env.app[DB]) if u.username == f"u-{role}")
        key, _ = await accounts.open_session(env.app[DB], user.id)
        env.client.session.cookie_jar.clear()
        r = await env.client.get("/healthz", cookies={auth.SESSION_COOKIE: key})
        assert ("agi" in await r.json()) is sees, role


async def test_officials_mobiles_only_for_admins_and_the_official(env: Env) -> None:
    db = env.app[DB]
    for role, sees in (("admin", True), ("supervisor", False), ("operator", False),
                       ("official", True)):
        token, _ = await accounts.issue_token(db, f"u-{role}", "t", "test")
        paths = ["/api/v1/officials/zhang-wei"] + ([] if role == "official" else ["/api/v1/officials"])
        for path in paths:
            r = await env.client.get(path, headers=_bearer(token))
            assert r.status == 200, (role, path)
            text = json.dumps(await r.json())
            assert ("13800001009" in text) is sees, (role, path)
            assert "o-zhang" in text  # the desk phone stays visible
