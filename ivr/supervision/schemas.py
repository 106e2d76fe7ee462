"""Response shapes of the supervisors' calls list and exceptions (page, CSV and API)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from ivr.http.schemas import Time

# the CSV's columns, in order: the fields of SupervisedCall
CALL_COLUMNS = ("id", "started_at", "official", "department", "number_dialed", "caller", "kind",
                "mode", "outcome", "answered_role", "answered_by", "expected", "waited_secs",
                "abandoned_during", "voicemail_secs", "case_id", "case_status")


class SupervisedCall(BaseModel):
    id: int
    started_at: Time = Field(description="arrival, city timezone (YYYY-MM-DD HH:MM:SS)")
    official: str
    department: str
    number_dialed: str
    caller: str
    kind: str
    mode: str
    outcome: str | None
    answered_role: str | None
    answered_by: str | None
    expected: bool = Field(description="answered by the party the call's mode expects")
    waited_secs: float | None
    abandoned_during: str | None
    voicemail_secs: float | None
    case_id: int | None
    case_status: str | None


class CallsPage(BaseModel):
    items: list[SupervisedCall]
    next: str | None = Field(description="the cursor of the next page (pass as after=); null: "
                                         "the last page")


class ExceptionCall(SupervisedCall):
    reason: str = Field(description="nobody_answered, abandoned or other_party (answered, but "
                                    "not by the expected party)")
    follow_up: str = Field(description="no_case, callback_unreachable (callbacks tried, none "
                                       "reached the citizen), case_overdue (not reached by the "
                                       "contact deadline) or contacted_late")
    expected_party: str = Field(description="official, deputy or operator: by the call's mode")
    deadline: Time = Field(description="the case's contact deadline, city timezone")


class ExceptionsPage(BaseModel):
    items: list[ExceptionCall]
    next: str | None
