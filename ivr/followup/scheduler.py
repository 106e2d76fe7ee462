"""The automatic callbacks' scheduler (issue 10): database-backed, safe with several
controllers, survives restarts (docs/followup.md).

Every ``[autocallback] tick_seconds`` each controller:

1. **enrolls** new missed/voicemail cases (``ivr.followup.autocallback.enroll``);
2. **settles** the attempts whose callback finished (``settle``);
3. **recovers** attempts claimed more than :data:`STALE` ago by a controller that stopped
   before dialling: its callback row exists (``placed_by = auto:<job id>``, written before the
   Originate) → the attempt was dialled; none → back to ``pending``;
4. **claims** the attempts due — ``SELECT … FOR UPDATE SKIP LOCKED`` then an UPDATE on
   PostgreSQL, a guarded ``UPDATE … WHERE state = 'pending'`` per row on SQLite — recording
   itself as the origin node (``callback_jobs.node``); a claimed attempt is dialled by that
   node only, through its own Asterisk, **once**;
5. for each claimed attempt: outside ``hours`` (city time) it goes back to ``pending``, due at
   the next opening (a ``deferred`` case event) — never dropped; otherwise the first phone is
   chosen by the policy (own phone, the deputy's, or ``pool:<name>``) and the attempt goes
   through :func:`ivr.followup.callback.place_callback` — the callback guard (national numbers,
   limits, time limit) included. A limit (429) defers the attempt by ``spacing_seconds``; any
   other refusal ends the duty as ``refused`` (the guard's audit entry says why).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select, update

from ivr.asterisk.ami import AmiClient
from ivr.calls.fold import SURVEY_PREFIX
from ivr.core.autocallback import Policy, next_allowed, parse_hours
from ivr.core.config import Config
from ivr.core.errors import CallbackFailed, IvrError, TooManyCallbacks, TooManyOriginated
from ivr.core.timeutil import utcnow
from ivr.db.followup_models import Callback, CallbackJob, Case, Survey
from ivr.db.models import Device, Official
from ivr.db.session import Db
from ivr.db.settings import current_timezone
from ivr.db.testcall_models import TestCall
from ivr.followup import autocallback, survey
from ivr.followup.callback import AUTO_PREFIX, RING_SECONDS, CallbackTracker, place_callback
from ivr.followup.callback_guard import POOL_PREFIX
from ivr.followup.cases import add_event, load_case
from ivr.followup.queued import Queued

log = logging.getLogger(__name__)
STALE = timedelta(minutes=2)
BATCH = 20


async def claim(db: Db, node: str, now: datetime, limit: int = BATCH,
                model: type[CallbackJob] | type[Survey] | type[TestCall] = CallbackJob
                ) -> list[int]:
    """Claim up to ``limit`` due attempts (or surveys, or test calls: ``ivr.testcalls``) for
    ``node``; their ids (each claimed by one node)."""
    async with db() as session, session.begin():
        due = select(model.id).where(model.state == "pending", model.due_at <= now) \
            .order_by(model.due_at, model.id).limit(limit)
        if session.get_bind().dialect.name == "postgresql":
            ids = list(await session.scalars(due.with_for_update(skip_locked=True)))
            if ids:
                await session.execute(update(model).where(model.id.in_(ids)).values(
                    state="claimed", node=node, claimed_at=now))
            return ids
        candidates = list(await session.scalars(due))
    claimed: list[int] = []
    for job_id in candidates:  # SQLite: one guarded UPDATE each
        async with db() as session, session.begin():
            won = await session.execute(update(model).where(
                model.id == job_id, model.state == "pending").values(
                state="claimed", node=node, claimed_at=now))
            if won.rowcount == 1:  # type: ignore[attr-defined]
                claimed.append(job_id)
    return claimed


async def recover(db: Db, now: datetime) -> int:
    """Attempts claimed long ago and never marked dialled (the node stopped in between); a
    survey is marked dialled in the claim's node before its Originate: a claimed one was not."""
    async with db() as session, session.begin():
        await session.execute(update(Survey).where(
            Survey.state == "claimed", Survey.claimed_at < now - STALE).values(
            state="pending", node="", claimed_at=None))
    async with db() as session:
        stale = list(await session.scalars(select(CallbackJob.id).where(
            CallbackJob.state == "claimed", CallbackJob.claimed_at < now - STALE)))
    for job_id in stale:
        async with db() as session, session.begin():
            cb_id = await session.scalar(select(Callback.id).where(
                Callback.placed_by == f"{AUTO_PREFIX}{job_id}"))
            values = {"state": "dialled", "callback_id": cb_id} if cb_id is not None else \
                {"state": "pending", "node": "", "claimed_at": None}
            await session.execute(update(CallbackJob).where(
                CallbackJob.id == job_id, CallbackJob.state == "claimed").values(**values))
    return len(stale)


async def first_phone(db: Db, policy: Policy, official_id: int | None) -> str | None:
    """The phone (or ``pool:<name>``) the policy rings first for this official's case."""
    if policy.pool is not None:
        return f"{POOL_PREFIX}{policy.pool}"
    async with db() as session:
        official = await session.get(Official, official_id) if official_id else None
        if official is not None and policy.first == "deputy":
            official = await session.get(Official, official.deputy_id) \
                if official.deputy_id else None
        if official is None:
            return None
        return await session.scalar(select(Device.endpoint).where(
            Device.official_id == official.id, Device.kind == "sip")
            .order_by(Device.priority).limit(1))


async def _back_to_pending(db: Db, job_id: int, due: datetime, action: str, note: str) -> None:
    async with db() as session, session.begin():
        job = await session.get(CallbackJob, job_id)
        assert job is not None
        job.state, job.due_at, job.node, job.claimed_at = "pending", due, "", None
        case = await load_case(session, job.case_id)
        add_event(case, autocallback.ACTOR, action, None, f"attempt {job.attempt}", note=note)


