"""The phones' HTTP routes: registration of every phone, one phone's setup, a secret reset."""

from __future__ import annotations

from aiohttp import web

from ivr.core.constants import API_PREFIX
from ivr.http import CONFIG, DB, ROUTES, Routes
from ivr.http.inputs import actor_of
from ivr.http.keys import directory_changed
from ivr.http.schemas import Items
from ivr.phones import services as phones
from ivr.phones.schemas import PhoneDetail, PhoneOut, PhoneSetup, SecretOut
from ivr.pool.registrations import REGISTRATIONS

routes = Routes("phones")
ADMIN = ["admin"]
READERS = ["admin", "supervisor"]


@routes.get(f"{API_PREFIX}/phones", roles=READERS, response=Items[PhoneOut])
async def list_phones(request: web.Request) -> Items[PhoneOut]:
    """Every SIP phone (officials' devices, operators' phones) with its registration, live from
    Asterisk's contact events; operators with their queue state and pause reason."""
    found = await phones.list_phones(request.config_dict[DB], request.config_dict[REGISTRATIONS])
    return Items[PhoneOut](items=[PhoneOut.of(p) for p in found])


@routes.get(f"{API_PREFIX}/phones/{{endpoint}}", roles=READERS, response=PhoneDetail,
            errors=[404])
async def get_phone(request: web.Request) -> PhoneDetail:
    """One phone: its registration and what it is given to register (never its secret)."""
    endpoint = request.match_info["endpoint"]
    p = await phones.get_phone(request.config_dict[DB], request.config_dict[REGISTRATIONS], endpoint)
    setup = PhoneSetup(**phones.setup_of(request.config_dict[CONFIG], endpoint))
    return PhoneDetail(**PhoneOut.of(p).model_dump(), setup=setup)


@routes.post(f"{API_PREFIX}/phones/{{endpoint}}/secret", roles=ADMIN, response=SecretOut,
             errors=[404])
async def post_secret(request: web.Request) -> SecretOut:
    """A new SIP password for the phone, in this response only (audited); the old one stops
    working once PJSIP is reloaded (at once)."""
    endpoint = request.match_info["endpoint"]
    secret = await phones.reset_secret(request.config_dict[DB], endpoint, actor_of(request))
    await directory_changed(request)
    return SecretOut(endpoint=endpoint, secret=secret)


def setup(app: web.Application) -> None:
    app[ROUTES].add(app, routes)
