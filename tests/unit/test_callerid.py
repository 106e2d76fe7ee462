"""The caller ID a record keeps: decoded from the dialplan's caller_raw=, normalised, escaped."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest

from ivr.calls.callerid import caller_id, escape, normalise
from ivr.calls.events import from_journal_line
from ivr.calls.fold import fold

ATTACK = "1380000\r\nLinkedID: 1.1\r\nUniqueID: 1.1\r\nExtra: x\r\n\r\n"


@pytest.mark.parametrize("original,caller,altered", [
    ("13800001111", "13800001111", False),
    ("+8613800001111", "+8613800001111", False),
    ("１３８００００１１１１", "13800001111", True),  # full-width: folded, not dropped
    ("＋８６１３８", "+86138", True),
    ("138 0000-1111", "13800001111", True),
    ("anonymous", "", True),
    ("", "", False),
    ("1+2", "12", True),
    ("1" * 30, "1" * 20, True),
    (ATTACK, "13800001111", True),
])
def test_normalise(original: str, caller: str, altered: bool) -> None:
    cid = caller_id(encoded=quote(original, safe=""))
    assert (cid.caller, cid.altered) == (caller, altered)
    assert normalise(original) == caller


def test_escaped_original_is_one_printable_line() -> None:
    cid = caller_id({"caller_raw": quote(ATTACK, safe="")})
    assert cid.raw == "1380000\\r\\nLinkedID: 1.1\\r\\nUniqueID: 1.1\\r\\nExtra: x\\r\\n\\r\\n"
    assert cid.raw.isprintable()
    assert escape("a\\b\x00\x7f\u200b") == "a\\\\b\\x00\\x7f\\u200b"
    assert escape("１３８") == "１３８"  # printable as received
    assert len(escape("\x01" * 500)) == 255


def test_bad_encoding_and_old_events() -> None:
    assert caller_id({"caller_raw": "%FF%0A1"}).raw == "\ufffd\\n1"
    # events stored before the dialplan sent caller_raw: the caller= copy, else the fallback
    assert caller_id({"caller": "139"}).caller == "139"
    old = caller_id({}, fallback="13900001111")
    assert (old.caller, old.raw, old.altered) == ("13900001111", "13900001111", False)


def test_fold_takes_the_caller_from_ivr_call_only() -> None:
    extra = "dialed=05585551001;caller=13800000;caller_raw=" + quote(ATTACK, safe="")
    line = json.dumps({"eventtype": "IVR_CALL", "userdeftype": "IVR_CALL",
                       "eventtime": "1795366780.1", "uniqueid": "9.9", "linkedid": "9.9",
                       "num": "forged", "name": "forged", "eventextra": json.dumps({"extra": extra})})
    rec = from_journal_line(line)
    assert rec is not None and rec.cid_num == ""
    call = fold("9.9", [rec])
    assert (call.caller, call.caller_altered) == ("13800001111", True)
    assert call.caller_raw.startswith("1380000\\r\\nLinkedID")
