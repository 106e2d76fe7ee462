"""Folding one call's CEL events into a call record (ivr/calls/fold.py): outcomes and steps.

Events are built as journal lines (the real format) and parsed with ``from_journal_line``.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime

import pytest

from ivr.calls.events import CelRecord, from_journal_line
from ivr.calls.fold import fold

T0 = 1795366780.0
LID = "1795366780.16"
CALLEE = "1795366780.17"
CALLEE2 = "1795366780.18"


def at(dt: float) -> datetime:
    return datetime.fromtimestamp(T0 + dt, UTC)


def user(name: str, dt: float, text: str, uniqueid: str = LID, channel: str = "PJSIP/carrier-00000010",
         cid: str = "13800000000") -> CelRecord:
    line = json.dumps({"eventtype": name, "userdeftype": name, "eventtime": f"{T0 + dt:.6f}",
                       "name": "citizen", "num": cid, "exten": "run", "context": "ivr-route",
                       "channame": channel, "uniqueid": uniqueid, "linkedid": LID, "peer": "",
                       "eventextra": json.dumps({"extra": text})})
    rec = from_journal_line(line)
    assert rec is not None
    return rec


def hangup(dt: float, dialstatus: str = "", uniqueid: str = LID) -> CelRecord:
    line = json.dumps({"eventtype": "HANGUP", "userdeftype": "", "eventtime": f"{T0 + dt:.6f}",
                       "name": "citizen", "num": "13800000000", "exten": "run", "context": "ivr-route",
                       "channame": "PJSIP/carrier-00000010", "uniqueid": uniqueid, "linkedid": LID,
                       "peer": "", "eventextra": json.dumps({"hangupcause": 16,
                                                             "hangupsource": "PJSIP/carrier-00000010",
                                                             "dialstatus": dialstatus})})
    rec = from_journal_line(line)
    assert rec is not None
    return rec


def linkedid_end(dt: float) -> CelRecord:
    line = json.dumps({"eventtype": "LINKEDID_END", "userdeftype": "", "eventtime": f"{T0 + dt:.6f}",
                       "name": "", "num": "", "exten": "", "context": "", "channame": "PJSIP/carrier-00000010",
                       "uniqueid": LID, "linkedid": LID, "peer": "", "eventextra": ""})
    rec = from_journal_line(line)
    assert rec is not None
    return rec


def start(mode: str = "direct", src: str = "agi") -> list[CelRecord]:
    return [user("IVR_CALL", 0.0, "dialed=05585551001;caller=13800000000;caller_raw=13800000000"),
            user("IVR_ROUTE", 0.1, f"official=12;src={src};mode={mode}")]


def step(n: int, kind: str, target: str, dt: float) -> CelRecord:
    return user("IVR_STEP", dt, f"n={n};kind={kind};target={target}")


def step_end(n: int, kind: str, result: str, dt: float) -> CelRecord:
    return user("IVR_STEP_END", dt, f"n={n};kind={kind};result={result}")


def answered(n: int, by: str, dt: float, uniqueid: str = CALLEE) -> list[CelRecord]:
    """A callee answers: Asterisk's own CEL ANSWER on the callee channel, then the dialplan's
    IVR_ANSWERED from the Dial U()/Queue gosub. (Both are given so that the tests hold whether
    the fold reads the one or the other; a fold that does not want an event ignores it.)"""
    channel = "PJSIP/carrier-00000011" if by.startswith("+") else f"PJSIP/{by}-00000011"
    line = json.dumps({"eventtype": "ANSWER", "userdeftype": "", "eventtime": f"{T0 + dt - 0.001:.6f}",
                       "name": "", "num": "", "exten": "s", "context": "ivr-phones",
                       "channame": channel, "uniqueid": uniqueid, "linkedid": LID, "peer": "",
                       "eventextra": ""})
    cel_answer = from_journal_line(line)
    ivr_answered = user("IVR_ANSWERED", dt, f"n={n};by={by}", uniqueid=uniqueid, channel=channel)
    return ([cel_answer] if cel_answer is not None else []) + [ivr_answered]


def end(dt: float, dialstatus: str = "") -> list[CelRecord]:
    return [hangup(dt, dialstatus), linkedid_end(dt)]


def answered_direct() -> list[CelRecord]:
    return start() + [step(1, "direct", "PJSIP/o-12", 0.2), *answered(1, "o-12", 3.0),
                      hangup(40.0, uniqueid=CALLEE), step_end(1, "direct", "ANSWER", 40.1),
                      *end(40.2, "ANSWER")]


def by_deputy() -> list[CelRecord]:
    return start() + [step(1, "direct", "PJSIP/o-12", 0.2), step_end(1, "direct", "NOANSWER", 20.2),
                      step(2, "deputy", "PJSIP/o-13", 20.3), *answered(2, "o-13", 25.0, CALLEE2),
                      step_end(2, "deputy", "ANSWER", 60.0), *end(60.1, "ANSWER")]


def test_answered_direct() -> None:
    c = fold(LID, answered_direct())
    assert c.outcome == "answered" and c.kind == "citizen" and c.confirmed is None
    assert (c.answered_kind, c.answered_role, c.answered_by) == ("direct", "official", "o-12")
    assert c.waited_secs == 3.0
    assert at(2.99) <= c.answered_at <= at(3.0)
    assert (c.number_dialed, c.caller, c.official_id, c.route_source, c.mode) == (
        "05585551001", "13800000000", 12, "agi", "direct")
    assert c.started_at == at(0.0) and c.ended_at == at(40.2) and c.complete
    (s,) = c.steps.values()
    assert (s.seq, s.kind, s.target, s.result, s.answered_by) == (1, "direct", "PJSIP/o-12", "ANSWER", "o-12")
    assert (s.started_at, s.ended_at) == (at(0.2), at(40.1))


def test_answered_by_deputy() -> None:
    c = fold(LID, by_deputy())
    assert c.outcome == "answered"
    assert (c.answered_kind, c.answered_role, c.answered_by) == ("deputy", "deputy", "o-13")
    assert c.answered_at is not None and at(24.99) <= c.answered_at <= at(25.0)
    assert [(s.seq, s.kind, s.result, s.answered_by) for s in c.steps.values()] == [
        (1, "direct", "NOANSWER", None), (2, "deputy", "ANSWER", "o-13")]


def test_answered_by_operator() -> None:
    events = start("pool") + [step(1, "pool", "pool-main", 0.2), *answered(1, "op-1", 8.0),
                              step_end(1, "pool", "ANSWER", 30.0), *end(30.1)]
    c = fold(LID, events)
    assert (c.outcome, c.answered_kind, c.answered_by, c.mode) == ("answered", "pool", "op-1", "pool")
    assert c.answered_role == "operator"


def test_callback_leg_has_kind_callback() -> None:
    assert fold("ivrcb-7-abc", []).kind == "callback"


def test_answered_mobile_through_carrier() -> None:
    events = start() + [step(1, "direct", "PJSIP/o-12&PJSIP/+8613800001001@carrier", 0.2),
                        *answered(1, "+8613800001001", 5.0), *end(9.0, "ANSWER")]
    c = fold(LID, events)
    assert c.outcome == "answered" and c.answered_by == "+8613800001001"
    assert c.steps[1].target == "PJSIP/o-12&PJSIP/+8613800001001@carrier"
    assert c.steps[1].result == "ANSWER"  # cut by the hangup after the answer


def _ran_out(first_result: str) -> list[CelRecord]:
    return start() + [step(1, "direct", "PJSIP/o-12", 0.2), step_end(1, "direct", first_result, 2.0),
                      step(2, "pool", "pool-main", 2.1), step_end(2, "pool", "TIMEOUT", 62.1),
                      step(3, "message", "ivr-unavailable", 62.2),
                      step_end(3, "message", "PLAYED", 66.0), *end(66.1, first_result)]


def test_busy_then_pool_timeout_then_message_played_out_is_missed() -> None:
    c = fold(LID, _ran_out("BUSY"))
    assert c.outcome == "missed" and c.answered_at is None and c.waited_secs is None
    assert [s.result for s in c.steps.values()] == ["BUSY", "TIMEOUT", "PLAYED"]


@pytest.mark.parametrize("result", ["NOANSWER", "CHANUNAVAIL", "CONGESTION"])
def test_missed_keeps_each_steps_result(result: str) -> None:
    c = fold(LID, _ran_out(result))
    assert c.outcome == "missed"
    assert [s.result for s in c.steps.values()] == [result, "TIMEOUT", "PLAYED"]


def test_no_answer_pool_only() -> None:
    events = start("pool") + [step(1, "pool", "pool-main", 0.2), step_end(1, "pool", "TIMEOUT", 60.0),
                              step(2, "message", "ivr-unavailable", 60.1),
                              step_end(2, "message", "PLAYED", 63.0), *end(63.1)]
    assert fold(LID, events).outcome == "missed"


def test_abandoned_while_ringing() -> None:
    events = start() + [step(1, "direct", "PJSIP/o-12", 0.2), *end(6.0, "CANCEL")]
    c = fold(LID, events)
    assert c.outcome == "abandoned"
    assert (c.abandoned_during, c.waited_secs) == ("ringing", 6.0)
    assert c.steps[1].result == "CANCEL" and c.steps[1].ended_at == at(6.0)
    assert c.ended_at == at(6.0)


def test_step_cut_without_dialstatus_is_cancel() -> None:
    events = start() + [step(1, "direct", "PJSIP/o-12", 0.2), *end(6.0, "")]
    assert fold(LID, events).steps[1].result == "CANCEL"


def test_abandoned_while_queued() -> None:
    events = start() + [step(1, "direct", "PJSIP/o-12", 0.2), step_end(1, "direct", "NOANSWER", 20.2),
                        step(2, "pool", "pool-main", 20.3), *end(35.0, "NOANSWER")]
    c = fold(LID, events)
    assert c.outcome == "abandoned"
    assert (c.abandoned_during, c.waited_secs) == ("queued", 35.0)
    assert c.steps[1].result == "NOANSWER" and c.steps[1].ended_at == at(20.2)
    # its own result, not the deputy's dial status carried by the hang-up
    assert c.steps[2].ended_at == at(35.0) and c.steps[2].result == "CANCEL"


def test_abandoned_in_the_menu() -> None:
    events = start("pool") + [step(0, "menu", "1-voicemail.0-pool.9-repeat", 0.2), *end(3.0)]
    c = fold(LID, events)
    assert (c.outcome, c.abandoned_during, c.waited_secs) == ("abandoned", "menu", 3.0)
    assert c.steps[0].result == "CUT"


def test_abandoned_before_any_step() -> None:
    c = fold(LID, start() + end(0.5))
    assert (c.outcome, c.abandoned_during) == ("abandoned", "routing")


def test_hangup_during_the_closing_message_is_missed_and_the_message_cut() -> None:
    events = start() + [step(1, "direct", "PJSIP/o-12", 0.2), step_end(1, "direct", "BUSY", 1.0),
                        step(2, "pool", "pool-main", 1.1), step_end(2, "pool", "TIMEOUT", 9.1),
                        step(3, "message", "ivr-unavailable", 9.2), *end(10.0, "BUSY")]
    c = fold(LID, events)
    assert c.outcome == "missed" and c.abandoned_during is None and c.waited_secs is None
    # never message:BUSY (the channel's last DIALSTATUS)
    assert [s.result for s in c.steps.values()] == ["BUSY", "TIMEOUT", "CUT"]


def test_hangup_during_the_greeting_is_missed() -> None:
    events = start() + [step(1, "direct", "PJSIP/o-12", 0.2), step_end(1, "direct", "NOANSWER", 5.2),
                        step(2, "voicemail", "12", 5.3), *end(8.0, "NOANSWER")]
    c = fold(LID, events)
    assert c.outcome == "missed" and c.voicemail_file is None
    assert [s.result for s in c.steps.values()] == ["NOANSWER", "CUT"]


def _voicemail(status: str = "RECORDED", with_end: bool = True) -> list[CelRecord]:
    events = start("voicemail") + [
        step(1, "voicemail", "12", 0.2),
        user("IVR_VOICEMAIL", 20.0, f"file=/var/lib/ivr-asterisk/spool/ivr-voicemail/{LID}-o12.wav;status={status}")]
    if with_end:
        events.append(step_end(1, "voicemail", "RECORDED", 20.0))
    return events + end(20.5)


def test_voicemail_with_audio() -> None:
    c = fold(LID, _voicemail(), voicemail_secs=12.3)
    assert c.outcome == "voicemail" and c.voicemail_secs == 12.3
    assert c.voicemail_file == f"/var/lib/ivr-asterisk/spool/ivr-voicemail/{LID}-o12.wav"
    assert c.steps[1].result == "RECORDED" and c.steps[1].ended_at == at(20.0)


@pytest.mark.parametrize("secs", [None, 0.0, 0.4, 0.99])
def test_recording_under_a_second_is_no_message_but_missed(secs: float | None) -> None:
    # the greeting had started (and the beep played): the final step was reached
    for status, with_end in (("SILENCE", True), ("HANGUP", False)):
        c = fold(LID, _voicemail(status=status, with_end=with_end), voicemail_secs=secs)
        assert c.outcome == "missed" and c.voicemail_file is not None
        assert c.steps[1].result == "EMPTY"


def test_recording_of_a_second_is_a_message() -> None:
    c = fold(LID, _voicemail(status="HANGUP", with_end=False), voicemail_secs=1.0)
    assert c.outcome == "voicemail" and c.steps[1].result == "RECORDED"


def test_voicemail_ended_by_caller_hangup() -> None:
    # the caller hangs up while recording: the hangup handler emits IVR_VOICEMAIL, no STEP_END
    c = fold(LID, _voicemail(status="HANGUP", with_end=False), voicemail_secs=5.0)
    assert c.outcome == "voicemail"
    assert c.steps[1].result == "RECORDED" and c.steps[1].ended_at == at(20.0)


def test_voicemail_after_unanswered_direct() -> None:
    events = start() + [step(1, "direct", "PJSIP/o-12", 0.2), step_end(1, "direct", "NOANSWER", 20.2),
                        step(2, "voicemail", "12", 20.3),
                        user("IVR_VOICEMAIL", 40.0, "file=/v/x.wav;status=SILENCE"),
                        step_end(2, "voicemail", "RECORDED", 40.0), *end(40.1, "NOANSWER")]
    c = fold(LID, events, voicemail_secs=9.0)
    assert c.outcome == "voicemail"
    assert [s.result for s in c.steps.values()] == ["NOANSWER", "RECORDED"]


def test_refused() -> None:
    events = [user("IVR_CALL", 0.0, "dialed=12345"), user("IVR_REFUSED", 0.01, "dialed=12345"), *end(0.02)]
    c = fold(LID, events)
    assert c.outcome == "refused" and c.number_dialed == "12345" and c.steps == {}


def test_refused_without_call_event() -> None:
    c = fold(LID, [user("IVR_REFUSED", 0.01, "dialed=999"), *end(0.02)])
    assert c.outcome == "refused" and c.number_dialed == "999"


def test_in_progress_has_no_outcome() -> None:
    events = start() + [step(1, "direct", "PJSIP/o-12", 0.2), *answered(1, "o-12", 3.0)]
    c = fold(LID, events)
    assert c.outcome is None and not c.complete and c.ended_at is None
    assert c.answered_by == "o-12" and c.steps[1].ended_at is None


def test_callee_hangup_does_not_end_the_call() -> None:
    events = start() + [step(1, "direct", "PJSIP/o-12", 0.2), *answered(1, "o-12", 3.0),
                        hangup(10.0, "", uniqueid=CALLEE)]
    c = fold(LID, events)
    assert c.ended_at is None and c.outcome is None and c.steps[1].ended_at is None


def test_linkedid_end_alone_completes() -> None:
    events = start() + [step(1, "direct", "PJSIP/o-12", 0.2), step_end(1, "direct", "NOANSWER", 2.0),
                        step(2, "message", "ivr-unavailable", 2.1),
                        step_end(2, "message", "PLAYED", 5.0), linkedid_end(5.5)]
    c = fold(LID, events)
    assert c.complete and c.ended_at == at(5.5) and c.outcome == "missed"


@pytest.mark.parametrize("make", [answered_direct, by_deputy, lambda: _ran_out("BUSY"),
                                  lambda: _voicemail(status="HANGUP", with_end=False)])
def test_events_out_of_order(make: object) -> None:
    events = make()  # type: ignore[operator]
    expected = fold(LID, events, voicemail_secs=4.0)
    rng = random.Random(7)
    for _ in range(10):
        shuffled = list(events)
        rng.shuffle(shuffled)
        assert fold(LID, shuffled, voicemail_secs=4.0) == expected
    assert fold(LID, list(reversed(events)), voicemail_secs=4.0) == expected


def test_only_first_answer_counts() -> None:
    events = start() + [step(1, "direct", "PJSIP/o-12&PJSIP/o-12b", 0.2), *answered(1, "o-12", 3.0),
                        *answered(1, "o-12b", 3.5, CALLEE2), *end(10.0, "ANSWER")]
    c = fold(LID, events)
    assert c.answered_by == "o-12"
    assert c.answered_at is not None and at(2.99) <= c.answered_at <= at(3.0)


def test_answer_for_unknown_step_ignored() -> None:
    # IVR_ANSWERED naming a step that never ran (no CEL ANSWER: nobody really answered)
    events = start() + [step(1, "direct", "PJSIP/o-12", 0.2),
                        user("IVR_ANSWERED", 3.0, "n=7;by=o-99", uniqueid=CALLEE),
                        user("IVR_ANSWERED", 3.1, "n=0;by=o-98", uniqueid=CALLEE),
                        *end(6.0, "CANCEL")]
    c = fold(LID, events)
    assert c.answered_at is None and c.outcome == "abandoned"


def test_route_fields_defaults_and_sanitising() -> None:
    events = [user("IVR_CALL", 0.0, "dialed=+86<script>0558", cid="1380000<b>0000"),
              user("IVR_ROUTE", 0.1, "official=0;src=default;mode=pool"), *end(1.0)]
    c = fold(LID, events)
    assert c.official_id is None and c.route_source == "default" and c.mode == "pool"
    assert "<" not in c.number_dialed and "<" not in c.caller
    c = fold(LID, [user("IVR_ROUTE", 0.1, "official=abc;src=mirror;mode=direct")])
    assert c.official_id is None and c.route_source == "mirror"


def test_no_events() -> None:
    c = fold(LID, [])
    assert c.linkedid == LID and c.outcome is None and c.started_at is None and c.steps == {}


def test_interrupted_keeps_what_is_known() -> None:
    """Left open by a restarted Asterisk: interrupted at the given time, the answer and the
    steps so far kept; a running step ends then with no result of its own."""
    events = start() + [step(1, "direct", "PJSIP/o-12", 0.2), *answered(1, "o-12", 3.0)]
    assert fold(LID, events).outcome is None  # without interrupted_at: still in progress
    c = fold(LID, events, interrupted_at=at(3.0))
    assert c.outcome == "interrupted" and not c.complete
    assert (c.answered_kind, c.answered_role, c.answered_by) == ("direct", "official", "o-12")
    assert c.waited_secs == 3.0 and c.ended_at == at(3.0) and c.abandoned_during is None
    s = c.steps[1]
    assert (s.kind, s.answered_by, s.result, s.ended_at) == ("direct", "o-12", None, at(3.0))


def test_interrupted_at_is_ignored_once_the_call_ended() -> None:
    c = fold(LID, answered_direct(), interrupted_at=at(50.0))
    assert c.outcome == "answered" and c.ended_at == at(40.2)
