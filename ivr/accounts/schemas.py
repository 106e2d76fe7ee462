"""Request and response shapes of the accounts API (pydantic; one declaration feeds validation,
serialisation and the OpenAPI document). The services check the values (user name pattern,
role, password length, linked operator or official) and name the field they refuse."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from ivr.accounts.policy import MAX_PASSWORD, MIN_PASSWORD, MIN_SCORE
from ivr.accounts.security import KINDS
from ivr.accounts.services import USERNAME_PATTERN
from ivr.core.constants import ROLES
from ivr.core.errors import InvalidAccount, InvalidInput
from ivr.core.identity import Identity
from ivr.db.account_models import AccessEntry, LoginThrottle, User
from ivr.http.inputs import QueryText
from ivr.http.schemas import Time, iso_time

_ROLE = Field(json_schema_extra={"enum": list(ROLES)})
_USERNAME = Field(pattern=USERNAME_PATTERN, description="2-40 lowercase letters, digits, . _ -")


class MeOut(BaseModel):
    username: str
    role: str = Field(description="one of the roles, or system for the deployment token")
    via: str = Field(description="session, token or deployment")
    operator: str | None
    official: str | None

    @classmethod
    def of(cls, i: Identity) -> MeOut:
        return cls(username=i.username, role=i.role, via=i.via, operator=i.operator_endpoint,
                   official=i.official_slug)


class UserOut(BaseModel):
    username: str
    display_name: str
    role: str = _ROLE
    operator: str | None = Field(description="an operator account's endpoint")
    official: str | None = Field(description="an official account's official (slug)")

    @classmethod
    def of(cls, u: User) -> UserOut:
        return cls(username=u.username, display_name=u.display_name, role=u.role,
                   operator=u.operator_endpoint, official=u.official.slug if u.official else None)


class UserList(BaseModel):
    items: list[UserOut]


class UserIn(BaseModel):
    """An operator account names its operator, an official account its official (unknown:
    404), the others neither."""
    model_config = ConfigDict(json_schema_extra={"anyOf": [
        {"properties": {"role": {"enum": ["admin", "supervisor"]},
                        "operator": {"type": "null"}, "official": {"type": "null"}}},
        {"required": ["operator"], "properties": {
            "role": {"enum": ["operator"]}, "operator": {"type": "string", "minLength": 1},
            "official": {"type": "null"}}},
        {"required": ["official"], "properties": {
            "role": {"enum": ["official"]}, "official": {"type": "string", "minLength": 1},
            "operator": {"type": "null"}}}]})
    error: ClassVar[type[InvalidInput]] = InvalidAccount
    username: str = _USERNAME
    password: str = Field(min_length=MIN_PASSWORD, max_length=MAX_PASSWORD,
                          description=f"hard to guess (zxcvbn score >= {MIN_SCORE})")
    role: str = _ROLE
    display_name: str | None = Field(None, max_length=80)
    operator: str | None = Field(None, description="operator accounts: their endpoint")
    official: str | None = Field(None, description="official accounts: their official (slug)")


class TokenIn(BaseModel):
    error: ClassVar[type[InvalidInput]] = InvalidAccount
    username: str = _USERNAME
    label: str = Field("", max_length=80)


class TokenOut(BaseModel):
    id: int
    token: str = Field(description="the token itself, shown in this response only")
    username: str
    label: str


# --- the sign-in throttle and the access log (admins) ---------------------------------------

class LockOut(BaseModel):
    key: str = Field(description="user:<name> or source:<address>")
    failures: int = Field(description="attempts without a success since the count began")
    last_at: Time
    locked_until: Time = Field(description="null or past: not locked")

    @classmethod
    def of(cls, row: LoginThrottle) -> LockOut:
        return cls(key=row.key, failures=row.failures, last_at=iso_time(row.last_at),
                   locked_until=iso_time(row.locked_until))


class LockList(BaseModel):
    items: list[LockOut]


class AccessOut(BaseModel):
    id: int
    at: Time
    kind: str = Field(json_schema_extra={"enum": list(KINDS)})
    actor: str = Field(description="the account, or the user name tried")
    source: str = Field(description="client address")
    subject: str = Field(description="e.g. case 12, user:admin")
    detail: str

    @classmethod
    def of(cls, row: AccessEntry) -> AccessOut:
        return cls(id=row.id, at=iso_time(row.at), kind=row.kind, actor=row.actor,
                   source=row.source, subject=row.subject, detail=row.detail)


class AccessList(BaseModel):
    items: list[AccessOut]


class AccessQuery(BaseModel):
    kind: QueryText = Field(None, json_schema_extra={"enum": [*KINDS, ""]})
    limit: int = Field(200, ge=1, le=1000, description="newest first")
