"""Directory services: officials (read), pools and operators (CRUD), and the audit helper.

Every function takes the session factory (``ivr.db.session.Db``) and runs its own transaction.
Returned ORM objects are detached with their relations loaded (``expire_on_commit=False``).
"""

from __future__ import annotations

import json
import re
import secrets
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload
from sqlalchemy.sql import Select

from ivr.core.errors import Conflict, InvalidInput, UnknownOfficial, UnknownOperator, UnknownPool
from ivr.core.ids import parse_id
from ivr.core.sipauth import sip_ha1
from ivr.db.models import AuditEntry, Device, Official, Operator, Pool, RoutingPolicy, Setting
from ivr.db.session import Db
from ivr.directory.validate import (
    NAME_FORBIDDEN,
    check_announce,
    check_contact,
    check_endpoint,
    check_pool_name,
    check_strategy,
    int_field,
    text_field,
)

__all__ = ["official_query", "list_officials", "get_official", "load_official", "audit",
           "clean_actor", "new_secret", "get_settings", "list_pools", "get_pool", "create_pool",
           "update_pool", "delete_pool", "list_operators", "get_operator", "create_operator",
           "update_operator", "delete_operator"]

_ACTOR_BAD = re.compile(r"[\x00-\x1f\x7f]")


def new_secret() -> str:
    """A SIP digest password (32 URL-safe characters)."""
    return secrets.token_urlsafe(24)


def clean_actor(actor: str | None) -> str:
    """Who made a change, as recorded in the audit log (required, at most 80 characters)."""
    text = _ACTOR_BAD.sub("", actor or "").strip()[:80]
    if not text:
        raise InvalidInput("an actor (who makes the change) is required")
    return text


def _audit_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def audit(session: AsyncSession, actor: str, official_id: int | None, field: str,
          old: Any, new: Any, reason: str = "") -> AuditEntry:
    """Add an audit entry to the session's transaction (committed with the change it records)."""
    entry = AuditEntry(actor=actor, official_id=official_id, field=field[:40],
                       old_value=_audit_text(old), new_value=_audit_text(new), reason=reason or "")
    session.add(entry)
    return entry


# --- officials -----------------------------------------------------------------------------

def official_query() -> Select[Official]:
    """Officials with numbers, devices, policy (and its pool), windows, deputy and superior."""
    return select(Official).options(
        selectinload(Official.numbers), selectinload(Official.devices),
        selectinload(Official.policy).selectinload(RoutingPolicy.pool),
        selectinload(Official.windows),
        selectinload(Official.deputy).selectinload(Official.devices),
        selectinload(Official.superior))


def _ref_clause(ref: str | int) -> Any:
    as_id = parse_id(ref)
    if as_id is not None:
        return Official.id == as_id
    return Official.slug == str(ref)


async def load_official(session: AsyncSession, ref: str | int, *, for_update: bool = False) -> Official:
    """An official by slug or id inside an open session; raises UnknownOfficial."""
    query = official_query().where(_ref_clause(ref))
    if for_update:
        query = query.with_for_update(of=Official)
    official = (await session.execute(query)).scalar_one_or_none()
    if official is None:
        raise UnknownOfficial(f"unknown official {ref!r}", {"official": str(ref)})
    return official


async def list_officials(db: Db) -> list[Official]:
    async with db() as session:
        return list((await session.execute(official_query().order_by(Official.slug))).scalars())


async def get_official(db: Db, ref: str | int) -> Official:
    async with db() as session:
        return await load_official(session, ref)


async def get_settings(db: Db) -> dict[str, Any]:
    """City-wide settings (``default_chain``, ``timezone``, …) as a dict."""
    async with db() as session:
        return {s.key: s.value for s in (await session.execute(select(Setting))).scalars()}


# --- pools ---------------------------------------------------------------------------------

async def list_pools(db: Db) -> list[Pool]:
    async with db() as session:
        query = select(Pool).options(selectinload(Pool.operators)).order_by(Pool.name)
        return list((await session.execute(query)).scalars())


async def _pool(session: AsyncSession, name: str) -> Pool:
    if not isinstance(name, str):  # a JSON object or number from the API: 400, never a 500
        raise InvalidInput("pool must be a pool name", {"pool": str(name)})
    query = select(Pool).options(selectinload(Pool.operators)).where(Pool.name == name)
    pool = (await session.execute(query)).scalar_one_or_none()
    if pool is None:
        raise UnknownPool(f"unknown pool {name!r}", {"pool": name})
    return pool


async def get_pool(db: Db, name: str) -> Pool:
    async with db() as session:
        return await _pool(session, name)




def set_pool_fields(pool: Pool, strategy: str, max_wait: int,
                    announce: tuple[bool | None, bool | None, int | None]) -> bool:
    """Give ``pool`` these settings (validated already); whether any changed."""
    want = {"strategy": strategy, "max_wait": max_wait, "announce_position": announce[0],
            "announce_holdtime": announce[1], "announce_every": announce[2]}
    changed = any(getattr(pool, k) != v for k, v in want.items())
    for k, v in want.items():
        setattr(pool, k, v)
    return changed


def _pool_fields(pool: Pool) -> dict[str, Any]:
    return {"name": pool.name, "strategy": pool.strategy, "max_wait": pool.max_wait,
            "announce_position": pool.announce_position,
            "announce_holdtime": pool.announce_holdtime, "announce_every": pool.announce_every}


