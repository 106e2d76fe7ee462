"""Routing services: audited changes of an official's routing, and call/audit queries.

Every change function validates its input first (raising an ``ivr.core.errors`` error and
changing nothing), then in one transaction changes the official, bumps the policy version and
writes one audit entry per changed field. After the commit it awaits ``on_change(official_id)``
(the controller passes a hook that updates the Asterisk mirror, which routes the calls). A hook
that fails raises ``ChangeNotInEffect`` (202: the change is saved, not in effect yet; the mirror
is fully resynced after every AMI login); otherwise it returns the official freshly loaded with
numbers, devices, policy, windows and deputy. Setting a value it already has changes nothing (no
audit entry, no hook call).

All functions take the session factory (``ivr.db.session.Db``) and the official by slug or id.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from ivr.core.constants import CALL_KINDS, OUTCOMES, SYSTEM
from ivr.core.errors import (
    ChangeNotInEffect,
    InvalidInput,
    InvalidReturnTime,
    NoDeputy,
    UnknownCall,
    UnknownDevice,
    UnknownOfficial,
    UnknownPool,
)
from ivr.core.ids import MAX_ID, parse_id
from ivr.core.numbers import NumberError, normalize
from ivr.core.timeutil import as_utc
from ivr.db.models import AuditEntry, Call, Official, Pool, RoutingPolicy, ScheduleWindow
from ivr.db.session import Db, snapshot
from ivr.directory.services import audit, clean_actor, get_official, load_official
from ivr.directory.validate import (
    check_availability,
    check_chain,
    check_mode,
    check_ring_timeout,
    check_windows,
)

__all__ = ["OnChange", "noop_on_change", "set_mode", "set_availability", "expire_availability",
           "set_schedule", "set_chain",
           "set_ring_timeout", "set_deputy", "set_pool", "set_device_confirm", "list_calls", "get_call", "audit_log",
           "windows_of"]

log = logging.getLogger(__name__)

# the routing hook; it may answer False: the change is committed but the mirror was not written
OnChange = Callable[[int], Awaitable[object]]
Change = tuple[str, Any, Any]  # field, old, new
MAX_LIMIT = 1000
MAX_REASON = 500
MAX_AWAY = timedelta(days=366)  # the furthest return time (a long leave)


async def noop_on_change(official_id: int) -> None:
    """The default hook: nothing to update."""


def windows_of(official: Official) -> list[dict[str, str]]:
    return [{"days": w.days, "start": w.start, "end": w.end, "mode": w.mode}
            for w in sorted(official.windows, key=lambda w: w.id or 0)]


def _reason(reason: str | None) -> str:
    if reason is not None and not isinstance(reason, str):
        raise InvalidInput("reason must be text")
    text = (reason or "").strip()
    if len(text) > MAX_REASON:
        raise InvalidInput(f"reason is longer than {MAX_REASON} characters")
    return text


async def _change(db: Db, ref: str | int, actor: str, reason: str | None, on_change: OnChange | None,
                  apply: Callable[[AsyncSession, Official], Awaitable[list[Change]]],
                  report: list[str] | None = None) -> Official:
    """``report``: where a failed mirror write is told (``mirror``: the hook returned False or
    raised), for the caller to pass on to whoever made the change."""
    actor = clean_actor(actor)
    why = _reason(reason)
    async with db() as session:
        async with session.begin():
            official = await load_official(session, ref, for_update=True)
            changes = await apply(session, official)
            if changes:
                if official.policy is None:
                    official.policy = RoutingPolicy(mode="direct", ring_timeout=20, version=0)
                official.policy.version = (official.policy.version or 0) + 1
                official.policy.updated_at = datetime.now(UTC)
                for field, old, new in changes:
                    audit(session, actor, official.id, field, old, new, why)
        official_id = official.id
    # a repeated change (no difference) still needs this node's mirror to hold it: the first one
    # may have been answered 202 (not in effect yet), and the repeat must not say 200 before it is
    if changes or on_change is not None:
        try:
            written = await (on_change or noop_on_change)(official_id)
        except ChangeNotInEffect:
            if report is None:
                raise
            written = False
        except Exception as exc:  # committed; the mirror resyncs on the next AMI login
            log.exception("on_change hook failed for official %s", official_id)
            if report is None:
                raise ChangeNotInEffect(f"saved, not in effect yet: {exc}") from exc
            written = False
        if written is False:
            log.warning("official %s changed by %s: the Asterisk mirror was not written", official_id, actor)
            if report is None:
                raise ChangeNotInEffect("saved, not in effect yet: this node's AstDB mirror was not written")
            report.append("mirror")
    return await get_official(db, official_id)


def _policy(official: Official) -> RoutingPolicy:
    if official.policy is None:
        official.policy = RoutingPolicy(mode="direct", ring_timeout=20, version=0)
    return official.policy


async def set_mode(db: Db, official: str | int, mode: str, actor: str, reason: str | None = "",
                   *, on_change: OnChange | None = None, report: list[str] | None = None) -> Official:
    """Switch the base mode (``direct``, ``pool``, ``deputy``, ``voicemail``)."""
    mode = check_mode(mode)

    async def apply(_s: AsyncSession, o: Official) -> list[Change]:
        policy = _policy(o)
        if policy.mode == mode:
            return []
        if mode == "deputy" and o.deputy_id is None:
            raise NoDeputy(f"{o.name} ({o.slug}) has no deputy: calls in deputy mode would go "
                           "to the pool; name a deputy first", {"official": o.slug})
        old, policy.mode = policy.mode, mode
        return [("mode", old, mode)]
    return await _change(db, official, actor, reason, on_change, apply, report)


async def set_availability(db: Db, official: str | int, availability: str, actor: str,
                           reason: str | None = "", *, note: str | None = None,
                           until: datetime | None = None, on_change: OnChange | None = None,
                           report: list[str] | None = None) -> Official:
    """``available``, ``meeting``, ``dnd`` or ``leave`` (the last three skip the direct step),
    with ``until`` the automatic return to ``available`` (aware, in the future, within
    MAX_AWAY; None: until changed; audited as ``availability_until``)."""
    availability = check_availability(availability)
    if note is not None and (not isinstance(note, str) or len(note) > 200):
        raise InvalidInput("availability note must be text of at most 200 characters")
    until = check_until(availability, until, datetime.now(UTC))

    async def apply(_s: AsyncSession, o: Official) -> list[Change]:
        changes: list[Change] = []
        if o.availability != availability:
            changes.append(("availability", o.availability, availability))
            o.availability = availability
        old_until = _utc(o.availability_until)
        if old_until != until:
            changes.append(("availability_until", _text(old_until), _text(until)))
            o.availability_until = until
        if note is not None and o.availability_note != note.strip():
            changes.append(("availability_note", o.availability_note, note.strip()))
            o.availability_note = note.strip()
        return changes
    return await _change(db, official, actor, reason, on_change, apply, report)


def check_until(availability: str, until: datetime | None, now: datetime) -> datetime | None:
    """The return time, UTC: only for an away state, aware, after ``now``, within MAX_AWAY."""
    if until is None:
        return None
    if not isinstance(until, datetime) or until.tzinfo is None:
        raise InvalidReturnTime("until must be a time with its timezone", {"until": str(until)})
    if availability == "available":
        raise InvalidReturnTime("until is only for meeting, leave or dnd", {"until": until.isoformat()})
    if until <= now:
        raise InvalidReturnTime("until must be in the future", {"until": until.isoformat()})
    if until - now > MAX_AWAY:
        raise InvalidReturnTime(f"until must be within {MAX_AWAY.days} days", {"until": until.isoformat()})
    return until.astimezone(UTC).replace(microsecond=0)


def _text(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


async def expire_availability(db: Db, now: datetime, *, on_change: OnChange | None = None) -> list[int]:
    """Officials whose return time has passed are ``available`` again: written back by the
    scheduler (actor ``system``, one audit entry each); the ids changed. Each is re-checked
    under its row lock, so two controllers on one database change (and audit) it once."""
    async with db() as session:
        due = list((await session.scalars(select(Official.id).where(
            Official.availability != "available", Official.availability_until.is_not(None),
            Official.availability_until <= now))).all())
    done: list[int] = []
    for oid in due:
        async def apply(_s: AsyncSession, o: Official) -> list[Change]:
            until = _utc(o.availability_until)
            if o.availability == "available" or until is None or until > now:
                return []
            old, o.availability, o.availability_until = o.availability, "available", None
            return [("availability", old, "available"), ("availability_until", _text(until), None)]
        try:
            o = await _change(db, oid, SYSTEM, "到期自动恢复 (return time reached)", on_change, apply,
                              [])  # a mirror not written: resynced at the next AMI login
        except UnknownOfficial:
            continue  # deleted meanwhile
        if o.availability == "available":
            done.append(oid)
    return done


async def set_schedule(db: Db, official: str | int, windows: Sequence[Mapping[str, Any]], actor: str,
                       reason: str | None = "", *, on_change: OnChange | None = None) -> Official:
    """Replace the schedule windows (``[{days, start, end, mode}]``; the last listed wins)."""
    # anything but a list (false, a number, an object) is the validator's to refuse (400)
    given = list(windows) if isinstance(windows, (list, tuple)) else windows
    parsed = [w.as_dict() for w in check_windows(given, "schedule")]

    async def apply(_s: AsyncSession, o: Official) -> list[Change]:
        old = windows_of(o)
        if old == parsed:
            return []
        o.windows = [ScheduleWindow(**w) for w in parsed]
        return [("schedule", old, parsed)]
    return await _change(db, official, actor, reason, on_change, apply)


async def set_chain(db: Db, official: str | int, chain: Sequence[str] | None, actor: str,
                    reason: str | None = "", *, on_change: OnChange | None = None) -> Official:
    """The fallback chain after the first step; ``None`` means the city default chain."""
    checked = check_chain(list(chain) if isinstance(chain, (list, tuple)) else chain)

    async def apply(_s: AsyncSession, o: Official) -> list[Change]:
        policy = _policy(o)
        if policy.chain == checked:
            return []
        old, policy.chain = policy.chain, checked
        return [("chain", old, checked)]
    return await _change(db, official, actor, reason, on_change, apply)


async def set_ring_timeout(db: Db, official: str | int, seconds: int, actor: str,
                           reason: str | None = "", *, on_change: OnChange | None = None) -> Official:
    """Seconds the official's (or deputy's) phones ring, 5..120."""
    value = check_ring_timeout(seconds)

    async def apply(_s: AsyncSession, o: Official) -> list[Change]:
        policy = _policy(o)
        if policy.ring_timeout == value:
            return []
        old, policy.ring_timeout = policy.ring_timeout, value
        return [("ring_timeout", str(old), str(value))]
    return await _change(db, official, actor, reason, on_change, apply)


async def set_device_confirm(db: Db, official: str | int, device: str, confirm: Any, actor: str,
                             reason: str | None = "", *,
                             on_change: OnChange | None = None) -> Official:
    """Whether the callee on ``device`` (an endpoint name or a mobile number, any accepted form)
    presses 1 before the call is theirs (docs/architecture.md, "Confirmed legs"; audited as
    ``confirm``, values ``<device>:true|false``)."""
    if not isinstance(confirm, bool):
        raise InvalidInput("confirm must be true or false", {"confirm": str(confirm)})
    value = confirm
    try:
        number = normalize(device)
    except NumberError:
        number = None

    async def apply(_s: AsyncSession, o: Official) -> list[Change]:
        row = next((d for d in o.devices if (d.kind == "sip" and d.endpoint == device)
                    or (d.kind == "mobile" and number is not None and d.number == number)), None)
        if row is None:
            raise UnknownDevice(f"{device!r} is not a device of {o.slug!r}", {"device": device})
        if row.confirm == value:
            return []
        name, row.confirm = row.endpoint or row.number, value
        return [("confirm", f"{name}:{str(not value).lower()}", f"{name}:{str(value).lower()}")]
    return await _change(db, official, actor, reason, on_change, apply)


async def set_deputy(db: Db, official: str | int, deputy: str | int | None, actor: str,
                     reason: str | None = "", *, on_change: OnChange | None = None) -> Official:
    """Who takes the ``deputy`` step (slug or id; ``None`` for nobody)."""
    if deputy is not None and (isinstance(deputy, bool) or not isinstance(deputy, (str, int))):
        raise InvalidInput("deputy must be a slug, an id or null", {"deputy": str(deputy)})

    async def apply(s: AsyncSession, o: Official) -> list[Change]:
        new = await load_official(s, deputy) if deputy is not None else None
        if new is not None and new.id == o.id:
            raise InvalidInput("an official cannot be their own deputy", {"deputy": str(deputy)})
        if (o.deputy_id or None) == (new.id if new else None):
            return []
        if new is None and o.policy is not None and o.policy.mode == "deputy":
            raise NoDeputy(f"{o.name} ({o.slug}) is in deputy mode: switch the mode before "
                           "removing the deputy", {"official": o.slug})
        old = o.deputy.slug if o.deputy else None
        o.deputy = new
        return [("deputy", old, new.slug if new else None)]
    return await _change(db, official, actor, reason, on_change, apply)


async def set_pool(db: Db, official: str | int, pool: str | None, actor: str,
                   reason: str | None = "", *, on_change: OnChange | None = None) -> Official:
    """The operator pool of the ``pool`` step (``None``: the default pool)."""
    if pool is not None and not isinstance(pool, str):
        raise InvalidInput("pool must be a pool name or null", {"pool": str(pool)})

    async def apply(s: AsyncSession, o: Official) -> list[Change]:
        new = None
        if pool is not None:
            new = (await s.execute(select(Pool).where(Pool.name == pool))).scalar_one_or_none()
            if new is None:
                raise UnknownPool(f"unknown pool {pool!r}", {"pool": pool})
        policy = _policy(o)
        old = policy.pool.name if policy.pool else None
        if old == pool:
            return []
        policy.pool = new
        return [("pool", old, pool)]
    return await _change(db, official, actor, reason, on_change, apply)


# --- queries -------------------------------------------------------------------------------

def _utc(value: datetime | None) -> datetime | None:
    return None if value is None else as_utc(value)


def _limit(limit: int, offset: int) -> tuple[int, int]:
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be 1..{MAX_LIMIT}", {"limit": limit})
    if not 0 <= offset <= MAX_ID:
        raise InvalidInput(f"offset must be 0..{MAX_ID}", {"offset": offset})
    return limit, offset


async def _official_id(session: AsyncSession, ref: str | int) -> int:
    as_id = parse_id(ref)
    clause = (Official.id == as_id) if as_id is not None else (Official.slug == str(ref))
    found = (await session.execute(select(Official.id).where(clause))).scalar_one_or_none()
    if found is None:
        raise UnknownOfficial(f"unknown official {ref!r}", {"official": str(ref)})
    return int(found)


async def list_calls(db: Db, official: str | int | None = None, since: datetime | None = None,
                     until: datetime | None = None, outcome: str | None = None, limit: int = 100,
                     offset: int = 0, kind: str | None = None) -> list[Call]:
    """Calls, newest first, with their steps; ``since`` inclusive, ``until`` exclusive.
    ``outcome`` is one of OUTCOMES or ``in-progress``; ``kind`` one of CALL_KINDS."""
    limit, offset = _limit(limit, offset)
    if kind is not None and kind not in CALL_KINDS:
        raise InvalidInput(f"kind {kind!r}: expected one of {', '.join(CALL_KINDS)}", {"kind": kind})
    if outcome is not None and outcome not in OUTCOMES and outcome != "in-progress":
        raise InvalidInput(f"outcome {outcome!r}: expected one of {', '.join(OUTCOMES)} or in-progress",
                           {"outcome": outcome})
    async with db() as session:
        query = select(Call).options(selectinload(Call.steps))
        if official is not None:
            query = query.where(Call.official_id == await _official_id(session, official))
        if since is not None:
            query = query.where(Call.started_at >= _utc(since))
        if until is not None:
            query = query.where(Call.started_at < _utc(until))
        if kind is not None:
            query = query.where(Call.kind == kind)
        if outcome == "in-progress":
            query = query.where(Call.outcome.is_(None))
        elif outcome is not None:
            query = query.where(Call.outcome == outcome)
        query = query.order_by(Call.started_at.desc(), Call.id.desc()).limit(limit).offset(offset)
        return list((await session.execute(query)).scalars())


async def get_call(db: Db, call_id: int) -> Call:
    async with snapshot(db) as session:  # the call and its steps: one state
        call = (await session.execute(select(Call).options(selectinload(Call.steps))
                                      .where(Call.id == call_id))).scalar_one_or_none()
        if call is None:
            raise UnknownCall(f"unknown call {call_id}", {"call": call_id})
        return call


async def audit_log(db: Db, official: str | int | None = None, field: str | None = None,
                    since: datetime | None = None, until: datetime | None = None, limit: int = 100,
                    offset: int = 0) -> list[AuditEntry]:
    """Audit entries, newest first."""
    limit, offset = _limit(limit, offset)
    async with db() as session:
        query = select(AuditEntry)
        if official is not None:
            query = query.where(AuditEntry.official_id == await _official_id(session, official))
        if field is not None:
            query = query.where(AuditEntry.field == field)
        if since is not None:
            query = query.where(AuditEntry.at >= _utc(since))
        if until is not None:
            query = query.where(AuditEntry.at < _utc(until))
        query = query.order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(limit).offset(offset)
        return list((await session.execute(query)).scalars())
