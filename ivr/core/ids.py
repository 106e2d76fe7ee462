"""Whole numbers from text (paths, queries, forms): only ASCII digits, and only values a
database column holds (signed 64 bits). ``str.isdigit()`` is not enough: it accepts ``²`` and
``٣`` (which ``int()`` refuses or reads as another digit) and any length (which the database
refuses with an overflow)."""

from __future__ import annotations

import re

MAX_ID = 2 ** 63 - 1
_DIGITS = re.compile(r"[0-9]{1,19}")


def parse_id(raw: object) -> int | None:
    """``raw`` as a non-negative whole number a database column holds, else None."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw if 0 <= raw <= MAX_ID else None
    if not isinstance(raw, str) or not _DIGITS.fullmatch(raw):
        return None
    value = int(raw)
    return value if value <= MAX_ID else None
