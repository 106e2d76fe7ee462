"""The canonical form of sealed content and the hashes built on it.

Content is a flat mapping of field → value (str, int, float, bool, None, UTC datetime, or lists
and mappings of those). Each field is hashed on its own, the personal ones (``SALTED``) with the entry's salt:
``field hash = sha256(salt ‖ name ‖ canonical value)[:32 hex]``; the content hash is the sha256 of
the canonical JSON of the field hashes. So a field can be blanked (anonymised) with its field
hash kept, and the content hash still checks; and once the salt is cleared a blanked caller
number cannot be found again by trying every number against the kept hash.

Canonical JSON: sorted keys, no spaces, UTF-8 (not escaped), times as UTC ISO 8601 with
microseconds and ``Z`` (SQLite hands times back naive, PostgreSQL aware: both give one text),
floats as Python's shortest round-trip repr. The same row gives the same hash on either database.
"""

from __future__ import annotations

import hashlib
import json
import json.encoder
import math
import secrets
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ivr.core.timeutil import as_utc

GENESIS = "0" * 64  # the prev_hash of a chain's first entry
FIELD_HEX = 32  # 128 bits per field hash


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return as_utc(value).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return value  # 3.0 stays a float ("3.0"): an int column never gives a float
    return value


_encode_str = json.encoder.encode_basestring  # the C encoder json.dumps uses (no ASCII escaping)


def canonical(value: Any) -> bytes:
    """Canonical JSON of ``value``; scalars (most fields) take a fast path that gives the same
    bytes as ``json.dumps`` (tests/unit/test_evidence.py checks it)."""
    kind = type(value)
    if kind is str:
        return _encode_str(value).encode()
    if value is None:
        return b"null"
    if kind is bool:
        return b"true" if value else b"false"
    if kind is int:
        return str(value).encode()
    if kind is float and math.isfinite(value):
        return float.__repr__(value).encode()
    return json.dumps(_plain(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def new_salt() -> str:
    return secrets.token_hex(16)


def field_hash(salt: str, name: str, value: Any) -> str:
    return sha256(salt.encode() + b"\x00" + name.encode() + b"\x00" + canonical(value))[:FIELD_HEX]


def field_hashes(salt: str, content: Mapping[str, Any],
                 salted: tuple[str, ...] = ()) -> dict[str, str]:
    """Only the ``salted`` fields take the salt (personal data retention may blank)."""
    return {name: field_hash(salt if name in salted else "", name, value)
            for name, value in content.items()}


def content_hash(hashes: Mapping[str, str]) -> str:
    return sha256(canonical(dict(hashes)))


def entry_hash(*, stream: str, node: str, seq: int, kind: str, ref: str, rev: int,
               content: str, prev: str, at: datetime, detail: Any) -> str:
    return sha256(canonical({"stream": stream, "node": node, "seq": seq, "kind": kind,
                             "ref": ref, "rev": rev, "content_hash": content, "prev_hash": prev,
                             "at": at, "detail": detail}))
