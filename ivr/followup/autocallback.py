"""Automatic callbacks: the policy (issue 10, docs/followup.md). The scheduler
(``ivr.followup.scheduler``) calls these steps; each is safe with several controllers (guarded
UPDATEs, a unique attempt number per case).

- :func:`enroll`: a missed or voicemail case not seen yet gets its duty (``open``, or ``off``
  when the policy is off for its official or the case is older than ``max_age_hours``) and its
  first attempt, ``first_delay_seconds`` after the case opened.
- :func:`settle`: an attempt whose callback finished is judged. The duty **closes** only when
  the citizen stayed on the line ``min_bridged_seconds`` (a carrier voicemail answers too, so an
  ANSWER alone is not enough) — the case is then ``called_back``; otherwise the next attempt is
  scheduled ``spacing_seconds`` later, and after ``attempts`` failures the duty is
  ``unreachable`` (an ``unreachable`` case event: the notification hook's
  ``case.unreachable``). The case stays with its owner.
- :func:`dispose`: a staff disposition (reached, left a message, wrong number, unreachable)
  closes the duty whatever the bridged time, and cancels the attempts still to come.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update

from ivr.core.autocallback import Policy, policy_for
from ivr.core.config_followup import AutoCallbackConfig
from ivr.core.errors import InvalidCaseInput, InvalidTransition
from ivr.core.timeutil import as_utc, utcnow
from ivr.db.followup_models import Callback, CallbackJob, Case
from ivr.db.models import Official
from ivr.db.session import Db
from ivr.followup.cases import TRANSITIONS, add_event, load_case

log = logging.getLogger(__name__)
ACTOR = "system"
KINDS = ("missed", "voicemail")  # the cases called back automatically
DISPOSITIONS = {"reached": "closed", "message": "closed", "wrong_number": "closed",
                "unreachable": "unreachable"}


def base_policy(config: AutoCallbackConfig) -> Policy:
    return Policy(first=config.first, attempts=config.attempts,
                  spacing_seconds=config.spacing_seconds,
                  first_delay_seconds=config.first_delay_seconds)


async def policy_of(db: Db, config: AutoCallbackConfig, official_id: int | None) -> Policy:
    async with db() as session:
        slug = await session.scalar(select(Official.slug).where(Official.id == official_id)) \
            if official_id is not None else None
    return policy_for(base_policy(config), config.officials, slug)


async def enroll(db: Db, config: AutoCallbackConfig, now: datetime | None = None) -> int:
    """Give every new missed/voicemail case its duty and first attempt; how many were opened."""
    now = now or utcnow()
    async with db() as session:
        found = (await session.execute(select(Case.id, Case.official_id, Case.created_at).where(
            Case.callback_duty.is_(None), Case.kind.in_(KINDS)).order_by(Case.id))).all()
    opened = 0
    for case_id, official_id, created in found:
        policy = await policy_of(db, config, official_id)
        fresh = as_utc(created) >= now - timedelta(hours=config.max_age_hours)
        duty = "open" if config.enabled and not policy.off and fresh else "off"
        async with db() as session, session.begin():
            won = await session.execute(update(Case).where(
                Case.id == case_id, Case.callback_duty.is_(None)).values(callback_duty=duty))
            if won.rowcount != 1:  # type: ignore[attr-defined]
                continue  # another controller did it
            if duty == "off":
                continue
            due = as_utc(created) + timedelta(seconds=policy.first_delay_seconds)
            session.add(CallbackJob(case_id=case_id, attempt=1, due_at=due, state="pending"))
            case = await load_case(session, case_id)
            add_event(case, ACTOR, "autocallback", None, "open",
                      note=f"automatic callback: {policy.attempts} attempts at most, first "
                           f"{policy.first}, attempt 1 due {due.isoformat(timespec='seconds')}")
            opened += 1
    return opened


def _bridged(cb: Callback) -> float:
    if cb.answered_at is None or cb.ended_at is None:
        return 0.0
    return (as_utc(cb.ended_at) - as_utc(cb.answered_at)).total_seconds()


async def settle(db: Db, config: AutoCallbackConfig, now: datetime | None = None,
                 lost_after: float = 3600.0) -> int:
    """Judge the attempts whose callback finished — or whose callback never reported its end
    ``lost_after`` seconds after it was placed (Asterisk restarted meanwhile): result ``LOST``, a
    failed attempt; how many were settled."""
    now = now or utcnow()
    lost = now - timedelta(seconds=lost_after)
    async with db() as session:
        rows = (await session.execute(
            select(CallbackJob.id, CallbackJob.case_id, CallbackJob.attempt, Callback.id)
            .join(Callback, Callback.id == CallbackJob.callback_id)
            .where(CallbackJob.state == "dialled", or_(Callback.state.in_(("ended", "failed")),
                                                       Callback.created_at < lost))
            .order_by(CallbackJob.id))).all()
    done = 0
    for job_id, case_id, attempt, cb_id in rows:
        async with db() as session, session.begin():
            won = await session.execute(update(CallbackJob).where(
                CallbackJob.id == job_id, CallbackJob.state == "dialled").values(state="done"))
            if won.rowcount != 1:  # type: ignore[attr-defined]
                continue
            cb = await session.get(Callback, cb_id)
            case = await load_case(session, case_id, lock=True)
            assert cb is not None
            slug = await session.scalar(select(Official.slug).where(
                Official.id == case.official_id)) if case.official_id else None
            policy = policy_for(base_policy(config), config.officials, slug)
            bridged = _bridged(cb)
            finished = cb.state in ("ended", "failed")
            reached = finished and cb.answered_at is not None and \
                bridged >= config.min_bridged_seconds
            result = "REACHED" if reached else "LOST" if not finished else (
                "SHORT" if cb.answered_at is not None else (cb.result or "FAILED"))
            await session.execute(update(CallbackJob).where(CallbackJob.id == job_id)
                                  .values(result=result[:24]))
            _judge(case, attempt, result, bridged, policy, config, now, session.add)
        done += 1
    return done


def _judge(case: Case, attempt: int, result: str, bridged: float, policy: Policy,
           config: AutoCallbackConfig, now: datetime, add: Callable[[CallbackJob], None]) -> None:
    what = f"attempt {attempt}/{policy.attempts}: {result}"
    if result == "SHORT":
        what += (f" (answered, on the line {bridged:.0f} s < {config.min_bridged_seconds:g} s: "
                 "not counted as reached)")
    if case.callback_duty != "open":
        add_event(case, ACTOR, "autocallback_attempt", None, result[:80], note=what, at=now)
        return
    if result == "REACHED":
        case.callback_duty = "closed"
        add_event(case, ACTOR, "autocallback_attempt", None, result, note=what, at=now)
        add_event(case, ACTOR, "callback_duty", "open", "closed",
                  note=f"the citizen was on the line {bridged:.0f} s", at=now)
        if "called_back" in TRANSITIONS[case.status]:
            old, case.status = case.status, "called_back"
            add_event(case, ACTOR, "status", old, "called_back",
                      note="reached by the automatic callback", at=now)
        return
    add_event(case, ACTOR, "autocallback_attempt", None, result[:80], note=what, at=now)
    if attempt >= policy.attempts:
        case.callback_duty = "unreachable"
        add_event(case, ACTOR, "unreachable", "open", "unreachable",
                  note=f"{attempt} attempts failed; the case stays with its owner", at=now)
        return
    due = now + timedelta(seconds=policy.spacing_seconds)
    add(CallbackJob(case_id=case.id, attempt=attempt + 1, due_at=due, state="pending"))
    add_event(case, ACTOR, "autocallback", None, "scheduled",
              note=f"attempt {attempt + 1} due {due.isoformat(timespec='seconds')}", at=now)


async def dispose(db: Db, case_id: int, outcome: str, actor: str, note: str = "") -> Case:
    """A staff disposition of the callback duty: reached, message, wrong_number, unreachable."""
    if outcome not in DISPOSITIONS:
        raise InvalidCaseInput(f"outcome: one of {', '.join(DISPOSITIONS)}",
                               {"outcome": outcome})
    duty = DISPOSITIONS[outcome]
    async with db() as session, session.begin():
        case = await load_case(session, case_id, lock=True)
        if case.status == "resolved":
            raise InvalidTransition(f"case {case_id} is resolved", {"status": case.status})
        old, case.callback_duty = case.callback_duty, duty
        await session.execute(update(CallbackJob).where(
            CallbackJob.case_id == case_id, CallbackJob.state == "pending")
            .values(state="cancelled"))
        add_event(case, actor, "disposition", None, outcome, note=note[:500])
        add_event(case, actor, "callback_duty", old, duty, note=f"staff disposition: {outcome}")
        if outcome in ("reached", "message") and "called_back" in TRANSITIONS[case.status]:
            previous, case.status = case.status, "called_back"
            add_event(case, actor, "status", previous, "called_back", note=outcome)
    return case

