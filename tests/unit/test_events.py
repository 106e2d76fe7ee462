"""CEL events as records (ivr/calls/events.py): AMI and the JSON journal give the same record.

Inputs are built in Asterisk's real formats: an AMI ``Event: CEL`` message (cel_manager, with
manager.conf ``timestampevents``) and a line of ``cel-custom/ivr-cel.json`` (cel_custom.conf.tmpl:
EventType,UserDefType,EventTime,Name,Num,Exten,Context,ChanName,UniqueID,LinkedID,Peer,EventExtra).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from ivr.calls.events import CelRecord, from_ami, from_journal_line, parse_extra

LID = "1795366780.16"
CALLEE = "1795366780.17"


def compact(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def ami(name: str, t: str, extra: str, uniqueid: str = LID, linkedid: str = LID, *,
        channel: str = "PJSIP/carrier-00000010", exten: str = "run", context: str = "ivr-route",
        cid: str = "13800000000", **more: str) -> dict[str, str]:
    """An AMI CEL event as AmiClient.parse_message returns it."""
    return {"Event": "CEL", "Privilege": "cdr,all", "EventName": name, "AccountCode": "",
            "CallerIDnum": cid, "CallerIDname": "citizen", "CallerIDani": cid, "CallerIDrdnis": "",
            "CallerIDdnid": "", "Exten": exten, "Context": context, "Channel": channel,
            "Application": "CELGenUserEvent", "AppData": "", "EventTime": "2026-11-19 10:19:40",
            "AMAFlags": "DOCUMENTATION", "UniqueID": uniqueid, "LinkedID": linkedid,
            "Userfield": "", "Peer": "", "PeerAccount": "", "Extra": extra, "Timestamp": t, **more}


def journal(etype: str, userdef: str, t: str, extra: str, uniqueid: str = LID,
            linkedid: str = LID, *, channel: str = "PJSIP/carrier-00000010", exten: str = "run",
            context: str = "ivr-route", cid: str = "13800000000") -> str:
    return compact({"eventtype": etype, "userdeftype": userdef, "eventtime": t, "name": "citizen",
                    "num": cid, "exten": exten, "context": context, "channame": channel,
                    "uniqueid": uniqueid, "linkedid": linkedid, "peer": "", "eventextra": extra})


def user_pair(name: str, text: str, t_ami: str = "1795366780.802289",
              t_journal: str = "1795366780.802282", **kw: Any) -> tuple[CelRecord, CelRecord]:
    extra = compact({"extra": text})
    a = from_ami(ami(name, t_ami, extra, **kw))
    j = from_journal_line(journal(name, name, t_journal, extra, **kw))
    assert a is not None and j is not None
    return a, j


def same_but_time(a: CelRecord, b: CelRecord) -> None:
    for f in ("eventtype", "userdeftype", "uniqueid", "linkedid", "channel", "exten", "context",
              "cid_num", "extra", "key", "name"):
        assert getattr(a, f) == getattr(b, f), f
    assert dict(a.fields) == dict(b.fields)
    assert abs(a.eventtime - b.eventtime) < 0.001


@pytest.mark.parametrize("name,text", [
    ("IVR_CALL", "dialed=05585551001;caller=13800000000;caller_raw=138%2000%0D%0AUniqueID%3A%201"),
    ("IVR_ROUTE", "official=12;src=agi;mode=direct"),
    ("IVR_STEP", "n=1;kind=direct;target=PJSIP/o-12&PJSIP/+8613800001001@carrier"),
    ("IVR_STEP_END", "n=1;kind=direct;result=NOANSWER"),
    ("IVR_VOICEMAIL", "file=/var/lib/ivr-asterisk/spool/ivr-voicemail/1795366780.16-o12.wav;status=HANGUP"),
    ("IVR_REFUSED", "dialed=abc"),
    ("IVR_CALLBACK", "case=42;number=13800000000"),
])
def test_user_event_same_from_both_sources(name: str, text: str) -> None:
    a, j = user_pair(name, text)
    same_but_time(a, j)
    assert a.eventtype == "USER_DEFINED" and a.userdeftype == name and a.name == name
    assert a.extra == text
    assert a.eventtime == pytest.approx(1795366780.802289)
    assert j.eventtime == pytest.approx(1795366780.802282)


def test_user_event_fields_parsed() -> None:
    a, _ = user_pair("IVR_STEP", "n=2;kind=deputy;target=PJSIP/o-13")
    assert dict(a.fields) == {"n": "2", "kind": "deputy", "target": "PJSIP/o-13"}
    # Asterisk's caller fields are never read (they carry what the caller sent, unescaped)
    assert (a.uniqueid, a.linkedid, a.channel, a.exten, a.context, a.cid_num) == (
        LID, LID, "PJSIP/carrier-00000010", "run", "ivr-route", "")


def test_answered_on_callee_channel() -> None:
    a, j = user_pair("IVR_ANSWERED", "n=1;by=o-12", uniqueid=CALLEE,
                     channel="PJSIP/o-12-00000011", exten="s", context="ivr-answered", cid="s")
    same_but_time(a, j)
    assert a.uniqueid == CALLEE and a.linkedid == LID and a.fields["by"] == "o-12"


def test_ami_user_defined_with_userdeftype_header() -> None:
    # an AMI that announces EventName: USER_DEFINED and the name in UserDefType
    extra = compact({"extra": "n=1;kind=pool;target=pool-main"})
    a = from_ami(ami("USER_DEFINED", "1795366780.5", extra, UserDefType="IVR_STEP"))
    j = from_journal_line(journal("IVR_STEP", "IVR_STEP", "1795366780.5", extra))
    assert a is not None and j is not None
    same_but_time(a, j)
    assert a.name == "IVR_STEP"


def test_journal_user_defined_literal_eventtype() -> None:
    extra = compact({"extra": "dialed=05585551001"})
    j = from_journal_line(journal("USER_DEFINED", "IVR_CALL", "1795366780.5", extra))
    assert j is not None and j.eventtype == "USER_DEFINED" and j.name == "IVR_CALL"


@pytest.mark.parametrize("ami_extra", [
    '{"hangupcause":16,"hangupsource":"PJSIP/carrier-00000010","dialstatus":"ANSWER"}',
    '{"dialstatus": "ANSWER", "hangupcause": 16, "hangupsource": "PJSIP/carrier-00000010"}',
])
def test_hangup_same_from_both_sources(ami_extra: str) -> None:
    journal_extra = '{"hangupcause":16,"hangupsource":"PJSIP/carrier-00000010","dialstatus":"ANSWER"}'
    a = from_ami(ami("HANGUP", "1795366783.282867", ami_extra, channel="PJSIP/carrier-00000010"))
    j = from_journal_line(journal("HANGUP", "", "1795366783.282867", journal_extra))
    assert a is not None and j is not None
    same_but_time(a, j)
    assert a.eventtype == "HANGUP" and a.userdeftype == "" and a.name == "HANGUP"
    assert dict(a.fields) == {"hangupcause": "16", "hangupsource": "PJSIP/carrier-00000010",
                              "dialstatus": "ANSWER"}


def test_linkedid_end_same_from_both_sources() -> None:
    a = from_ami(ami("LINKEDID_END", "1795366783.282867", ""))
    j = from_journal_line(journal("LINKEDID_END", "", "1795366783.282867", ""))
    assert a is not None and j is not None
    same_but_time(a, j)
    assert a.extra == "" and dict(a.fields) == {}


def test_real_journal_lines() -> None:
    # verbatim from an Asterisk 22 lab run
    lines = [
        '{"eventtype":"IVR_STEP","userdeftype":"IVR_STEP","eventtime":"1795367860.110372","name":'
        '"Bench 1 Director/13800000000","num":"13800000000","exten":"run","context":"ivr-route",'
        '"channame":"PJSIP/carrier-00000010","uniqueid":"1795367860.16","linkedid":"1795367860.16",'
        '"peer":"","eventextra":"{\\"extra\\":\\"n=1;kind=direct;target=PJSIP/o-bench1\\"}"}',
        '{"eventtype":"HANGUP","userdeftype":"","eventtime":"1795367563.282867","name":"citizen",'
        '"num":"13800000000","exten":"05585559001","context":"bench-static","channame":'
        '"PJSIP/bench-static-00000000","uniqueid":"1795367563.0","linkedid":"1795367563.0","peer":"",'
        '"eventextra":"{\\"hangupcause\\":16,\\"hangupsource\\":\\"PJSIP/bench-static-00000000\\",'
        '\\"dialstatus\\":\\"ANSWER\\"}"}',
    ]
    step = from_journal_line(lines[0])
    hang = from_journal_line(lines[1])
    assert step is not None and hang is not None
    assert (step.name, step.fields["target"], step.linkedid) == ("IVR_STEP", "PJSIP/o-bench1",
                                                                 "1795367860.16")
    assert hang.name == "HANGUP" and hang.fields["dialstatus"] == "ANSWER"
    assert hang.eventtime == pytest.approx(1795367563.282867)


def test_key_distinguishes_events() -> None:
    a1, _ = user_pair("IVR_STEP", "n=1;kind=direct;target=PJSIP/o-12")
    a2, _ = user_pair("IVR_STEP", "n=2;kind=pool;target=pool-main")
    e1, _ = user_pair("IVR_STEP_END", "n=1;kind=direct;result=NOANSWER")
    other, _ = user_pair("IVR_STEP", "n=1;kind=direct;target=PJSIP/o-12", uniqueid="1.2",
                         linkedid="1.2")
    hang = from_ami(ami("HANGUP", "1.0", '{"hangupcause":16,"hangupsource":"","dialstatus":""}'))
    end = from_ami(ami("LINKEDID_END", "1.0", ""))
    assert hang is not None and end is not None
    keys = [a1.key, a2.key, e1.key, other.key, hang.key, end.key]
    assert len(set(keys)) == len(keys)
    assert all(len(k) == 40 for k in keys)
    # the same event stamped at another time keeps its key
    again, _ = user_pair("IVR_STEP", "n=1;kind=direct;target=PJSIP/o-12", t_ami="1795366790.0")
    assert again.key == a1.key


@pytest.mark.parametrize("name", ["CHAN_START", "CHAN_END", "APP_START", "APP_END",
                                  "BRIDGE_ENTER", "BRIDGE_EXIT", "PARK_START", "LOCAL_OPTIMIZE"])
def test_unwanted_event_types_ignored(name: str) -> None:
    assert from_ami(ami(name, "1795366780.1", "")) is None
    assert from_journal_line(journal(name, "", "1795366780.1", "")) is None


@pytest.mark.parametrize("name", ["OTHER", "MY_EVENT", "ivr_step"])
def test_foreign_user_events_ignored(name: str) -> None:
    extra = compact({"extra": "x=1"})
    assert from_ami(ami(name, "1795366780.1", extra)) is None
    assert from_journal_line(journal(name, name, "1795366780.1", extra)) is None


def test_events_without_linkedid_or_time_ignored() -> None:
    extra = compact({"extra": "dialed=1"})
    assert from_ami(ami("IVR_CALL", "1795366780.1", extra, linkedid="")) is None
    assert from_journal_line(journal("IVR_CALL", "IVR_CALL", "1795366780.1", extra, linkedid="")) is None
    assert from_ami(ami("IVR_CALL", "", extra)) is None  # timestampevents off
    assert from_ami(ami("IVR_CALL", "yesterday", extra)) is None
    assert from_journal_line(journal("IVR_CALL", "IVR_CALL", "", extra)) is None
    msg = ami("IVR_CALL", "1795366780.1", extra)
    del msg["Timestamp"]
    assert from_ami(msg) is None


@pytest.mark.parametrize("line", [
    "", "\n", "not json", "[1, 2, 3]", "null", '"IVR_CALL"', "42",
    '{"eventtype":"IVR_CALL","userdeftype":"IVR_CALL","eventtime":"1795366780.1","linkedid":"1.',
    '{"eventtype":"HANGUP"}', "{}", "\x00\x01garbage",
])
def test_malformed_journal_lines_ignored(line: str) -> None:
    assert from_journal_line(line) is None


def test_journal_line_with_chinese_name_and_newline() -> None:
    extra = compact({"extra": "dialed=05585551001"})
    line = journal("IVR_CALL", "IVR_CALL", "1795366780.1", extra).replace(
        '"citizen"', '"张三"') + "\n"
    rec = from_journal_line(line)
    assert rec is not None and rec.fields["dialed"] == "05585551001"


def test_parse_extra() -> None:
    assert parse_extra("") == ("", {})
    assert parse_extra('{"extra":"a=1; b = 2 ;c;d="}') == ("a=1; b = 2 ;c;d=", {"a": "1", "b": "2", "d": ""})
    assert parse_extra("a=1;b=2") == ("a=1;b=2", {"a": "1", "b": "2"})  # not JSON: raw text
    text, fields = parse_extra('{"hangupcause":16,"dialstatus":"BUSY"}')
    assert fields == {"hangupcause": "16", "dialstatus": "BUSY"}
    assert json.loads(text) == {"dialstatus": "BUSY", "hangupcause": "16"}
    # normalised: key order and spacing do not change the text (and so the key)
    assert parse_extra('{"dialstatus": "BUSY", "hangupcause": 16}')[0] == text
    assert parse_extra('"just a string"') == ("just a string", {})
    assert parse_extra('{"extra":"file=/x.wav;status=RECORDED"}')[1]["file"] == "/x.wav"
