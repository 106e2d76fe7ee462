"""Phone-number normalisation, dial forms and caller-ID sanitising."""

from __future__ import annotations

import pytest

from ivr.core.numbers import NumberError, dial_forms, is_mobile, normalize, sanitize_caller_id


@pytest.mark.parametrize(("raw", "e164"), [
    # landlines: 0 + 3-digit area code + 7 or 8 digits, or 010/02x + 8 digits
    ("0558-1234567", "+865581234567"),
    ("(0558) 1234567", "+865581234567"),
    ("0558 123 4567", "+865581234567"),
    ("055812345678", "+8655812345678"),
    ("010-12345678", "+861012345678"),
    ("021 6888 8888", "+862168888888"),
    ("（0558）１２３４５６７", "+865581234567"),  # full-width, as copied from web pages
    # mobiles
    ("13800001111", "+8613800001111"),
    ("138-0000-1111", "+8613800001111"),
    ("199 0000 1111", "+8619900001111"),
    # international forms of Chinese numbers
    ("+86 558 1234567", "+865581234567"),
    ("+86-10-12345678", "+861012345678"),
    ("+86 (0558) 1234567", "+865581234567"),
    ("0086 558 1234567", "+865581234567"),
    ("0086 138 0000 1111", "+8613800001111"),
    ("865581234567", "+865581234567"),
    ("8613800001111", "+8613800001111"),
    ("+8613800001111", "+8613800001111"),
    # other countries
    ("+1 415 555 2671", "+14155552671"),
    ("+44 20 7946 0958", "+442079460958"),
    ("0044 20 7946 0958", "+442079460958"),
    ("+49 30 123456", "+4930123456"),
])
def test_valid_numbers(raw: str, e164: str) -> None:
    assert normalize(raw) == e164


@pytest.mark.parametrize("raw", [
    "", "   ", "123", "1234567", "110", "12345678901",      # too short / not a mobile prefix
    "12800001111",                                          # 1[3-9] only
    "1380000111", "138000011112",                           # mobile with 10 / 12 digits
    "0558-123", "0558-123456789", "05581234567890",         # landline lengths
    "0-12345678", "01-12345678",                            # no such area code
    "+86 123", "+86 138 0000 111", "+86 558 12345",         # +86 with wrong lengths
    "+86 10 1234567",                                       # Beijing has 8-digit local numbers
    "0086 12345", "86 12345",
    "+0123456789", "+1234567", "+1234567890123456",         # E.164 bounds (8..15 digits)
    "00", "+", "++8613800001111", "+86+13800001111",
    "abc", "138OOOO1111", "0558-1234567 ext 12", "0558-1234567转12",
    "1380000111١",                                          # Arabic-Indic digit
    "0558_1234567", "0558/1234567", "0558\n1234567", "<0558>1234567",
    "1" * 60,
])
def test_malformed_numbers(raw: str) -> None:
    with pytest.raises(NumberError):
        normalize(raw)


def test_number_error_is_value_error_and_names_input() -> None:
    with pytest.raises(ValueError, match="0558-123"):
        normalize("0558-123")


def test_non_text_rejected() -> None:
    with pytest.raises(NumberError):
        normalize(13800001111)  # type: ignore[arg-type]


@pytest.mark.parametrize(("e164", "forms"), [
    ("+865581234567", ["865581234567", "05581234567"]),
    ("+8655812345678", ["8655812345678", "055812345678"]),
    ("+861012345678", ["861012345678", "01012345678"]),
    ("+8613800001111", ["8613800001111", "13800001111"]),
    ("+14155552671", ["14155552671"]),
])
def test_dial_forms(e164: str, forms: list[str]) -> None:
    assert dial_forms(e164) == forms
    for form in forms:  # every dial form normalises back
        assert normalize(form if not form.startswith("86") and not form.startswith("1415")
                         else "+" + form) == e164


@pytest.mark.parametrize("bad", ["05581234567", "8613800001111", "+86123", "+0123456789", ""])
def test_dial_forms_needs_e164(bad: str) -> None:
    with pytest.raises(NumberError):
        dial_forms(bad)


def test_is_mobile() -> None:
    assert is_mobile("+8613800001111")
    assert not is_mobile("+865581234567")
    assert not is_mobile("+14155552671")


@pytest.mark.parametrize(("raw", "clean"), [
    ("13800001111", "13800001111"),
    ("+86 138-0000_1111", "+86 138-0000_1111"),
    ("*31#", "*31#"),
    ("<script>alert(1)</script>", "scriptalert1script"),
    ("Zhang\x00San\r\n\x1b[31m", "ZhangSan31m"),
    ('"Evil" <sip:x@y>;tag=1', "Evil sipxytag1"),
    ("张三 13800001111", "13800001111"),
    ("", ""),
    (None, ""),
    ("9" * 100, "9" * 40),
    ("a/b\\c|d^e,f;g'h", "abcdefgh"),
])
def test_sanitize_caller_id(raw: str | None, clean: str) -> None:
    assert sanitize_caller_id(raw) == clean


def test_sanitize_caller_id_never_exceeds_40() -> None:
    assert len(sanitize_caller_id("x" * 39 + "<" * 10 + "y" * 10)) == 40


def test_national_form_is_how_numbers_are_published() -> None:
    from ivr.core.numbers import national_form
    assert national_form("+865585551004") == "0558-5551004"
    assert national_form("+861012345678") == "010-12345678"
    assert national_form("+862012345678") == "020-12345678"
    assert national_form("+8613800001001") == "13800001001"
    assert national_form("+14155550100") == "+14155550100"
