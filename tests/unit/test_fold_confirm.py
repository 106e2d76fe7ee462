"""Folding confirmed legs (issue 8, docs/architecture.md "Confirmed legs"): a confirming leg's
own ANSWER is no answer; its IVR_CONFIRM_END result=CONFIRMED is; Local leg channels are read
as their device; a step where legs answered without confirming and nobody took the call is
UNCONFIRMED. Events are journal lines parsed with ``from_journal_line``, as in test_fold."""

from __future__ import annotations

import json

from ivr.calls.events import CelRecord, from_journal_line
from ivr.calls.fold import answerer, fold, legs_of, legs_text
from tests.unit.test_fold import LID, T0, at, end, start, step, step_end, user

MOBILE = "+8613800001001"
TARGET = f"Local/pso-12@ivr-leg&Local/cm{MOBILE}@ivr-leg"
DESK_ID, MOBILE_ID, LOCAL1_ID, LOCAL2_ID = (f"1795366780.{n}" for n in (20, 21, 22, 23))


def answer(channel: str, uniqueid: str, dt: float) -> CelRecord:
    rec = from_journal_line(json.dumps({
        "eventtype": "ANSWER", "userdeftype": "", "eventtime": f"{T0 + dt:.6f}", "exten": "s",
        "context": "ivr-leg", "channame": channel, "uniqueid": uniqueid, "linkedid": LID,
        "peer": "", "eventextra": ""}))
    assert rec is not None
    return rec


def asked(dt: float, device: str = MOBILE, uniqueid: str = MOBILE_ID, n: int = 1) -> list[CelRecord]:
    """The carrier answers the mobile's leg and its callee is asked."""
    return [answer("PJSIP/carrier-00000021", uniqueid, dt),
            user("IVR_CONFIRM", dt + 0.01, f"n={n};device={device}", uniqueid=uniqueid,
                 channel="PJSIP/carrier-00000021")]


def confirm_end(dt: float, result: str, device: str = MOBILE, uniqueid: str = MOBILE_ID,
                n: int = 1) -> CelRecord:
    return user("IVR_CONFIRM_END", dt, f"n={n};device={device};result={result}",
                uniqueid=uniqueid, channel="PJSIP/carrier-00000021")


def test_answerer_reads_local_legs() -> None:
    assert answerer(f"Local/cm{MOBILE}@ivr-leg-0000000a;1", TARGET) == MOBILE
    assert answerer("Local/pso-12@ivr-leg-0000000b;2", TARGET) == "o-12"
    assert answerer("PJSIP/carrier-00000021", f"Local/pm{MOBILE}@ivr-leg") == MOBILE
    assert answerer("PJSIP/carrier-00000021", f"Local/pm{MOBILE}@ivr-leg&Local/pm+8613900001005"
                                              "@ivr-leg") == "carrier"  # which one: its Local leg


def test_carrier_voicemail_unconfirmed_the_desk_phone_answers() -> None:
    events = start() + [step(1, "direct", TARGET, 0.2), *asked(0.5),
                        answer("PJSIP/o-12-00000020", DESK_ID, 3.2),
                        answer("Local/pso-12@ivr-leg-0000000b;2", LOCAL2_ID, 3.21),
                        answer("Local/pso-12@ivr-leg-0000000b;1", LOCAL1_ID, 3.22),
                        confirm_end(12.0, "UNCONFIRMED"), *end(20.0, "ANSWER")]
    c = fold(LID, events)
    assert (c.outcome, c.answered_by, c.confirmed) == ("answered", "o-12", None)
    assert c.answered_at == at(3.2) and c.waited_secs == 3.2
    s = c.steps[1]
    assert (s.result, s.answered_by, s.legs) == ("ANSWER", "o-12", {MOBILE: "UNCONFIRMED"})


def test_mobile_confirms_with_1() -> None:
    events = start() + [step(1, "direct", TARGET, 0.2), *asked(0.5), confirm_end(2.5, "CONFIRMED"),
                        answer(f"Local/cm{MOBILE}@ivr-leg-0000000a;2", LOCAL2_ID, 2.51),
                        answer(f"Local/cm{MOBILE}@ivr-leg-0000000a;1", LOCAL1_ID, 2.52),
                        *end(30.0, "ANSWER")]
    c = fold(LID, events)
    assert (c.outcome, c.answered_by, c.answered_role, c.confirmed) == (
        "answered", MOBILE, "official", True)
    assert c.answered_at == at(2.5)  # when 1 was pressed, not when the carrier answered
    assert (c.steps[1].result, c.steps[1].legs) == ("ANSWER", {MOBILE: "CONFIRMED"})


def test_declined_and_unconfirmed_legs_make_the_step_unconfirmed_and_the_chain_goes_on() -> None:
    events = start() + [step(1, "direct", TARGET, 0.2), *asked(0.5), confirm_end(1.5, "DECLINED"),
                        step_end(1, "direct", "NOANSWER", 6.2),
                        step(2, "deputy", f"Local/cm{MOBILE}@ivr-leg", 6.3),
                        *asked(6.5, uniqueid="1795366780.30", n=2),
                        confirm_end(13.0, "UNCONFIRMED", uniqueid="1795366780.30", n=2),
                        step_end(2, "deputy", "NOANSWER", 13.1),
                        step(3, "pool", "pool-main", 13.2), step_end(3, "pool", "JOINEMPTY", 13.2),
                        step(4, "voicemail", "12", 13.3), *end(16.0)]
    c = fold(LID, events)
    assert c.outcome == "missed" and c.answered_by is None and c.confirmed is None
    assert [(s.kind, s.result, s.legs) for s in c.steps.values()][:2] == [
        ("direct", "UNCONFIRMED", {MOBILE: "DECLINED"}),
        ("deputy", "UNCONFIRMED", {MOBILE: "UNCONFIRMED"})]


def test_busy_desk_phone_without_confirming_legs_keeps_its_status() -> None:
    events = start() + [step(1, "direct", TARGET, 0.2), step_end(1, "direct", "BUSY", 0.4),
                        step(2, "voicemail", "12", 0.5), *end(5.0)]
    c = fold(LID, events)
    assert (c.steps[1].result, c.steps[1].legs) == ("BUSY", {})


def test_caller_hangs_up_while_the_mobile_is_asked() -> None:
    """Abandoned while ringing; the leg asked when the call ended never confirmed."""
    events = start() + [step(1, "direct", TARGET, 0.2), *asked(0.5), *end(2.0)]
    c = fold(LID, events)
    assert (c.outcome, c.abandoned_during, c.answered_by) == ("abandoned", "ringing", None)
    assert (c.steps[1].result, c.steps[1].legs) == ("CANCEL", {MOBILE: "UNCONFIRMED"})


def test_live_view_while_asked_is_not_answered() -> None:
    c = fold(LID, start() + [step(1, "direct", TARGET, 0.2), *asked(0.5)])
    assert c.outcome is None and c.answered_at is None and c.steps[1].legs == {MOBILE: ""}


def test_legs_text_round_trip() -> None:
    legs = {MOBILE: "CONFIRMED", "o-12": "DECLINED"}
    assert legs_of(legs_text(legs)) == legs
    assert legs_text({}) is None and legs_of(None) == {}


def test_interrupted_while_asked_leaves_the_leg_unconfirmed() -> None:
    c = fold(LID, start() + [step(1, "direct", TARGET, 0.2), *asked(0.5)], interrupted_at=at(5.0))
    assert (c.outcome, c.answered_by, c.steps[1].legs) == ("interrupted", None, {MOBILE: "UNCONFIRMED"})
