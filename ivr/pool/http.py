"""The operator pool's HTTP routes: an operator's queue state (needs the controller's AMI)."""

from __future__ import annotations

from typing import ClassVar, Literal

from aiohttp import web
from pydantic import BaseModel, Field

from ivr.asterisk.ami import AmiClient
from ivr.core.constants import API_PREFIX
from ivr.core.errors import InvalidInput, InvalidOperatorState
from ivr.directory.schemas import OperatorOut
from ivr.http import DB, ROUTES, Routes
from ivr.http.keys import PHONE_STATUS
from ivr.http.scopes import OPERATOR_PATH
from ivr.pool import service as pool_service
from ivr.pool.registrations import REGISTRATIONS, Registrations

AMI = web.AppKey("pool_ami", AmiClient)
routes = Routes("pool")


class OperatorStateIn(BaseModel):
    error: ClassVar[type[InvalidInput]] = InvalidOperatorState
    state: Literal["logged_out", "ready", "paused"]
    reason: str = Field("", max_length=200, description="why paused (printable, cut to 80)")


@routes.put(f"{API_PREFIX}/operators/{{endpoint}}/state", roles=["admin", "operator"],
            scope=OPERATOR_PATH, body=OperatorStateIn, response=OperatorOut, errors=[404])
async def put_operator_state(request: web.Request, body: OperatorStateIn) -> OperatorOut:
    """Log an operator in (``ready``), pause them with a reason, or log them out. Logging in
    while the phone is not registered pauses at once with the reason 电话未注册; a pause made
    here is never lifted by the system."""
    endpoint = request.match_info["endpoint"]
    registrations = request.config_dict.get(REGISTRATIONS)
    registered = await registrations.is_registered(endpoint) if registrations else None
    op = await pool_service.set_state(request.config_dict[DB], request.config_dict.get(AMI),
                                      endpoint, body.state, body.reason, registered)
    return OperatorOut.of(op)


def setup(app: web.Application, *, ami: AmiClient | None,
          registrations: Registrations | None = None) -> None:
    if ami is not None:
        app[AMI] = ami
    if registrations is not None:
        app[REGISTRATIONS] = registrations

        async def status(endpoints: list[str]) -> dict[str, str]:
            return {e: s.status for e, s in (await registrations.states(endpoints)).items()}
        app[PHONE_STATUS] = status
    app[ROUTES].add(app, routes)
