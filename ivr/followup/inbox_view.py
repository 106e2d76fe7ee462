"""What the inbox shows beside a case's text: its kind, the call's time, every callback attempt
with its result, the owner, the case's history in words, and repeat callers grouped — values
through the catalogue, times in the city's timezone (``ivr.http.localtime``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from ivr.db.followup_models import Case
from ivr.db.models import Call
from ivr.followup import notes_view
from ivr.http.localtime import aware

# a click-to-call-back whose outcome never arrived (AMI lost, node restarted): shown as such
STUCK_AFTER = timedelta(minutes=5)

TEXTS: dict[str, tuple[str, str]] = {
    "cases.kind": ("类型", "Kind"),
    "cases.kind.missed": ("未接来电", "missed call"),
    "cases.kind.voicemail": ("留言", "voicemail"),
    "cases.kind.call": ("话务员登记", "opened by an operator"),
    "cases.call_at": ("来电时间", "Call time"),
    "cases.owner": ("负责人", "Owner"),
    "cases.official": ("领导", "Official"),
    "cases.all": ("全部", "all"),
    "cases.filter": ("筛选", "Filter"),
    "cases.repeat": ("同一号码来电", "same caller"),
    "cases.cases_n": ("件", "cases"),
    "cases.attempts": ("回拨记录", "Callback attempts"),
    "cases.no_transcript": ("尚未转写（转写排队中或未完成）",
                            "Not transcribed yet (queued or unfinished)"),
    "cases.unassigned": ("未分配", "unassigned"),
    "cases.state.new": ("新建", "new"),
    "cases.state.assigned": ("已分派", "assigned"),
    "cases.state.called_back": ("已回拨", "called back"),
    "cases.state.resolved": ("已办结", "resolved"),
    "cases.urgency.high": ("紧急", "urgent"),
    "cb.state.originating": ("正在呼叫", "calling"),
    "cb.state.ringing": ("正在振铃", "ringing"),
    "cb.state.answered": ("通话中", "in call"),
    "cb.state.ended": ("已结束", "ended"),
    "cb.state.failed": ("未能发起", "failed"),
    "cb.state.stuck": ("无结果（未收到通话结果）", "no result (the outcome never arrived)"),
    "cb.result.ANSWER": ("市民已接听", "citizen answered"),
    "cb.result.NOANSWER": ("市民未接", "no answer"),
    "cb.result.BUSY": ("占线", "busy"),
    "cb.result.CONGESTION": ("线路忙", "congestion"),
    "cb.result.CHANUNAVAIL": ("号码无法接通", "unreachable"),
    "cb.result.CANCEL": ("已取消", "cancelled"),
    "cb.result.PHONE_NOANSWER": ("本人电话未接", "own phone not answered"),
    "cb.result.AMI": ("系统未能发起呼叫", "could not be placed"),
    "cb.result.other": ("其他结果", "other result"),
    "ev.status": ("状态", "status"),
    "ev.assign": ("分派", "assigned"),
    "ev.created": ("创建", "created"),
    "ev.escalated": ("升级", "escalated"),
    "ev.callback": ("回拨", "callback"),
    "ev.transcript": ("更正转写", "transcript corrected"),
    "ev.other": ("处理", "action"),
    "ev.autocallback": ("自动回拨", "automatic callback"),
    "ev.autocallback_attempt": ("自动回拨尝试", "automatic callback attempt"),
    "ev.callback_duty": ("回拨责任", "callback duty"),
    "ev.unreachable": ("无法接通", "unreachable"),
    "ev.disposition": ("处理结果", "disposition"),
    "ev.deadlines": ("期限调整", "deadlines"),
    "ev.callback_failed": ("回拨失败", "callback failed"),
    "ev.transcription_failed": ("转写失败", "transcription failed"),
    "ev.callback_approved": ("批准回拨", "callback approved"),
    "duty.open": ("进行中", "under way"),
    "duty.closed": ("已联系上", "reached"),
    "duty.unreachable": ("无法接通", "unreachable"),
    "duty.scheduled": ("已安排", "scheduled"),
    "duty.off": ("不自动回拨", "off"),
    "actor.system": ("系统", "system"),
}
_STATES = ("originating", "ringing", "answered", "ended", "failed")


@dataclass(frozen=True, slots=True)
class Attempt:
    at: str  # local time
    state: str  # message key
    result: str  # message key ("" when none)
    endpoint: str  # the phone rung first (an id: shown as code)


@dataclass(frozen=True, slots=True)
class Event:
    at: str
    actor: str  # an id or "" (the system)
    action: str  # message key
    value: str  # a label, or an id/number (value_code)
    value_code: bool
    note: str  # a person's words, or a machine note (note_code)
    note_code: bool


def attempts(c: Case, now: datetime, when: Callable[[datetime | None], str]) -> list[Attempt]:
    out = []
    for cb in c.callbacks:
        state = cb.state if cb.state in _STATES else "ended"
        if state in ("originating", "ringing") and aware(cb.created_at) < aware(now) - STUCK_AFTER:
            state = "stuck"
        result = ""
        if cb.result:
            result = f"cb.result.{cb.result}" if f"cb.result.{cb.result}" in TEXTS \
                else "cb.result.other"
        out.append(Attempt(when(cb.created_at), f"cb.state.{state}", result, cb.endpoint))
    return out


def events(c: Case, when: Callable[[datetime | None], str], t: Callable[[str], str],
           names: Mapping[str, str] | None = None,
           zoned: Callable[[datetime | None], str] | None = None) -> list[Event]:
    """The case's history in words (``names``: officials' slugs → names); times by ``when``
    (the deadlines in machine notes by ``zoned``: with the zone)."""
    names = names or {}

    def known(raw: str) -> str | None:
        for key in (f"cases.state.{raw}", f"cb.result.{raw}", f"duty.{raw}", f"cases.kind.{raw}",
                    f"note.deadline.{raw}"):
            if key in TEXTS or key in notes_view.TEXTS:
                return t(key)
        return None

    at = zoned or when
    out = []
    for e in c.events:
        action = f"ev.{e.action}" if f"ev.{e.action}" in TEXTS or f"ev.{e.action}" in \
            notes_view.TEXTS else "ev.other"
        value, code = notes_view.value_text(e.new_value or "", t, names, known)
        note = e.note or ""
        if e.action == "created" and f"cases.kind.{note}" in TEXTS:
            note, shown = t(f"cases.kind.{note}"), True
        else:
            note, shown = notes_view.note_text(note, t, at, names)
        actor = "" if e.actor in ("system", "") else e.actor
        out.append(Event(when(e.at), actor, action, value, code, note if shown else "", False))
    return out


async def call_times(session: AsyncSession, items: Sequence[Case]) -> dict[int, datetime]:
    """case id → the call's arrival (by call_id, or the linkedid of a case opened from a call)."""
    ids = {c.call_id for c in items if c.call_id}
    linked = {c.linkedid for c in items if c.linkedid}
    if not ids and not linked:
        return {}
    rows = (await session.execute(select(Call.id, Call.linkedid, Call.started_at).where(or_(
        Call.id.in_(ids), Call.linkedid.in_(linked))))).all()
    by_id = {r.id: r.started_at for r in rows}
    by_linked = {r.linkedid: r.started_at for r in rows}
    out = {}
    for c in items:
        at = by_id.get(c.call_id or -1) or by_linked.get(c.linkedid or "")
        if at is not None:
            out[c.id] = at
    return out


def grouped(items: Sequence[Case]) -> list[Case]:
    """Cases of the same caller together (groups in the order of their newest case)."""
    order: dict[str, list[Case]] = {}
    for c in items:
        order.setdefault(c.caller or f"#{c.id}", []).append(c)
    return [c for group in order.values() for c in group]


def repeat_counts(items: Sequence[Case]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for c in items:
        if c.caller:
            counts[c.caller] = counts.get(c.caller, 0) + 1
    return counts
