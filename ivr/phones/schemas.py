"""The phones API's schemas."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from ivr.phones.services import Phone
from ivr.pool.registrations import STATUSES


class PhoneOut(BaseModel):
    endpoint: str = Field(description="the PJSIP endpoint: the phone's SIP user")
    kind: str = Field(json_schema_extra={"enum": ["device", "operator"]})
    owner: str = Field(description="the official's or the operator's name")
    owner_key: str = Field(description="the official's slug or the operator's endpoint")
    static_contact: str = Field(description="a configured contact (counts as registered)")
    status: str = Field(json_schema_extra={"enum": list(STATUSES)},
                        description="registration, from Asterisk's contact events")
    registered: bool
    contact: str = Field(description="the registered contact's URI")
    user_agent: str
    since: datetime | None = Field(description="when the status last changed")
    nodes: list[str] = Field(description="the Asterisk nodes it is registered with")
    operator_state: str = Field(description="operators: logged_out, ready or paused")
    paused_reason: str = Field(description="operators: why paused (电话未注册: by the system)")
    auto_paused: bool = Field(description="operators: paused by the system (phone unregistered)")

    @classmethod
    def of(cls, p: Phone) -> PhoneOut:
        r = p.registration
        return cls(endpoint=p.endpoint, kind=p.kind, owner=p.owner, owner_key=p.owner_key,
                   static_contact=p.static_contact, status=r.status, registered=r.registered,
                   contact=r.contact, user_agent=r.user_agent, since=r.since,
                   nodes=list(r.nodes), operator_state=p.operator_state,
                   paused_reason=p.paused_reason, auto_paused=p.auto_paused)


class PhoneSetup(BaseModel):
    sip_user: str
    auth_user: str
    realm: str
    registrar: str = Field(description="host:port of the SIP registrar")
    domain: str
    transport: str
    codecs: list[str]
    max_contacts: int = Field(description="one contact per endpoint: a new registration "
                                          "replaces the previous one")


class PhoneDetail(PhoneOut):
    setup: PhoneSetup


class SecretOut(BaseModel):
    endpoint: str
    secret: str = Field(description="the new SIP password, shown in this response only")
