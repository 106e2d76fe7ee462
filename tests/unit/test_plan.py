"""Route plans (ivr/core/plan.py): steps, validation, the IVR_PLAN encoding."""

from __future__ import annotations

import pytest

from ivr.core.constants import MODES, STEP_KINDS
from ivr.core.plan import PlanError, RoutePlan, Step, decode_steps, encode_steps

FULL = (Step("direct", "PJSIP/o-12&PJSIP/13800000000@carrier", 20),
        Step("deputy", "PJSIP/o-13", 25),
        Step("pool", "pool-main", 60),
        Step("voicemail", "12", 120))


def test_kinds_and_modes() -> None:
    assert STEP_KINDS == ("direct", "deputy", "pool", "voicemail", "message")
    assert MODES == ("direct", "pool", "deputy", "voicemail")


def test_encode_matches_documented_form() -> None:
    plan = RoutePlan(12, "张三 局长", "direct", FULL)
    assert plan.encode() == ("direct^PJSIP/o-12&PJSIP/13800000000@carrier^20|deputy^PJSIP/o-13^25|"
                             "pool^pool-main^60|voicemail^12^120")
    assert encode_steps(list(FULL)) == plan.encode()
    assert Step("message", "ivr-unavailable", 0).encode() == "message^ivr-unavailable^0"


@pytest.mark.parametrize("steps", [
    FULL,
    (Step("message", "ivr-unavailable", 0),),
    (Step("pool", "pool-main", 3600), Step("message", "ivr-unavailable", 0)),
    (Step("direct", "PJSIP/+8613800001001@carrier", 0), Step("voicemail", "1", 1)),
    (Step("deputy", "PJSIP/a_b.c-d", 5), Step("voicemail", "99999", 300)),
])
def test_round_trip(steps: tuple[Step, ...]) -> None:
    text = encode_steps(steps)
    assert decode_steps(text) == steps
    assert encode_steps(decode_steps(text)) == text


def test_decoded_values_have_types() -> None:
    (step,) = decode_steps("pool^pool-main^60")
    assert step == Step("pool", "pool-main", 60)
    assert isinstance(step.timeout, int)


@pytest.mark.parametrize("kind", ["", "Direct", "dial", "queue", "voicemail ", "hangup"])
def test_bad_kind(kind: str) -> None:
    with pytest.raises(PlanError, match="kind"):
        Step(kind, "x", 10)  # type: ignore[arg-type]
    with pytest.raises(PlanError):
        decode_steps(f"{kind}^x^10")


@pytest.mark.parametrize("target", [
    "", "a^b", "a|b", "a,b", "a;b", 'a"b', "a'b", "a b", " a", "a\tb", "a\nb", "a\rb",
    "\u5f20\u4e09", "a(b)", "a${X}", "x" * 256])
def test_bad_target(target: str) -> None:
    with pytest.raises(PlanError, match="target"):
        Step("direct", target, 20)


def test_longest_target_accepted() -> None:
    assert Step("direct", "x" * 255, 20).target == "x" * 255


@pytest.mark.parametrize("target", ["PJSIP/o-1\n", "pool-main\n"])
def test_target_with_trailing_newline_rejected(target: str) -> None:
    with pytest.raises(PlanError):
        Step("direct", target, 20)


@pytest.mark.parametrize("timeout", [-1, 3601, 10**9])
def test_bad_timeout(timeout: int) -> None:
    with pytest.raises(PlanError, match="timeout"):
        Step("pool", "pool-main", timeout)


@pytest.mark.parametrize("timeout", [0, 1, 3600])
def test_timeout_bounds_accepted(timeout: int) -> None:
    assert Step("pool", "pool-main", timeout).timeout == timeout


@pytest.mark.parametrize("text", [
    "", "direct", "direct^PJSIP/o-1", "direct^PJSIP/o-1^20^x", "direct^PJSIP/o-1^abc",
    "direct^PJSIP/o-1^", "direct^PJSIP/o-1^20|", "|direct^PJSIP/o-1^20", "direct^^20",
    "direct^PJSIP/o-1^20.5", "direct^PJSIP/o-1^-5", "direct^PJSIP/o-1^4000",
    "voicemail^12^120||message^ivr-unavailable^0", "bogus^x^1"])
def test_decode_malformed(text: str) -> None:
    with pytest.raises(PlanError):
        decode_steps(text)


def test_plan_error_is_value_error() -> None:
    assert issubclass(PlanError, ValueError)
    with pytest.raises(ValueError):
        decode_steps("nonsense")


def test_plan_needs_steps() -> None:
    with pytest.raises(PlanError, match="at least one"):
        RoutePlan(1, "x", "direct", ())


@pytest.mark.parametrize("last", ["direct", "deputy", "pool"])
def test_plan_must_end_with_voicemail_or_message(last: str) -> None:
    with pytest.raises(PlanError, match="never silence"):
        RoutePlan(1, "x", "direct", (Step("voicemail", "1", 60), Step(last, "pool-main", 20)))  # type: ignore[arg-type]


@pytest.mark.parametrize("last", [Step("voicemail", "1", 60), Step("message", "ivr-unavailable", 0)])
def test_plan_ending_ok(last: Step) -> None:
    plan = RoutePlan(7, "x", "pool", (Step("pool", "pool-main", 60), last))
    assert plan.steps[-1] == last
    assert decode_steps(plan.encode()) == plan.steps


def test_steps_are_immutable() -> None:
    step = Step("pool", "pool-main", 60)
    with pytest.raises(AttributeError):
        step.timeout = 5  # type: ignore[misc]
