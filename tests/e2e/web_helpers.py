"""Shared pieces of the browser end-to-end tests (the journeys per role, the page walk): the
routing directory with phones that REGISTER, accounts, signing in, a screenshot of every page
a journey visits, the browser's own errors, and the GET pages each role may open.

A journey's ``Browsing`` numbers its screenshots in the test's artifacts folder in the order the
pages were seen (``01-admin-directory.png`` …) and records what went wrong in the page: uncaught
script errors, console errors, and responses of 400 or more (a refusal a journey provokes on
purpose is one of them, so journeys check ``script_errors`` and the walk checks ``errors``).
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from ivr.lab.deploy import LabDeployment
from tests.e2e.routing_helpers import DIRECTORY, PHONES, eventually, routing_lab

PASSWORD = "ivr-journey-pass"
CITY_TZ = ZoneInfo("Asia/Shanghai")  # the routing directory's timezone


def next_boundary(ahead: float = 50.0) -> datetime:
    """The next whole minute at least ``ahead`` seconds from now, in the city's time: a return
    time or a window's end a form can type (HH:MM) that the journey can still act before."""
    now = datetime.now(UTC).astimezone(CITY_TZ)
    at = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    while (at - now).total_seconds() < ahead:
        at += timedelta(minutes=1)
    if at.date() != now.date():  # a form's time of day cannot say 24:00
        pytest.fail("the minute boundary is past midnight: run again after it")
    return at


def registering(directory: str, *endpoints: str) -> str:
    """``directory`` (a routing_helpers template) with the ``endpoints``' static contacts
    removed: those phones must REGISTER (with their generated secret) to be reached."""
    for ep in endpoints:
        directory, n = re.subn(rf', static_contact: "sip:{re.escape(ep)}@127\.0\.0\.1:\{{\w+\}}"',
                               "", directory)
        assert n == 1, f"{ep} has no static contact in the directory"
    return directory


def with_operator(directory: str, line: str) -> str:
    """``directory`` with one more operator line (YAML flow mapping, braces doubled)."""
    anchor = "officials:\n"
    assert anchor in directory
    return directory.replace(anchor, f"  - {line}\n{anchor}", 1)


def max_wait(directory: str, seconds: int) -> str:
    """The routing directory's pool ``main`` with another maximum wait."""
    old = "{{name: main, strategy: leastrecent, max_wait: 8}}"
    assert old in directory
    return directory.replace(old, f"{{{{name: main, strategy: leastrecent, max_wait: {seconds}}}}}")


async def web_lab(root: Path, workdir: Path, directory: str = DIRECTORY,
                  phones: tuple[str, ...] = PHONES, **kw: Any) -> AsyncIterator[LabDeployment]:
    """A lab for a browser test: :func:`routing_helpers.routing_lab` (the phones' ports in
    ``extra["phones"]``, the generated SIP secrets in ``extra["credentials"]``)."""
    async for deployment in routing_lab(root, workdir, directory, phones, **kw):
        yield deployment


