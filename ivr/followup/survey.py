"""Satisfaction follow-up calls, 回访 (issue 10, docs/followup.md).

- :func:`enroll`: an answered citizen call (``[survey] after``: all, a deterministic sample, or
  the pooled ones) and a resolved case (``after_resolved``) get one survey each, due
  ``delay_seconds`` later — never for test calls, callbacks, altered caller IDs, numbers that
  opted out or numbers outside the national dialling plan (the callback guard's
  ``check_number``). One survey per call and per case (unique), so at most one rating each.
- :func:`dial`: called by the scheduler for a survey it claimed (``ivr.followup.scheduler``:
  one node, once per attempt); outside ``hours`` it waits for the next opening. AMI Originate
  of ``Local/<number>@ivr-survey-out`` (the dialplan dials the carrier presenting the published
  number; once answered, ``ivr-survey`` asks and reads one RFC 2833 key).
- :func:`on_record`: CEL ``IVR_SURVEY_ANSWERED``, ``IVR_SURVEY_KEY key=<1|2|3|9|>``,
  ``IVR_SURVEY_END result=<DIALSTATUS>``: a rating (1 satisfied, 2 fairly, 3 not), or 9 → the
  number opts out for good (its other pending surveys are cancelled), or no key / no answer →
  ``ended``, retried by :func:`settle` within ``attempts``.
- The call itself is recorded from the journal like every call (kind ``survey``, linkedid
  ``ivrsv-…``: ``ivr.calls.fold``).
"""

from __future__ import annotations

import logging
import secrets
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from ivr.asterisk.ami import AmiClient, AmiDisconnected, AmiError
from ivr.calls.events import CelRecord
from ivr.calls.fold import SURVEY_PREFIX
from ivr.core.autocallback import next_allowed, parse_hours
from ivr.core.config import Config
from ivr.core.config_followup import SurveyConfig
from ivr.core.errors import IvrError
from ivr.core.outbound import OutboundConfig
from ivr.core.timeutil import utcnow
from ivr.db.followup_models import Case, Survey, SurveyOptOut
from ivr.db.models import Call, Operator, Pool
from ivr.db.session import Db
from ivr.followup import callback_guard as guard
from ivr.followup.cases import callback_number

log = logging.getLogger(__name__)
CEL_NAMES = frozenset({"IVR_SURVEY_ANSWERED", "IVR_SURVEY_KEY", "IVR_SURVEY_END", "HANGUP"})
RATINGS = {"1": 1, "2": 2, "3": 3}
OPT_OUT = "9"


def sampled(call_id: int, percent: float) -> bool:
    """The same answer on every controller: a hash of the call's id, not a random draw."""
    return (call_id * 2654435761) % 10000 < percent * 100


def _clean(number: str) -> str:
    return "".join(c for c in number if c.isascii() and (c.isdigit() or c == "+"))


async def _add(db: Db, survey: Survey) -> bool:
    try:
        async with db() as session, session.begin():
            session.add(survey)
    except IntegrityError:  # another controller enrolled it first
        return False
    return True


async def _target(db: Db, caller: str, outbound: OutboundConfig) -> tuple[str, str | None]:
    """(the number to dial, or "", the reason it is not surveyed)."""
    raw = callback_number(caller) or ""
    if not raw:
        return "", "NO_NUMBER"
    try:
        number = guard.check_number(raw, outbound)
    except IvrError:
        return "", "NUMBER_REFUSED"
    async with db() as session:
        if await session.get(SurveyOptOut, number) is not None:
            return number, "OPTED_OUT"
    return number, None


async def enroll(db: Db, config: SurveyConfig, outbound: OutboundConfig,
                 now: datetime | None = None) -> int:
    """Surveys for the answered calls and resolved cases not seen yet; how many are due."""
    now = now or utcnow()
    since, due = now - timedelta(hours=config.max_age_hours), timedelta(
        seconds=config.delay_seconds)
    async with db() as session:
        calls = (await session.execute(
            select(Call.id, Call.caller, Call.caller_altered, Call.number_dialed, Call.official_id,
                   Call.answered_kind, Call.answered_by, Call.ended_at)
            .outerjoin(Survey, Survey.call_id == Call.id)
            .where(Survey.id.is_(None), Call.kind == "citizen", Call.outcome == "answered",
                   Call.ended_at >= since).order_by(Call.id))).all()
        cases = (await session.execute(
            select(Case.id, Case.caller, Case.number_dialed, Case.official_id, Case.updated_at)
            .outerjoin(Survey, Survey.case_id == Case.id)
            .where(Survey.id.is_(None), Case.status == "resolved", Case.updated_at >= since)
            .order_by(Case.id))).all() if config.after_resolved else []
    made = 0
    for c in calls:
        if config.after == "pooled" and c.answered_kind != "pool":
            continue
        if config.after == "sample" and not sampled(c.id, config.sample_percent):
            continue
        number, skip = await _target(db, c.caller, outbound)
        skip = "ALTERED" if c.caller_altered else skip
        pool = None
        if c.answered_kind == "pool" and c.answered_by:
            async with db() as session:
                pool = await session.scalar(select(Pool.name).join(Operator).where(
                    Operator.endpoint == c.answered_by))
        made += await _add(db, Survey(
            call_id=c.id, number=number or _clean(c.caller)[:24], present=_clean(c.number_dialed),
            official_id=c.official_id, pool=pool, due_at=(c.ended_at or now) + due,
            state="cancelled" if skip else "pending", result=skip)) and not skip
    for k in cases:
        number, skip = await _target(db, k.caller, outbound)
        async with db() as session:
            case = await session.get(Case, k.id, populate_existing=True)
            try:
                assert case is not None
                await guard.check_caller(session, case)
                present = await guard.presented_number(session, case)
            except IvrError as exc:
                skip, present = skip or exc.error_id[:24], ""
        made += await _add(db, Survey(
            case_id=k.id, number=number or _clean(k.caller)[:24], present=present,
            official_id=k.official_id, due_at=k.updated_at + due,
            state="cancelled" if skip else "pending", result=skip)) and not skip
    return made


