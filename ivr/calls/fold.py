"""Fold the CEL events of one call (one linkedid) into a call record: a pure function.

The outcome model (docs/architecture.md, "Call outcomes"): *answered* — someone's device
answered (``answered_role`` official / deputy / operator, ``answered_by`` the device);
*voicemail* — a message of at least :data:`MIN_MESSAGE_SECONDS` was recorded; *missed* — the
route reached its final step (the closing message or the voicemail greeting had started, whether
the caller heard it out or not) and nobody answered; *abandoned* — the caller hung up before
that (while ringing, queued, in the menu or before the first step), ``waited_secs`` after
arriving; *refused* — not a published number. *interrupted* — the PBX failed during the call:
given by the recorder (``interrupted_at``) to a call its Asterisk left open before a restart;
otherwise a call only gets an outcome once Asterisk reports its hang-up.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ivr.calls.callerid import caller_id
from ivr.calls.events import CelRecord
from ivr.core.constants import MIN_MESSAGE_SECONDS
from ivr.core.numbers import sanitize_caller_id

ANSWERABLE = {"direct", "deputy", "pool"}
FINAL_KINDS = {"message", "voicemail"}  # reaching one of these is reaching the route's end
ROLES = {"direct": "official", "deputy": "deputy", "pool": "operator"}
WAITING = {"direct": "ringing", "deputy": "ringing", "pool": "queued", "menu": "menu"}
CALLBACK_PREFIX = "ivrcb-"  # linkedid of a callback's legs (ivr/followup/callback.py)
# a mobile in a step's target: PJSIP/<number>@carrier, or its Local leg Local/[cp]m<number>@ivr-leg
_MOBILE = re.compile(r"(?:PJSIP/|Local/[cp]m)(\+?[0-9]{3,20})@(?:carrier|ivr-leg)")
# a Local leg's channel (ivr/core/policy.py dial_string): Local/<c|p><s|m><device>@ivr-leg-<n>;<1|2>
_LOCAL_LEG = re.compile(r"Local/[cp][sm]([^@]{1,80})@ivr-leg-[0-9a-f]+;[12]")
CONFIRMED, UNCONFIRMED, DECLINED = "CONFIRMED", "UNCONFIRMED", "DECLINED"  # a confirming leg's result
SURVEY_PREFIX = "ivrsv-"  # linkedid of a satisfaction survey call (ivr/followup/survey.py)
QUEUED_PREFIX = "ivrqc-"  # linkedid of a queued callback's legs (ivr/followup/queued.py)
# linkedid of a scheduled test call (ivr/testcalls): a Local channel into the citizens' entry,
# so it runs the citizens' route; its marker is this prefix in the journal, nothing else
TEST_PREFIX = "ivrtc-"
ORIGINATED = {CALLBACK_PREFIX: "callback", SURVEY_PREFIX: "survey",
              QUEUED_PREFIX: "queued-callback", TEST_PREFIX: "test"}  # recorded by prefix


def kind_of(linkedid: str) -> str:
    """The call's kind from its linkedid: what the controller originated, else a citizen's."""
    return next((k for p, k in ORIGINATED.items() if linkedid.startswith(p)), "citizen")


def answerer(channel: str, target: str) -> str:
    """``PJSIP/o-zhang-0000001a`` → ``o-zhang``; a mobile through the carrier → its number
    (``carrier`` when the step rang several); a Local leg → its device."""
    leg = _LOCAL_LEG.fullmatch(channel)
    if leg:
        return leg.group(1)
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
    cut: bool = False  # ended by the caller's hang-up, not by its own end
    # confirming legs (device → CONFIRMED / UNCONFIRMED / DECLINED; "" while the callee is asked)
    legs: dict[str, str] = field(default_factory=dict)


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
    kind: str = "citizen"  # citizen | callback | survey | test | queued-callback
    outcome: str | None = None
    answered_by: str | None = None
    answered_kind: str | None = None
    answered_role: str | None = None  # official | deputy | operator
    confirmed: bool | None = None  # True: the answering leg confirmed (pressed 1); None: not asked
    waited_secs: float | None = None  # arrival → answer, or → the caller's hang-up (abandoned)
    abandoned_during: str | None = None  # ringing | queued | menu | routing
    started_at: datetime | None = None
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    voicemail_file: str | None = None
    voicemail_secs: float | None = None
    steps: dict[int, StepView] = field(default_factory=dict)
    complete: bool = False
    call_id: int | None = None  # set once the record is written
    queued: str | None = None  # the caller pressed 1 in the queue: "<queue>^<position>"


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


def fold(linkedid: str, events: Iterable[CelRecord], voicemail_secs: float | None = None,
         interrupted_at: datetime | None = None) -> CallView:
    """``voicemail_secs``: the duration of the recorded file, if one exists (measured by I/O).
    ``interrupted_at``: the call was left open by a previous boot of its Asterisk (it will never
    report the hang-up): unless its events say it ended, it is ``interrupted`` then, with what is
    known (steps so far, who answered); steps still running keep no result."""
    call = CallView(linkedid, kind=kind_of(linkedid))
    call.voicemail_secs = voicemail_secs
    refused = False
    events = sorted(events, key=lambda e: e.eventtime)
    # a confirming leg's device answers before its callee is asked: that is not an answer
    asked = {ev.uniqueid for ev in events if ev.name == "IVR_CONFIRM"}
    # the caller's own channel answering is not a callee answering: a citizen's channel is the
    # linkedid; a test call's is the far half of its Local channel, the one that ran the route
    callers = {linkedid} | {ev.uniqueid for ev in events if ev.name == "IVR_CALL"}
    for ev in events:
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
        elif ev.eventtype == "ANSWER" and ev.uniqueid not in callers and ev.uniqueid not in asked:
            # a callee answered: the step running then is the one it answered
            running = [s for s in call.steps.values() if s.started_at and s.started_at <= when]
            step = max(running, key=lambda s: s.seq, default=None)
            if step is not None and step.kind in ANSWERABLE:
                _answered(call, step, answerer(ev.channel, step.target), when)
        elif name in ("IVR_CONFIRM", "IVR_CONFIRM_END"):
            step = _step(call, f.get("n", ""))
            device = f.get("device", "")[:80]
            if step is not None and device:
                result = f.get("result", "")[:16] if name == "IVR_CONFIRM_END" else ""
                step.legs[device] = result or step.legs.get(device, "")
                if result == CONFIRMED and step.kind in ANSWERABLE:
                    _answered(call, step, device, when, confirmed=True)
        elif name == "IVR_STEP_END":
            step = _step(call, f.get("n", ""))
            if step is not None:
                step.result, step.ended_at = f.get("result", "")[:24] or None, when
                if step.result not in ("ANSWER", "CANCEL", None) and any(
                        r != CONFIRMED for r in step.legs.values()):
                    step.result = UNCONFIRMED  # answered, but by nobody who took the call
        elif name == "IVR_VOICEMAIL":
            call.voicemail_file = f.get("file", "")[:255] or None
            for step in call.steps.values():
                if step.kind == "voicemail" and step.result in (None, "CANCEL", "CUT"):
                    # hanging up after speaking is how most messages end
                    step.result, step.ended_at, step.cut = "RECORDED", step.ended_at or when, False
        elif name == "IVR_CALLBACK":  # a callback's phone answered: the citizen is dialled
            call.number_dialed = sanitize_caller_id(f.get("number", ""))[:40]
            call.steps[1] = StepView(1, "callback", call.number_dialed, started_at=when)
        elif name == "IVR_CALLBACK_ANSWERED":
            call.answered_at, call.answered_by, call.answered_kind = when, call.number_dialed, "callback"
            if 1 in call.steps:
                call.steps[1].answered_by = call.number_dialed
        elif name == "IVR_CALLBACK_END" and 1 in call.steps:
            call.steps[1].result, call.steps[1].ended_at = f.get("result", "")[:24] or None, when
        elif name == "IVR_SURVEY_ANSWERED":  # the citizen answered the survey call
            call.number_dialed = sanitize_caller_id(f.get("number", ""))[:40]
            call.answered_at, call.answered_by, call.answered_kind = when, call.number_dialed, "survey"
            call.steps[1] = StepView(1, "survey", call.number_dialed, started_at=when,
                                     answered_by=call.number_dialed)
        elif name == "IVR_SURVEY_KEY" and 1 in call.steps:  # the key pressed (NONE: none)
            call.steps[1].result, call.steps[1].ended_at = f.get("key", "")[:24] or "NONE", when
        elif name == "IVR_QCB_REQUEST":  # pressed 1 in the queue: "<queue>^<position>"
            call.queued = f"{f.get('queue', '')[:40]}^{_int(f.get('pos', '')) or 1}"
        elif name == "IVR_REFUSED":
            refused = True
            call.number_dialed = call.number_dialed or sanitize_caller_id(f.get("dialed", ""))
        elif ev.eventtype == "HANGUP" and ev.uniqueid == linkedid:
            call.ended_at = when
            for step in call.steps.values():
                if step.ended_at is None:  # the step was cut short by the hangup
                    step.ended_at, step.cut = when, True
                    # its own result, never the channel's last DIALSTATUS (another step's)
                    step.result = step.result or (
                        "ANSWER" if step.answered_by
                        else "CUT" if step.kind in ("message", "voicemail", "menu") else "CANCEL")
        elif ev.eventtype == "LINKEDID_END":
            call.complete = True
            call.ended_at = call.ended_at or when
    if call.complete or call.ended_at is not None:
        call.outcome = _outcome(call, refused, voicemail_secs)
    elif interrupted_at is not None:
        call.ended_at, call.outcome = interrupted_at, "interrupted"
        for step in call.steps.values():
            step.ended_at = step.ended_at or interrupted_at
        if call.answered_at is not None:
            call.waited_secs = _secs(call.started_at, call.answered_at)
    if call.outcome is not None:
        for step in call.steps.values():  # a callee asked when the call ended never confirmed
            step.legs = {d: r or UNCONFIRMED for d, r in step.legs.items()}
    return call


def _answered(call: CallView, step: StepView, by: str, when: datetime,
              confirmed: bool | None = None) -> None:
    """``by`` answered during ``step``; the first to answer is the call's answer. A mobile
    answered among several (``carrier``) is named by its Local leg's answer right after."""
    if step.answered_by in (None, "carrier"):
        step.answered_by = by
    if call.answered_at is None:
        call.answered_at, call.answered_by, call.answered_kind = when, by, step.kind
        call.answered_role, call.confirmed = ROLES[step.kind], confirmed
    elif call.answered_by == "carrier" and step.answered_by == by and call.answered_kind == step.kind:
        call.answered_by = by


