"""PUT /api/v1/numbers/{number}: a published number's menu and language (admins)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ivr.routing.numbers_service import set_number
from ivr.web.api import PREFIX, _actor, _body, _on_change
from ivr.web.compat import add_rules
from ivr.web.keys import DB_SESSIONMAKER
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


def setup_numbers_api(app: web.Application) -> None:
    app.router.add_put(f"{PREFIX}/numbers/{{number}}", put_number)


add_rules([("PUT", f"{PREFIX}/numbers/{{number}}", ["admin"], None)])
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
