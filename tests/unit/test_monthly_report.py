"""The monthly report: month boundaries in the city's timezone; the PDF (WeasyPrint) holds the
official's Chinese name and figures as text (pdftotext) in an embedded CJK font (pdffonts); the
automatic run is done by exactly one of two nodes at once (PostgreSQL advisory lock, SQLite
claim row) — on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import jinja2
import pytest
from sqlalchemy import func, select

from ivr.core.errors import InvalidInput, UnknownOfficial
from ivr.db.session import Db
from ivr.db.supervision_models import MonthlyReport
from ivr.supervision import monthly
from tests.unit.test_figures_sql import _seed, db  # noqa: F401  (fixture)
from tests.unit.test_supervision_calls import _session
from tests.unit.test_web_authz import TOKEN, Env, env  # noqa: F401  (fixture)

ZONE = ZoneInfo("Asia/Shanghai")


def _env() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.PackageLoader("ivr.supervision", "templates"),
                              autoescape=True, undefined=jinja2.StrictUndefined)


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is missing: apt-get install poppler-utils (scripts/setup.sh does)")
    return path


def test_month_bounds_in_the_city_timezone() -> None:
    since, until = monthly.month_bounds("2026-03", "Asia/Shanghai")
    assert since.astimezone(UTC) == datetime(2026, 2, 28, 16, 0, tzinfo=UTC)
    assert until.astimezone(UTC) == datetime(2026, 3, 31, 16, 0, tzinfo=UTC)
    assert monthly.month_bounds("2026-12", "UTC")[1] == datetime(2027, 1, 1, tzinfo=ZoneInfo("UTC"))
    # 2026-04-01 00:30 in Shanghai is still March 31 in UTC: the city's calendar decides
    assert monthly.previous_month(datetime(2026, 3, 31, 16, 30, tzinfo=UTC), "Asia/Shanghai") == \
        "2026-03"
    assert monthly.previous_month(datetime(2026, 1, 5, tzinfo=UTC), "Asia/Shanghai") == "2025-12"
    for bad in ("2026-13", "2026/03", "march", ""):
        with pytest.raises(InvalidInput):
            monthly.month_bounds(bad, "Asia/Shanghai")


async def test_pdf_has_the_name_figures_and_an_embedded_cjk_font(db: Db,  # noqa: F811
                                                                tmp_path: Path) -> None:
    await _seed(db)  # March 2026: 张伟 10 calls, 5 answered by him (50.0 %); 李强 3 calls
    scopes = await monthly.generate(db, _env(), "2026-03", "test")
    assert scopes == ["city", "official:li-qiang", "official:zhang-wei"]
    report = await monthly.load(db, "2026-03", "official:zhang-wei")
    assert report is not None and report.pdf.startswith(b"%PDF")
    pdf = tmp_path / "zhang.pdf"
    pdf.write_bytes(report.pdf)
    text = subprocess.run([_tool("pdftotext"), "-layout", str(pdf), "-"], capture_output=True,
                          text=True, check=True).stdout
    assert "张伟" in text and "2026年3月" in text and "政务热线接听情况通报" in text
    assert "5 (50.0%)" in text  # answered by the expected party
    assert "13900000000" in text  # an exception of his: the caller
    # satisfaction: 6 ratings of his March calls, 3 satisfied, 2 fairly, 1 not (the seed's)
    assert "群众满意度" in text and re.search(
        r"6\s+3 \(50\.0%\)\s+2 \(33\.3%\)\s+1 \(16\.7%\)", text), text
    fonts = subprocess.run([_tool("pdffonts"), str(pdf)], capture_output=True, text=True,
                           check=True).stdout.splitlines()[2:]
    cjk = [f for f in fonts if "CJK" in f]
    assert cjk and all(f.split()[-5] == "yes" for f in cjk), fonts  # emb: yes (no tofu)
    city = await monthly.load(db, "2026-03", "city")
    assert city is not None and "李强" in city.html and "张伟" in city.html
    # the exceptions' values in words (both languages), never raw enum values
    cells = re.findall(r'data-(?:outcome|reason|follow-up)="([^"]*)">([^<]*)<', report.html)
    assert cells and all(value and words.strip() and words.strip() != value
                         for value, words in cells), cells
    assert "北京时间" in report.html and "Beijing time" in report.html  # the period's zone
    # again: replaced, not duplicated
    await monthly.generate(db, _env(), "2026-03", "test", official="zhang-wei")
    async with db() as s:
        assert await s.scalar(select(func.count()).select_from(MonthlyReport)) == 3
    with pytest.raises(UnknownOfficial):  # 404: a named official that is not there
        await monthly.generate(db, _env(), "2026-03", "test", official="nobody")


async def test_the_monthly_run_is_done_by_exactly_one_node(db: Db) -> None:  # noqa: F811
    now = datetime(2026, 4, 1, 1, 0, tzinfo=ZONE)
    done = await asyncio.gather(*(monthly.run_due(db, _env(), f"node-{i}", now=now)
                                  for i in range(3)))
    assert sorted(done, key=str) == ["2026-03", None, None]
    async with db() as s:
        rows = (await s.execute(select(MonthlyReport.scope, MonthlyReport.generated_by))).all()
    assert len(rows) == 3 and len({by for _, by in rows}) == 1  # one node made them all
    assert await monthly.run_due(db, _env(), "node-9", now=now) is None  # they exist


async def test_reports_over_http(env: Env) -> None:  # noqa: F811
    """Supervisors generate and download; the PDF is generated on demand; bad months are 400s;
    officials and operators may not."""
    h = {"Authorization": f"Bearer {TOKEN}"}
    r = await env.client.post("/api/v1/supervision/reports", json={"month": "2026-02"}, headers=h)
    assert r.status == 201, await r.text()
    assert (await r.json())["scopes"][0] == "city"
    listed = await (await env.client.get("/api/v1/supervision/reports", headers=h)).json()
    assert {"2026-02"} == {x["month"] for x in listed} and len(listed) >= 2
    sup = await _session(env, "supervisor")
    r = await env.client.get("/supervision/reports/2026-01.pdf?official=zhang-wei", cookies=sup)
    assert r.status == 200 and (await r.read()).startswith(b"%PDF")  # made on demand
    html = await (await env.client.get("/supervision/reports/2026-01.html?official=zhang-wei",
                                       cookies=sup)).text()
    assert "张伟" in html and "2026年1月" in html
    page = await (await env.client.get("/supervision/reports", cookies=sup)).text()
    assert 'data-month="2026-01" data-scope="official:zhang-wei"' in page
    r = await env.client.post("/api/v1/supervision/reports", json={"month": "2026-13"}, headers=h)
    assert r.status == 400 and (await r.json())["error_id"] == "invalid-input"
    assert (await env.client.get("/supervision/reports/soon.pdf", cookies=sup)).status == 400
    tok = {"Authorization": f"Bearer {env.tokens['official']}"}
    assert (await env.client.get("/api/v1/supervision/reports", headers=tok)).status == 403
