"""The test calls' errors (4xx, each with its ``error_id``; nothing is changed when raised)."""

from __future__ import annotations

from ivr.core.errors import Conflict, InvalidInput, NotFound


class InvalidTestSchedule(InvalidInput):
    error_id = "invalid-test-schedule"


class TestCallsUnavailable(Conflict):
    """No ``[testcalls] caller``: a test call would have no citizen-like number to present."""
    __test__ = False
    error_id = "test-calls-unavailable"


class UnknownTestSchedule(NotFound):
    error_id = "unknown-test-schedule"
