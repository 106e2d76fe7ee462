"""The callback guard's dialling plan (``ivr.core.outbound``): national numbers in national
form, international and premium ones only when an admin's allow-list names their prefix."""

from __future__ import annotations

import pytest

from ivr.core.config import Config, ConfigError
from ivr.core.outbound import OutboundConfig, dialable

CHINA = OutboundConfig()


@pytest.mark.parametrize(("number", "dial"), [
    ("13912345678", "13912345678"),        # mobile 1[3-9] + 9 digits
    ("19900001111", "19900001111"),
    ("05585551001", "05585551001"),        # landline: 0 + area code + 7 digits
    ("055855510012", "055855510012"),      # … or 8 digits
    ("01062345678", "01062345678"),        # Beijing 010 + 8 digits
    ("02168888888", "02168888888"),        # Shanghai 021
    ("+8613912345678", "13912345678"),     # the country's own code: national form
    ("008613912345678", "13912345678"),
    ("+865585551001", "05585551001"),      # landline: trunk prefix 0 added
    ("+861062345678", "01062345678"),      # Beijing: +86 10 …, not a mobile
])
def test_national_numbers_are_dialled_in_national_form(number: str, dial: str) -> None:
    assert dialable(number, CHINA) == dial


@pytest.mark.parametrize("number", [
    "+8821612345678",   # satellite (Thuraya), premium: the toll-fraud attack of issue 9
    "008821612345678",
    "+85212345678",     # Hong Kong: international
    "+14155552671",
    "0014155552671",
    "12345678901",      # 12x: not a mobile range
    "95588",            # short service number
    "12590123456",      # 1259x information service
    "4008123123",       # 400 national rate service
    "0101234567",       # local number starting 1: a service, not a subscriber
    "1391234567",       # a digit short
    "139123456789",     # a digit long
    "+86",
    "",
])
def test_everything_else_is_refused(number: str) -> None:
    assert dialable(number, CHINA) is None


def test_the_allow_list_names_prefixes_beyond_the_plan() -> None:
    allowed = OutboundConfig(allow_prefixes="+852, 00852,400")
    assert dialable("+85212345678", allowed) == "+85212345678"
    assert dialable("0085212345678", allowed) == "0085212345678"
    assert dialable("4008123123", allowed) == "4008123123"
    assert dialable("+8821612345678", allowed) is None  # not named
    assert dialable("13912345678", allowed) == "13912345678"


def test_another_country_configures_its_own_plan() -> None:
    uk = OutboundConfig(national_pattern=r"0[1-37][0-9]{8,9}", country_code="44")
    assert dialable("+442079460958", uk) == "02079460958"
    assert dialable("13912345678", uk) is None
    assert dialable("09011234567", uk) is None  # UK premium rate


def test_the_section_is_checked_at_start() -> None:
    config = Config.build(outbound={"allow_prefixes": "+852", "per_case_per_day": 1})
    assert config.outbound.allowed_prefixes == ("+852",)
    for bad in ({"national_pattern": "(["}, {"country_code": "86a"},
                {"allow_prefixes": "+852,abc"}, {"per_node_per_hour": 0},
                {"survey_max_seconds": -1}):
        with pytest.raises(ConfigError, match=r"\[outbound\]"):
            Config.build(outbound=bad)
