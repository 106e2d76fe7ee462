"""The callback guard (issue 9): what a click-to-call-back may ring and dial, checked before
anything is originated. Each refusal has its own error_id and an audit entry
(``callback_refused``, admins' audit page); an admin's approval of an altered caller ID is audited
too (``callback_approval``) and written in the case's history.

- Phone: a user rings only their own phone — an operator their endpoint, an official their own
  SIP devices; admins and supervisors have no phone here (the route refuses them: they assign
  the case instead). The deployment token (CLI, automation) may name any phone.
- Number: in national form and matching the national dialling plan, or starting with a prefix
  the admin allow-list names (``[outbound]``, ``ivr.core.outbound``).
- Caller ID: a caller flagged as altered on the way in (``calls.caller_altered``) is called back
  only after an admin approved it for that case.
- Limits: ``per_case_per_day`` callbacks per case in any 24 hours, ``per_node_per_hour`` calls
  originated by this node in any hour.
- What the citizen sees: the published number they dialled (``IVR_PRESENT``), never their own.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ivr.core.constants import SYSTEM
from ivr.core.errors import (
    CallbackCallerAltered,
    CallbackNotOwnPhone,
    CallbackNumberRefused,
    InvalidCaseInput,
    IvrError,
    NoPublishedNumber,
    TooManyCallbacks,
    TooManyOriginated,
    UnknownEndpoint,
)
from ivr.core.identity import Identity
from ivr.core.outbound import OutboundConfig, dialable
from ivr.core.timeutil import utcnow
from ivr.db.followup_models import Callback, Case, CaseEvent
from ivr.db.models import AuditEntry, Call, Device, Operator, Pool
from ivr.db.session import Db
from ivr.followup.cases import add_event, load_case

APPROVED = "callback_approved"  # case event: an admin allowed calling back an altered caller ID
# refusals written to the audit log (plain input errors — unknown case, bad JSON — are not)
AUDITED = (CallbackNumberRefused, CallbackNotOwnPhone, CallbackCallerAltered, TooManyCallbacks,
           TooManyOriginated)


POOL_PREFIX = "pool:"  # the system may ring "pool:<name>": an operator of it, by app_queue


async def _known_phone(session: AsyncSession, endpoint: str) -> bool:
    if endpoint.startswith(POOL_PREFIX):
        return await session.scalar(select(Pool.id).where(
            Pool.name == endpoint[len(POOL_PREFIX):])) is not None
    found = await session.scalar(select(Operator.id).where(Operator.endpoint == endpoint))
    if found is None:
        found = await session.scalar(select(Device.id).where(Device.endpoint == endpoint,
                                                             Device.kind == "sip"))
    return found is not None


async def own_phones(session: AsyncSession, who: Identity) -> list[str]:
    """The phones ``who`` may ring first: an operator's endpoint, an official's SIP devices."""
    if who.role == "operator":
        return [who.operator_endpoint] if who.operator_endpoint else []
    if who.role == "official" and who.official_id is not None:
        return list(await session.scalars(
            select(Device.endpoint).where(Device.official_id == who.official_id,
                                          Device.kind == "sip").order_by(Device.priority)))
    return []


async def phone_for(session: AsyncSession, who: Identity | None, endpoint: Any) -> str:
    """The phone to ring first: ``endpoint`` if the asker may ring it; none given: their own."""
    if endpoint is not None and (not isinstance(endpoint, str) or not endpoint
                                 or len(endpoint) > 40):
        raise InvalidCaseInput("endpoint must be the name of an operator's or official's phone",
                               {"endpoint": endpoint})
    if who is None or who.role == SYSTEM:  # the deployment token: any phone (or pool), named
        if endpoint is None:
            raise InvalidCaseInput("endpoint: name the phone to ring first", {"endpoint": None})
        if not await _known_phone(session, endpoint):
            raise UnknownEndpoint(f"no operator or official phone {endpoint!r}",
                                  {"endpoint": endpoint})
        return endpoint
    own = await own_phones(session, who)
    if not own:
        raise CallbackNotOwnPhone(f"the {who.role} account {who.username!r} has no phone to call "
                                  "back from (admins and supervisors assign the case instead)",
                                  {"endpoint": endpoint})
    if endpoint is None:
        return own[0]
    if endpoint not in own:
        raise CallbackNotOwnPhone(f"{endpoint!r} is not your phone: you may ring only "
                                  f"{', '.join(own)}", {"endpoint": endpoint, "yours": own})
    return endpoint


def check_number(number: str, config: OutboundConfig) -> str:
    dial = dialable(number, config)
    if dial is None:
        raise CallbackNumberRefused(
            f"{number} is not a national number and no allowed prefix names it: international "
            "and premium numbers are called back only if an admin allows their prefix "
            "([outbound] allow_prefixes)", {"number": number})
    return dial


async def _call_of(session: AsyncSession, case: Case) -> Call | None:
    conditions = [Call.id == case.call_id] if case.call_id is not None else []
    if case.linkedid:
        conditions.append(Call.linkedid == case.linkedid)
    if not conditions:
        return None
    return await session.scalar(select(Call).where(or_(*conditions)).limit(1))


async def awaiting_approval(session: AsyncSession, items: Sequence[Case]) -> set[int]:
    """Ids of the cases whose caller ID was altered and that no admin approved yet (inbox)."""
    call_ids = {c.call_id for c in items if c.call_id is not None}
    linkedids = {c.linkedid for c in items if c.linkedid}
    if not call_ids and not linkedids:
        return set()
    altered = (await session.execute(select(Call.id, Call.linkedid).where(
        Call.caller_altered, or_(Call.id.in_(call_ids), Call.linkedid.in_(linkedids))))).all()
    ids, lids = {r.id for r in altered}, {r.linkedid for r in altered}
    found = {c.id for c in items if c.call_id in ids or (c.linkedid and c.linkedid in lids)}
    approved = set(await session.scalars(select(CaseEvent.case_id).where(
        CaseEvent.action == APPROVED, CaseEvent.case_id.in_(found)))) if found else set()
    return found - approved


async def check_caller(session: AsyncSession, case: Case) -> None:
    call = await _call_of(session, case)
    if call is not None and call.caller_altered and \
            not any(e.action == APPROVED for e in case.events):
        raise CallbackCallerAltered(
            f"the caller ID of case {case.id} was altered on the way in (as received: "
            f"{call.caller_raw!r}): an admin must approve calling it back",
            {"caller": case.caller, "caller_raw": call.caller_raw})


async def presented_number(session: AsyncSession, case: Case) -> str:
    """The published number the citizen dialled: the callback's caller ID."""
    dialed = case.number_dialed
    if not dialed:
        call = await _call_of(session, case)
        dialed = call.number_dialed if call is not None else ""
    clean = "".join(c for c in dialed if c.isascii() and (c.isdigit() or c == "+"))
    if not clean:
        raise NoPublishedNumber(f"case {case.id} has no published number to present as caller ID",
                                {"number_dialed": dialed})
    return clean


