"""PUT /api/v1/numbers/{number}: a published number's menu and language (admins)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ivr.core.errors import InvalidInput
from ivr.core.constants import LANGUAGES
from ivr.core.numbers import dial_forms
from ivr.routing.numbers_service import get_number, set_number
from ivr.speech.audio import read_wav
from ivr.followup.uploads import store_prompt
from ivr.web.api import PREFIX, _actor, _body, _on_change
from ivr.web.compat import add_rules
from ivr.web.keys import CONFIG, DB_SESSIONMAKER
from ivr.web.openapi import register_paths


async def put_number(request: web.Request) -> web.Response:
    body = await _body(request)
    reason = body.get("reason", "")
    if not isinstance(reason, str):
        reason = ""
    row = await set_number(request.config_dict[DB_SESSIONMAKER], request.match_info["number"],
                           _actor(request, body), menu=body.get("menu"),
                           language=body["language"] if "language" in body else ...,
                           reason=reason, on_change=_on_change(request))
    return web.json_response(number_json(row))


def number_json(row: Any) -> dict[str, Any]:
    return {"number": row.number, "official_id": row.official_id, "menu": row.menu,
            "language": row.language}


async def put_number_greeting(request: web.Request) -> web.Response:
    """This number's own voicemail greeting (WAV body), played instead of the official's."""
    db, config = request.config_dict[DB_SESSIONMAKER], request.config_dict[CONFIG]
    row = await get_number(db, request.match_info["number"])
    language = request.query.get("language") or row.language or row.official.language
    if language not in LANGUAGES:
        raise InvalidInput(f"language must be one of {', '.join(LANGUAGES)}", {"language": language})
    folder = config.host_path(config.prompts_dir_inside) / language
    # one file per form a caller may dial: the dialplan looks the greeting up by the digits dialed
    paths = [folder / f"ivr-greeting-n{digits}.wav" for digits in dial_forms(row.number)]
    wav = await store_prompt(request, paths, "unusable greeting")
    return web.json_response({**number_json(row), "greeting_language": language,
                              "seconds": round(read_wav(wav).duration, 3)})


def setup_numbers_api(app: web.Application) -> None:
    app.router.add_put(f"{PREFIX}/numbers/{{number}}", put_number)
    app.router.add_put(f"{PREFIX}/numbers/{{number}}/greeting", put_number_greeting)


add_rules([("PUT", f"{PREFIX}/numbers/{{number}}", ["admin"], None),
           ("PUT", f"{PREFIX}/numbers/{{number}}/greeting", ["admin"], None)])
register_paths({"/numbers/{number}/greeting": {"put": {
    "summary": "Upload this number's voicemail greeting (WAV; validated, converted to 8 kHz "
               "mono); without one the official's greeting plays",
    "parameters": [{"name": "number", "in": "path", "required": True,
                    "schema": {"type": "string"}},
                   {"name": "language", "in": "query", "required": False,
                    "schema": {"type": "string", "enum": ["zh", "en"]}}],
    "requestBody": {"required": True, "content": {"audio/wav": {"schema": {
        "type": "string", "format": "binary"}}}},
    "responses": {"200": {"description": "the number's settings and the greeting's length"},
                  "400": {"description": "malformed number, language or unusable audio"},
                  "401": {"description": "unauthorized"},
                  "404": {"description": "not a published number"}}}}})
register_paths({"/numbers/{number}": {"put": {
    "summary": "Set a published number's DTMF menu (1 message, 0 operator, 9 repeat) and its "
               "language (zh, en, or null for the official's); audited",
    "parameters": [{"name": "number", "in": "path", "required": True,
                    "schema": {"type": "string"}, "description": "national or E.164 form"}],
    "requestBody": {"required": True, "content": {"application/json": {"schema": {
        "type": "object", "properties": {"menu": {"type": "boolean"},
                                         "language": {"type": ["string", "null"], "enum": ["zh", "en", None]},
                                         "reason": {"type": "string"}}}}}},
    "responses": {"200": {"description": "the number's settings"},
                  "400": {"description": "malformed number or invalid input"},
                  "401": {"description": "unauthorized"},
                  "404": {"description": "not a published number"}}}}})
