"""Schemathesis hooks for tests/unit/test_openapi_fuzz.py: upload bodies (``audio/wav``) are
sent as the bytes schemathesis generates for ``format: binary``; queries whose request line would
pass aiohttp's 8190-byte limit are not sent (aiohttp answers those itself, 400 text/plain,
before any of ivr's code runs: not what this test checks)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import schemathesis

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
