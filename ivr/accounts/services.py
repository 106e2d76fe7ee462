"""Accounts, passwords, sessions and API tokens: the services behind sign-in.

Passwords are scrypt (RFC 7914) hashes, computed off the event loop in a small thread pool
(``SCRYPT_THREADS``: hashlib releases the GIL while it works, so a login flood queues there
instead of delaying FastAGI answers); sessions and tokens are stored as SHA-256 digests of the
value given to the browser or the client, which is shown once and never stored.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import delete, select
from sqlalchemy.orm import selectinload

from ivr.accounts.policy import MAX_PASSWORD, check_password
from ivr.core.constants import ROLES
from ivr.core.errors import (
    InvalidAccount,
    LoginFailed,
    UnknownOfficial,
    UnknownOperator,
    UnknownToken,
    UnknownUser,
    UsernameTaken,
)
from ivr.core.identity import Identity
from ivr.core.ids import parse_id
from ivr.core.timeutil import as_utc
from ivr.db.account_models import ApiToken, User, WebSession
from ivr.db.models import AuditEntry, Official, Operator
from ivr.db.session import Db

SESSION_LIFETIME = timedelta(hours=12)
T = TypeVar("T")

# --- passwords (scrypt, RFC 7914) -----------------------------------------------------------

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2 ** 14, 8, 1
SCRYPT_THREADS = 2  # one per core of the reference machine; 16 MiB of memory each
_scrypt_pool = ThreadPoolExecutor(max_workers=SCRYPT_THREADS, thread_name_prefix="scrypt")


async def _off_loop(fn: Callable[..., T], *args: Any) -> T:
    return await asyncio.get_running_loop().run_in_executor(_scrypt_pool, fn, *args)


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


def identity_for(user: User, via: str, csrf: str = "") -> Identity:
    return Identity(role=user.role, username=user.username, user_id=user.id, via=via, csrf=csrf,
                    operator_endpoint=user.operator_endpoint, official_id=user.official_id,
                    official_slug=user.official.slug if user.official else None,
                    display_name=user.display_name or user.username)


# --- accounts ------------------------------------------------------------------------------

USERNAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{1,39}$"
_USERNAME = re.compile(USERNAME_PATTERN)


async def create_user(db: Db, username: str, password: str, role: str, *, display_name: str = "",
                      operator: str | None = None, official: str | None = None) -> User:
    """Validate and store a new account; operator/official accounts name what they map to."""
    if not isinstance(username, str) or not _USERNAME.match(username):
        raise InvalidAccount("username: 2-40 lowercase letters, digits, '.', '_' or '-'", {"field": "username"})
    if role not in ROLES:
        raise InvalidAccount(f"invalid role {role!r}: one of {', '.join(ROLES)}",
                             {"field": "role"})
    if not isinstance(display_name, str) or len(display_name) > 80:
        raise InvalidAccount("display name: at most 80 characters",
                             {"field": "display_name"})
    check_password(password, username, display_name)
    password_hash = await _off_loop(hash_password, password)
    async with db() as session, session.begin():
        if await session.scalar(select(User.id).where(User.username == username)):
            raise UsernameTaken(f"username {username!r} is taken",
                                 {"field": "username"})
        user = User(username=username, role=role, display_name=display_name,
                    password_hash=password_hash)
        if role == "operator":
            if not operator or not await session.scalar(
                    select(Operator.id).where(Operator.endpoint == operator)):
                raise UnknownOperator(f"an operator account needs an existing operator endpoint "
                                      f"(got {operator!r})", {"field": "operator"})
            user.operator_endpoint = operator
        elif operator:
            raise InvalidAccount("only operator accounts have an endpoint",
                                 {"field": "operator"})
        if role == "official":
            o = None
            if official:
                as_id = parse_id(official)
                clause = Official.id == as_id if as_id is not None else Official.slug == official
                o = await session.scalar(select(Official).where(clause))
            if o is None:
                raise UnknownOfficial(f"an official account needs an existing official "
                                      f"(got {official!r})", {"field": "official"})
            user.official_id = o.id
        elif official:
            raise InvalidAccount("only official accounts map to an official",
                                 {"field": "official"})
        session.add(user)
    return user


async def list_users(db: Db) -> list[User]:
    async with db() as session:
        return list((await session.scalars(select(User).options(selectinload(User.official))
                                           .order_by(User.username))).all())


async def set_password(db: Db, username: str, password: str) -> None:
    check_password(password, username)
    password_hash = await _off_loop(hash_password, password)
    async with db() as session, session.begin():
        user = await session.scalar(select(User).where(User.username == username))
        if user is None:
            raise UnknownUser(f"unknown user {username!r}", {"field": "username"})
        user.password_hash = password_hash
        await session.execute(delete(WebSession).where(WebSession.user_id == user.id))


async def set_active(db: Db, username: str, active: bool, actor: str) -> None:
    """Disable an account (its sessions end at once; its tokens stop working) or enable it
    again; audited as ``account`` (``<user>:active|disabled``)."""
    async with db() as session, session.begin():
        user = await session.scalar(select(User).where(User.username == username))
        if user is None:
            raise InvalidAccount(f"unknown user {username!r}", {"field": "username"})
        if user.active == active:
            return
        user.active = active
        if not active:
            await session.execute(delete(WebSession).where(WebSession.user_id == user.id))
        state = {True: "active", False: "disabled"}
        session.add(AuditEntry(actor=actor[:80], field="account",
                               old_value=f"{username}:{state[not active]}",
                               new_value=f"{username}:{state[active]}"))


async def authenticate(db: Db, username: str, password: str) -> User:
    """The account ``username``/``password`` sign in to, else LoginFailed. The hash is checked
    in the scrypt pool, with the same work for an unknown name; an over-long password is not
    hashed at all (it cannot be one the policy accepted)."""
    async with db() as session:
        user = await session.scalar(select(User).where(User.username == username)
                                    .options(selectinload(User.official)))
    if len(password) > MAX_PASSWORD:
        raise LoginFailed("wrong user name or password")
    if user is None or not user.active:
        await _off_loop(verify_password, password, _DUMMY_HASH)
        raise LoginFailed("wrong user name or password")
    if not await _off_loop(verify_password, password, user.password_hash):
        raise LoginFailed("wrong user name or password")
    return user


# --- sessions ------------------------------------------------------------------------------

async def open_session(db: Db, user_id: int) -> tuple[str, str]:
    """A new session for ``user_id``: (cookie value, csrf token)."""
    key, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
    now = datetime.now(UTC)
    async with db() as session, session.begin():
        await session.execute(delete(WebSession).where(WebSession.expires_at < now))
        session.add(WebSession(key_hash=_sha(key), user_id=user_id, csrf=csrf,
                               expires_at=now + SESSION_LIFETIME))
    return key, csrf


async def close_session(db: Db, key: str) -> None:
    async with db() as session, session.begin():
        await session.execute(delete(WebSession).where(WebSession.key_hash == _sha(key)))


async def session_identity(db: Db, key: str) -> Identity | None:
    async with db() as session:
        row = await session.scalar(
            select(WebSession).where(WebSession.key_hash == _sha(key))
            .options(selectinload(WebSession.user).selectinload(User.official)))
    if row is None or as_utc(row.expires_at) < datetime.now(UTC) or not row.user.active:
        return None
    return identity_for(row.user, "session", row.csrf)


# --- API tokens ----------------------------------------------------------------------------

async def issue_token(db: Db, username: str, label: str, created_by: str) -> tuple[str, ApiToken]:
    """A new API token for ``username``; the clear token is returned once and never stored."""
    if not isinstance(label, str) or len(label) > 80:
        raise InvalidAccount("label: at most 80 characters", {"field": "label"})
    token = "ivr_" + secrets.token_urlsafe(32)
    async with db() as session, session.begin():
        user = await session.scalar(select(User).where(User.username == username))
        if user is None:
            raise UnknownUser(f"unknown user {username!r}", {"field": "username"})
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
            raise UnknownToken(f"unknown token {token_id}", {"id": token_id})
        row.revoked = True


async def token_identity(db: Db, given: str) -> Identity | None:
    """The account an issued (not revoked) token belongs to, if it is active."""
    async with db() as session:
        row = await session.scalar(
            select(ApiToken).where(ApiToken.token_hash == _sha(given))
            .options(selectinload(ApiToken.user).selectinload(User.official)))
    if row is None or row.revoked or not row.user.active:
        return None
    return identity_for(row.user, "token")
