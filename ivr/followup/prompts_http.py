"""The prompts callers hear, replaceable by an admin with an uploaded WAV (issue 3, point 0).

PUT /api/v1/prompts/{lang}/{name} validates the upload and converts it to what Asterisk plays
(8 kHz mono 16-bit); the dialplan plays the new file from the next call on. GET lists them.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from aiohttp import web

from ivr.core.errors import InvalidInput, UnknownPrompt
from ivr.core.constants import LANGUAGES
from ivr.speech.audio import AudioError, read_wav
from ivr.web.compat import PREFIX
from ivr.web.compat import add_rules
from ivr.followup.uploads import store_prompt
from ivr.web.keys import CONFIG
from ivr.web.compat import register_paths

# the prompts the dialplan plays: the voicemail greeting, "nobody can take your call", the
# DTMF menu, the beep before recording
PROMPTS = ("ivr-greeting", "ivr-unavailable", "ivr-menu", "ivr-beep")



def _prompt_dir(request: web.Request) -> Path:
    config = request.config_dict[CONFIG]
    return config.host_path(config.prompts_dir_inside)


def _check(lang: str, name: str) -> None:
    if lang not in LANGUAGES:
        raise InvalidInput(f"语言无效 / language must be one of {', '.join(LANGUAGES)}",
                           {"language": lang})
    if name not in PROMPTS:
        raise UnknownPrompt(f"没有这个提示音 / no prompt {name!r}: one of {', '.join(PROMPTS)} "
                            "(an official's greeting: PUT /officials/{slug}/greeting)")


def _describe(path: Path) -> dict[str, Any]:
    try:
        seconds: float | None = round(read_wav(path).duration, 3)
    except AudioError:
        seconds = None
    return {"language": path.parent.name, "name": path.stem, "seconds": seconds}


async def list_prompts(request: web.Request) -> web.Response:
    root = _prompt_dir(request)

    def scan() -> list[dict[str, Any]]:
        return [_describe(p) for lang in LANGUAGES for p in sorted((root / lang).glob("*.wav"))]
    return web.json_response({"items": await asyncio.to_thread(scan)})


async def put_prompt(request: web.Request) -> web.Response:
    lang, name = request.match_info["lang"], request.match_info["name"]
    _check(lang, name)
    path = _prompt_dir(request) / lang / f"{name}.wav"
    await store_prompt(request, [path], "提示音不可用 / unusable prompt")
    return web.json_response(await asyncio.to_thread(_describe, path))


def setup_prompts_api(app: web.Application) -> None:
    app.router.add_get(f"{PREFIX}/prompts", list_prompts)
    app.router.add_put(f"{PREFIX}/prompts/{{lang}}/{{name}}", put_prompt)


add_rules([("GET", f"{PREFIX}/prompts", ["admin", "supervisor"], None),
           ("PUT", f"{PREFIX}/prompts/{{lang}}/{{name}}", ["admin"], None)])
_PROMPT = {"type": "object", "properties": {"language": {"type": "string"},
                                            "name": {"type": "string"},
                                            "seconds": {"type": ["number", "null"]}}}
register_paths({
    "/prompts": {"get": {"summary": "The prompts callers hear, per language",
                         "responses": {"200": {"description": "prompts", "content": {
                             "application/json": {"schema": {"type": "object", "properties": {
                                 "items": {"type": "array", "items": _PROMPT}}}}}},
                                       "401": {"description": "unauthorized"}}}},
    "/prompts/{lang}/{name}": {"put": {
        "summary": "Replace a prompt with an uploaded WAV (validated, converted to 8 kHz mono)",
        "parameters": [{"name": "lang", "in": "path", "required": True,
                        "schema": {"type": "string", "enum": list(LANGUAGES)}},
                       {"name": "name", "in": "path", "required": True,
                        "schema": {"type": "string", "enum": list(PROMPTS)}}],
        "requestBody": {"required": True, "content": {"audio/wav": {"schema": {
            "type": "string", "format": "binary"}}}},
        "responses": {"200": {"description": "the prompt now in use", "content": {
            "application/json": {"schema": _PROMPT}}},
            "400": {"description": "invalid language or unusable audio"},
            "401": {"description": "unauthorized"}, "404": {"description": "no such prompt"}}}},
})
