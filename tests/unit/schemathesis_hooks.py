"""Schemathesis hooks for tests/unit/test_openapi_fuzz.py: upload bodies (``audio/wav``) are
sent as the bytes schemathesis generates for ``format: binary``."""

from __future__ import annotations

from typing import Any

import schemathesis


@schemathesis.serializer("audio/wav")
def wav(_ctx: Any, value: Any) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode()
