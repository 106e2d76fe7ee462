"""The page walk both language tests share (tests/unit/test_web_zh_walk.py, test_web_en_walk.py):
seed a city's day of Chinese data on the real app (``ivr.app.create_app``), then fetch every GET
page of every role over HTTP in one language and read it as a person sees it.

``visible_text(html)`` is that reading: the text outside tags, scripts, styles and ``<code>``
elements (endpoint ids, user names, zone ids), plus the attributes a person sees (placeholder,
title, alt, aria-label, a button's value); an ``<option>`` whose text is its own value (an id
picked as itself) is left out unless that value is an enum's. ``walk(env, ids, lang)`` returns
``{"<role> <url>": html}`` of every page that answered 200 with HTML.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

from sqlalchemy import select, update

from ivr.accounts import services as accounts
from ivr.core.constants import (
    AVAILABILITY,
    CALL_KINDS,
    MODES,
    OPERATOR_STATES,
    OUTCOMES,
    QUEUE_STRATEGIES,
    ROLES,
)
from ivr.db.account_models import ApiToken
from ivr.db.followup_models import (
    CASE_KINDS,
    CASE_STATES,
    URGENCIES,
    Callback,
    Case,
    CaseEvent,
)
from ivr.http.keys import DB
from tests.unit.test_supervision_calls import _seed
from tests.unit.test_web_authz import SAMPLE, TOKEN, Env, app_routes, fill

# raw enum values: never shown as they are (an <option> of one is read, not skipped as an id)
ENUMS = {*MODES, *OUTCOMES, *CALL_KINDS, *AVAILABILITY, *OPERATOR_STATES, *ROLES,
         *QUEUE_STRATEGIES, *CASE_STATES, *CASE_KINDS, *URGENCIES}
SKIP_PATHS = ("/api/", "/static/", "/lang/", "/healthz", "/metrics", "/logout", "/console/events")
SKIP_SUFFIXES = (".csv", ".wav", ".json", "/audio", "/events", "/download")
PARAMS = {"slug": "zhang-wei", "official": "zhang-wei", "endpoint": "op-1", "name": "main"}
HIDDEN = ("script", "style", "code", "template")
SHOWN_ATTRS = ("placeholder", "title", "alt", "aria-label")


class VisibleText(HTMLParser):
    """The text a person sees: data outside script/style/code, plus placeholder/title/alt."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0
        self.option: str | None = None  # the value of the <option> being read

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in HIDDEN:
            self.hidden += 1
        if tag == "option":
            self.option = dict(attrs).get("value")
        for key, value in attrs:
            if key in SHOWN_ATTRS and value:
                self.parts.append(value)
        if tag == "input" and dict(attrs).get("type") in ("submit", "button"):
            self.parts.append(dict(attrs).get("value") or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "option":
            self.option = None
        if tag in HIDDEN and self.hidden:
            self.hidden -= 1

    def handle_data(self, data: str) -> None:
        as_id = self.option is not None and data.strip() == self.option \
            and data.strip() not in ENUMS
        if not self.hidden and not as_id:
            self.parts.append(data)


def visible_text(html: str) -> str:
    parser = VisibleText()
    parser.feed(html)
    return "\n".join(parser.parts)


async def seed(env: Env) -> dict[str, int]:
    """Chinese data of every kind the pages show: calls of every outcome with their cases
    (test_supervision_calls' seed), a schedule, a mode switch and a meeting (audited), an
    operator's account, a triaged urgent case and a callback whose result never came."""
    h = {"Authorization": f"Bearer {TOKEN}"}
    db = env.app[DB]
    ids = await _seed(db)
    r = await env.client.put("/api/v1/officials/li-qiang/schedule", headers=h, json={
        "windows": [{"days": "mon-fri", "start": "18:00", "end": "08:30", "mode": "pool"},
                    {"days": "sat,sun", "start": "00:00", "end": "24:00", "mode": "voicemail"}],
        "reason": "夜间转话务组"})
    assert r.status == 200, await r.text()
    r = await env.client.put("/api/v1/officials/zhang-wei/mode", headers=h,
                             json={"mode": "pool", "reason": "外出开会"})
    assert r.status == 200, await r.text()
    r = await env.client.put("/api/v1/officials/zhang-wei/availability", headers=h,
                             json={"availability": "meeting", "minutes": 120, "reason": "开会"})
    assert r.status == 200, await r.text()
    r = await env.client.put("/api/v1/officials/li-qiang/self-service", headers=h,
                             json={"mode": True, "reason": "试点自助"})
    assert r.status == 200, await r.text()
    await accounts.create_user(db, "wangfang", "correct horse battery", "operator",
                               operator="op-2", display_name="王芳")
    async with db() as s, s.begin():  # the fixture's tokens, labelled as a city's admin would
        await s.execute(update(ApiToken).values(label="测试令牌"))
        # a triaged, urgent case with a lost callback and an operator's case
        await s.execute(update(Case).where(Case.call_id == ids["m1"]).values(
            category="transport", urgency="urgent", kind="call", summary="公交站牌被撞坏"))
        case = (await s.scalars(select(Case).where(Case.call_id == ids["m2"]))).one()
        s.add(Callback(case_id=case.id, placed_by="web:u-operator", endpoint="op-1",
                       number=case.caller, linkedid="cb-walk", state="originating",
                       created_at=datetime.now(UTC) - timedelta(hours=1)))
        # the history the system writes (English notes, ISO times), read back into words
        at = datetime.now(UTC) - timedelta(minutes=30)
        for action, value, note in (
                ("overdue", "contact", "contact deadline 2026-11-27T04:27+00:00 passed"),
                ("escalated", "li-qiang", "level 1; second deadline 2026-11-28T04:27+00:00"),
                ("reminded", "zhang-wei", "the official is reminded: case escalated to li-qiang"),
                ("autocallback_attempt", "NOANSWER", "attempt 1/3: NOANSWER"),
                ("autocallback", "scheduled", "attempt 2 due 2026-11-27T05:00:00+00:00"),
                ("callback", "ANSWER", "calling 13900000001 via op-1, caller ID 05585551001"),
                ("triaged", "transport/urgent", "by the operator"),
                ("mystery", "weird_value", "some future note nobody reads yet")):
            s.add(CaseEvent(case_id=case.id, at=at, actor="system", action=action,
                            new_value=value, note=note))
    return ids


def pages_of(env: Env) -> list[str]:
    """Every GET page of the app (route templates), API, files and streams left out."""
    return [path for method, path in app_routes(env.app) if method == "GET"
            and not path.startswith(SKIP_PATHS) and not path.endswith(SKIP_SUFFIXES)]


async def walk(env: Env, ids: dict[str, int], lang: str) -> dict[str, str]:
    """``{"<role> <url>": html}``: every page of every role, read with the ``ivr_lang`` cookie
    set to ``lang`` (how a browser chooses the pages' language: /lang/{code} sets it)."""
    pages = pages_of(env)
    assert "/admin" in pages and "/cases" in pages and "/console" in pages
    out: dict[str, str] = {}
    db = env.app[DB]
    for role in ROLES:
        user = next(u for u in await accounts.list_users(db) if u.username == f"u-{role}")
        key, _ = await accounts.open_session(db, user.id)
        for path in pages:
            url = fill(path, {**SAMPLE, **PARAMS, "id": str(ids["p2"])})
            env.client.session.cookie_jar.clear()
            r = await env.client.get(url, cookies={"ivr_session": key, "ivr_lang": lang},
                                     allow_redirects=False)
            if r.status != 200 or "text/html" not in r.headers.get("Content-Type", ""):
                continue
            out[f"{role} {url}"] = await r.text()
    return out
