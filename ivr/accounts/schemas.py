"""Request and response shapes of the accounts API (pydantic; one declaration feeds validation,
serialisation and the OpenAPI document). The services check the values (user name pattern,
role, password length, linked operator or official) and name the field they refuse."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, Field

from ivr.accounts.services import MIN_PASSWORD
from ivr.core.constants import ROLES
from ivr.core.errors import InvalidAccount, InvalidInput
from ivr.core.identity import Identity
from ivr.db.account_models import User

_ROLE = Field(json_schema_extra={"enum": list(ROLES)})


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
    error: ClassVar[type[InvalidInput]] = InvalidAccount
    username: str
    password: str = Field(description=f"at least {MIN_PASSWORD} characters")
    role: str = _ROLE
    display_name: str | None = None
    operator: str | None = Field(None, description="operator accounts: their endpoint")
    official: str | None = Field(None, description="official accounts: their official (slug)")


class TokenIn(BaseModel):
    error: ClassVar[type[InvalidInput]] = InvalidAccount
    username: str
    label: str = ""


class TokenOut(BaseModel):
    id: int
    token: str = Field(description="the token itself, shown in this response only")
    username: str
    label: str
