"""Fixtures shared by the end-to-end browser tests (headless Debian chromium via Playwright)."""

from __future__ import annotations

import os
import tempfile
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run",
        "--autoplay-policy=no-user-gesture-required"]


@pytest.fixture
async def browser() -> Any:
    from playwright.async_api import async_playwright

    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (scripts/setup.sh does)")
    contexts: list[Any] = []
    async with async_playwright() as p:
        async def new_context() -> Any:
            ctx = await p.chromium.launch_persistent_context(
                tempfile.mkdtemp(prefix="ivr-chromium-"), executable_path=CHROMIUM,
                headless=True, args=ARGS, locale="zh-CN", viewport={"width": 1280, "height": 900},
                bypass_csp=True)  # the page's CSP forbids eval: the test evaluates JS
            contexts.append(ctx)
            return ctx
        yield new_context
        for ctx in contexts:
            await ctx.close()