def cli(lab: LabDeployment, *args: str, stdin: str = "") -> str:
    env = dict(os.environ, IVR_CONFIG=str(lab.workdir / "ivr.toml"))
    r = subprocess.run([sys.executable, "-m", "ivr.cli", *args], input=stdin, env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout


async def first_admin(lab: LabDeployment, username: str = "admin") -> None:
    """The first admin, made with the CLI as an installer would."""
    await asyncio.to_thread(cli, lab, "user", "create", username, "--role", "admin",
                            "--display-name", "管理员", "--password-stdin", stdin=PASSWORD + "\n")


async def add_user(lab: LabDeployment, username: str, role: str, **kw: str) -> None:
    status, out = await lab.arequest("POST", "/api/v1/users", {
        "username": username, "role": role, "password": PASSWORD, **kw})
    assert status == 201, out


class Browsing:
    """One signed-in browser page: screenshots numbered in visiting order, errors recorded."""

    def __init__(self, page: Any, artifacts: Path, who: str) -> None:
        self.page, self.artifacts, self.who = page, artifacts, who
        self.errors: list[str] = []
        self.script_errors: list[str] = []
        self.shots: list[Path] = []
        page.on("pageerror", self._pageerror)
        page.on("console", self._console)
        page.on("response", self._response)

    def _pageerror(self, exc: Any) -> None:
        self.script_errors.append(f"{self.page.url}: {exc}")
        self.errors.append(f"script error on {self.page.url}: {exc}")

    def _console(self, msg: Any) -> None:
        where = (msg.location or {}).get("url", "")
        if msg.type == "error" and not where.endswith("/favicon.ico"):
            # (the browser's own icon request, no page asks for one: not the page's error)
            self.errors.append(f"console error on {self.page.url}: {msg.text} ({where})")

    def _response(self, response: Any) -> None:
        if response.status >= 400:
            self.errors.append(f"HTTP {response.status} {response.request.method} {response.url}")

    async def shot(self, name: str) -> Path:
        """A full-page screenshot, numbered: ``NN-<who>-<name>.png``."""
        path = self.artifacts / f"{len(_shots(self.artifacts)) + 1:02d}-{self.who}-{name}.png"
        await self.page.screenshot(path=str(path), full_page=True)
        self.shots.append(path)
        return path

    async def goto(self, lab: LabDeployment, path: str, name: str) -> Any:
        """Open ``path``, wait for it, screenshot it; the response."""
        response = await self.page.goto(f"{lab.api}{path}")
        await self.page.wait_for_load_state()
        await self.shot(name)
        return response

    async def reload_until(self, check: str, timeout: float = 20.0) -> None:
        """Reload the page until the JavaScript expression ``check`` is true (a state a reload
        shows, e.g. after a server-side clock boundary)."""
        async def ready() -> bool:
            await self.page.reload()
            await self.page.wait_for_load_state()
            return bool(await self.page.evaluate(check))
        await eventually(ready, timeout=timeout, interval=0.5)


def _shots(folder: Path) -> list[Path]:
    return sorted(folder.glob("[0-9][0-9]-*.png"))


async def sign_in(browser: Any, lab: LabDeployment, username: str, artifacts: Path,
                  who: str = "", *, viewport: dict[str, int] | None = None) -> Browsing:
    """A fresh browser context signed in as ``username`` (the login page screenshotted)."""
    ctx = await browser()
    page = ctx.pages[0] if ctx.pages else await ctx.new_page()
    if viewport:
        await page.set_viewport_size(viewport)
    b = Browsing(page, artifacts, who or username)
    await page.goto(f"{lab.api}/login")
    await page.fill("#username", username)
    await page.fill("#password", PASSWORD)
    await b.shot("login")
    await page.click("#login-submit")
    await page.wait_for_load_state()
    return b


def role_pages(lab: LabDeployment) -> dict[str, list[str]]:
    """The GET pages of each role, as the zh walk (tests/unit/test_web_zh_walk.py) lists them
    from the app's own route table: role → path templates (``{slug}`` …) it may open."""
    from ivr.app import create_app
    from ivr.core.constants import ANY, PUBLIC, ROLES
    from ivr.http import ROUTES
    from tests.unit.page_walk import SKIP_PATHS, SKIP_SUFFIXES  # the walks' shared page list
    from tests.unit.test_web_authz import app_routes

    app = create_app(lab.config)  # only its route table: nothing is started
    registry = app[ROUTES]
    out: dict[str, list[str]] = {role: [] for role in ROLES}
    for method, path in app_routes(app):
        if method != "GET" or path.startswith(SKIP_PATHS) or path.endswith(SKIP_SUFFIXES):
            continue
        rule = registry.rule_for(method, path)
        assert rule is not None, path
        for role in ROLES:
            if role in rule.roles or ANY in rule.roles or PUBLIC in rule.roles:
                out[role].append(path)
    return out
