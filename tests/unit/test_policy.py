"""The routing decision (ivr/core/policy.py): plans for every mode, availability and gap."""

from __future__ import annotations

import itertools
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from ivr.core.constants import MODES
from ivr.core.plan import Step, decode_steps
from ivr.core.policy import (
    DEFAULT_CHAIN,
    UNAVAILABLE_PROMPT,
    OfficialRouting,
    default_plan,
    dial_string,
    effective_mode,
    plan_for_mode,
    plan_route,
)
from ivr.core.schedule import DAY, Window, week_intervals

SH = ZoneInfo("Asia/Shanghai")
DIRECT = "PJSIP/o-12&PJSIP/+8613800001001@carrier"
DEPUTY = "PJSIP/o-13"
MSG = Step("message", UNAVAILABLE_PROMPT, 0)


def R(**kw: object) -> OfficialRouting:
    base: dict[str, object] = dict(official_id=12, name="张三", mode="direct", direct_dial=DIRECT,
                                   deputy_dial=DEPUTY, ring_timeout=20, deputy_ring_timeout=25,
                                   pool_queue="pool-main", pool_max_wait=60, voicemail_secs=120)
    base.update(kw)
    return OfficialRouting(**base)  # type: ignore[arg-type]


def kinds(r: OfficialRouting, mode: str) -> list[str]:
    return [s.kind for s in plan_for_mode(r, mode).steps]


def test_full_plan_direct() -> None:
    plan = plan_for_mode(R(), "direct")
    assert plan.steps == (Step("direct", DIRECT, 20), Step("deputy", DEPUTY, 25),
                          Step("pool", "pool-main", 60), Step("voicemail", "12", 120))
    assert (plan.official_id, plan.official_name, plan.mode) == (12, "张三", "direct")


@pytest.mark.parametrize("mode,expected", [
    ("direct", ["direct", "deputy", "pool", "voicemail"]),
    ("deputy", ["deputy", "pool", "voicemail"]),
    ("pool", ["pool", "deputy", "voicemail"]),
    ("voicemail", ["voicemail"]),
])
def test_default_chain_per_mode(mode: str, expected: list[str]) -> None:
    assert DEFAULT_CHAIN == ("deputy", "pool", "voicemail")
    assert kinds(R(), mode) == expected


@pytest.mark.parametrize("availability", ["meeting", "dnd", "leave"])
def test_unavailable_drops_direct_everywhere(availability: str) -> None:
    r = R(availability=availability, chain=("direct", "deputy", "pool", "voicemail"))
    assert kinds(r, "direct") == ["deputy", "pool", "voicemail"]
    assert kinds(r, "pool") == ["pool", "deputy", "voicemail"]
    assert kinds(r, "deputy") == ["deputy", "pool", "voicemail"]
    assert kinds(r, "voicemail") == ["voicemail"]
    for mode in MODES:
        assert all(s.kind != "direct" for s in plan_for_mode(r, mode).steps)


def test_available_direct_in_chain_after_pool() -> None:
    r = R(mode="pool", chain=("direct", "voicemail"))
    assert kinds(r, "pool") == ["pool", "direct", "voicemail"]


def test_missing_deputy_dropped() -> None:
    r = R(deputy_dial="")
    assert kinds(r, "direct") == ["direct", "pool", "voicemail"]
    assert kinds(r, "deputy") == ["pool", "voicemail"]


def test_official_without_devices() -> None:
    r = R(direct_dial="")
    assert kinds(r, "direct") == ["deputy", "pool", "voicemail"]


def test_nothing_dialable_then_message() -> None:
    r = R(direct_dial="", deputy_dial="", chain=("deputy",))
    plan = plan_for_mode(r, "direct")
    assert plan.steps == (MSG,)
    r = R(direct_dial="", deputy_dial="", chain=("direct", "deputy"), availability="dnd")
    assert plan_for_mode(r, "deputy").steps == (MSG,)


def test_message_appended_when_chain_has_no_voicemail() -> None:
    r = R(chain=("deputy", "pool"))
    plan = plan_for_mode(r, "direct")
    assert [s.kind for s in plan.steps] == ["direct", "deputy", "pool", "message"]
    assert plan.steps[-1] == MSG


def test_voicemail_ends_the_plan() -> None:
    r = R(chain=("voicemail", "deputy", "pool"))
    assert kinds(r, "direct") == ["direct", "voicemail"]
    assert kinds(r, "pool") == ["pool", "voicemail"]
    assert all(s.kind != "message" for s in plan_for_mode(r, "direct").steps)


def test_chain_does_not_repeat_the_first_step() -> None:
    r = R(chain=("pool", "direct", "deputy", "voicemail"))
    for mode in MODES:
        ks = kinds(r, mode)
        assert len(ks) == len(set(ks)), (mode, ks)
        assert ks[0] == mode


def test_chain_order_is_kept() -> None:
    r = R(chain=("pool", "deputy", "voicemail"))
    assert kinds(r, "direct") == ["direct", "pool", "deputy", "voicemail"]


