"""Request and response shapes of the follow-up's HTTP routes (pydantic; one declaration feeds
validation, serialisation and the OpenAPI document).

Times are sent as the stored instant in ISO 8601 with its offset (``2026-11-23T09:00:00+00:00``;
SQLite's naive values are UTC), exactly as before the models: serialised here, not by pydantic
(which would write ``Z``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, StrictInt, WithJsonSchema, field_validator

from ivr.core.constants import API_PREFIX, LANGUAGES
from ivr.core.errors import InvalidCaseInput, InvalidInput, InvalidTranscript
from ivr.core.ids import MAX_ID
from ivr.core.timeutil import as_utc, utcnow
from ivr.db.followup_models import (
    CALLBACK_STATES,
    CASE_KINDS,
    CASE_STATES,
    URGENCIES,
    Callback,
    Case,
    CaseEvent,
    Transcript,
    TranscriptionJob,
    Voicemail,
)
from ivr.followup.cases import SUMMARY_MAX, is_overdue
from ivr.http.inputs import SOLID, loose

Time = Annotated[str | None, WithJsonSchema({"type": ["string", "null"], "format": "date-time"})]
Actor = Annotated[str | None, Field(None, description="who (only the deployment token may name "
                                                      "it; default: api)")]


def _enum(values: tuple[str, ...] | list[str], nullable: bool = False) -> WithJsonSchema:
    return WithJsonSchema({"type": ["string", "null"] if nullable else "string",
                           "enum": [*values, *([None] if nullable else [])]})


def iso(value: datetime | None) -> str | None:
    return None if value is None else as_utc(value).isoformat()


# ---------------------------------------------------------------- responses

class CallbackOut(BaseModel):
    id: int
    case_id: int
    placed_by: str
    endpoint: str
    number: str
    linkedid: str
    state: Annotated[str, _enum(CALLBACK_STATES)]
    result: str | None
    created_at: Time
    answered_at: Time
    ended_at: Time

    @classmethod
    def of(cls, cb: Callback) -> CallbackOut:
        return cls(id=cb.id, case_id=cb.case_id, placed_by=cb.placed_by, endpoint=cb.endpoint,
                   number=cb.number, linkedid=cb.linkedid, state=cb.state, result=cb.result,
                   created_at=iso(cb.created_at), answered_at=iso(cb.answered_at),
                   ended_at=iso(cb.ended_at))


class CaseOut(BaseModel):
    id: int
    kind: Annotated[str, _enum(CASE_KINDS)]
    status: Annotated[str, _enum(CASE_STATES)]
    call_id: int | None
    voicemail_id: int | None
    official_id: int | None
    caller: str
    number_dialed: str
    category: str | None
    matched_keywords: list[str]
    urgency: Annotated[str, _enum(URGENCIES)]
    needs_listening: bool
    listen_reasons: list[str]
    repeat_caller: bool
    assigned_to: str | None
    created_at: Time
    updated_at: Time
    triaged_at: Time
    deadline: Time
    overdue: bool = Field(description="the contact deadline passed and nobody called the "
                                      "citizen back")
    resolve_deadline: Time = Field(None, description="resolve the case by (working time)")
    escalation_level: int = Field(0, description="0: not escalated; 1: to the superior; …")
    escalated_to: int | None = Field(None, description="the official it was escalated to")
    escalation_deadline: Time = Field(None, description="the second deadline once escalated")
    callbacks: list[CallbackOut]
    summary: str = Field(description="kind call: the operator's summary")
    linkedid: str | None = Field(description="kind call: the call's linkedid")
    callback_duty: str | None = Field(None, description="the automatic callback duty: open, "
                                      "closed, unreachable, refused, off (null: not seen yet)")

    @classmethod
    def fields_of(cls, c: Case, now: datetime | None = None) -> dict[str, object]:
        return dict(
            id=c.id, kind=c.kind, status=c.status, call_id=c.call_id,
            voicemail_id=c.voicemail_id, official_id=c.official_id, caller=c.caller,
            number_dialed=c.number_dialed, category=c.category,
            matched_keywords=list(c.matched_keywords or []), urgency=c.urgency,
            needs_listening=c.needs_listening, listen_reasons=list(c.listen_reasons or []),
            repeat_caller=c.repeat_caller, assigned_to=c.assigned_to,
            created_at=iso(c.created_at), updated_at=iso(c.updated_at),
            triaged_at=iso(c.triaged_at), deadline=iso(c.deadline),
            overdue=is_overdue(c.status, c.deadline, now or utcnow()),
            resolve_deadline=iso(c.resolve_deadline), escalation_level=c.escalation_level or 0,
            escalated_to=c.escalated_to, escalation_deadline=iso(c.escalation_deadline),
            callbacks=[CallbackOut.of(cb) for cb in c.callbacks],
            summary=c.summary or "", linkedid=c.linkedid, callback_duty=c.callback_duty)

    @classmethod
    def of(cls, c: Case, now: datetime | None = None) -> CaseOut:
        return cls.model_validate(cls.fields_of(c, now))


class CaseList(BaseModel):
    items: list[CaseOut]


class CaseEventOut(BaseModel):
    at: Time
    actor: str
    action: str
    old_value: str | None
    new_value: str | None
    note: str

    @classmethod
    def of(cls, e: CaseEvent) -> CaseEventOut:
        return cls(at=iso(e.at), actor=e.actor, action=e.action, old_value=e.old_value,
                   new_value=e.new_value, note=e.note)


class VoicemailOut(BaseModel):
    id: int
    path: str
    linkedid: str
    duration: float
    language: str
    received_at: Time
    source: Annotated[str, _enum(["event", "scan"])]
    audio_url: str

    @classmethod
    def of(cls, vm: Voicemail, case_id: int) -> VoicemailOut:
        return cls(id=vm.id, path=vm.path, linkedid=vm.linkedid, duration=vm.duration,
                   language=vm.language, received_at=iso(vm.received_at), source=vm.source,
                   audio_url=f"{API_PREFIX}/cases/{case_id}/audio")


class TranscriptOut(BaseModel):
    text: str
    words: list[dict[str, JsonValue]] = Field(description="[{word, start, end, conf}, …]")
    confidence: float
    model: str
    language: str
    duration: float
    rtf: float
    created_at: Time
    corrected_text: str | None = Field(None, description="the case owner's correction (triage "
                                                         "uses it); text stays as recognised")
    corrected_by: str | None = None
    corrected_at: Time = None

    @classmethod
    def of(cls, tr: Transcript) -> TranscriptOut:
        return cls(text=tr.text, words=tr.words, confidence=tr.confidence, model=tr.model,
                   language=tr.language, duration=tr.duration, rtf=tr.rtf,
                   created_at=iso(tr.created_at), corrected_text=tr.corrected_text,
                   corrected_by=tr.corrected_by, corrected_at=iso(tr.corrected_at))


class TranscriptionOut(BaseModel):
    status: str
    attempts: int
    last_error: str | None
    started_at: Time
    finished_at: Time

    @classmethod
    def of(cls, job: TranscriptionJob) -> TranscriptionOut:
        return cls(status=job.status, attempts=job.attempts, last_error=job.last_error,
                   started_at=iso(job.started_at), finished_at=iso(job.finished_at))


class CaseDetail(CaseOut):
    """One case with its history and, for a voicemail, the message, transcript and job."""
    history: list[CaseEventOut]
    voicemail: VoicemailOut | None
    transcript: TranscriptOut | None
    transcription: TranscriptionOut | None


class Queued(BaseModel):
    queued: bool = Field(description="false: the transcription had not failed")


class GreetingOut(BaseModel):
    official_id: int
    language: str
    prompt: str = Field(description="language/file name")
    seconds: float


class NumberGreetingOut(BaseModel):
    number: str
    official_id: int
    menu: bool
    language: str | None = Field(description="the number's language (null: the official's)")
    greeting_language: str
    seconds: float


class PromptOut(BaseModel):
    language: str
    name: str
    seconds: float | None = Field(description="null: the file is not a readable WAV")


class PromptList(BaseModel):
    items: list[PromptOut]


# ---------------------------------------------------------------- requests

class CaseQuery(BaseModel):
    """Filters of GET /cases (an empty parameter is no filter)."""
    official: str | None = Field(None, description="slug or id: the official's cases and those "
                                                  "escalated to them")
    category: str | None = Field(None, description="triage category")
    urgency: Annotated[str | None, _enum(URGENCIES, nullable=True)] = None
    status: Annotated[str | None, _enum(CASE_STATES, nullable=True)] = None
    kind: Annotated[str | None, _enum(CASE_KINDS, nullable=True)] = Field(
        None, description="voicemail, missed or call")
    overdue: bool | None = Field(None, description="deadline passed and not called back")
    escalated: bool | None = Field(None, description="escalated (past a deadline) or not")
    # ranges checked by the service (InvalidCaseInput), documented here
    limit: int = Field(100, description="page size", json_schema_extra={"minimum": 1,
                                                                        "maximum": 1000})
    offset: int = Field(0, description="skip this many",
                        json_schema_extra={"minimum": 0, "maximum": MAX_ID})

    @field_validator("official", "category", "urgency", "status", "kind", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return None if value == "" else value


class StatusIn(BaseModel):
    status: Annotated[str, _enum(CASE_STATES)]
    note: str = ""
    actor: Actor


_NOT_BLANK = SOLID  # at least one character that is not a space
_LINE_CHAR = r"[^\x00-\x09\x0b-\x1f\x7f]"  # no control character but the line feed
_TEXT_LINES = rf"^{_LINE_CHAR}*(?={SOLID}){_LINE_CHAR}+$"  # lines of text, not blank


class TranscriptIn(BaseModel):
    text: Any = loose({"type": "string", "maxLength": 5000, "pattern": _TEXT_LINES},
                      error=InvalidTranscript,
                      description="the corrected transcript (the recognised one is kept)")
    actor: Actor


class AssigneeIn(BaseModel):
    errors: ClassVar[dict[str, type[InvalidInput]]] = {"assigned_to": InvalidCaseInput}
    assigned_to: str = Field(description="a name of 1 to 80 characters", max_length=80,
                             pattern=_NOT_BLANK)
    actor: Actor


class CallbackIn(BaseModel):
    endpoint: str | None = Field(None, description="your own phone, rung first (default: your "
                                                   "first phone); only the deployment token may "
                                                   "name another")
    actor: Actor


class DispositionIn(BaseModel):
    errors: ClassVar[dict[str, type[InvalidInput]]] = {"outcome": InvalidCaseInput}
    outcome: Literal["reached", "message", "wrong_number", "unreachable"] = Field(
        description="reached, message (left a message), wrong_number, unreachable")
    note: str = Field("", description="kept up to 500 characters")
    actor: Actor


class CallbackApprovalIn(BaseModel):
    errors: ClassVar[dict[str, type[InvalidInput]]] = {"reason": InvalidCaseInput}
    reason: str = Field(description="why this (altered) caller ID may be called back",
                        max_length=500, pattern=_NOT_BLANK)
    actor: Actor


class CaseFromCallIn(BaseModel):
    """The call (its linkedid — a live call has no id yet — or the stored call's id) and what
    the operator chose; category, summary and urgency are checked by the service."""
    model_config = ConfigDict(json_schema_extra={"anyOf": [
        {"required": ["call_id"], "properties": {"call_id": {"type": "integer"}}},
        {"required": ["linkedid"], "properties": {"linkedid": {"type": "string",
                                                                "pattern": _NOT_BLANK}}}]})
    errors: ClassVar[dict[str, type[InvalidInput]]] = {
        "category": InvalidCaseInput, "summary": InvalidCaseInput, "urgency": InvalidCaseInput}
    linkedid: str | None = Field(None, description="the call's linkedid",
                                 json_schema_extra={"maxLength": 64})
    call_id: StrictInt | None = Field(None, description="or the stored call's id")
    category: str = Field(description="a category of the triage rules (unknown: 400 "
                                      "unknown-category)")
    summary: str | None = Field(None, json_schema_extra={"minLength": 1, "maxLength": SUMMARY_MAX,
                                                         "pattern": _NOT_BLANK})
    urgency: Annotated[str | None, _enum((*URGENCIES, ""), nullable=True)] = Field(
        None, description="default (null or empty) normal")
    actor: Actor


class LanguageQuery(BaseModel):
    language: str | None = Field(None, description="prompt language (default: the number's, "
                                                   "else the official's)",
                                 json_schema_extra={"enum": [*LANGUAGES, None]})



class AudioQuery(BaseModel):
    download: bool = Field(False, description="true: sent as an attachment (logged as a "
                                              "download; else as a listen)")
