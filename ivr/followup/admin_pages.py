"""The admin's greeting upload from the schedule page: a WAV becomes the official's voicemail
greeting in the official's language (validated and converted like
``PUT /api/v1/officials/{slug}/greeting``).

The form sits on routing's schedule page, which shows the upload's error too; ``create_app``
hands that page in (``setup(app, schedule_page=…)``), so followup does not import routing
(routing already uses followup's uploads)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Protocol
from urllib.parse import quote

from aiohttp import web

from ivr.core.errors import InvalidAudio, NoAudio
from ivr.directory import services as directory
from ivr.followup.prompts import validate_upload
from ivr.followup.uploads import write_atomic
from ivr.http import CONFIG, DB, ROUTES, Routes
from ivr.http.pages import error_text
from ivr.speech.audio import AudioError

MAX_GREETING = 5 * 1024 * 1024
routes = Routes("followup")


class SchedulePage(Protocol):
    def __call__(self, request: web.Request, *, error: str, status: int) -> Awaitable[web.Response]: ...


SCHEDULE_PAGE = web.AppKey("followup_schedule_page", SchedulePage)


async def _greeting_wav(request: web.Request) -> bytes:
    form = await request.post()
    field = form.get("file")
    data = field.file.read(MAX_GREETING + 1) if isinstance(field, web.FileField) else b""
    if not data:
        raise InvalidAudio("choose a WAV file", {"field": "file"})
    if len(data) > MAX_GREETING:
        raise InvalidAudio("the file is larger than 5 MB", {"field": "file"})
    try:
        return await asyncio.to_thread(validate_upload, data)
    except AudioError as exc:
        raise InvalidAudio(f"unusable audio: {exc}", {"field": "file"}) from None


@routes.post("/admin/officials/{slug}/greeting", roles=["admin"])
async def post_greeting(request: web.Request) -> web.Response:
    config = request.config_dict[CONFIG]
    o = await directory.get_official(request.config_dict[DB], request.match_info["slug"])
    try:
        wav = await _greeting_wav(request)
    except InvalidAudio as exc:
        page = request.config_dict[SCHEDULE_PAGE]
        return await page(request, error=error_text(request, exc), status=400)
    path = config.host_path(config.prompts_dir_inside) / o.language / f"ivr-greeting-{o.id}.wav"
    await asyncio.to_thread(write_atomic, path, wav)
    raise web.HTTPSeeOther(f"/admin/officials/{quote(o.slug)}/schedule?saved=1")


@routes.get("/admin/officials/{slug}/greeting.wav", roles=["admin"])
async def get_greeting(request: web.Request) -> web.StreamResponse:
    """The official's current voicemail greeting (WAV), to play it on the schedule page."""
    config = request.config_dict[CONFIG]
    o = await directory.get_official(request.config_dict[DB], request.match_info["slug"])
    path = config.host_path(config.prompts_dir_inside) / o.language / f"ivr-greeting-{o.id}.wav"
    if not await asyncio.to_thread(path.is_file):
        raise NoAudio(f"{o.slug!r} has no greeting uploaded", {"official": o.slug})
    return web.FileResponse(path, headers={"Content-Type": "audio/wav", "Cache-Control": "no-store"})


def setup(app: web.Application, *, schedule_page: SchedulePage) -> None:
    app[SCHEDULE_PAGE] = schedule_page
    app[ROUTES].add(app, routes)
