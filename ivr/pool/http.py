"""REST routes that need the running controller (AMI): operators' queue state."""

from __future__ import annotations

from aiohttp import web

from ivr.core.errors import InvalidOperatorState
from ivr.pool import service as pool_service
from ivr.web.api import PREFIX, _body, _field, operator_json
from ivr.web.keys import CONTROLLER, DB_SESSIONMAKER


async def put_operator_state(request: web.Request) -> web.Response:
    """Log an operator in (``ready``), pause them with a reason, or log them out."""
    body = await _body(request)
    state = _field(body, "state")
    reason = body.get("reason", "")
    if not isinstance(state, str) or not isinstance(reason, str):
        raise InvalidOperatorState("state and reason must be text")
    ctrl = request.config_dict.get(CONTROLLER)
    ami = getattr(ctrl, "ami", None)
    op = await pool_service.set_state(request.config_dict[DB_SESSIONMAKER], ami,
                                      request.match_info["endpoint"], state, reason)
    return web.json_response(operator_json(op))


def setup_pool_api(app: web.Application) -> None:
    app.router.add_put(f"{PREFIX}/operators/{{endpoint}}/state", put_operator_state)