async def dial(db: Db, ami: AmiClient | None, config: Config, survey_id: int, now: datetime,
               tz: ZoneInfo) -> bool:
    """Place the claimed survey's attempt (or defer it to the survey hours); True if dialled."""
    async with db() as session, session.begin():
        s = await session.get(Survey, survey_id)
        if s is None or s.state != "claimed":
            return False
        if await session.get(SurveyOptOut, s.number) is not None:
            s.state, s.result = "cancelled", "OPTED_OUT"
            return False
        allowed = next_allowed(now, parse_hours(config.survey.hours), tz)
        if allowed > now:
            s.state, s.due_at, s.node, s.claimed_at = "pending", allowed, "", None
            return False
        s.state = "dialled"
        s.linkedid = f"{SURVEY_PREFIX}{s.id}-{secrets.token_hex(6)}"
        s.answered_at = s.ended_at = None
        linkedid, number, present = s.linkedid, s.number, s.present
    ring = config.survey.ring_seconds
    try:
        if ami is None:
            raise AmiDisconnected("no AMI connection")
        await ami.action("Originate", Channel=f"Local/{number}@ivr-survey-out", Context="ivr-survey",
                         Exten="s", Priority="1", ChannelId=linkedid,
                         CallerID=f'"{present}" <{present}>', Timeout=str((ring + 5) * 1000),
                         Variable=f"IVR_SURVEY={survey_id},IVR_PRESENT={present},"
                                  f"IVR_NUMBER={number},IVR_RING={ring},"
                                  f"IVR_LANG={config.routing.default_language}", Async="true")
    except (TimeoutError, AmiDisconnected, AmiError) as exc:
        await _end(db, linkedid, "AMI", now)
        log.warning("survey %s not placed: %s", survey_id, exc)
        return False
    log.info("survey %s attempt placed to %s", survey_id, number)
    return True


async def _end(db: Db, linkedid: str, result: str, when: datetime) -> None:
    async with db() as session, session.begin():
        await session.execute(update(Survey).where(
            Survey.linkedid == linkedid, Survey.state == "dialled").values(
            state="ended", result=result[:24], ended_at=when))


async def on_record(db: Db, rec: CelRecord) -> None:
    """Apply one CEL event of a survey call (idempotent: guarded on the survey's state)."""
    if not rec.linkedid.startswith(SURVEY_PREFIX) or rec.name not in CEL_NAMES:
        return
    when = datetime.fromtimestamp(rec.eventtime, UTC)
    if rec.name == "IVR_SURVEY_ANSWERED":
        async with db() as session, session.begin():
            await session.execute(update(Survey).where(
                Survey.linkedid == rec.linkedid, Survey.answered_at.is_(None)).values(
                answered_at=when))
    elif rec.name == "IVR_SURVEY_KEY":
        key = rec.fields.get("key", "")
        if key in RATINGS:
            async with db() as session, session.begin():
                await session.execute(update(Survey).where(
                    Survey.linkedid == rec.linkedid, Survey.state == "dialled",
                    Survey.rating.is_(None)).values(state="done", rating=RATINGS[key],
                                                    result=f"RATED_{key}", ended_at=when))
        elif key == OPT_OUT:
            await _opt_out(db, rec.linkedid, when)
        else:
            await _end(db, rec.linkedid, "NOKEY", when)
    elif rec.name == "IVR_SURVEY_END":
        await _end(db, rec.linkedid, rec.fields.get("result", "") or "NOANSWER", when)
    elif rec.uniqueid == rec.linkedid:  # the survey channel ended before any of the above
        await _end(db, rec.linkedid, "NOANSWER", when)


async def _opt_out(db: Db, linkedid: str, when: datetime) -> None:
    async with db() as session, session.begin():
        s = await session.scalar(select(Survey).where(Survey.linkedid == linkedid))
        if s is None or s.state != "dialled":
            return
        s.state, s.result, s.ended_at = "done", "OPTED_OUT", when
        if await session.get(SurveyOptOut, s.number) is None:
            session.add(SurveyOptOut(number=s.number, at=when, linkedid=linkedid))
        await session.execute(update(Survey).where(
            Survey.number == s.number, Survey.state == "pending").values(
            state="cancelled", result="OPTED_OUT"))


async def settle(db: Db, config: SurveyConfig, now: datetime | None = None) -> int:
    """Surveys that ended without a key: the next attempt, or ``failed`` after the last."""
    now = now or utcnow()
    lost = now - timedelta(seconds=config.ring_seconds + 600)  # its events never came
    async with db() as session, session.begin():
        await session.execute(update(Survey).where(
            Survey.state == "dialled", Survey.claimed_at < lost).values(
            state="ended", result="LOST", ended_at=now))
    async with db() as session:
        ended = list(await session.execute(select(Survey.id, Survey.attempt).where(
            Survey.state == "ended")))
    for survey_id, attempt in ended:
        values = {"state": "failed"} if attempt >= config.attempts else {
            "state": "pending", "attempt": attempt + 1, "node": "", "claimed_at": None,
            "due_at": now + timedelta(seconds=config.spacing_seconds)}
        async with db() as session, session.begin():
            await session.execute(update(Survey).where(
                Survey.id == survey_id, Survey.state == "ended").values(**values))
    return len(ended)
