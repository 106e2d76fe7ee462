"""Phone-number normalisation: Chinese national and international forms in, E.164 out.

Stored numbers are always E.164 (``+86…``). Accepted input forms, with spaces, dashes, dots and
parentheses allowed anywhere (full-width characters are folded first, as copied from web pages):

* landline with trunk prefix and area code: ``0558-1234567``, ``(0558) 1234567``, ``010 12345678``
* mobile: ``13800001111`` (11 digits, ``1[3-9]…``)
* international: ``+86…``, ``0086…``, ``86…`` followed by a valid national significant number
  (a stray trunk ``0`` after the country code, as in ``+86 (0558) 1234567``, is tolerated)
* other countries: ``+<cc>…`` or ``00<cc>…`` with 8–15 digits in all

Chinese landline numbering: area codes are ``10`` and ``2x`` (then 8-digit local numbers) or
three digits starting ``3``–``9`` (then 7- or 8-digit local numbers).
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["NumberError", "normalize", "dial_forms", "sanitize_caller_id", "is_mobile"]

_SEPARATORS = str.maketrans("", "", " -.()\t")
_MAX_INPUT = 40
_MOBILE = re.compile(r"^1[3-9]\d{9}$")
# national significant number of a landline: 2-digit area + 8, or 3-digit area + 7/8
_LANDLINE = re.compile(r"^(?:(?:10|2\d)\d{8}|[3-9]\d{2}\d{7,8})$")
_E164_DIGITS = re.compile(r"^[1-9]\d{7,14}$")


class NumberError(ValueError):
    """A phone number that is not a valid Chinese national or E.164 number."""


def is_mobile(e164: str) -> bool:
    """True for a normalised Chinese mobile number (``+861…``)."""
    return e164.startswith("+86") and bool(_MOBILE.match(e164[3:]))


def _valid_cn_nsn(nsn: str) -> bool:
    return bool(_MOBILE.match(nsn) or _LANDLINE.match(nsn))


def _cn(nsn: str, raw: str) -> str:
    if nsn.startswith("0") and _valid_cn_nsn(nsn[1:]):
        nsn = nsn[1:]  # "+86 (0558) 1234567": trunk prefix written after the country code
    if not _valid_cn_nsn(nsn):
        raise NumberError(
            f"malformed number {raw!r}: +86 must be followed by an 11-digit mobile (1[3-9]…) "
            "or an area code and local number (10 or 11 digits)")
    return "+86" + nsn


def _international(digits: str, raw: str) -> str:
    if digits.startswith("86"):
        return _cn(digits[2:], raw)
    if not _E164_DIGITS.match(digits):
        raise NumberError(f"malformed number {raw!r}: an international number has a country code "
                          "not starting with 0 and 8 to 15 digits in all")
    return "+" + digits


def normalize(raw: str) -> str:
    """Return the E.164 form (``+86…``) of a national or international number.

    Raises :class:`NumberError` for anything else.
    """
    if not isinstance(raw, str):
        raise NumberError(f"malformed number {raw!r}: expected text, got {type(raw).__name__}")
    text = unicodedata.normalize("NFKC", raw).strip()
    if not text:
        raise NumberError("malformed number: empty")
    if len(text) > _MAX_INPUT:
        raise NumberError(f"malformed number {raw[:_MAX_INPUT]!r}…: longer than {_MAX_INPUT} characters")
    compact = text.translate(_SEPARATORS)
    plus = compact.startswith("+")
    digits = compact[1:] if plus else compact
    if not digits or any(c not in "0123456789" for c in digits):
        raise NumberError(f"malformed number {raw!r}: only digits, a leading '+', spaces, dashes "
                          "and parentheses are allowed")
    if plus:
        return _international(digits, raw)
    if digits.startswith("00"):
        return _international(digits[2:], raw)
    if digits.startswith("0"):
        if _LANDLINE.match(digits[1:]):
            return "+86" + digits[1:]
        raise NumberError(f"malformed number {raw!r}: a national landline is 0, an area code and a "
                          "local number (11 or 12 digits in all)")
    if _MOBILE.match(digits):
        return "+86" + digits
    if digits.startswith("86") and len(digits) in (12, 13, 14):
        return _cn(digits[2:], raw)
    raise NumberError(f"malformed number {raw!r}: not a mobile (11 digits, 1[3-9]…), a landline "
                      "with area code (0…), or an international number (+…)")


def dial_forms(e164: str) -> list[str]:
    """Digit strings a caller may dial to reach ``e164``: E.164 digits without ``+`` and, for
    China, the national form (``0`` + area + local for landlines, the 11 digits for mobiles)."""
    if not e164.startswith("+") or not _E164_DIGITS.match(e164[1:]):
        raise NumberError(f"not a normalised E.164 number: {e164!r}")
    forms = [e164[1:]]
    if e164.startswith("+86"):
        nsn = e164[3:]
        if _MOBILE.match(nsn):
            forms.append(nsn)
        elif _LANDLINE.match(nsn):
            forms.append("0" + nsn)
        else:
            raise NumberError(f"not a valid Chinese number: {e164!r}")
    return forms


_CALLER_ID_OK = frozenset("0123456789+*#abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ .-_")
_CALLER_ID_MAX = 40


def sanitize_caller_id(raw: str | None) -> str:
    """Clean an untrusted caller ID (number or name) from the network.

    Keeps at most 40 characters of ``[0-9+*#A-Za-z .-_]`` (literal dot, dash, underscore);
    everything else (control characters, markup, quotes, non-ASCII) is dropped.
    """
    if not raw:
        return ""
    kept = [c for c in str(raw) if c in _CALLER_ID_OK]
    return "".join(kept[:_CALLER_ID_MAX]).strip()


def national_form(e164: str) -> str:
    """How a Chinese number is published: ``+865585551004`` → ``0558-5551004``, ``+861012345678``
    → ``010-12345678``, a mobile as its 11 digits; anything else as given (E.164)."""
    if not e164.startswith("+86"):
        return e164
    nsn = e164[3:]
    if _MOBILE.match(nsn):
        return nsn
    if _LANDLINE.match(nsn):
        area = 2 if nsn[:2] == "10" or nsn[0] == "2" else 3
        return f"0{nsn[:area]}-{nsn[area:]}"
    return e164
