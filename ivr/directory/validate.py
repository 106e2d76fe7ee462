"""Field validators shared by the directory import, the services and the API.

Each raises the matching ``ivr.core.errors`` class; ``where`` names the input.
"""

from __future__ import annotations

import re
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ivr.core.config_announce import EVERY_RANGE, POOL_KEYS
from ivr.core.constants import AVAILABILITY, CHAIN_KINDS, MODES, QUEUE_STRATEGIES, RING_TIMEOUT_RANGE
from ivr.core.errors import (
    InvalidAvailability,
    InvalidChain,
    InvalidDirectory,
    InvalidEndpoint,
    InvalidMode,
    InvalidRingTimeout,
    InvalidSchedule,
    IvrError,
    MalformedNumber,
)
from ivr.core.names import CONTACT_RE, CONTROL_CHARS, ENDPOINT_RE, POOL_RE
from ivr.core.numbers import NumberError, normalize
from ivr.core.windows import WindowError, WindowInput, parse_windows

CSV_COLUMNS = ("slug", "name", "title", "department", "numbers", "sip", "mobile", "deputy", "mode",
               "superior", "confirm")
NAME_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f\"';|^,\\<>]")


def text_field(value: Any, where: str, *, max_len: int, required: bool = False,
               forbidden: re.Pattern[str] = CONTROL_CHARS) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise InvalidDirectory(f"expected text, got {type(value).__name__}", where=where)
    text: str = value.strip()
    if required and not text:
        raise InvalidDirectory("is required", where=where)
    if len(text) > max_len:
        raise InvalidDirectory(f"longer than {max_len} characters", where=where)
    if forbidden.search(text):
        raise InvalidDirectory(f"{text!r} contains a forbidden character", where=where)
    return text


def int_field(value: Any, where: str, lo: int, hi: int, cls: type[IvrError] = InvalidDirectory) -> int:
    if isinstance(value, bool):
        raise cls(f"expected a whole number, got {value!r}", where=where)
    if isinstance(value, float) and value.is_integer():  # JSON's 60.0 is the integer 60
        value = int(value)
    try:
        number = int(str(value).strip())
    except ValueError:
        raise cls(f"expected a whole number, got {value!r}", where=where) from None
    if not lo <= number <= hi:
        raise cls(f"{number} is out of range {lo}..{hi}", where=where)
    return number


def pattern_field(value: Any, where: str, rx: re.Pattern[str], what: str,
             cls: type[IvrError] = InvalidDirectory) -> str:
    if not isinstance(value, str) or not rx.fullmatch(value):  # $ alone lets a final \n in
        raise cls(f"{value!r} is not a valid {what} (pattern {rx.pattern})", where=where)
    return value


def check_mode(value: Any, where: str | None = None) -> str:
    if value not in MODES:
        raise InvalidMode(f"mode {value!r}: expected one of {', '.join(MODES)}", where=where)
    return str(value)


def check_availability(value: Any, where: str | None = None) -> str:
    if value not in AVAILABILITY:
        raise InvalidAvailability(f"availability {value!r}: expected one of {', '.join(AVAILABILITY)}",
                                  where=where)
    return str(value)


def check_chain(value: Any, where: str | None = None) -> list[str] | None:
    """A fallback chain: ``None`` (city default) or a list of distinct step kinds."""
    if value is None:
        return None
    if isinstance(value, str) or not isinstance(value, list):
        raise InvalidChain("chain must be a list of step kinds or null", where=where)
    for kind in value:
        if kind not in CHAIN_KINDS:
            raise InvalidChain(f"chain step {kind!r}: expected one of {', '.join(CHAIN_KINDS)}",
                               where=where)
    if len(set(value)) != len(value):
        raise InvalidChain("chain repeats a step", where=where)
    return [str(k) for k in value]


def check_bool(value: Any, where: str) -> bool:
    """true/false, also as text (the directory's YAML reads plain values as text)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "yes", "1", "on"):
        return True
    if text in ("false", "no", "0", "off"):
        return False
    raise InvalidDirectory(f"expected true or false, got {value!r}", where=where)


Announce = tuple[bool | None, bool | None, int | None]  # a pool's own (position, holdtime, every)


def check_announce(value: Any, where: str) -> Announce:
    """A pool's ``announce:`` (position, holdtime: true/false; every: seconds); a key not given
    is None: the ``[announce]`` default. Unknown keys are refused."""
    if value is None:
        return (None, None, None)
    if not isinstance(value, dict):
        raise InvalidDirectory("expected a mapping (position, holdtime, every)", where=where)
    unknown = sorted(str(k) for k in value if k not in POOL_KEYS)
    if unknown:
        raise InvalidDirectory(f"unknown field(s) {', '.join(unknown)}; allowed: "
                               f"{', '.join(POOL_KEYS)}", where=where)
    pos, hold, every = (value.get(k) for k in POOL_KEYS)
    return (None if pos is None else check_bool(pos, f"{where}.position"),
            None if hold is None else check_bool(hold, f"{where}.holdtime"),
            None if every is None else int_field(every, f"{where}.every", *EVERY_RANGE))


def check_ring_timeout(value: Any, where: str | None = None) -> int:
    return int_field(value, where or "ring_timeout", *RING_TIMEOUT_RANGE, cls=InvalidRingTimeout)


def check_endpoint(value: Any, where: str | None = None) -> str:
    return pattern_field(value, where or "endpoint", ENDPOINT_RE, "endpoint name", InvalidEndpoint)


def check_contact(value: Any, where: str) -> str | None:
    if value in (None, ""):
        return None
    return pattern_field(value, where, CONTACT_RE, "static contact SIP URI (sip:user@host:port)")


def check_pool_name(value: Any, where: str) -> str:
    return pattern_field(value, where, POOL_RE, "pool name")


def check_timezone(value: Any, where: str) -> str:
    try:
        ZoneInfo(str(value))
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidDirectory(f"unknown timezone {value!r}", where=where) from None
    return str(value)


def check_number(value: Any, where: str | None = None) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    try:
        return normalize(value)
    except NumberError as exc:
        raise MalformedNumber(str(exc), where=where) from None


def check_windows(value: Any, where: str | None = None) -> list[WindowInput]:
    try:
        return parse_windows(value)
    except WindowError as exc:
        raise InvalidSchedule(str(exc), where=where) from None


def check_strategy(value: Any, where: str = "strategy") -> str:
    """An app_queue ring strategy Asterisk 22 accepts (``QUEUE_STRATEGIES``)."""
    if value not in QUEUE_STRATEGIES:
        raise InvalidDirectory(f"strategy {value!r}: expected one of {', '.join(QUEUE_STRATEGIES)}",
                               where=where)
    return str(value)
