"""Accounts, sessions, CSRF, API tokens, and the route × role authorization table.

Who is asking (``Identity``), in this order:
- ``Authorization: Bearer <token>`` (API paths only): the deployment's ``api_token`` is the
  *system* identity (may do everything, like the CLI); any other token must be one an admin issued
  (``ApiToken``) and carries its user's role;
- the ``ivr_session`` cookie: a server-side session (``WebSession``), HttpOnly, SameSite=Strict.

What they may do: ``RULES`` maps every registered route (method, canonical path) to the roles
allowed and an optional *scope* that narrows a role to its own data (an official to their own
official, an operator to their own endpoint). A route without a rule is refused to everyone but
the system identity, and tests/unit/test_web_authz.py fails for it: whoever adds a route adds its
rule (``add_rules``) in the same commit.

CSRF: a session-authenticated request with an unsafe method must carry the session's CSRF token
(form field ``csrf`` or header ``X-CSRF-Token``). Bearer requests need none (no ambient authority).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Awaitable, Callable, Iterable

from aiohttp import web
from sqlalchemy import delete, select
from sqlalchemy.orm import selectinload

from ivr.db.models import Call, Official, Operator
from ivr.db.session import Db
from ivr.core.errors import InvalidInput, IvrError
from ivr.db.account_models import ApiToken, User, WebSession
from ivr.core.constants import ROLES
from ivr.web.keys import CONFIG, DB_SESSIONMAKER

log = logging.getLogger(__name__)

PREFIX = "/api/v1"
SESSION_COOKIE = "ivr_session"
LOGIN_CSRF_COOKIE = "ivr_login_csrf"
SESSION_LIFETIME = timedelta(hours=12)
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})

PUBLIC = "public"          # no authentication at all
ANY = "any"                # any signed-in role
SYSTEM = "system"          # the deployment token: everything


# --- errors --------------------------------------------------------------------------------

class NotSignedIn(IvrError):
    status = 401
    error_id = "unauthorized"


class Forbidden(IvrError):
    status = 403
    error_id = "forbidden"


class CsrfFailed(IvrError):
    status = 403
    error_id = "csrf-failed"


class InvalidAccount(InvalidInput):
    error_id = "invalid-account"


class LoginFailed(IvrError):
    status = 401
    error_id = "login-failed"


# --- passwords (scrypt, RFC 7914) -----------------------------------------------------------

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2 ** 14, 8, 1


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4))


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        got = hashlib.scrypt(password.encode(), salt=_unb64(salt), n=int(n), r=int(r), p=int(p),
                             dklen=len(_unb64(digest)))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, _unb64(digest))


_DUMMY_HASH = hash_password(secrets.token_urlsafe(8))  # equal work for unknown user names


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# --- identity ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Identity:
    role: str                       # one of ROLES, or SYSTEM
    username: str
    user_id: int | None = None
    via: str = "session"            # session | token | deployment
    csrf: str = ""
    operator_endpoint: str | None = None
    official_id: int | None = None
    official_slug: str | None = None
    display_name: str = ""

    @property
    def actor(self) -> str:
        return "api" if self.role == SYSTEM else f"web:{self.username}"


IDENTITY = web.RequestKey("identity", Identity)


def identity_of(request: web.Request) -> Identity | None:
    return request.get(IDENTITY)


def _identity(user: User, via: str, csrf: str = "") -> Identity:
    return Identity(role=user.role, username=user.username, user_id=user.id, via=via, csrf=csrf,
                    operator_endpoint=user.operator_endpoint, official_id=user.official_id,
                    official_slug=user.official.slug if user.official else None,
                    display_name=user.display_name or user.username)


# --- accounts ------------------------------------------------------------------------------

_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,39}$")
MIN_PASSWORD = 10


async def create_user(db: Db, username: str, password: str, role: str, *, display_name: str = "",
                      operator: str | None = None, official: str | None = None) -> User:
    """Validate and store a new account; operator/official accounts name what they map to."""
    if not isinstance(username, str) or not _USERNAME.match(username):
        raise InvalidAccount("用户名须为2–40个小写字母、数字或 . _ - / username: 2-40 lowercase "
                             "letters, digits, '.', '_' or '-'", {"field": "username"})
    if role not in ROLES:
        raise InvalidAccount(f"角色无效 / invalid role {role!r}: one of {', '.join(ROLES)}",
                             {"field": "role"})
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise InvalidAccount(f"密码至少{MIN_PASSWORD}个字符 / the password needs at least "
                             f"{MIN_PASSWORD} characters", {"field": "password"})
    if not isinstance(display_name, str) or len(display_name) > 80:
        raise InvalidAccount("显示名称过长 / display name: at most 80 characters",
                             {"field": "display_name"})
    async with db() as session, session.begin():
        if await session.scalar(select(User.id).where(User.username == username)):
            raise InvalidAccount(f"用户名已存在 / username {username!r} is taken",
                                 {"field": "username"})
        user = User(username=username, role=role, display_name=display_name,
                    password_hash=hash_password(password))
        if role == "operator":
            if not operator or not await session.scalar(
                    select(Operator.id).where(Operator.endpoint == operator)):
                raise InvalidAccount(f"话务员账号须对应已有的分机 / an operator account needs an "
                                     f"existing operator endpoint (got {operator!r})",
                                     {"field": "operator"})
            user.operator_endpoint = operator
        elif operator:
            raise InvalidAccount("只有话务员账号有分机 / only operator accounts have an endpoint",
                                 {"field": "operator"})
        if role == "official":
            o = None
            if official:
                clause = Official.id == int(official) if str(official).isdigit() else \
                    Official.slug == official
                o = await session.scalar(select(Official).where(clause))
            if o is None:
                raise InvalidAccount(f"官员账号须对应已有的官员 / an official account needs an "
                                     f"existing official (got {official!r})", {"field": "official"})
            user.official_id = o.id
        elif official:
            raise InvalidAccount("只有官员账号对应官员 / only official accounts map to an official",
                                 {"field": "official"})
        session.add(user)
    return user


async def list_users(db: Db) -> list[User]:
    async with db() as session:
        return list((await session.scalars(select(User).options(selectinload(User.official))
                                           .order_by(User.username))).all())


async def set_password(db: Db, username: str, password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise InvalidAccount(f"密码至少{MIN_PASSWORD}个字符 / the password needs at least "
                             f"{MIN_PASSWORD} characters", {"field": "password"})
    async with db() as session, session.begin():
        user = await session.scalar(select(User).where(User.username == username))
        if user is None:
            raise InvalidAccount(f"未知用户 / unknown user {username!r}", {"field": "username"})
        user.password_hash = hash_password(password)
        await session.execute(delete(WebSession).where(WebSession.user_id == user.id))


async def authenticate(db: Db, username: str, password: str) -> User:
    async with db() as session:
        user = await session.scalar(select(User).where(User.username == username)
                                    .options(selectinload(User.official)))
    if user is None or not user.active:
        verify_password(password, _DUMMY_HASH)
        raise LoginFailed("用户名或密码错误 / wrong user name or password")
    if not verify_password(password, user.password_hash):
        raise LoginFailed("用户名或密码错误 / wrong user name or password")
    return user


# --- sessions ------------------------------------------------------------------------------

def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


async def open_session(db: Db, user_id: int) -> tuple[str, str]:
    """A new session for ``user_id``: (cookie value, csrf token)."""
    key, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
    now = datetime.now(timezone.utc)
    async with db() as session, session.begin():
        await session.execute(delete(WebSession).where(WebSession.expires_at < now))
        session.add(WebSession(key_hash=_sha(key), user_id=user_id, csrf=csrf,
                               expires_at=now + SESSION_LIFETIME))
    return key, csrf


async def close_session(db: Db, key: str) -> None:
    async with db() as session, session.begin():
        await session.execute(delete(WebSession).where(WebSession.key_hash == _sha(key)))


async def _session_identity(db: Db, key: str) -> Identity | None:
    async with db() as session:
        row = await session.scalar(
            select(WebSession).where(WebSession.key_hash == _sha(key))
            .options(selectinload(WebSession.user).selectinload(User.official)))
    if row is None or _utc(row.expires_at) < datetime.now(timezone.utc) or not row.user.active:
        return None
    return _identity(row.user, "session", row.csrf)


def set_session_cookie(response: web.StreamResponse, request: web.Request, key: str) -> None:
    response.set_cookie(SESSION_COOKIE, key, httponly=True, samesite="Strict", path="/",
                        secure=request.secure, max_age=int(SESSION_LIFETIME.total_seconds()))


# --- API tokens ----------------------------------------------------------------------------

async def issue_token(db: Db, username: str, label: str, created_by: str) -> tuple[str, ApiToken]:
    """A new API token for ``username``; the clear token is returned once and never stored."""
    if not isinstance(label, str) or len(label) > 80:
        raise InvalidAccount("标签最多80个字符 / label: at most 80 characters", {"field": "label"})
    token = "ivr_" + secrets.token_urlsafe(32)
    async with db() as session, session.begin():
        user = await session.scalar(select(User).where(User.username == username))
        if user is None:
            raise InvalidAccount(f"未知用户 / unknown user {username!r}", {"field": "username"})
        row = ApiToken(token_hash=_sha(token), prefix=token[:12], user_id=user.id, label=label,
                       created_by=created_by[:40])
        session.add(row)
    return token, row


async def list_tokens(db: Db) -> list[ApiToken]:
    async with db() as session:
        return list((await session.scalars(select(ApiToken).options(selectinload(ApiToken.user))
                                           .order_by(ApiToken.id))).all())


async def revoke_token(db: Db, token_id: int) -> None:
    async with db() as session, session.begin():
        row = await session.get(ApiToken, token_id)
        if row is None:
            raise InvalidAccount(f"未知令牌 / unknown token {token_id}", {"field": "id"})
        row.revoked = True


async def _token_identity(request: web.Request, given: str) -> Identity | None:
    config_token = request.config_dict[CONFIG].http.api_token
    if config_token and hmac.compare_digest(given.encode(), config_token.encode()):
        return Identity(role=SYSTEM, username="api", via="deployment")
    async with request.config_dict[DB_SESSIONMAKER]() as session:
        row = await session.scalar(
            select(ApiToken).where(ApiToken.token_hash == _sha(given))
            .options(selectinload(ApiToken.user).selectinload(User.official)))
    if row is None or row.revoked or not row.user.active:
        return None
    return _identity(row.user, "token")


async def resolve_identity(request: web.Request) -> Identity | None:
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    if header and request.path.startswith(PREFIX):
        if scheme.lower() != "bearer" or not given.strip():
            return None
        return await _token_identity(request, given.strip())
    key = request.cookies.get(SESSION_COOKIE)
    if key:
        return await _session_identity(request.config_dict[DB_SESSIONMAKER], key)
    return None


# --- the authorization table ---------------------------------------------------------------

Scope = Callable[[web.Request, Identity], Awaitable[web.Request]]


@dataclass(frozen=True)
class Rule:
    roles: frozenset[str]
    scope: str | None = None   # name in SCOPES: narrows the roles it names to their own data


RULES: dict[tuple[str, str], Rule] = {}
SCOPES: dict[str, tuple[frozenset[str], Scope]] = {}


def add_rules(rules: Iterable[tuple[str, str, Iterable[str] | str, str | None]]) -> None:
    """Register (method, canonical path, roles, scope) rules; roles: names, PUBLIC or ANY."""
    for method, path, roles, scope in rules:
        names = frozenset([roles] if isinstance(roles, str) else roles)
        unknown = names - set(ROLES) - {PUBLIC, ANY}
        if unknown:
            raise ValueError(f"unknown roles {unknown} for {method} {path}")
        if scope is not None and scope not in SCOPES:
            raise ValueError(f"unknown scope {scope!r} for {method} {path}")
        RULES[(method.upper(), path)] = Rule(names, scope)


def add_scope(name: str, roles: Iterable[str], check: Scope) -> None:
    """``check(request, identity)`` runs for the roles named; it returns the request (maybe
    narrowed, e.g. a forced query parameter) or raises Forbidden."""
    SCOPES[name] = (frozenset(roles), check)


def rule_for(method: str, path: str) -> Rule | None:
    return RULES.get((method.upper(), path))


def allowed_roles(method: str, path: str) -> frozenset[str]:
    rule = rule_for(method, path)
    if rule is None:
        return frozenset()
    if ANY in rule.roles:
        return frozenset(ROLES)
    return rule.roles - {PUBLIC}


def _route_key(request: web.Request) -> tuple[str, str] | None:
    route = request.match_info.route
    resource = route.resource
    if resource is None:
        return None
    method = "GET" if request.method == "HEAD" else request.method
    return method, resource.canonical


# scopes ----------------------------------------------------------------------------------------

def _own_official(identity: Identity, ref: str) -> bool:
    return ref in (identity.official_slug, str(identity.official_id))


async def _scope_official_path(request: web.Request, identity: Identity) -> web.Request:
    if not _own_official(identity, request.match_info.get("slug", "")):
        raise Forbidden("只能查看本人的数据 / you may only see your own official")
    return request


async def _scope_official_query(request: web.Request, identity: Identity) -> web.Request:
    asked = request.query.get("official")
    if asked and not _own_official(identity, asked):
        raise Forbidden("只能查看本人的数据 / you may only see your own official")
    if identity.official_id is None:
        raise Forbidden("账号未关联官员 / this account is not linked to an official")
    return request.clone(rel_url=request.rel_url.update_query(official=str(identity.official_id)))


async def _scope_official_call(request: web.Request, identity: Identity) -> web.Request:
    raw = request.match_info.get("id", "")
    if raw.isdigit():
        async with request.config_dict[DB_SESSIONMAKER]() as session:
            owner = await session.scalar(select(Call.official_id).where(Call.id == int(raw)))
        if owner is not None and owner != identity.official_id:
            raise Forbidden("只能查看本人的来电 / you may only see your own calls")
        if owner is None and await _call_exists(request, int(raw)):
            raise Forbidden("只能查看本人的来电 / you may only see your own calls")
    return request


async def _call_exists(request: web.Request, call_id: int) -> bool:
    async with request.config_dict[DB_SESSIONMAKER]() as session:
        return await session.scalar(select(Call.id).where(Call.id == call_id)) is not None


async def _scope_operator_path(request: web.Request, identity: Identity) -> web.Request:
    if request.match_info.get("endpoint") != identity.operator_endpoint:
        raise Forbidden("只能操作本人的分机 / you may only change your own operator state")
    return request


add_scope("official_path", ["official"], _scope_official_path)
add_scope("official_query", ["official"], _scope_official_query)
add_scope("official_call", ["official"], _scope_official_call)
add_scope("operator_path", ["operator"], _scope_operator_path)

_A, _O, _F, _S = "admin", "operator", "official", "supervisor"
_P = PREFIX

# The REST API of ivr.web.api and ivr.pool.http. Pages and the API routes of the web UI add
# theirs in ivr.web.ui; other features add theirs next to their routes.
add_rules([
    ("GET", f"{_P}/openapi.json", PUBLIC, None),
    ("GET", f"{_P}/officials", [_A, _S, _O], None),
    ("GET", f"{_P}/officials/{{slug}}", [_A, _S, _O, _F], "official_path"),
    *[("PUT", f"{_P}/officials/{{slug}}/{what}", [_A], None)
      for what in ("mode", "availability", "schedule", "chain", "ring-timeout", "deputy", "pool")],
    ("GET", f"{_P}/calls", [_A, _S, _O, _F], "official_query"),
    ("GET", f"{_P}/calls/{{id}}", [_A, _S, _O, _F], "official_call"),
    ("GET", f"{_P}/audit", [_A, _S], None),
    ("GET", f"{_P}/pools", [_A, _S, _O], None),
    ("POST", f"{_P}/pools", [_A], None),
    ("GET", f"{_P}/pools/{{name}}", [_A, _S, _O], None),
    ("PUT", f"{_P}/pools/{{name}}", [_A], None),
    ("DELETE", f"{_P}/pools/{{name}}", [_A], None),
    ("GET", f"{_P}/operators", [_A, _S, _O], None),
    ("POST", f"{_P}/operators", [_A], None),
    ("GET", f"{_P}/operators/{{endpoint}}", [_A, _S, _O], None),
    ("PUT", f"{_P}/operators/{{endpoint}}", [_A], None),
    ("DELETE", f"{_P}/operators/{{endpoint}}", [_A], None),
    ("PUT", f"{_P}/operators/{{endpoint}}/state", [_A, _O], "operator_path"),
    ("POST", f"{_P}/directory/import", [_A], None),
])


# --- enforcement ---------------------------------------------------------------------------

async def _check_csrf(request: web.Request, identity: Identity) -> None:
    if identity.via != "session" or request.method not in UNSAFE:
        return
    given = request.headers.get("X-CSRF-Token", "")
    if not given and request.content_type in ("application/x-www-form-urlencoded",
                                              "multipart/form-data"):
        given = str((await request.post()).get("csrf", ""))
    if not given or not hmac.compare_digest(given.encode(), identity.csrf.encode()):
        raise CsrfFailed("表单已过期或来源不明，请刷新页面重试 / the form's security token is "
                         "missing or wrong: reload the page and try again")


async def authorize(request: web.Request) -> web.Request:
    """Authenticate and authorize ``request`` against RULES; returns the (maybe narrowed)
    request with ``request["identity"]`` set. Raises NotSignedIn, Forbidden or CsrfFailed."""
    key = _route_key(request)
    if key is None:  # no route matched: the router answers 404/405
        return request
    rule = RULES.get(key)
    if rule is not None and PUBLIC in rule.roles:
        identity = await resolve_identity(request)
        if identity is not None:
            request[IDENTITY] = identity
        return request
    identity = await resolve_identity(request)
    if identity is None:
        raise NotSignedIn("请先登录 / please sign in (or send Authorization: Bearer <token>)")
    request[IDENTITY] = identity
    if identity.role == SYSTEM:
        return request
    if rule is None:
        log.warning("no authorization rule for %s %s: refused", *key)
        raise Forbidden(f"没有权限 / no authorization rule for {key[0]} {key[1]}")
    if ANY not in rule.roles and identity.role not in rule.roles:
        raise Forbidden(f"没有权限 / the {identity.role} role may not use {key[0]} {key[1]}")
    await _check_csrf(request, identity)
    if rule.scope is not None:
        roles, check = SCOPES[rule.scope]
        if identity.role in roles:
            narrowed = await check(request, identity)
            if narrowed is not request:
                narrowed[IDENTITY] = identity
            request = narrowed
    return request


def all_rules() -> dict[tuple[str, str], Rule]:
    return dict(RULES)


def rules_table() -> list[dict[str, Any]]:
    """The table for docs and the admin page: method, path, roles, scope."""
    return [{"method": m, "path": p, "roles": sorted(r.roles), "scope": r.scope}
            for (m, p), r in sorted(RULES.items(), key=lambda kv: (kv[0][1], kv[0][0]))]


# api_middleware (ivr.web.api) calls this hook when the app has it (set by ivr.web.ui.setup_web);
# without it the API accepts the deployment token only.
AUTHORIZE = web.AppKey("authorize", object)
