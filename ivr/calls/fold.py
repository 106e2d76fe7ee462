"""Fold the CEL events of one call (one linkedid) into a call record: a pure function.

Definitions (issue: call records): *answered* — someone's device answered (step kind says
whose: the official's own device for ``direct``); *voicemail* — a message was recorded;
*abandoned* — the caller hung up before anyone answered and left no message; *busy* /
*no-answer* — the route ran to its end (a message was played) after the official's phone was
busy / did not answer; *refused* — not a published number.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ivr.calls.callerid import caller_id
from ivr.calls.events import CelRecord
from ivr.core.numbers import sanitize_caller_id

ANSWERABLE = {"direct", "deputy", "pool"}
_MOBILE = re.compile(r"PJSIP/(\+?[0-9]{3,20})@carrier")


def answerer(channel: str, target: str) -> str:
    """``PJSIP/o-zhang-0000001a`` → ``o-zhang``; a mobile through the carrier → its number."""
    name = channel.split("/", 1)[-1].rsplit("-", 1)[0][:80]
    if name == "carrier":
        mobiles = _MOBILE.findall(target)
        if len(mobiles) == 1:
            return str(mobiles[0])
    return name


@dataclass
class StepView:
    seq: int
    kind: str
    target: str = ""
    result: str | None = None
    answered_by: str | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None


@dataclass
class CallView:
    linkedid: str
    number_dialed: str = ""
    caller: str = ""
    caller_raw: str = ""  # the caller ID as received, escaped (ivr/calls/callerid.py)
    caller_altered: bool = False
    official_id: int | None = None
    route_source: str = ""
    mode: str = ""
    outcome: str | None = None
    answered_by: str | None = None
    answered_kind: str | None = None
    started_at: datetime | None = None
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    voicemail_file: str | None = None
    steps: dict[int, StepView] = field(default_factory=dict)
    complete: bool = False
    call_id: int | None = None  # set once the record is written


def _ts(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


def _int(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


def _step(call: CallView, n: str) -> StepView | None:
    seq = _int(n)
    return None if seq is None else call.steps.get(seq)  # step 0 (the menu) is a step too


def fold(linkedid: str, events: Iterable[CelRecord], voicemail_secs: float | None = None) -> CallView:
    """``voicemail_secs``: the duration of the recorded file, if one exists (measured by I/O)."""
    call = CallView(linkedid)
    refused = False
    for ev in sorted(events, key=lambda e: e.eventtime):
        f = ev.fields
        when = _ts(ev.eventtime)
        if call.started_at is None:
            call.started_at = when
        name = ev.name
        if name == "IVR_CALL":
            call.number_dialed = sanitize_caller_id(f.get("dialed", ""))[:40]
            cid = caller_id(dict(f), fallback=sanitize_caller_id(ev.cid_num))
            call.caller, call.caller_raw, call.caller_altered = cid.caller, cid.raw, cid.altered
            call.started_at = min(call.started_at, when)
        elif name == "IVR_ROUTE":
            oid = _int(f.get("official", ""))
            call.official_id = oid if oid else None
            call.route_source = f.get("src", "")[:16]
            call.mode = f.get("mode", "")[:16]
        elif name == "IVR_STEP":
            seq = _int(f.get("n", ""))
            if seq is not None:
                call.steps[seq] = StepView(seq, f.get("kind", "")[:16], f.get("target", "")[:255],
                                           started_at=when)
        elif ev.eventtype == "ANSWER" and ev.uniqueid != linkedid:
            # a callee answered: the step running then is the one it answered
            running = [s for s in call.steps.values() if s.started_at and s.started_at <= when]
            step = max(running, key=lambda s: s.seq, default=None)
            if step is not None and step.kind in ANSWERABLE:
                by = answerer(ev.channel, step.target)
                step.answered_by = step.answered_by or by
                if call.answered_at is None:
                    call.answered_at, call.answered_by, call.answered_kind = when, by, step.kind
        elif name == "IVR_STEP_END":
            step = _step(call, f.get("n", ""))
            if step is not None:
                step.result, step.ended_at = f.get("result", "")[:24] or None, when
        elif name == "IVR_VOICEMAIL":
            call.voicemail_file = f.get("file", "")[:255] or None
            for step in call.steps.values():
                if step.kind == "voicemail" and step.result in (None, "CANCEL"):
                    # hanging up after speaking is how most messages end
                    step.result, step.ended_at = "RECORDED", step.ended_at or when
        elif name == "IVR_REFUSED":
            refused = True
            call.number_dialed = call.number_dialed or sanitize_caller_id(f.get("dialed", ""))
        elif ev.eventtype == "HANGUP" and ev.uniqueid == linkedid:
            call.ended_at = when
            for step in call.steps.values():
                if step.ended_at is None:  # the step was cut short by the hangup
                    step.ended_at = when
                    step.result = step.result or (
                        "ANSWER" if step.answered_by else (f.get("dialstatus") or "CANCEL"))
        elif ev.eventtype == "LINKEDID_END":
            call.complete = True
            call.ended_at = call.ended_at or when
    if call.complete or call.ended_at is not None:
        call.outcome = _outcome(call, refused, voicemail_secs)
    return call


def _outcome(call: CallView, refused: bool, voicemail_secs: float | None) -> str:
    if refused:
        return "refused"
    if call.answered_at is not None:
        return "answered"
    if call.voicemail_file and (voicemail_secs or 0) > 0.5:
        return "voicemail"
    steps = [call.steps[k] for k in sorted(call.steps)]
    if not steps or not any(s.kind == "message" and s.result == "PLAYED" for s in steps):
        return "abandoned"  # the caller left before anyone answered or the route ended
    for s in steps:
        if s.kind in ("direct", "deputy"):
            return "busy" if s.result == "BUSY" else "no-answer"
    return "no-answer"
