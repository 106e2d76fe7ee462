"""Every error of ivr, one class per ``error_id``, mapped 1:1 to HTTP responses.

Every error has an HTTP ``status``, a stable ``error_id`` (wazo style, for clients and logs), an
English ``message`` and ``details`` (a JSON-able mapping; ``where`` names the offending input,
e.g. ``officials[2].numbers[0]`` or ``row 4, numbers``). Messages are English; the web UI
shows its own Mandarin text per ``error_id`` (``ivr.web.i18n``) and the English message beside it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class IvrError(Exception):
    status: int = 500
    error_id: str = "internal-error"

    def __init__(self, message: str, details: Mapping[str, Any] | None = None,
                 *, where: str | None = None) -> None:
        self.details: dict[str, Any] = dict(details or {})
        if where:
            self.details["where"] = where
            message = f"{where}: {message}"
        super().__init__(message)
        self.message = message

    def to_json(self) -> dict[str, Any]:
        return {"error_id": self.error_id, "message": self.message, "details": self.details}


class NotFound(IvrError):
    status = 404
    error_id = "not-found"


class UnknownOfficial(NotFound):
    error_id = "unknown-official"


class UnknownCall(NotFound):
    error_id = "unknown-call"


class UnknownPool(NotFound):
    error_id = "unknown-pool"


class UnknownUser(NotFound):
    error_id = "unknown-user"


class UnknownOperator(NotFound):
    error_id = "unknown-operator"


class InvalidInput(IvrError):
    status = 400
    error_id = "invalid-input"


class InvalidPeriod(InvalidInput):
    """A period whose end is not after its start, or longer than allowed (a rule across
    fields, stated in the operation's description rather than its schema)."""
    error_id = "invalid-period"


class InvalidMode(InvalidInput):
    error_id = "invalid-mode"


class UnsupportedLanguage(InvalidInput):
    error_id = "unsupported-language"


class InvalidTranscript(InvalidInput):
    error_id = "invalid-transcript"


class InvalidAvailability(InvalidInput):
    error_id = "invalid-availability"


class InvalidChain(InvalidInput):
    error_id = "invalid-chain"


class InvalidRingTimeout(InvalidInput):
    error_id = "invalid-ring-timeout"


class MalformedNumber(InvalidInput):
    error_id = "malformed-number"


class InvalidReturnTime(InvalidInput):
    """An availability's return time: in the past, too far, for ``available``, or both ``until``
    and ``minutes`` (rules across fields and of the clock, which no JSON schema states)."""
    error_id = "invalid-return-time"


class InvalidSchedule(InvalidInput):
    error_id = "invalid-schedule"


class InvalidEndpoint(InvalidInput):
    error_id = "invalid-endpoint"


class InvalidDirectory(InvalidInput):
    """A directory file that cannot be parsed or has a field of the wrong shape."""
    error_id = "invalid-directory"


class Conflict(IvrError):
    status = 409
    error_id = "conflict"


class NoDeputy(Conflict):
    """Deputy mode for an official without a deputy (calls would go silently to the pool), or
    an import removing the deputy of an official in deputy mode."""
    error_id = "no-deputy"


class UsernameTaken(Conflict):
    error_id = "username-taken"


class SelfModeOff(Conflict):
    """An official changing their own mode while no admin allowed it (issue 15)."""
    error_id = "self-mode-off"


# --- authentication and authorisation -------------------------------------------------------

class NotSignedIn(IvrError):
    status = 401
    error_id = "unauthorized"


class LoginFailed(IvrError):
    status = 401
    error_id = "login-failed"


class LoginThrottled(IvrError):
    """Too many failed sign-ins for the account or from the source: locked for a while."""
    status = 429
    error_id = "login-throttled"


class Forbidden(IvrError):
    status = 403
    error_id = "forbidden"


class CsrfFailed(IvrError):
    status = 403
    error_id = "csrf-failed"


class InvalidAccount(InvalidInput):
    error_id = "invalid-account"


class WeakPassword(InvalidAccount):
    """The password's estimated strength is too low (zxcvbn): a rule no JSON schema can say."""
    error_id = "weak-password"


class UnknownToken(NotFound):
    error_id = "unknown-token"


class UnknownLock(NotFound):
    error_id = "unknown-lock"


# --- request shape ---------------------------------------------------------------------------

class MalformedJson(InvalidInput):
    error_id = "malformed-json"


class InvalidForm(InvalidInput):
    error_id = "invalid-form"


# --- numbers, prompts, operators -------------------------------------------------------------

class UnknownNumber(NotFound):
    error_id = "unknown-number"


class UnknownDevice(NotFound):
    """Not a device of that official (an endpoint name or a mobile number)."""
    error_id = "unknown-device"


class UnknownPrompt(NotFound):
    error_id = "unknown-prompt"


class InvalidOperatorState(InvalidInput):
    error_id = "invalid-operator-state"


# --- voicemail, cases, callbacks -------------------------------------------------------------

class UnknownCase(NotFound):
    error_id = "unknown-case"


class UnknownEndpoint(NotFound):
    error_id = "unknown-endpoint"


class InvalidTransition(Conflict):
    error_id = "invalid-transition"


class InvalidCaseInput(InvalidInput):
    error_id = "invalid-case-input"


class UnknownCategory(InvalidCaseInput):
    """A case category that the deployment's triage rules do not name (a set of the config,
    not of the OpenAPI schema)."""
    error_id = "unknown-category"


class InvalidAudio(InvalidInput):
    error_id = "invalid-audio"


class NoAudio(NotFound):
    error_id = "no-audio"


class NoCallbackNumber(Conflict):
    error_id = "no-callback-number"


class CallbackFailed(IvrError):
    status = 503
    error_id = "callback-failed"


class ChangeNotInEffect(IvrError):
    """Saved (committed, audited), but this node's AstDB mirror, which routes the calls, does not
    hold it yet (AMI down, the mirror being resynced): calls follow it once the next full resync
    is done (``mirror_in_sync`` in /healthz). 202, not an error of the request."""
    status = 202
    error_id = "not-in-effect"


# the callback guard (issue 9): refused before anything is dialled, each refusal audited

class CallbackNumberRefused(Forbidden):
    """The number is outside the national dialling plan and no allow-listed prefix names it."""
    error_id = "callback-number-refused"


class CallbackNotOwnPhone(Forbidden):
    error_id = "callback-not-own-phone"


class CallbackCallerAltered(Conflict):
    """The caller ID was altered on the way in: an admin must approve calling it back."""
    error_id = "callback-caller-altered"


class NoPublishedNumber(Conflict):
    error_id = "no-published-number"


class TooManyCallbacks(IvrError):
    status = 429
    error_id = "callback-case-limit"


class TooManyOriginated(IvrError):
    status = 429
    error_id = "callback-node-limit"


class InvalidCalendar(InvalidInput):
    """A working calendar file or week that cannot be used (issue 11)."""
    error_id = "invalid-calendar"


class InvalidSuperior(InvalidInput):
    """An official's superior is unknown, themselves, or closes a cycle of superiors."""
    error_id = "invalid-superior"


class UnrenderableConfig(InvalidInput):
    """The directory holds something Asterisk's configuration cannot express."""
    error_id = "unrenderable-config"


def all_errors() -> list[type[IvrError]]:
    """Every error class (the UI's message catalogue and a test check one class per id)."""
    seen: list[type[IvrError]] = []
    todo: list[type[IvrError]] = [IvrError]
    while todo:
        cls = todo.pop()
        seen.append(cls)
        todo.extend(cls.__subclasses__())
    return seen


class ReasonRequired(InvalidForm):
    """A form that changes routing was sent without the reason the audit log needs."""
    error_id = "reason-required"


class UnknownBan(NotFound):
    error_id = "unknown-ban"
