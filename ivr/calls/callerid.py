"""The caller's ID as a call record keeps it: normalised, the original escaped, altered or not.

The caller ID is whatever the caller's SIP From user says — CR LF, header-like text and
full-width digits included. The dialplan never lets it into an event raw: it sends the original
URI-encoded (``caller_raw=`` of ``IVR_CALL``) and its own digits-and-``+`` copy (``caller=``).
Here the original is decoded, folded like :func:`ivr.core.numbers.normalize` folds (NFKC:
full-width ``１３８`` becomes ``138``, not dropped), reduced to digits and a leading ``+``, and
kept escaped beside it for the record (``\\r``, ``\\n``, ``\\xNN``: one printable line).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from urllib.parse import unquote

__all__ = ["CallerId", "caller_id", "escape", "normalise"]

CALLER_MAX = 20  # calls.caller; the dialplan cuts its own copy to 20 as well
RAW_MAX = 255  # calls.caller_raw (escaped)


@dataclass(frozen=True, slots=True)
class CallerId:
    caller: str  # digits and a leading "+", at most 20
    raw: str  # the original, escaped: printable, one line
    altered: bool  # caller differs from the original


def normalise(original: str) -> str:
    """Digits and a leading ``+`` of the caller ID, full-width forms folded first (NFKC)."""
    text = unicodedata.normalize("NFKC", original).strip()
    digits = "".join(c for c in text if c in "0123456789")
    plus = "+" if text.startswith("+") else ""
    return (plus + digits)[:CALLER_MAX]


def escape(original: str) -> str:
    """One printable line: backslash, CR, LF, tab and other non-printable characters escaped."""
    out = []
    for c in original:
        if c == "\\":
            out.append("\\\\")
        elif c == "\r":
            out.append("\\r")
        elif c == "\n":
            out.append("\\n")
        elif c == "\t":
            out.append("\\t")
        elif c.isprintable():
            out.append(c)
        elif ord(c) < 0x100:
            out.append(f"\\x{ord(c):02x}")
        else:
            out.append(f"\\u{ord(c):04x}" if ord(c) < 0x10000 else f"\\U{ord(c):08x}")
    text = "".join(out)
    return text if len(text) <= RAW_MAX else text[:RAW_MAX - 1] + "…"


def caller_id(fields: dict[str, str] | None = None, *, encoded: str | None = None,
              fallback: str = "") -> CallerId:
    """From ``IVR_CALL``'s fields: ``caller_raw`` (URI-encoded by the dialplan) decoded;
    without it (journal lines written before the dialplan sent it), ``caller`` or ``fallback``."""
    fields = fields or {}
    if encoded is None:
        encoded = fields.get("caller_raw")
    if encoded is None:
        original = fields.get("caller", fallback)
    else:
        original = unquote(encoded, encoding="utf-8", errors="replace")
    caller = normalise(original)
    return CallerId(caller, escape(original), caller != original)
