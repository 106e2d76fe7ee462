"""Operators in the pool: their state in the database, mirrored to app_queue over AMI.

The database is the truth; after every AMI login the queues are reconciled with it
(QueueStatus → QueueAdd/QueueRemove/QueuePause), so a restarted Asterisk or controller ends up
with exactly the operators who are logged in.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from ivr.asterisk.ami import AmiClient, AmiError
from ivr.core.constants import OPERATOR_STATES
from ivr.core.errors import InvalidOperatorState, UnknownOperator
from ivr.db.feed import bump_in
from ivr.db.models import Operator
from ivr.db.session import Db

log = logging.getLogger(__name__)
STATES = OPERATOR_STATES
# the reason of a pause the system made because the operator's phone unregistered (the same in
# app_queue's PausedReason, the API and the console)
UNREGISTERED_REASON = "电话未注册"
# One change of queue members at a time on this node: a reconcile (after a change-feed poll)
# reads the operators, then the queue; an operator's own change landing between the two would
# otherwise be undone by it (a logout re-added by a reconcile that read "ready").
_members = asyncio.Lock()
_P = ParamSpec("_P")
_T = TypeVar("_T")


def _one_at_a_time(fn: Callable[_P, Awaitable[_T]]) -> Callable[_P, Awaitable[_T]]:
    @functools.wraps(fn)
    async def locked(*args: _P.args, **kwargs: _P.kwargs) -> _T:
        async with _members:
            return await fn(*args, **kwargs)
    return locked



def interface(op: Operator) -> str:
    return f"PJSIP/{op.endpoint}"


@_one_at_a_time
async def set_state(db: Db, ami: AmiClient | None, endpoint: str, state: str, reason: str = "",
                    registered: bool | None = None) -> Operator:
    """The operator's own (or an admin's) change: never a system pause any more. ``registered``
    False (their phone is not registered): ``ready`` becomes a system pause at once."""
    if state not in STATES:
        raise InvalidOperatorState(f"invalid state {state!r}: one of {', '.join(STATES)}")
    reason = "".join(c for c in reason if c.isprintable())[:80]
    async with db() as session, session.begin():
        op = await session.scalar(select(Operator).where(Operator.endpoint == endpoint)
                                  .options(selectinload(Operator.pool)))
        if op is None:
            raise UnknownOperator(f"unknown operator {endpoint!r}")
        op.state, op.paused_reason = state, reason if state == "paused" else ""
        op.auto_paused = False
        if state == "ready" and registered is False:
            op.state, op.paused_reason, op.auto_paused = "paused", UNREGISTERED_REASON, True
        await bump_in(session, "operators")  # every node's queues follow (ivr/db/feed.py)
    if ami is not None and ami.logged_in.is_set():
        await apply_member(ami, op)
    return op


@_one_at_a_time
async def follow_registration(db: Db, ami: AmiClient | None, endpoint: str,
                              registered: bool) -> Operator | None:
    """An operator's phone (un)registered: a ready operator is paused by the system with
    :data:`UNREGISTERED_REASON`; a pause the system made is lifted when the phone registers
    again. A pause the operator made (lunch), a logged-out operator, or no change: ``None``."""
    async with db() as session, session.begin():
        op = await session.scalar(select(Operator).where(Operator.endpoint == endpoint)
                                  .options(selectinload(Operator.pool)))
        if op is None:
            return None
        if not registered and op.state == "ready":
            op.state, op.paused_reason, op.auto_paused = "paused", UNREGISTERED_REASON, True
        elif registered and op.state == "paused" and op.auto_paused:
            op.state, op.paused_reason, op.auto_paused = "ready", "", False
        else:
            return None
        await bump_in(session, "operators")
    log.info("operator %s %s: phone %s", endpoint, op.state,
             "registered" if registered else "unregistered")
    if ami is not None and ami.logged_in.is_set():
        await apply_member(ami, op)
    return op


async def apply_member(ami: AmiClient, op: Operator, present: bool | None = None) -> None:
    queue = op.pool.queue
    if op.state == "logged_out":
        if present is not False:
            try:
                await ami.action("QueueRemove", Queue=queue, Interface=interface(op))
            except AmiError:
                pass  # not a member
        return
    if present is not True:
        try:
            await ami.action("QueueAdd", Queue=queue, Interface=interface(op), MemberName=op.endpoint,
                             StateInterface=interface(op), Paused="false")
        except AmiError as exc:
            if "Already" not in str(exc):
                raise
    await ami.action("QueuePause", Queue=queue, Interface=interface(op),
                     Paused="true" if op.state == "paused" else "false",
                     Reason=op.paused_reason or "")


@_one_at_a_time
async def reconcile(db: Db, ami: AmiClient) -> None:
    """Make app_queue's members equal to the operators logged in, after every AMI login."""
    async with db() as session:
        ops = (await session.scalars(select(Operator).options(selectinload(Operator.pool)))).all()
    members: dict[tuple[str, str], bool] = {}
    for ev in await ami.action_list("QueueStatus", timeout=10):
        if ev.get("Event") == "QueueMember":
            members[(ev.get("Queue", ""), ev.get("Location") or ev.get("StateInterface", ""))] = True
    wanted = set()
    for op in ops:
        key = (op.pool.queue, interface(op))
        if op.state != "logged_out":
            wanted.add(key)
        await apply_member(ami, op, present=key in members)
    for queue, iface in members:
        if (queue, iface) not in wanted and queue.startswith("pool-"):
            try:
                await ami.action("QueueRemove", Queue=queue, Interface=iface)
            except AmiError:
                pass
    log.info("queue members reconciled: %d logged in", len(wanted))
