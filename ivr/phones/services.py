"""The phones of the directory with their registration, and a secret reset.

A phone is an official's SIP device or an operator's phone; its SIP user is its endpoint name.
What a phone needs to register (registrar, transport, codecs) comes from the deployment's
``[sip]`` section and the rendered ``pjsip.conf`` (udp, ulaw and alaw: docs/phones.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from ivr.core.config import Config
from ivr.core.errors import UnknownEndpoint
from ivr.core.sipauth import SIP_REALM, sip_ha1
from ivr.db.models import Device, Operator
from ivr.db.session import Db
from ivr.directory.services import audit, clean_actor, new_secret
from ivr.pool.registrations import PhoneState, Registrations

TRANSPORT = "udp"
CODECS = ("ulaw", "alaw")  # the ivr-media template of pjsip.conf.tmpl (G.711 µ-law, A-law)


@dataclass(frozen=True)
class Phone:
    endpoint: str
    kind: str  # "device" (an official's) | "operator"
    owner: str  # the official's or operator's name
    owner_key: str  # the official's slug or the operator's endpoint
    static_contact: str
    registration: PhoneState
    operator_state: str = ""  # operators: logged_out | ready | paused
    paused_reason: str = ""
    auto_paused: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def setup_of(config: Config, endpoint: str) -> dict[str, Any]:
    """What a phone is given to register (never its secret)."""
    host = config.sip.host if config.sip.host not in ("0.0.0.0", "::") else \
        config.sip.media_address
    return {"sip_user": endpoint, "auth_user": endpoint, "realm": SIP_REALM,
            "registrar": f"{host}:{config.sip.port}", "domain": host,
            "transport": TRANSPORT, "codecs": list(CODECS), "max_contacts": 1}


async def list_phones(db: Db, registrations: Registrations) -> list[Phone]:
    async with db() as session:
        devices = (await session.scalars(select(Device).where(Device.endpoint.is_not(None))
                                         .options(selectinload(Device.official)))).all()
        operators = (await session.scalars(select(Operator))).all()
    states = await registrations.states()
    out = [Phone(d.endpoint or "", "device", d.official.display_name, d.official.slug,
                 d.static_contact or "", states[d.endpoint or ""]) for d in devices]
    out += [Phone(o.endpoint, "operator", o.name, o.endpoint, o.static_contact or "",
                  states[o.endpoint], o.state, o.paused_reason, o.auto_paused)
            for o in operators]
    return sorted(out, key=lambda p: (p.kind, p.endpoint))


async def get_phone(db: Db, registrations: Registrations, endpoint: str) -> Phone:
    for phone in await list_phones(db, registrations):
        if phone.endpoint == endpoint:
            return phone
    raise UnknownEndpoint(f"no SIP phone {endpoint!r}")


async def reset_secret(db: Db, endpoint: str, actor: str) -> str:
    """A new generated secret for the phone (its HA1 stored, the secret returned once, the
    reset audited as ``secret`` of the phone, never the secret itself). The caller renders and
    reloads PJSIP (the directory-change hook): the old secret stops working then."""
    actor = clean_actor(actor)
    secret = new_secret()
    async with db() as session, session.begin():
        row: Device | Operator | None = await session.scalar(
            select(Device).where(Device.endpoint == endpoint))
        official_id = row.official_id if isinstance(row, Device) else None
        if row is None:
            row = await session.scalar(select(Operator).where(Operator.endpoint == endpoint))
        if row is None:
            raise UnknownEndpoint(f"no SIP phone {endpoint!r}")
        row.sip_ha1 = sip_ha1(endpoint, secret)
        audit(session, actor, official_id, "secret", None, f"reset: {endpoint}",
              reason="phone secret reset")
    return secret
