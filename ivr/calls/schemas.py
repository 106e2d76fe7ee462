"""Request and response shapes of the call-record routes."""

from __future__ import annotations

from pydantic import BaseModel, Field

from ivr.calls.fold import legs_of
from ivr.core.constants import CALL_KINDS, OUTCOMES
from ivr.core.ids import MAX_ID
from ivr.db.models import Call, CallStep
from ivr.http.inputs import QueryText, QueryTime
from ivr.http.schemas import Time, iso_time


class LegOut(BaseModel):
    device: str = Field(description="endpoint name or mobile number")
    result: str = Field(description="CONFIRMED (pressed 1: took the call), DECLINED (another "
                        "key) or UNCONFIRMED (no key: a carrier's voicemail or announcement)",
                        json_schema_extra={"enum": ["CONFIRMED", "DECLINED", "UNCONFIRMED"]})


class CallStepOut(BaseModel):
    seq: int
    kind: str
    target: str
    result: str | None = Field(description="the step's own result: a dial status (ANSWER, BUSY, "
                               "NOANSWER, CHANUNAVAIL, CONGESTION, CANCEL: the caller hung up); "
                               "the pool's QUEUESTATUS (TIMEOUT, JOINEMPTY, LEAVEEMPTY, …) or "
                               "ANSWER/CANCEL; message PLAYED or CUT; voicemail RECORDED, EMPTY "
                               "(under 1 s) or CUT; the menu's key, NONE or CUT; UNCONFIRMED: "
                               "a direct/deputy step where a confirming leg answered but "
                               "nobody took the call")
    answered_by: str | None
    legs: list[LegOut] = Field(description="the step's confirming legs that answered")
    started_at: Time
    ended_at: Time

    @classmethod
    def of(cls, s: CallStep) -> CallStepOut:
        return cls(seq=s.seq, kind=s.kind, target=s.target, result=s.result,
                   answered_by=s.answered_by,
                   legs=[LegOut(device=d, result=r) for d, r in legs_of(s.legs).items()],
                   started_at=iso_time(s.started_at), ended_at=iso_time(s.ended_at))


class CallOut(BaseModel):
    id: int
    linkedid: str
    number_dialed: str
    caller: str = Field(description="the caller ID's digits and a leading +, full-width digits "
                                    "folded")
    caller_raw: str = Field(description="the caller ID as received, escaped (\\r, \\n, \\xNN)")
    caller_altered: bool = Field(description="caller differs from the caller ID as received")
    official_id: int | None
    route_source: str = Field(description="agi, mirror or default")
    mode: str
    kind: str = Field(description="citizen, callback, survey, test or queued-callback")
    outcome: str | None = Field(description="null while the call is in progress; answered, "
                                "voicemail, missed, abandoned, refused or interrupted")
    answered_by: str | None = Field(description="the device that answered")
    answered_kind: str | None = Field(description="the step that answered: direct, deputy, pool")
    answered_role: str | None = Field(description="official, deputy or operator")
    confirmed: bool | None = Field(description="true: the answering device's callee pressed 1 "
                                   "(a confirming device, e.g. a mobile); null: not asked")
    waited_secs: float | None = Field(description="seconds from arrival to the answer, or to "
                                      "the caller's hang-up when abandoned")
    abandoned_during: str | None = Field(description="ringing, queued, menu or routing")
    started_at: Time
    answered_at: Time
    ended_at: Time
    voicemail_file: str | None
    voicemail_secs: float | None
    node: str | None = Field(description="the Asterisk node that took the call")
    steps: list[CallStepOut]

    @classmethod
    def of(cls, c: Call) -> CallOut:
        return cls(
            id=c.id, linkedid=c.linkedid, number_dialed=c.number_dialed, caller=c.caller,
            caller_raw=c.caller_raw, caller_altered=c.caller_altered,
            official_id=c.official_id, route_source=c.route_source, mode=c.mode,
            kind=c.kind, outcome=c.outcome, answered_by=c.answered_by,
            answered_kind=c.answered_kind, answered_role=c.answered_role, confirmed=c.confirmed,
            waited_secs=c.waited_secs, abandoned_during=c.abandoned_during,
            started_at=iso_time(c.started_at), answered_at=iso_time(c.answered_at),
            ended_at=iso_time(c.ended_at), voicemail_file=c.voicemail_file,
            voicemail_secs=c.voicemail_secs, node=c.node,
            steps=[CallStepOut.of(s) for s in c.steps])


class CallsQuery(BaseModel):
    official: QueryText = Field(None, description="slug or id")
    outcome: QueryText = Field(None, json_schema_extra={"enum": [*OUTCOMES, "in-progress"]})
    kind: QueryText = Field(None, json_schema_extra={"enum": list(CALL_KINDS)})
    since: QueryTime = Field(None, description="inclusive; ISO 8601, without offset in the "
                                               "deployment timezone")
    until: QueryTime = Field(None, description="exclusive")
    limit: int = Field(100, ge=1, le=1000, description="page size")
    offset: int = Field(0, ge=0, le=MAX_ID, description="skip this many")
