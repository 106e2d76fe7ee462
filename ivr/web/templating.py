"""Jinja2 for the pages (aiohttp-jinja2): templates from each package's ``templates/`` folder,
autoescape on for every template, undefined names an error; ``ivr.http.pages.render`` puts
``t()`` (texts by message id) in every template's context."""

from __future__ import annotations

from collections.abc import Iterable

import aiohttp_jinja2
import jinja2
from aiohttp import web

from ivr.http.pages import MESSAGES, NAV, Messages, Nav
from ivr.web.errors_text import ERROR_TEXTS


def setup_templates(app: web.Application, packages: Iterable[str]) -> None:
    """``packages``: every package whose ``templates/`` folder holds pages (ivr.web first)."""
    loader = jinja2.ChoiceLoader([jinja2.PackageLoader(p, "templates") for p in packages])
    aiohttp_jinja2.setup(app, loader=loader, autoescape=True, undefined=jinja2.StrictUndefined,
                         trim_blocks=True, lstrip_blocks=True)
    app[MESSAGES] = Messages()
    app[MESSAGES].add(ERROR_TEXTS)
    app[NAV] = Nav()
