"""The Mandarin walk: every page of every role, served by the real app (``ivr.app.create_app``)
over HTTP with Chinese data seeded (officials, operators, calls of every outcome, cases with
deadlines and callbacks, audit entries, a schedule), read in zh as a person sees it
(the walker and the seed: tests/unit/page_walk.py, shared with the English walk).

Fails on any Latin word of two letters or more in the visible text outside the reviewed
allowlist, on any ISO timestamp (``2026-11-27T12:27``) and on "UTC". Left out: tags, scripts,
styles and ``<code>`` elements (endpoint ids, user names, zone ids), and an ``<option>`` whose
text is its value (an id picked as itself) unless that value is an enum's. Raw enum values are
Latin words, so they fail. Visible attributes (placeholder, title, alt) are read as text.
"""

from __future__ import annotations

import re

from tests.unit.page_walk import seed, visible_text, walk
from tests.unit.test_web_authz import Env, env  # noqa: F401

# reviewed: abbreviations a Chinese city's staff use as they are (file formats, SIP, AMI in the
# alerts, MB); each one is on some page. Technical words (API, ID, PJSIP, Asterisk, AstDB)
# are not: the pages say 接口, 编号, 电话交换机, 路由镜像, or show the id as code.
ALLOWED = {"SIP", "CSV", "WAV", "YAML", "AMI", "PDF", "HTML", "MB",
           "English"}  # "English": the language switch, in its own language
LATIN = re.compile(r"[A-Za-z]{2,}")
ISO = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")


def problems(html: str) -> list[str]:
    text = visible_text(html)
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


async def test_every_page_of_every_role_reads_in_mandarin(env: Env) -> None:  # noqa: F811
    pages = await walk(env, await seed(env), "zh")
    assert len(pages) >= 20, len(pages)
    seen = {page: sorted(set(bad)) for page, html in pages.items() if (bad := problems(html))}
    assert not seen, "English or raw values in Mandarin pages:\n" + "\n".join(
        f"  {page}: {words}" for page, words in sorted(seen.items()))
