"""Configuration sections of the follow-up's deadlines and notification hook (issue 11), beside
``ivr.core.config`` (which lists them in its ``SECTIONS``); documented in docs/config.md."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


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