def legs_text(legs: dict[str, str]) -> str | None:
    """``call_steps.legs``: ``<device>=<result>`` joined by ``,`` (None: no confirming leg)."""
    return ",".join(f"{d}={r}" for d, r in legs.items())[:255] or None


def legs_of(text: str | None) -> dict[str, str]:
    """The inverse of :func:`legs_text`."""
    return dict(part.split("=", 1) for part in (text or "").split(",") if "=" in part)


def _outcome(call: CallView, refused: bool, voicemail_secs: float | None) -> str:
    if refused:
        return "refused"
    if call.answered_at is not None:
        call.waited_secs = _secs(call.started_at, call.answered_at)
        return "answered"
    steps = [call.steps[k] for k in sorted(call.steps)]
    message = (voicemail_secs or 0) >= MIN_MESSAGE_SECONDS
    for s in steps:
        if s.kind == "voicemail" and s.result == "RECORDED" and not message:
            s.result = "EMPTY"  # the beep played, nothing worth a message was said
    if call.voicemail_file and message:
        return "voicemail"
    if call.kind == "survey":  # the citizen did not answer
        return "missed"
    if call.kind in ("callback", "queued-callback"):  # no step: the phone did not answer
        return "missed" if steps else "abandoned"
    if any(s.kind in FINAL_KINDS for s in steps):
        return "missed"  # every plan ends with one of these: the route reached its end
    call.waited_secs = _secs(call.started_at, call.ended_at)
    last = steps[-1] if steps else None
    call.abandoned_during = WAITING.get(last.kind, "routing") if last and last.cut else "routing"
    return "abandoned"


def _secs(start: datetime | None, end: datetime | None) -> float | None:
    return round((end - start).total_seconds(), 1) if start and end else None
