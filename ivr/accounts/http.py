"""The accounts API: who am I, web accounts, API tokens (admins; the deployment token too)."""

from __future__ import annotations

from aiohttp import web

from ivr.accounts import security
from ivr.accounts import services as accounts
from ivr.accounts.schemas import (
    AccessList,
    AccessOut,
    AccessQuery,
    LockList,
    LockOut,
    MeOut,
    TokenIn,
    TokenOut,
    UserIn,
    UserList,
    UserOut,
)
from ivr.core.constants import ANY, API_PREFIX
from ivr.core.errors import InvalidInput
from ivr.core.ids import parse_id
from ivr.http import DB, ROUTES, Routes, require_identity

ADMIN = ["admin"]
routes = Routes("accounts")


@routes.get(f"{API_PREFIX}/me", roles=ANY, response=MeOut)
async def get_me(request: web.Request) -> MeOut:
    """Who am I (role, linked operator endpoint or official)."""
    return MeOut.of(require_identity(request))


@routes.get(f"{API_PREFIX}/users", roles=ADMIN, response=UserList)
async def list_users(request: web.Request) -> UserList:
    """Web accounts."""
    return UserList(items=[UserOut.of(u) for u in await accounts.list_users(request.config_dict[DB])])


@routes.post(f"{API_PREFIX}/users", roles=ADMIN, body=UserIn, response=UserOut, status=201,
             errors=(409,))
async def create_user(request: web.Request, body: UserIn) -> UserOut:
    """Create an account; operator accounts name their endpoint, official accounts their
    official."""
    db = request.config_dict[DB]
    await accounts.create_user(db, body.username, body.password, body.role,
                               display_name=body.display_name or "", operator=body.operator,
                               official=body.official)
    return UserOut.of(next(u for u in await accounts.list_users(db) if u.username == body.username))


@routes.post(f"{API_PREFIX}/tokens", roles=ADMIN, body=TokenIn, response=TokenOut, status=201)
async def issue_token(request: web.Request, body: TokenIn) -> TokenOut:
    """Issue an API token for an account; it carries the account's role and is shown once."""
    token, row = await accounts.issue_token(request.config_dict[DB], body.username, body.label,
                                            require_identity(request).username)
    return TokenOut(id=row.id, token=token, username=body.username, label=body.label)


@routes.delete(f"{API_PREFIX}/tokens/{{id}}", roles=ADMIN, status=204)
async def revoke_token(request: web.Request) -> None:
    """Revoke an API token."""
    raw = request.match_info["id"]
    token_id = parse_id(raw)
    if token_id is None:
        raise InvalidInput("token id must be a number", {"id": raw})
    await accounts.revoke_token(request.config_dict[DB], token_id)


@routes.get(f"{API_PREFIX}/login-locks", roles=ADMIN, response=LockList)
async def list_locks(request: web.Request) -> LockList:
    """Sign-in throttle: accounts and sources with failed attempts counted or locked."""
    return LockList(items=[LockOut.of(r) for r in await security.locks(request.config_dict[DB])])


@routes.delete(f"{API_PREFIX}/login-locks/{{key}}", roles=ADMIN, status=204)
async def lift_lock(request: web.Request) -> None:
    """Lift a sign-in lock (``user:<name>`` or ``source:<address>``); audited."""
    await security.lift(request.config_dict[DB], request.match_info["key"],
                        require_identity(request).actor)


@routes.get(f"{API_PREFIX}/access-log", roles=ADMIN, query=AccessQuery, response=AccessList)
async def get_access_log(request: web.Request, query: AccessQuery) -> AccessList:
    """Failed sign-ins, locks and their lifting, and who listened to or downloaded a citizen's
    recording; newest first."""
    rows = await security.access_log(request.config_dict[DB], kind=query.kind, limit=query.limit)
    return AccessList(items=[AccessOut.of(r) for r in rows])


def setup(app: web.Application) -> None:
    app[ROUTES].add(app, routes)
