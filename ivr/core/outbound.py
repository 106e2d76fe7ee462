"""Calls the deployment originates (callbacks; surveys later): which numbers they may dial,
how long they may last, how many may be placed. Pure: the ``[outbound]`` config section and the
dialling-plan check; the callback guard (``ivr.followup.callback_guard``) applies them.

A number may be dialled when, in national form, it matches the national dialling plan (default
mainland China: mobile ``1[3-9]`` + 9 digits, landline ``0`` + area code + local number), or when
it starts with a prefix the admin allow-list names (international, premium). A caller ID in
international form with the deployment's own country code (``+86…``, ``0086…``) is first put in
national form (mobiles as they are, landlines with the trunk prefix ``0``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ivr.core.sections import doc_field

# mainland China, national form: mobile 1[3-9] + 9 digits; landline 0 + area code (2-3 digits,
# not starting 0) + local number (7-8 digits, not starting 0 or 1). International (00…) and
# short, premium or service numbers (95xxx, 1259x, 400…, 168…) do not match.
CN_NATIONAL_PLAN = r"1[3-9][0-9]{9}|0[1-9][0-9]{1,2}[2-9][0-9]{6,7}"
PREFIX_RE = re.compile(r"\+?[0-9]{1,8}")
TRUNK_PREFIX = "0"


_doc = doc_field


@dataclass(frozen=True, slots=True)
class OutboundConfig:
    national_pattern: str = _doc(CN_NATIONAL_PLAN,
                                 "regular expression (whole number) of the numbers a callback "
                                 "may dial: the national dialling plan in national form "
                                 "(default: mainland China mobiles and landlines)")
    country_code: str = _doc("86", "the country's code: +CC… and 00CC… callers are put in "
                                   "national form before the check; empty: no conversion")
    allow_prefixes: str = _doc("", "comma-separated prefixes an admin allows beyond the national "
                                   "plan (international or premium, e.g. `+852,00852,400`); "
                                   "empty: none")
    callback_max_seconds: int = _doc(1800, "absolute time limit of a callback on both legs "
                                           "(seconds, from the moment the first phone answers)")
    survey_max_seconds: int = _doc(180, "absolute time limit of an originated survey call "
                                        "(seconds; for the surveys to come)")
    per_case_per_day: int = _doc(5, "callbacks per case in any 24 hours")
    per_node_per_hour: int = _doc(60, "calls originated by one node in any hour")

    def __post_init__(self) -> None:  # ValueError: ivr.core.config reports it as ConfigError
        try:
            re.compile(self.national_pattern)
        except re.error as exc:
            raise ValueError(f"[outbound] national_pattern: {exc}") from None
        if self.country_code and not self.country_code.isdigit():
            raise ValueError(f"[outbound] country_code: {self.country_code!r} is not digits")
        for name in ("callback_max_seconds", "survey_max_seconds", "per_case_per_day",
                     "per_node_per_hour"):
            if getattr(self, name) < 1:
                raise ValueError(f"[outbound] {name}: must be at least 1")
        for prefix in self.allowed_prefixes:
            if not PREFIX_RE.fullmatch(prefix):
                raise ValueError(f"[outbound] allow_prefixes: {prefix!r} is not a number prefix")

    @property
    def allowed_prefixes(self) -> tuple[str, ...]:
        return tuple(p.strip() for p in self.allow_prefixes.split(",") if p.strip())


def national_forms(number: str, country_code: str) -> tuple[str, ...]:
    """The national forms ``number`` may stand for: ``+86 139…`` / ``0086 139…`` → ``139…`` (a
    mobile) or ``0139…``; ``+86 558…`` → ``558…`` or ``0558…`` (a landline, trunk prefix added).
    A number without the country code is already national."""
    for intl in (("+" + country_code, "00" + country_code) if country_code else ()):
        if number.startswith(intl) and len(number) > len(intl):
            rest = number[len(intl):]
            return rest, TRUNK_PREFIX + rest
    return (number,)


def dialable(number: str, config: OutboundConfig) -> str | None:
    """The number to dial (national form, or as allow-listed), or None when the plan refuses it."""
    forms = national_forms(number, config.country_code)
    for national in forms:
        if re.fullmatch(config.national_pattern, national):
            return national
    for candidate in (number, *forms):
        if any(candidate.startswith(p) for p in config.allowed_prefixes):
            return candidate
    return None