async def check_limits(session: AsyncSession, case_id: int, config: OutboundConfig,
                       node: str) -> None:
    # take the write lock before counting (a no-op write): on SQLite the transaction begins at
    # the first write, so without it two clicks count the same rows and both pass; on
    # PostgreSQL the case row is already locked (load_case(lock=True))
    await session.execute(update(Case).where(Case.id == case_id)
                          .values(updated_at=Case.updated_at))
    now = utcnow()
    per_case = await session.scalar(select(func.count(Callback.id)).where(
        Callback.case_id == case_id, Callback.created_at >= now - timedelta(days=1)))
    if (per_case or 0) >= config.per_case_per_day:
        raise TooManyCallbacks(f"case {case_id} was called back {per_case} times in the last 24 "
                               f"hours (limit {config.per_case_per_day})",
                               {"limit": config.per_case_per_day, "count": per_case})
    per_node = await session.scalar(select(func.count(Callback.id)).where(
        Callback.node == node, Callback.created_at >= now - timedelta(hours=1)))
    if (per_node or 0) >= config.per_node_per_hour:
        raise TooManyOriginated(f"node {node} placed {per_node} calls in the last hour "
                                f"(limit {config.per_node_per_hour})",
                                {"limit": config.per_node_per_hour, "count": per_node,
                                 "node": node})


def _audit(session: AsyncSession, actor: str, official_id: int | None, field: str,
           value: dict[str, Any], reason: str) -> None:
    session.add(AuditEntry(actor=actor[:80], official_id=official_id, field=field,
                           new_value=json.dumps(value, ensure_ascii=False, sort_keys=True),
                           reason=reason))


async def audit_refusal(db: Db, actor: str, case_id: int, exc: IvrError,
                        **value: Any) -> None:
    async with db() as session, session.begin():
        official_id = await session.scalar(select(Case.official_id).where(Case.id == case_id))
        _audit(session, actor, official_id, "callback_refused", {"case": case_id, **value},
               f"{exc.error_id}: {exc.message}")


async def approve(db: Db, case_id: int, actor: str, reason: str) -> Case:
    """An admin allows calling back the case's (altered) caller ID: audited, in the history."""
    reason = reason.strip() if isinstance(reason, str) else ""
    if not reason or len(reason) > 500:
        raise InvalidCaseInput("reason: say why the caller may be called back (1-500 "
                               "characters)", {"reason": reason[:40]})
    async with db() as session, session.begin():
        case = await load_case(session, case_id, lock=True)
        add_event(case, actor, APPROVED, None, case.caller[:80], note=reason)
        _audit(session, actor, case.official_id, "callback_approval",
               {"case": case.id, "caller": case.caller}, reason)
    return case
