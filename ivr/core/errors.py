"""Errors of the directory and routing services, mapped 1:1 to REST responses.

Every error has an HTTP ``status``, a stable ``error_id`` (wazo style, for clients and logs), an
English ``message`` and ``details`` (a JSON-able mapping; ``where`` names the offending input,
e.g. ``officials[2].numbers[0]`` or ``row 4, numbers``).
"""

from __future__ import annotations

from typing import Any, Mapping


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


class UnknownOperator(NotFound):
    error_id = "unknown-operator"


class InvalidInput(IvrError):
    status = 400
    error_id = "invalid-input"


class InvalidMode(InvalidInput):
    error_id = "invalid-mode"


class InvalidAvailability(InvalidInput):
    error_id = "invalid-availability"


class InvalidChain(InvalidInput):
    error_id = "invalid-chain"


class InvalidRingTimeout(InvalidInput):
    error_id = "invalid-ring-timeout"


class MalformedNumber(InvalidInput):
    error_id = "malformed-number"


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
