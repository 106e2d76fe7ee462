"""The mode in effect and why on the admin's pages, deputy mode refused without a deputy (API,
page, directory import), the structured schedule editor, accounts disabled and reset, the
current greeting — through the real app over HTTP."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from ivr.accounts import services as accounts
from ivr.db.models import AuditEntry
from ivr.directory.importer import import_text
from ivr.http.keys import CONFIG, DB
from ivr.lab.demo import mode_line
from tests.unit.test_web_authz import PASSWORD, TOKEN, Env, env  # noqa: F401  (fixture)

H = {"Authorization": f"Bearer {TOKEN}"}


async def _admin(env: Env) -> tuple[dict[str, str], str]:  # noqa: F811
    db = env.app[DB]
    user = next(u for u in await accounts.list_users(db) if u.username == "u-admin")
    key, csrf = await accounts.open_session(db, user.id)
    return {"ivr_session": key}, csrf


async def _page(env: Env, path: str) -> str:  # noqa: F811
    cookies, _ = await _admin(env)
    r = await env.client.get(path, cookies=cookies)
    assert r.status == 200, await r.text()
    return await r.text()


def _cell(page: str, slug: str) -> tuple[str, str]:
    """(the mode cell's data-* and text, the reasons) of one official's row."""
    m = re.search(rf'<span class="mode" id="mode-{slug}"([^>]*)>([^<]*)</span>', page)
    assert m, page
    why = re.search(rf'<small class="why" id="why-{slug}">(.*?)</small>', page, re.S)
    return m.group(1) + " " + m.group(2), re.sub(r"<[^>]+>", "", why.group(1)) if why else ""


async def _audits(env: Env) -> int:  # noqa: F811
    async with env.app[DB]() as s:
        return int(await s.scalar(select(func.count()).select_from(AuditEntry)) or 0)


async def test_a_window_in_effect_now_shows_its_mode_and_why(env: Env) -> None:  # noqa: F811
    page = await _page(env, "/admin")
    attrs, why = _cell(page, "li-qiang")
    assert 'data-mode="direct"' in attrs and "直接接听" in attrs and "管理员设置" in why
    # a window around now (the city's time): the page shows the window's mode and why
    tz = ZoneInfo(env.app[CONFIG].database.timezone)
    now = datetime.now(UTC).astimezone(tz)
    days = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    start, end = (now - timedelta(hours=1)), (now + timedelta(hours=1))
    window = {"days": days[start.weekday()], "start": start.strftime("%H:%M"),
              "end": end.strftime("%H:%M"), "mode": "pool"}
    r = await env.client.put("/api/v1/officials/li-qiang/schedule", headers=H,
                             json={"windows": [window], "reason": "夜间"})
    assert r.status == 200, await r.text()
    page = await _page(env, "/admin")
    attrs, why = _cell(page, "li-qiang")
    assert 'data-mode="pool"' in attrs and 'data-stored="direct"' in attrs, attrs
    assert 'data-source="window"' in attrs and ">话务组" not in attrs and "话务组" in attrs
    day = "周一 周二 周三 周四 周五 周六 周日".split()[start.weekday()]
    assert f"时间表时段 {day} {window['start']}–{window['end']}" in why, why
    assert "管理员设置的模式：直接接听" in why and "来电先到：话务组 main" in why, why
    assert "下次时间表变更" in why
    # the schedule page says the same, with the city's timezone shown
    sched = await _page(env, "/admin/officials/li-qiang/schedule")
    assert 'id="effective-mode" data-mode="pool"' in sched
    assert "时区：北京时间 <code>Asia/Shanghai</code>" in sched
    # the other official is untouched
    assert 'data-mode="direct"' in _cell(page, "zhang-wei")[0]
    # the API says the same (a supervisor's token), and so does the demo's banner
    r = await env.client.get("/api/v1/effective", headers={
        "Authorization": f"Bearer {env.tokens['supervisor']}"})
    assert r.status == 200, await r.text()
    eff = {e["slug"]: e for e in (await r.json())["items"]}
    li = eff["li-qiang"]
    assert (li["mode"], li["stored"], li["source"], li["first_step"], li["pool"]) == (
        "pool", "direct", "window", "pool", "main")
    assert li["window"] == {k: window[k] for k in ("days", "start", "end")}
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", li["next_change"])
    assert (eff["zhang-wei"]["mode"], eff["zhang-wei"]["source"]) == ("direct", "switch")
    assert mode_line(li, "direct") == (
        f"mode=pool (window {window['days']} {window['start']}-{window['end']}; switch: direct;"
        " first: pool main)")
    # 张伟 has no phone in this directory: his calls go to the pool first, and it is said
    assert mode_line(eff["zhang-wei"], "direct") == "mode=direct (switch; first: pool main)"
    r = await env.client.get("/api/v1/effective", headers={
        "Authorization": f"Bearer {env.tokens['official']}"})
    assert r.status == 403


async def test_availability_and_pool_are_named(env: Env) -> None:  # noqa: F811
    r = await env.client.put("/api/v1/officials/zhang-wei/availability", headers=H,
                             json={"availability": "meeting", "reason": "开会"})
    assert r.status == 200, await r.text()
    attrs, why = _cell(await _page(env, "/admin"), "zhang-wei")
    # direct, but the official is in a meeting: calls go first to the pool (no deputy named)
    assert 'data-mode="direct"' in attrs and 'data-first="pool"' in attrs, attrs
    assert "领导状态：会议中" in why and "来电先到：话务组 main" in why, why


async def test_deputy_mode_refused_without_a_deputy(env: Env) -> None:  # noqa: F811
    before = await _audits(env)
    r = await env.client.put("/api/v1/officials/zhang-wei/mode", headers=H,
                             json={"mode": "deputy", "reason": "出差"})
    assert r.status == 409, await r.text()
    body = await r.json()
    assert body["error_id"] == "no-deputy" and "no deputy" in body["message"]
    assert body["details"]["official"] == "zhang-wei"
    # the page: the button is disabled, and a forged post is refused in Mandarin
    page = await _page(env, "/admin")
    button = re.search(r'<form[^>]*id="switch-zhang-wei".*?</form>', page, re.S)
    assert button and re.search(r'data-mode="deputy" disabled title="未指定副职"', button.group(0))
    cookies, csrf = await _admin(env)
    r = await env.client.post("/admin/officials/zhang-wei/mode", cookies=cookies,
                              data={"mode": "deputy", "reason": "出差", "csrf": csrf})
    assert r.status == 409 and "该领导没有副职" in await r.text()
    assert await _audits(env) == before
    o = await (await env.client.get("/api/v1/officials/zhang-wei", headers=H)).json()
    assert o["policy"]["mode"] == "direct"
    # with a deputy it is accepted, and the switch message names the official
    r = await env.client.put("/api/v1/officials/zhang-wei/deputy", headers=H,
                             json={"deputy": "li-qiang", "reason": "任命"})
    assert r.status == 200, await r.text()
    r = await env.client.post("/admin/officials/zhang-wei/mode", cookies=cookies,
                              data={"mode": "deputy", "reason": "出差", "csrf": csrf})
    assert r.status == 200 and "已切换：张伟 局长 → 副职代接" in await r.text()
    # and the deputy cannot be removed while the mode is deputy
    r = await env.client.put("/api/v1/officials/zhang-wei/deputy", headers=H,
                             json={"deputy": None, "reason": "调岗"})
    assert r.status == 409 and (await r.json())["error_id"] == "no-deputy"
    o = await (await env.client.get("/api/v1/officials/zhang-wei", headers=H)).json()
    assert (o["policy"]["mode"], o["deputy"]) == ("deputy", "li-qiang")


async def test_import_removing_the_deputy_of_an_official_in_deputy_mode_is_refused(
        env: Env) -> None:  # noqa: F811
    db = env.app[DB]
    await import_text(db, "officials:\n  - {slug: zhang-wei, name: 张伟, title: 局长, "
                          "deputy: li-qiang, mode: deputy}\n", "yaml", "test")
    before = await _audits(env)
    r = await env.client.post("/api/v1/directory/import", headers={**H, "Content-Type": "application/yaml"},
                              data="officials:\n  - {slug: zhang-wei, name: 张伟, title: 局长, "
                                   "deputy: null}\n")
    assert r.status == 409, await r.text()
    body = await r.json()
    assert body["error_id"] == "no-deputy" and "张伟 (zhang-wei) is in deputy mode" in body["message"]
    assert await _audits(env) == before
    o = await (await env.client.get("/api/v1/officials/zhang-wei", headers=H)).json()
    assert (o["policy"]["mode"], o["deputy"]) == ("deputy", "li-qiang")
    # switching the mode in the same import removes the deputy fine
    await import_text(db, "officials:\n  - {slug: zhang-wei, name: 张伟, title: 局长, "
                          "deputy: null, mode: pool}\n", "yaml", "test")
    o = await (await env.client.get("/api/v1/officials/zhang-wei", headers=H)).json()
    assert (o["policy"]["mode"], o["deputy"]) == ("pool", None)


async def test_structured_schedule_editor(env: Env) -> None:  # noqa: F811
    cookies, csrf = await _admin(env)
    form: dict[str, Any] = {"rows": "3", "csrf": csrf, "reason": "作息",
                            "start-0": "18:00", "end-0": "08:30", "mode-0": "voicemail",
                            "start-1": "00:00", "end-1": "24:00", "mode-1": "pool",
                            "start-2": "", "end-2": "", "mode-2": ""}
    data = [(k, v) for k, v in form.items()]
    data += [("days-0", str(d)) for d in range(5)] + [("days-1", "5"), ("days-1", "6")]
    r = await env.client.post("/admin/officials/zhang-wei/schedule", cookies=cookies, data=data,
                              allow_redirects=False)
    assert r.status == 303, await r.text()
    o = await (await env.client.get("/api/v1/officials/zhang-wei", headers=H)).json()
    assert o["schedule"] == [
        {"days": "mon-fri", "start": "18:00", "end": "08:30", "mode": "voicemail"},
        {"days": "sat,sun", "start": "00:00", "end": "24:00", "mode": "pool"}]
    page = await _page(env, "/admin/officials/zhang-wei/schedule")
    assert page.count('type="checkbox" name="days-0"') == 8  # seven days and the holidays
    assert re.search(r'name="days-1" value="5" checked', page)
    # bad rows: refused, nothing changed
    before = await _audits(env)
    for bad, expect in ((("days-0", "9"),), "unknown day"), ((), "tick at least one day"), (
            (("days-0", "7"), ("days-0", "1")), "holiday window names no weekday"):
        rows = [("rows", "1"), ("csrf", csrf), ("start-0", "08:00"), ("end-0", "09:00"),
                ("mode-0", "pool"), *bad]
        r = await env.client.post("/admin/officials/zhang-wei/schedule", cookies=cookies,
                                  data=rows)
        assert r.status == 400 and expect in await r.text(), (bad, await r.text())
        assert 'name="start-0" value="08:00"' in await r.text()  # what was typed stays
    assert await _audits(env) == before


async def test_accounts_disabled_enabled_and_reset(env: Env) -> None:  # noqa: F811
    db = env.app[DB]
    cookies, csrf = await _admin(env)
    victim = next(u for u in await accounts.list_users(db) if u.username == "u-operator")
    key, _ = await accounts.open_session(db, victim.id)
    page = await _page(env, "/admin/users")
    assert '<option value="">请选择</option>' in page  # no role picked for the admin
    assert '<option value="op-1">话务员 王芳</option>' in page  # endpoints as a pick-list
    r = await env.client.post("/admin/users/u-operator/active", cookies=cookies,
                              data={"active": "false", "csrf": csrf}, allow_redirects=False)
    assert r.status == 303
    assert await accounts.session_identity(db, key) is None  # signed out at once
    r = await env.client.get("/api/v1/me", headers={"Authorization":
                                                    f"Bearer {env.tokens['operator']}"})
    assert r.status == 401  # its token stops too
    page = await _page(env, "/admin/users")
    assert re.search(r'id="user-u-operator" data-active="false">.*?已停用', page, re.S)
    r = await env.client.post("/admin/users/u-operator/active", cookies=cookies,
                              data={"active": "maybe", "csrf": csrf})
    assert r.status == 400
    r = await env.client.post("/admin/users/u-operator/active", cookies=cookies,
                              data={"active": "true", "csrf": csrf}, allow_redirects=False)
    assert r.status == 303
    async with db() as s:
        entries = (await s.scalars(select(AuditEntry.new_value).where(
            AuditEntry.field == "account").order_by(AuditEntry.id))).all()
    assert entries == ["u-operator:disabled", "u-operator:active"]
    # reset: the policy applies, then the new password signs in
    r = await env.client.post("/admin/users/u-operator/password", cookies=cookies,
                              data={"password": "short", "csrf": csrf})
    assert r.status == 400
    r = await env.client.post("/admin/users/u-operator/password", cookies=cookies,
                              data={"password": "another horse battery staple", "csrf": csrf},
                              allow_redirects=False)
    assert r.status == 303
    assert (await accounts.authenticate(db, "u-operator", "another horse battery staple")).id \
        == victim.id
    assert PASSWORD != "another horse battery staple"


async def test_current_greeting_plays(env: Env) -> None:  # noqa: F811
    cookies, _ = await _admin(env)
    r = await env.client.get("/admin/officials/zhang-wei/greeting.wav", cookies=cookies)
    assert r.status == 404
    page = await _page(env, "/admin/officials/zhang-wei/schedule")
    assert "尚未上传问候语" in page and 'id="greeting-audio"' not in page
    config = env.app[CONFIG]
    o = await (await env.client.get("/api/v1/officials/zhang-wei", headers=H)).json()
    path = config.host_path(config.prompts_dir_inside) / "zh" / f"ivr-greeting-{o['id']}.wav"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"RIFF0000WAVEfmt ")
    r = await env.client.get("/admin/officials/zhang-wei/greeting.wav", cookies=cookies)
    assert r.status == 200 and r.headers["Content-Type"] == "audio/wav"
    assert await r.read() == b"RIFF0000WAVEfmt "
    page = await _page(env, "/admin/officials/zhang-wei/schedule")
    assert 'src="/admin/officials/zhang-wei/greeting.wav"' in page


async def test_numbers_shown_as_published(env: Env) -> None:  # noqa: F811
    """The directory's form is kept and shown; E.164 stays the key; a number imported before
    the form was stored shows its national form."""
    await import_text(env.app[DB], "officials:\n  - {slug: zhang-wei, name: 张伟, title: 局长, "
                                   "numbers: ['(0558) 555 1001', '+86 558 5551011']}\n", "yaml", "test")
    o = await (await env.client.get("/api/v1/officials/zhang-wei", headers=H)).json()
    assert {n["number"]: n["published"] for n in o["numbers"]} == {
        "+865585551001": "(0558) 555 1001", "+865585551011": "+86 558 5551011"}
    page = await _page(env, "/admin")
    row = re.search(r'<tr><td><span class="oname">张伟.*?</tr>', page, re.S)
    assert row and '<span class="number">(0558) 555 1001</span>' in row.group(0)
    assert "+865585551001" not in row.group(0)
    async with env.app[DB]() as s, s.begin():
        from ivr.db.models import PublishedNumber
        for n in (await s.scalars(select(PublishedNumber))).all():
            n.published = None
    page = await _page(env, "/admin")
    assert '<span class="number">0558-5551001</span>' in page
    assert '<span class="number">0558-5551002</span>' in page
