"""The admins' self-service switches on their pages, through the real app (ivr.app.create_app):
the official's page allows one official to switch their own mode, the directory every official;
both audited like the API (actor ``web:<user>``), shown to the official on /me at once, refused
to anyone but an admin."""

from __future__ import annotations

from ivr.accounts import services as accounts
from ivr.http.keys import DB
from ivr.routing.services import audit_log
from tests.unit.test_web_authz import Env, env  # noqa: F401


async def _session(e: Env, role: str) -> tuple[dict[str, str], str]:
    db = e.app[DB]
    user = next(u for u in await accounts.list_users(db) if u.username == f"u-{role}")
    key, csrf = await accounts.open_session(db, user.id)
    return {"ivr_session": key}, csrf


async def _post(e: Env, role: str, path: str, data: dict[str, str]) -> tuple[int, str]:
    cookies, csrf = await _session(e, role)
    e.client.session.cookie_jar.clear()
    r = await e.client.post(path, data={**data, "csrf": csrf}, cookies=cookies,
                            allow_redirects=False)
    return r.status, r.headers.get("Location", "")


async def _page(e: Env, role: str, path: str) -> str:
    cookies, _ = await _session(e, role)
    e.client.session.cookie_jar.clear()
    r = await e.client.get(path, cookies=cookies)
    assert r.status == 200, path
    return await r.text()


async def test_admin_allows_one_official_then_everyone(env: Env) -> None:  # noqa: F811
    db = env.app[DB]
    page = await _page(env, "admin", "/admin/officials/zhang-wei/schedule")
    assert 'id="self-mode-form"' in page and 'data-on="false"' in page and "未开放" in page
    assert 'action="/me/mode"' not in await _page(env, "official", "/me")  # off by default

    # one official: allowed from their page, audited, the official sees the switch at once
    status, where = await _post(env, "admin", "/admin/officials/zhang-wei/self-service",
                                {"mode": "true", "reason": "试点"})
    assert (status, where) == (303, "/admin/officials/zhang-wei/schedule?saved=1")
    page = await _page(env, "admin", "/admin/officials/zhang-wei/schedule")
    form = page[page.index('id="self-mode-form"'):]
    assert 'data-on="true"' in form[:600] and "已开放" in form[:600]
    assert 'action="/me/mode"' in await _page(env, "official", "/me")
    [entry] = await audit_log(db, field="self_mode")
    assert (entry.actor, entry.old_value, entry.new_value, entry.reason) == (
        "web:u-admin", "false", "true", "试点")
    audit = await _page(env, "admin", "/admin/audit")
    assert "允许领导自行切换模式" in audit and "试点" in audit

    # off again for her; then city-wide from the directory: every official may
    assert (await _post(env, "admin", "/admin/officials/zhang-wei/self-service",
                        {"mode": "false"}))[0] == 303
    assert 'action="/me/mode"' not in await _page(env, "official", "/me")
    directory = await _page(env, "admin", "/admin")
    assert 'id="city-self-mode"' in directory and "所有领导可自行切换接听方式" in directory
    status, where = await _post(env, "admin", "/admin/self-service",
                                {"mode": "true", "reason": "全市推广"})
    assert (status, where) == (303, "/admin?saved=self-service")
    directory = await _page(env, "admin", "/admin")
    city = directory[directory.index('id="city-self-mode"'):]
    assert 'data-on="true"' in city[:600]
    assert 'action="/me/mode"' in await _page(env, "official", "/me")
    assert "全市已开放" in await _page(env, "admin", "/admin/officials/zhang-wei/schedule")
    [city_entry] = await audit_log(db, field="self_service_mode")
    assert (city_entry.actor, city_entry.official_id, city_entry.new_value) == (
        "web:u-admin", None, "true")

    # the same value again changes (and audits) nothing
    assert (await _post(env, "admin", "/admin/self-service", {"mode": "true"}))[0] == 303
    assert len(await audit_log(db, field="self_service_mode")) == 1


async def test_only_admins_hold_the_switches(env: Env) -> None:  # noqa: F811
    for role in ("official", "operator", "supervisor"):
        for path in ("/admin/self-service", "/admin/officials/zhang-wei/self-service"):
            status, _ = await _post(env, role, path, {"mode": "true"})
            assert status == 403, (role, path, status)
    assert await audit_log(env.app[DB], field="self_mode") == []
    assert await audit_log(env.app[DB], field="self_service_mode") == []
    assert 'action="/me/mode"' not in await _page(env, "official", "/me")
