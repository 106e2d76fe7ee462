"""PUT /api/v1/numbers/{number}/greeting, still registered the old way (ivr.web.compat) until the
prompt uploads move to ivr/followup; the number's menu and language are in ivr/routing/http.py."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ivr.core.errors import InvalidInput
from ivr.core.constants import LANGUAGES
from ivr.core.numbers import dial_forms
from ivr.routing.numbers_service import get_number
from ivr.routing.schemas import NumberOut
from ivr.speech.audio import read_wav
from ivr.followup.uploads import store_prompt
from ivr.web.compat import PREFIX, add_rules, register_paths
from ivr.web.keys import CONFIG, DB_SESSIONMAKER


def number_json(row: Any) -> dict[str, Any]:
    return NumberOut.of(row).model_dump(mode="json")


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
    app.router.add_put(f"{PREFIX}/numbers/{{number}}/greeting", put_number_greeting)


add_rules([("PUT", f"{PREFIX}/numbers/{{number}}/greeting", ["admin"], None)])
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
