"""Every GET page of every role in headless Chromium, in Mandarin and in English, on a real
deployment after real calls (issue 15): each page is opened as a person would (signed in, the
language chosen by its cookie), screenshotted into the test's artifacts folder
(``<role>-<lang>-<page>.png``), and the walk fails on any uncaught script error, any console
error and any response of 400 or more (the page itself or anything it loads: styles, scripts,
the live event streams).

The pages are the zh walk's (tests/unit/test_web_zh_walk.py): the app's own GET routes minus
the API, static files, downloads and streams, per role as the route table admits it. The monthly
report's PDF is a download, not a page (tests/e2e/test_web_supervision.py reads it); its HTML
twin is walked. Data first: 张伟 answers a call himself, a call to 陈静's empty pool is missed
(a case), so the calls, a call's page and the cases have rows.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from ivr.lab.deploy import LabDeployment
from tests.e2e.routing_helpers import eventually
from tests.e2e.web_helpers import CITY_TZ, add_user, first_admin, role_pages, sign_in, web_lab
from tests.unit.test_web_zh_walk import problems as zh_problems

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(400)]
USERS = {"admin": "admin", "operator": "wangfang", "official": "zhangwei", "supervisor": "jiandu"}


@pytest.fixture
async def lab(asterisk_root: Path, tmp_path: Path) -> AsyncIterator[LabDeployment]:
    async for deployment in web_lab(asterisk_root, tmp_path / "lab"):
        yield deployment


async def _calls(lab: Any, sipp: Any) -> int:
    """Two real calls; the id of 张伟's (his own call: every role that sees calls may open it)."""
    p = lab.extra["phones"]
    zhang = await sipp("uas_answer", port=p["zhang"], keys={"hold_ms": 500}).start()
    for number, caller in (("05585551001", "13900000031"), ("05585552001", "13900000032")):
        r = await sipp("uac_call", remote=lab.sip, local_ip="127.0.0.2", service=number,
                       keys={"hold_ms": 1500, "caller": caller}, timeout=40).run()
        assert r.ok, r.summary()
    assert (await zhang.wait(10)).received("INVITE")

    async def done() -> dict[str, Any] | None:
        status, body = await lab.arequest("GET", "/api/v1/calls?limit=10")
        assert status == 200, body
        items = {c["caller"]: c for c in body["items"] if c["outcome"]}
        return items if len(items) == 2 else None
    calls = await eventually(done, timeout=30)
    assert calls["13900000031"]["answered_by"] == "o-zhang", calls
    return int(calls["13900000031"]["id"])


async def test_every_page_of_every_role_in_chromium(lab: Any, sipp: Any, browser: Any,
                                                    artifacts: Path) -> None:
    await first_admin(lab)
    await add_user(lab, "wangfang", "operator", operator="op-1", display_name="王芳")
    await add_user(lab, "zhangwei", "official", official="zhang-wei", display_name="张伟")
    await add_user(lab, "jiandu", "supervisor", display_name="监督员")
    call_id = await _calls(lab, sipp)
    values = {"slug": "zhang-wei", "endpoint": "op-1", "id": str(call_id),
              "month": datetime.now(CITY_TZ).strftime("%Y-%m")}
    pages = role_pages(lab)
    assert {"/admin", "/console", "/me", "/wallboard", "/cases"} <= {p for ps in pages.values()
                                                                      for p in ps}
    walked: dict[str, int] = {}
    problems: list[str] = []
    for role, paths in pages.items():
        b = await sign_in(browser, lab, USERS[role], artifacts, role)
        for lang in ("zh", "en"):
            await b.page.context.add_cookies([{"name": "ivr_lang", "value": lang, "url": lab.api}])
            for template in paths:
                if template.endswith(".pdf"):
                    continue
                path = re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], template)
                response = await b.page.goto(f"{lab.api}{path}")
                await b.page.wait_for_load_state()
                assert response is not None, path
                if response.status >= 400:
                    problems.append(f"{role} {lang} {path}: HTTP {response.status}")
                shown = await b.page.evaluate("document.body.dataset.lang || null")
                if shown is not None:  # the app's pages (the stored monthly report: its own)
                    assert shown == lang, f"{role} {path}: in {shown}, not {lang}"
                if lang == "zh" and shown is not None:
                    problems += [f"{role} zh {path}: {w}" for w in
                                 sorted(set(zh_problems(await b.page.content())))]
                name = re.sub(r"[^A-Za-z0-9]+", "-", path).strip("-") or "home"
                await b.page.screenshot(path=str(artifacts / f"{role}-{lang}-{name}.png"),
                                        full_page=True)
                walked[role] = walked.get(role, 0) + 1
        problems += [f"{role}: {e}" for e in b.errors]
    assert walked == {role: 2 * len([p for p in paths if not p.endswith(".pdf")])
                      for role, paths in pages.items()}, walked
    assert sum(walked.values()) >= 40, walked
    assert not problems, "pages with errors:\n" + "\n".join(problems)
