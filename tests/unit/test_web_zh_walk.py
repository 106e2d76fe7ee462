"""The Mandarin walk: every page of every role, served by the real app (``ivr.app.create_app``)
over HTTP with Chinese data seeded (officials, operators, calls of every outcome, cases with
deadlines and callbacks, audit entries, a schedule), read in zh as a person sees it.

Fails on any Latin word of two letters or more in the visible text outside the reviewed
allowlist, on any ISO timestamp (``2026-11-27T12:27``) and on "UTC". Left out: tags, scripts,
styles and ``<code>`` elements (endpoint ids, user names, zone ids), and an ``<option>`` whose
text is its value (an id picked as itself) unless that value is an enum's. Raw enum values are
Latin words, so they fail. Visible attributes (placeholder, title, alt) are read as text.
"""

from __future__ import annotations

import re
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
from ivr.db.followup_models import CASE_KINDS, CASE_STATES, URGENCIES, Callback, Case
from ivr.http.keys import DB
from tests.unit.test_supervision_calls import _seed
from tests.unit.test_web_authz import SAMPLE, TOKEN, Env, app_routes, env, fill  # noqa: F401

# reviewed: abbreviations a Chinese city's staff use as they are
ALLOWED = {"SIP", "CSV", "WAV", "YAML", "API", "ID", "PJSIP", "SVG", "AMI", "SSE", "IP", "PDF", "HTML",
           "English"}  # "English": the language switch, in its own language
# raw enum values never pass as ids
ENUMS = {*MODES, *OUTCOMES, *CALL_KINDS, *AVAILABILITY, *OPERATOR_STATES, *ROLES,
         *QUEUE_STRATEGIES, *CASE_STATES, *CASE_KINDS, *URGENCIES}
LATIN = re.compile(r"[A-Za-z]{2,}")
ISO = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
SKIP_PATHS = ("/api/", "/static/", "/lang/", "/healthz", "/metrics", "/logout", "/console/events")
SKIP_SUFFIXES = (".csv", ".wav", ".json", "/audio", "/events", "/download")
PARAMS = {"slug": "zhang-wei", "official": "zhang-wei", "endpoint": "op-1", "name": "main"}


class VisibleText(HTMLParser):
    """The text a person sees: data outside script/style/code, plus placeholder/title/alt."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0
        self.option: str | None = None  # the value of the <option> being read

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "code", "template"):
            self.hidden += 1
        if tag == "option":
            self.option = dict(attrs).get("value")
        for key, value in attrs:
            if key in ("placeholder", "title", "alt", "aria-label") and value:
                self.parts.append(value)
        if tag == "input" and dict(attrs).get("type") in ("submit", "button"):
            self.parts.append(dict(attrs).get("value") or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "option":
            self.option = None
        if tag in ("script", "style", "code", "template") and self.hidden:
            self.hidden -= 1

    def handle_data(self, data: str) -> None:
        as_id = self.option is not None and data.strip() == self.option \
            and data.strip() not in ENUMS
        if not self.hidden and not as_id:
            self.parts.append(data)


def problems(html: str) -> list[str]:
    parser = VisibleText()
    parser.feed(html)
    text = "\n".join(parser.parts)
    found = [w for w in LATIN.findall(text) if w not in ALLOWED]
    found += [f"ISO:{m}" for m in ISO.findall(text)]
    if "UTC" in text:
        found.append("UTC")
    if "官员" in text:  # officials are 领导 in the Mandarin UI, one term everywhere
        found.append("官员")
    return found


def test_the_walk_can_fail() -> None:
    assert problems("<p>转接 direct</p>") == ["direct"]
    assert problems("<p>时间 2026-11-27T12:27 UTC</p>") == ["UTC", "ISO:2026-11-27T12:27", "UTC"]
    assert problems('<input placeholder="reason">') == ["reason"]
    assert problems("<th>官员</th>") == ["官员"]
    assert problems("<p>分机 <code>op-1</code>，上传 WAV</p>") == []
    assert problems('<option value="u-admin">u-admin</option>') == []
    assert problems('<option value="direct">direct</option><option value="x">pool</option>') \
        == ["direct", "pool"]


async def _seed_more(env: Env) -> dict[str, int]:  # noqa: F811
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
                             json={"availability": "meeting", "reason": "开会"})
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
    return ids


async def test_every_page_of_every_role_reads_in_mandarin(env: Env) -> None:  # noqa: F811
    ids = await _seed_more(env)
    pages = [path for method, path in app_routes(env.app) if method == "GET"
             and not path.startswith(SKIP_PATHS) and not path.endswith(SKIP_SUFFIXES)]
    assert "/admin" in pages and "/cases" in pages and "/console" in pages
    seen: dict[str, list[str]] = {}
    walked = 0
    db = env.app[DB]
    for role in ROLES:
        user = next(u for u in await accounts.list_users(db) if u.username == f"u-{role}")
        key, _ = await accounts.open_session(db, user.id)
        for path in pages:
            url = fill(path, {**SAMPLE, **PARAMS, "id": str(ids["p2"])})
            env.client.session.cookie_jar.clear()
            r = await env.client.get(url, cookies={"ivr_session": key, "ivr_lang": "zh"},
                                     allow_redirects=False)
            if r.status != 200 or "text/html" not in r.headers.get("Content-Type", ""):
                continue
            walked += 1
            bad = problems(await r.text())
            if bad:
                seen[f"{role} {url}"] = sorted(set(bad))
    assert walked >= 20, walked
    assert not seen, "English or raw values in Mandarin pages:\n" + "\n".join(
        f"  {page}: {words}" for page, words in sorted(seen.items()))
