"""Configuration sections of the follow-up's deadlines and notification hook (issue 11), beside
``ivr.core.config`` (which lists them in its ``SECTIONS``); documented in docs/config.md."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ivr.core.autocallback import parse_hours, parse_override


def _doc(default: Any, doc: str) -> Any:
    return field(default=default, metadata={"doc": doc})


def _table(doc: str) -> Any:
    return field(default_factory=dict, metadata={"doc": doc})


@dataclass(frozen=True, slots=True)
class DeadlinesConfig:
    """Case deadlines in working time (docs/followup.md); durations "2h", "30m", "1d"."""
    contact: Mapping[str, str] = _table(
        "contact the citizen within, per urgency or kind.urgency, e.g. {urgent = \"2h\", "
        "normal = \"1d\", \"missed.normal\" = \"2d\"} (env: JSON); default urgent 2h, normal 1d")
    resolve: Mapping[str, str] = _table(
        "resolve the case within, same keys; default 3d")
    escalated: Mapping[str, str] = _table(
        "the second deadline of an escalated case, same keys; default urgent 2h, normal 1d")
    max_levels: int = _doc(2, "escalation levels at most (official → superior → their superior)")
    near_minutes: float = _doc(60.0, "a deadline-near notification this many minutes before")
    sweep_seconds: float = _doc(60.0, "seconds between sweeps for near and passed deadlines")


@dataclass(frozen=True, slots=True)
class WebhooksConfig:
    """The notification hook (docs/followup.md): events POSTed as signed JSON."""
    urls: Mapping[str, str] = _table(
        "targets by name, e.g. {wecom = \"https://bridge.example/ivr\"} (env: JSON); empty: none")
    secret: str = _doc("", "shared secret of the HMAC-SHA256 signature (X-IVR-Signature)")
    max_attempts: int = _doc(10, "delivery attempts per event and target before giving up")
    backoff_initial: float = _doc(5.0, "seconds before the first retry (doubles each time)")
    backoff_max: float = _doc(900.0, "longest wait between two attempts (seconds)")
    timeout: float = _doc(10.0, "seconds a target has to answer one delivery")
    poll_seconds: float = _doc(5.0, "seconds between looks at the outbox (new events wake it)")


@dataclass(frozen=True, slots=True)
class AutoCallbackConfig:
    """Automatic callbacks of missed calls and voicemails (docs/followup.md, issue 10)."""
    enabled: bool = _doc(False, "call back missed calls and voicemails by themselves")
    hours: str = _doc("08:00-20:00", "when attempts may be placed (city time, HH:MM-HH:MM); "
                      "an attempt due outside is deferred to the next opening, not dropped")
    first_delay_seconds: float = _doc(600.0, "the first attempt this long after the case opened")
    attempts: int = _doc(3, "attempts at most (K); after K failures the case is unreachable")
    spacing_seconds: float = _doc(1800.0, "between two attempts (M)")
    first: str = _doc("own", "who is rung first: own (the official's own phone), deputy (the "
                      "deputy's), or pool:<name> (an operator of that pool through app_queue)")
    min_bridged_seconds: float = _doc(20.0, "the duty closes when the citizen stayed this long "
                                      "on the line (a carrier voicemail answers too)")
    citizen_ring_seconds: int = _doc(40, "how long the citizen's phone rings per attempt")
    tick_seconds: float = _doc(5.0, "seconds between two looks at the due attempts")
    max_age_hours: float = _doc(24.0, "cases older than this when first seen are not called "
                                "back automatically (e.g. after enabling the feature)")
    queue_offer_seconds: float = _doc(0.0, "after this long waiting in a pool, offer "
                                      "按1保留排队位置并挂机 (a queued callback); 0: never")
    queue_hold_seconds: int = _doc(1800, "a queued callback waits this long at most in the queue")
    officials: Mapping[str, str] = _table(
        "per-official overrides by slug, e.g. {zhang-wei = \"first=deputy attempts=2\"} "
        "(keys: first, attempts, spacing_seconds, first_delay_seconds, off=1) (env: JSON)")

    def __post_init__(self) -> None:
        parse_hours(self.hours)
        for slug, text in {"": f"first={self.first} attempts={self.attempts}",
                           **self.officials}.items():
            parse_override(text, slug)


@dataclass(frozen=True, slots=True)
class SurveyConfig:
    """Satisfaction follow-up calls, 回访 (docs/followup.md, issue 10)."""
    enabled: bool = _doc(False, "call citizens back for a rating (keys 1/2/3, 9: never again)")
    after: str = _doc("all", "which answered citizen calls: all, sample (sample_percent of them) "
                      "or pooled (answered by an operator of a pool)")
    sample_percent: float = _doc(10.0, "with after = sample: the share of answered calls")
    after_resolved: bool = _doc(True, "also one survey per case once it is resolved")
    delay_seconds: float = _doc(600.0, "the survey call this long after the call or the case")
    hours: str = _doc("09:00-20:00", "when survey calls may be placed (city time)")
    attempts: int = _doc(2, "survey calls at most when nobody answers or presses a key")
    spacing_seconds: float = _doc(3600.0, "between two survey attempts")
    ring_seconds: int = _doc(30, "how long the citizen's phone rings per attempt")
    max_age_hours: float = _doc(24.0, "calls and cases older than this are not surveyed")

    def __post_init__(self) -> None:
        parse_hours(self.hours)
        if self.after not in ("all", "sample", "pooled"):
            raise ValueError(f"[survey] after: {self.after!r} is not all, sample or pooled")
        if not 0 <= self.sample_percent <= 100 or not 1 <= self.attempts <= 10:
            raise ValueError("[survey] sample_percent is 0-100 and attempts 1-10")
