"""The English walk, the twin of test_web_zh_walk.py: every page of every role served by the
real app with the same Chinese data seeded (tests/unit/page_walk.py), read with the language
cookie set to English (``/lang/en`` sets ``ivr_lang=en``).

Fails on any Chinese text (ideographs, CJK and full-width punctuation) outside the data the
city typed — officials' names, titles and departments, operators' and users' names, pool names,
reasons, case summaries and transcripts, token labels, holidays: read from the database, not
listed here — and the reviewed allowlist (the language switch's 中文); on any raw enum value
(one no English label uses as a word: ``called_back``, ``leastrecent``, ``logged_out``), any
dial status (``NOANSWER``), any snake_case identifier; on any ISO timestamp and on "UTC".
``<code>`` elements (ids) are left out, as in Mandarin.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from sqlalchemy import select

from ivr.db.account_models import ApiToken, User
from ivr.db.followup_models import CalendarDay, Case, Transcript
from ivr.db.models import AuditEntry, Official, Operator, Pool
from ivr.db.session import Db
from ivr.directory.importer import IMPORT_REASON
from ivr.http.keys import DB
from ivr.http.pages import MESSAGES
from tests.unit.page_walk import ENUMS, seed, visible_text, walk
from tests.unit.test_web_authz import Env, env  # noqa: F401

# ideographs, CJK symbols and punctuation (、。「」), full-width forms (（）：；，)
CJK = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]+")
ALLOWED = {"中文"}  # the language switch, in its own language
ISO = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
WORD = re.compile(r"[A-Za-z][A-Za-z0-9_]*(?:-[A-Za-z0-9_]+)*")
SNAKE = re.compile(r"^[a-z]+(?:_[a-z0-9]+)+$")
DIAL = {"ANSWER", "NOANSWER", "BUSY", "CONGESTION", "CHANUNAVAIL", "CANCEL", "DONTCALL",
        "TORTURE", "INVALIDARGS", "originating"}


def raw_values(english: Iterable[str]) -> set[str]:
    """Enum values no English label uses as a word: shown as they are, they are raw."""
    words = {w.lower() for text in english for w in WORD.findall(text)}
    return {e for e in ENUMS if e.lower() not in words} | DIAL


def problems(html: str, data: Iterable[str], raw: set[str]) -> list[str]:
    text = visible_text(html)
    for value in sorted(data, key=len, reverse=True):  # the city's own words, longest first
        text = text.replace(value, " ")
    found = [w for w in CJK.findall(text) if w not in ALLOWED]
    found += [w for w in WORD.findall(text) if w in raw or SNAKE.match(w)]
    found += [f"ISO:{m}" for m in ISO.findall(text)]
    if "UTC" in text:
        found.append("UTC")
    return found


async def user_data(db: Db) -> set[str]:
    """What the city typed (or imported), which pages show as it is in any language."""
    columns = [Official.name, Official.title, Official.department, Official.availability_note,
               Operator.name, Pool.name, User.display_name, AuditEntry.reason, Case.summary,
               Transcript.text, Transcript.corrected_text, ApiToken.label, CalendarDay.name]
    out: set[str] = set()
    async with db() as s:
        for column in columns:
            out |= {str(v) for v in (await s.scalars(select(column).distinct())).all() if v}
    out.discard(IMPORT_REASON)  # the importer's words, shown through the catalogue
    return {v for v in out if CJK.search(v)}


def test_the_walk_can_fail() -> None:
    raw = raw_values(["direct", "pool", "voicemail", "called back"])
    data = {"张伟", "外出开会"}
    assert problems("<p>Mode: direct</p>", data, raw) == []
    assert problems("<p>张伟 局长（在岗）</p>", data, raw) == ["局长（在岗）"]
    assert problems("<p>reason: 外出开会</p>", data, raw) == []
    assert problems("<p>Status: called_back</p>", data, raw) == ["called_back"]
    assert problems("<p>Strategy: leastrecent</p>", data, raw) == ["leastrecent"]
    assert problems("<p>result NOANSWER at 2026-11-27T12:27 UTC</p>", data, raw) == [
        "NOANSWER", "ISO:2026-11-27T12:27", "UTC"]
    assert problems("<p>a reason <code>listen_reason</code> 中文</p>", data, raw) == []
    assert problems("<p>reason: no_model</p>", data, raw) == ["no_model"]
    assert problems('<input placeholder="原因">', data, raw) == ["原因"]


async def test_every_page_of_every_role_reads_in_english(env: Env) -> None:  # noqa: F811
    ids = await seed(env)
    pages = await walk(env, ids, "en")
    assert len(pages) >= 20, len(pages)
    data = await user_data(env.app[DB])
    assert "张伟" in data and "外出开会" in data  # the seed is read (else nothing is removed)
    raw = raw_values(en for _, en in env.app[MESSAGES].texts.values())
    assert {"called_back", "leastrecent", "logged_out"} <= raw
    seen = {page: sorted(set(bad)) for page, html in pages.items()
            if (bad := problems(html, data, raw))}
    assert not seen, "Chinese or raw values in English pages:\n" + "\n".join(
        f"  {page}: {words}" for page, words in sorted(seen.items()))
