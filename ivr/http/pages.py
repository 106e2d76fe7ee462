"""Server-rendered pages: Jinja2 templates with autoescape, texts by message id, the nav.

A feature's page handler calls ``render(request, "feature/page.html", {...}, title="msg.id")``.
Templates live in each package's ``templates/`` folder (``ivr/web/templates/base.html`` is the
layout every page extends); every value is escaped by Jinja2 — there is no way to pass raw HTML.

Texts: every string a page shows is a message id looked up in the app's ``Messages`` (Mandarin
first, English second), filled by each feature's ``setup`` with ``app[MESSAGES].add({...})``;
an error is shown by its ``error_id`` (``error.<id>``), with the English message beside it.
Nav links are added per role with ``app[NAV].add(role, href, message_id)``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp_jinja2
from aiohttp import web

from ivr.core.errors import IvrError
from ivr.http import localtime
from ivr.http.keys import CONFIG
from ivr.http.routes import identity_of

LANG_COOKIE = "ivr_lang"
TZ = web.RequestKey("tz", str)  # the city's IANA zone, set by the web middleware
LANGS = ("zh", "en")
SECURITY_HEADERS = {
    "Cache-Control": "no-store", "X-Frame-Options": "DENY", "Referrer-Policy": "same-origin",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
                               "style-src 'self' 'unsafe-inline'; media-src 'self'",
}


@dataclass
class Messages:
    """message id -> (Mandarin, English); a feature adds its own, an id is defined once."""
    texts: dict[str, tuple[str, str]] = field(default_factory=dict)

    def add(self, texts: Mapping[str, tuple[str, str]]) -> None:
        for key, pair in texts.items():
            if key in self.texts and self.texts[key] != pair:
                raise ValueError(f"message {key!r} defined twice")
            self.texts[key] = pair

    def text(self, key: str, lang: str) -> str:
        pair = self.texts.get(key)
        if pair is None:
            return key
        return pair[1] if lang == "en" else pair[0]


@dataclass
class Nav:
    """role -> [(href, message id)], in the order features add them."""
    links: dict[str, list[tuple[str, str]]] = field(default_factory=dict)

    def add(self, roles: Iterable[str], href: str, key: str) -> None:
        for role in roles:
            self.links.setdefault(role, []).append((href, key))


MESSAGES = web.AppKey("messages", Messages)
NAV = web.AppKey("nav", Nav)


def lang_of(request: web.Request) -> str:
    lang = request.cookies.get(LANG_COOKIE, "zh")
    return lang if lang in LANGS else "zh"


def page_tz(request: web.Request) -> ZoneInfo:
    """The city's timezone for this request (the database's, read by the web middleware; the
    config's when the middleware did not run)."""
    name = request.get(TZ) or request.config_dict[CONFIG].database.timezone
    try:
        return ZoneInfo(str(name))
    except (KeyError, ValueError):
        return ZoneInfo("Asia/Shanghai")


def when(request: web.Request, dt: datetime | None, *, zone: bool = False) -> str:
    """``dt`` in the city's timezone, for a page (see ivr.http.localtime)."""
    return localtime.when(dt, page_tz(request), lang_of(request), zone=zone)


def t(request: web.Request, key: str) -> str:
    """The text of message ``key`` in the request's language."""
    return request.config_dict[MESSAGES].text(key, lang_of(request))


def error_text(request: web.Request, exc: IvrError) -> str:
    """An error as a person reads it: the catalogue's text for its error_id, then the English
    message (which names the field or value)."""
    messages, lang = request.config_dict[MESSAGES], lang_of(request)
    key = f"error.{exc.error_id}"
    if key not in messages.texts:
        key = "error.invalid-input" if exc.status == 400 else "error"
    head = messages.text(key, lang)
    return exc.message if head == exc.message else f"{head}: {exc.message}"


def render(request: web.Request, template: str, context: Mapping[str, Any] | None = None, *,
           title: str, status: int = 200, flash: str = "", error: str = "",
           scripts: Iterable[str] = ()) -> web.Response:
    """The page ``template`` (which extends base.html) with the layout's context."""
    identity = identity_of(request)
    lang = lang_of(request)
    nav = request.config_dict[NAV].links.get(identity.role, []) if identity else []
    messages = request.config_dict[MESSAGES]
    errors = {key[len("error."):]: messages.text(key, lang)  # for scripts: texts by error_id
              for key in messages.texts if key.startswith("error.")}
    tz, now = page_tz(request), datetime.now(UTC)
    full = {"t": lambda key: messages.text(key, lang), "title": title, "flash": flash,
            "when": lambda dt, zone=False, seconds=False: localtime.when(
                dt, tz, lang, zone=zone, seconds=seconds),
            "due": lambda dt: localtime.due(dt, now, lang),
            "ago": lambda dt: localtime.relative(dt, now, lang),
            "zone": localtime.zone_label(tz, lang, now),
            "error": error, "scripts": list(scripts), "error_texts": errors,
            "identity": identity, "csrf": identity.csrf if identity else "", "lang": lang,
            "nav": nav, "here": request.path_qs, **(context or {})}
    response = aiohttp_jinja2.render_template(template, request, full, status=status)
    response.headers.update(SECURITY_HEADERS)
    return response
