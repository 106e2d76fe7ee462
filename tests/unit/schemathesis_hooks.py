"""Schemathesis hooks for tests/unit/test_openapi_fuzz.py: upload bodies (``audio/wav``) are
sent as the bytes schemathesis generates for ``format: binary``; queries whose request line would
pass aiohttp's 8190-byte limit are not sent (aiohttp answers those itself, 400 text/plain,
before any of ivr's code runs: not what this test checks)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import schemathesis
from schemathesis.openapi.checks import RejectedPositiveData
from schemathesis.specs.openapi.checks import positive_data_acceptance

MAX_QUERY = 6000  # bytes of query string; the path and the rest of the line stay under 8190


@schemathesis.serializer("audio/wav")
def wav(_ctx: Any, value: Any) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode()


@schemathesis.hook
def filter_query(_ctx: Any, query: Any) -> bool:
    if not query:
        return True
    try:
        return len(urlencode(query, doseq=True)) < MAX_QUERY
    except (TypeError, ValueError):
        return True  # not a plain mapping: let schemathesis send it as it would


# What a JSON schema cannot say, per operation: the error_ids a schema-valid request may still
# get (400), each a rule the operation's description states (docs/decisions.md, "The OpenAPI
# schema says what the server accepts"). Any other refusal of schema-valid data fails the run.
_PERIOD = {"invalid-period"}  # the end after the start, at most MAX_DAYS (a rule across fields)
SEMANTIC: dict[str, set[str]] = {
    "GET /stats": _PERIOD, "GET /stats.csv": _PERIOD,
    "GET /supervision/calls": _PERIOD, "GET /supervision/exceptions": _PERIOD,
    "POST /directory/import": {"invalid-directory"},   # a YAML or CSV document
    "POST /calendar/import": {"invalid-calendar"},     # a YAML or CSV calendar
    "PUT /numbers/{number}/greeting": {"invalid-audio", "malformed-number"},  # a WAV's content
    "PUT /officials/{slug}/greeting": {"invalid-audio"},
    "PUT /prompts/{lang}/{name}": {"invalid-audio"},
    "POST /users": {"weak-password"},                  # zxcvbn's estimate
    "POST /cases": {"unknown-category"},               # the deployment's triage rules
    "PUT /numbers/{number}": {"unsupported-language",  # the speech models installed
                              "malformed-number"},  # the numbering plan (ivr.core.numbers)
    "PUT /officials/{slug}/schedule": {"invalid-schedule"},  # start equal to end: empty
    "PUT /officials/{slug}/availability": {"invalid-return-time"},  # the clock; until or minutes
}


@schemathesis.check
def positive_data_accepted(ctx: Any, response: Any, case: Any) -> bool | None:
    """schemathesis' positive_data_acceptance, but a 400 whose error_id is one of the
    operation's rules in SEMANTIC is accepted."""
    try:
        return positive_data_acceptance(ctx, response, case)
    except RejectedPositiveData:
        label = f"{case.operation.method.upper()} {case.operation.path}"
        try:
            error_id = response.json().get("error_id")
        except Exception:  # noqa: BLE001 - not JSON: not excused
            error_id = None
        if response.status_code == 400 and error_id in SEMANTIC.get(label, set()):
            return None
        raise