# Every mode × availability × missing deputy × missing devices × a few chains.
CHAINS = [DEFAULT_CHAIN, ("pool", "voicemail"), ("voicemail",), ("deputy",), ("direct", "pool"), ()]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("availability", ["available", "meeting", "dnd", "leave"])
def test_invariants_matrix(mode: str, availability: str) -> None:
    for has_deputy, has_devices, chain in itertools.product((True, False), (True, False), CHAINS):
        r = R(mode=mode, availability=availability, chain=chain,
              deputy_dial=DEPUTY if has_deputy else "", direct_dial=DIRECT if has_devices else "")
        plan = plan_for_mode(r, mode)
        ks = [s.kind for s in plan.steps]
        ctx = (mode, availability, has_deputy, has_devices, chain, ks)
        assert ks[-1] in ("voicemail", "message"), ctx
        assert len(ks) == len(set(ks)), ctx
        assert ks.count("voicemail") + ks.count("message") == 1, ctx
        if not (has_devices and availability == "available"):
            assert "direct" not in ks, ctx
        if not has_deputy:
            assert "deputy" not in ks, ctx
        # the first step is the mode when it can run
        runnable = {"direct": has_devices and availability == "available",
                    "deputy": has_deputy, "pool": True, "voicemail": True}[mode]
        if runnable:
            assert ks[0] == mode, ctx
        # the expected order: mode, then the chain without the mode, cut after voicemail
        order = [mode] + [k for k in chain if k != mode]
        if "voicemail" in order:
            order = order[:order.index("voicemail") + 1]
        expected = [k for k in order if {"direct": has_devices and availability == "available",
                                         "deputy": has_deputy}.get(k, True)]
        if not expected or expected[-1] != "voicemail":
            expected.append("message")
        assert ks == expected, ctx
        assert decode_steps(plan.encode()) == plan.steps


def test_step_values() -> None:
    r = R(official_id=7, ring_timeout=30, deputy_ring_timeout=15, pool_queue="pool-night",
          pool_max_wait=90, voicemail_secs=180)
    steps = {s.kind: s for s in plan_for_mode(r, "direct").steps}
    assert steps["direct"] == Step("direct", DIRECT, 30)
    assert steps["deputy"] == Step("deputy", DEPUTY, 15)
    assert steps["pool"] == Step("pool", "pool-night", 90)
    assert steps["voicemail"] == Step("voicemail", "7", 180)


@pytest.mark.parametrize("mode", ["", "message", "Direct", "operator"])
def test_unknown_mode(mode: str) -> None:
    with pytest.raises(ValueError):
        plan_for_mode(R(), mode)


def test_dial_string_sip_and_mobile() -> None:
    devices = [("sip", "o-12", None, False), ("mobile", None, "+8613800001001", False),
               ("sip", "o-12b", None, False)]
    assert dial_string(devices) == "PJSIP/o-12&PJSIP/+8613800001001@carrier&PJSIP/o-12b"
    assert dial_string(devices, trunk="other") == "PJSIP/o-12&PJSIP/+8613800001001@other&PJSIP/o-12b"


def test_dial_string_skips_incomplete_devices() -> None:
    assert dial_string([("sip", None, "+8613800001001", False), ("mobile", "o-1", None, True),
                        ("fax", "x", "+861", True), ("sip", "", None, False)]) == ""
    assert dial_string([]) == ""
    assert dial_string(iter([("mobile", None, "+8613800001001", False)])) == (
        "PJSIP/+8613800001001@carrier")


def test_dial_string_confirm_legs_run_through_local_channels() -> None:
    """One confirming device puts every leg of the step into its own Local channel: each keeps
    its ring timeout, only the confirming ones ask for the key."""
    devices = [("sip", "o-12", None, False), ("mobile", None, "+8613800001001", True)]
    assert dial_string(devices) == "Local/pso-12@ivr-leg&Local/cm+8613800001001@ivr-leg"
    assert dial_string([("sip", "o-12", None, True)]) == "Local/cso-12@ivr-leg"
    assert dial_string([("mobile", None, "+8613800001001", True), ("sip", None, None, True)]) == (
        "Local/cm+8613800001001@ivr-leg")


def test_dial_string_is_a_valid_target() -> None:
    for confirm in (False, True):
        text = dial_string([("sip", "o-zhang-wei", None, False),
                            ("mobile", None, "+8613900001005", confirm)])
        assert Step("direct", text, 20).target == text


def test_effective_mode_and_plan_route() -> None:
    iv = week_intervals([Window(frozenset({0, 1, 2, 3, 4}), 18 * 3600, 8 * 3600 + 1800, "pool"),
                         Window(frozenset({5, 6}), 0, DAY, "voicemail")])
    r = R(intervals=iv)
    mon_noon = datetime(2026, 11, 2, 12, 0, tzinfo=SH)
    mon_night = datetime(2026, 11, 2, 20, 0, tzinfo=SH)
    sat = datetime(2026, 11, 7, 12, 0, tzinfo=SH)
    assert effective_mode(r, mon_noon, SH) == "direct"
    assert effective_mode(r, mon_night, SH) == "pool"
    assert effective_mode(r, sat, SH) == "voicemail"
    assert plan_route(r, mon_noon, SH) == plan_for_mode(r, "direct")
    assert plan_route(r, mon_night, SH).steps[0].kind == "pool"
    assert [s.kind for s in plan_route(r, sat, SH).steps] == ["voicemail"]


def test_default_plan() -> None:
    assert default_plan() == "pool^pool-main^60|message^ivr-unavailable^0"
    text = default_plan("pool-night", 30)
    assert decode_steps(text) == (Step("pool", "pool-night", 30), MSG)