async def _finish(db: Db, job_id: int, state: str, result: str, duty: str | None = None,
                  note: str = "") -> None:
    async with db() as session, session.begin():
        job = await session.get(CallbackJob, job_id)
        assert job is not None
        job.state, job.result = state, result[:24]
        if duty is not None:
            case = await load_case(session, job.case_id)
            if case.callback_duty == "open":
                old, case.callback_duty = case.callback_duty, duty
                add_event(case, autocallback.ACTOR, "callback_duty", old, duty, note=note)


class Scheduler:
    """Runs the steps above every ``tick_seconds`` (``[autocallback] enabled``), and the same
    for the satisfaction surveys (``[survey] enabled``: ``ivr.followup.survey``)."""

    def __init__(self, db: Db, ami: AmiClient | None, config: Config) -> None:
        self.db, self.ami, self.config = db, ami, config
        self.settings = config.autocallback
        self.hours = parse_hours(self.settings.hours)
        self.node = config.node.name
        # a callback that never reported its end (Asterisk restarted): given up on after this
        self.lost_after = float(RING_SECONDS + self.settings.citizen_ring_seconds
                                + config.outbound.callback_max_seconds + 300)
        # survey calls' CEL events (ivr.calls record listeners) → their survey
        self.survey_tracker = CallbackTracker(db, SURVEY_PREFIX, survey.CEL_NAMES,
                                              survey.on_record)
        self.queued: Queued | None = None  # the queued callbacks' listener (closed with us)
        self._task: asyncio.Task[None] | None = None

    async def once(self, now: datetime | None = None) -> dict[str, int]:
        now = now or utcnow()
        done = {"enrolled": 0, "settled": 0, "dialled": 0, "surveyed": 0,
                "recovered": await recover(self.db, now)}
        tz = ZoneInfo(await current_timezone(self.db))
        if self.settings.enabled:
            done["enrolled"] = await autocallback.enroll(self.db, self.settings, now)
            done["settled"] = await autocallback.settle(self.db, self.settings, now,
                                                        self.lost_after)
            for job_id in await claim(self.db, self.node, now):
                if await self._attempt(job_id, now, tz):
                    done["dialled"] += 1
        if self.config.survey.enabled:
            await survey.enroll(self.db, self.config.survey, self.config.outbound, now)
            await survey.settle(self.db, self.config.survey, now)
            for survey_id in await claim(self.db, self.node, now, model=Survey):
                if await survey.dial(self.db, self.ami, self.config, survey_id, now, tz):
                    done["surveyed"] += 1
        return done

    async def _attempt(self, job_id: int, now: datetime, tz: ZoneInfo) -> bool:
        async with self.db() as session:
            job = await session.get(CallbackJob, job_id)
            case = await session.get(Case, job.case_id) if job is not None else None
        if job is None or case is None:
            return False
        if case.callback_duty != "open" or case.status == "resolved":
            await _finish(self.db, job_id, "cancelled", "CLOSED")
            return False
        allowed = next_allowed(now, self.hours, tz)
        if allowed > now:
            await _back_to_pending(self.db, job_id, allowed, "deferred",
                                   f"outside the callback hours {self.settings.hours}: due "
                                   f"{allowed.astimezone(tz).isoformat(timespec='minutes')}")
            return False
        policy = await autocallback.policy_of(self.db, self.settings, case.official_id)
        phone = await first_phone(self.db, policy, case.official_id)
        if phone is None:
            await _finish(self.db, job_id, "done", "NO_PHONE", "refused",
                          f"no phone to ring first ({policy.first})")
            return False
        try:
            cb = await place_callback(self.db, self.ami, case.id, phone,
                                      f"{AUTO_PREFIX}{job_id}", outbound=self.config.outbound,
                                      node=self.node,
                                      ring_seconds=self.settings.citizen_ring_seconds)
        except CallbackFailed:  # the callback row is written (failed): settle judges it
            cb_id = await self._callback_of(job_id)
            await self._dialled(job_id, cb_id)
            return True
        except (TooManyCallbacks, TooManyOriginated) as exc:
            due = now + timedelta(seconds=max(policy.spacing_seconds, 60.0))
            await _back_to_pending(self.db, job_id, due, "deferred", f"{exc.error_id}: "
                                   f"{exc.message}")
            return False
        except IvrError as exc:
            await _finish(self.db, job_id, "done", exc.error_id, "refused",
                          f"the callback guard refused: {exc.error_id}")
            return False
        await self._dialled(job_id, cb.id)
        log.info("automatic callback attempt %s of case %s placed by %s via %s", job_id,
                 case.id, self.node, phone)
        return True

    async def _callback_of(self, job_id: int) -> int | None:
        async with self.db() as session:
            return await session.scalar(select(Callback.id).where(
                Callback.placed_by == f"{AUTO_PREFIX}{job_id}"))

    async def _dialled(self, job_id: int, cb_id: int | None) -> None:
        async with self.db() as session, session.begin():
            await session.execute(update(CallbackJob).where(CallbackJob.id == job_id).values(
                state="dialled" if cb_id is not None else "done", callback_id=cb_id))

    def start(self) -> None:
        if self.settings.enabled or self.config.survey.enabled:
            self.survey_tracker.start()
            self._task = asyncio.create_task(self._run(), name="callback-scheduler")

    async def _run(self) -> None:
        while True:
            try:
                await self.once()
            except Exception:
                log.exception("automatic callback tick failed")
            await asyncio.sleep(self.settings.tick_seconds)

    async def close(self) -> None:
        await self.survey_tracker.close()
        if self.queued is not None:
            await self.queued.close()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
