"""Errors of the voicemail, case and callback services (status + error_id, like the directory's)."""

from __future__ import annotations

from ivr.core.errors import Conflict, InvalidInput, IvrError, NotFound


class UnknownCase(NotFound):
    error_id = "unknown-case"


class UnknownEndpoint(NotFound):
    error_id = "unknown-endpoint"


class InvalidTransition(Conflict):
    error_id = "invalid-transition"


class InvalidCaseInput(InvalidInput):
    error_id = "invalid-case-input"


class InvalidAudio(InvalidInput):
    error_id = "invalid-audio"


class NoAudio(NotFound):
    error_id = "no-audio"


class NoCallbackNumber(Conflict):
    error_id = "no-callback-number"


class CallbackFailed(IvrError):
    status = 503
    error_id = "callback-failed"


class UnknownCall(NotFound):
    error_id = "unknown-call"