async def create_pool(db: Db, name: str, actor: str, *, strategy: str = "leastrecent",
                      max_wait: int = 60, announce: Any = None) -> Pool:
    actor = clean_actor(actor)
    pool = Pool(name=check_pool_name(name, "name"))
    set_pool_fields(pool, check_strategy(strategy), int_field(max_wait, "max_wait", 5, 3600),
                    check_announce(announce, "announce"))
    async with db() as session, session.begin():
        if (await session.execute(select(Pool.id).where(Pool.name == name))).first():
            raise Conflict(f"pool {name!r} exists", {"pool": name})
        session.add(pool)
        audit(session, actor, None, "pool", None, _pool_fields(pool))
    return await get_pool(db, name)


async def update_pool(db: Db, name: str, actor: str, *, strategy: str | None = None,
                      max_wait: int | None = None, announce: Any = None) -> Pool:
    """Change what is given; ``announce`` (a mapping) replaces the pool's own settings."""
    actor = clean_actor(actor)
    async with db() as session, session.begin():
        pool = await _pool(session, name)
        old = _pool_fields(pool)
        set_pool_fields(pool, pool.strategy if strategy is None else check_strategy(strategy),
                        pool.max_wait if max_wait is None
                        else int_field(max_wait, "max_wait", 5, 3600),
                        (pool.announce_position, pool.announce_holdtime, pool.announce_every)
                        if announce is None else check_announce(announce, "announce"))
        new = _pool_fields(pool)
        if new != old:
            audit(session, actor, None, "pool", old, new)
    return pool


async def delete_pool(db: Db, name: str, actor: str) -> None:
    actor = clean_actor(actor)
    async with db() as session, session.begin():
        pool = await _pool(session, name)
        if pool.operators:
            raise Conflict(f"pool {name!r} still has operators", {"pool": name})
        users = (await session.execute(select(func.count()).select_from(RoutingPolicy)
                                       .where(RoutingPolicy.pool_id == pool.id))).scalar_one()
        if users:
            raise Conflict(f"pool {name!r} is used by {users} official(s)", {"pool": name})
        await session.delete(pool)
        audit(session, actor, None, "pool", {"name": name}, None)


# --- operators -----------------------------------------------------------------------------

async def list_operators(db: Db) -> list[Operator]:
    async with db() as session:
        query = select(Operator).options(selectinload(Operator.pool)).order_by(Operator.endpoint)
        return list((await session.execute(query)).scalars())


async def _operator(session: AsyncSession, endpoint: str) -> Operator:
    query = select(Operator).options(selectinload(Operator.pool)).where(Operator.endpoint == endpoint)
    operator = (await session.execute(query)).scalar_one_or_none()
    if operator is None:
        raise UnknownOperator(f"unknown operator {endpoint!r}", {"endpoint": endpoint})
    return operator


async def get_operator(db: Db, endpoint: str) -> Operator:
    async with db() as session:
        return await _operator(session, endpoint)


async def endpoint_in_use(session: AsyncSession, endpoint: str) -> str | None:
    """Who uses a PJSIP endpoint name already (devices and operators share one namespace)."""
    if (await session.execute(select(Operator.id).where(Operator.endpoint == endpoint))).first():
        return "an operator"
    row = (await session.execute(select(Official.slug).join(Device, Device.official_id == Official.id)
                                 .where(Device.endpoint == endpoint))).first()
    return f"a device of official {row[0]!r}" if row else None


def _operator_view(op: Operator) -> dict[str, Any]:
    return {"name": op.name, "endpoint": op.endpoint, "pool": op.pool.name if op.pool else None,
            "static_contact": op.static_contact}


async def create_operator(db: Db, name: str, endpoint: str, pool: str, actor: str, *,
                          static_contact: str | None = None) -> tuple[Operator, str]:
    """Create an operator with a generated secret; returns it with that secret (stored only as
    its digest HA1: this is the one time it can be shown)."""
    actor = clean_actor(actor)
    name = text_field(name, "name", max_len=80, required=True, forbidden=NAME_FORBIDDEN)
    check_endpoint(endpoint, "endpoint")
    contact = check_contact(static_contact, "static_contact")
    async with db() as session, session.begin():
        user = await endpoint_in_use(session, endpoint)
        if user:
            raise Conflict(f"endpoint {endpoint!r} is already used by {user}", {"endpoint": endpoint})
        secret = new_secret()
        operator = Operator(name=name, endpoint=endpoint, sip_ha1=sip_ha1(endpoint, secret),
                            static_contact=contact, pool=await _pool(session, pool))
        session.add(operator)
        audit(session, actor, None, "operator", None, _operator_view(operator))
    return operator, secret


async def update_operator(db: Db, endpoint: str, actor: str, *, name: str | None = None,
                          pool: str | None = None, static_contact: str | None = None,
                          clear_static_contact: bool = False) -> Operator:
    actor = clean_actor(actor)
    async with db() as session, session.begin():
        operator = await _operator(session, endpoint)
        old = _operator_view(operator)
        if name is not None:
            operator.name = text_field(name, "name", max_len=80, required=True, forbidden=NAME_FORBIDDEN)
        if pool is not None:
            operator.pool = await _pool(session, pool)
        if static_contact is not None or clear_static_contact:
            operator.static_contact = check_contact(static_contact, "static_contact")
        new = _operator_view(operator)
        if new != old:
            audit(session, actor, None, "operator", old, new)
    return operator


async def delete_operator(db: Db, endpoint: str, actor: str) -> None:
    actor = clean_actor(actor)
    async with db() as session, session.begin():
        operator = await _operator(session, endpoint)
        audit(session, actor, None, "operator", _operator_view(operator), None)
        await session.delete(operator)


__all__ += ["endpoint_in_use"]
