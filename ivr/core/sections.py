"""Configuration sections kept apart from the loader in ``ivr.core.config`` (which re-exports
them) so each module stays small: the carrier and SIP bans (address lists), voicemail, cases,
records; and ``ConfigError``, which the sections' own checks raise.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


def doc_field(default: Any, doc: str) -> Any:
    """A setting with its default and the sentence docs/config.md shows for it."""
    return field(default=default, metadata={"doc": doc})


_doc = doc_field
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class ConfigError(ValueError):
    """A configuration value is missing, unknown or malformed."""


def networks(values: tuple[str, ...], where: str) -> tuple[IPNetwork, ...]:
    """Addresses or subnets (``203.0.113.7``, ``203.0.113.0/24``) as networks."""
    try:
        return tuple(ipaddress.ip_network(v.strip(), strict=False) for v in values)
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc} (an address or subnet, e.g. 203.0.113.0/24)") from None


@dataclass(frozen=True, slots=True)
class CarrierConfig:
    match: tuple[str, ...] = _doc(("127.0.0.2",), "the carrier's source addresses or subnets "
                                  "(env: comma-separated); calls from them are citizens'")
    host: str = _doc("127.0.0.2", "carrier SIP host (officials' mobiles, callbacks)")
    port: int = _doc(5060, "carrier SIP port")

    def __post_init__(self) -> None:
        if not networks(self.match, "[carrier] match"):
            raise ConfigError("[carrier] match: at least one address or subnet")


@dataclass(frozen=True, slots=True)
class BansConfig:
    failures: int = _doc(5, "failed SIP logins from one address within `window` s that ban it")
    window: float = _doc(60.0, "seconds over which failures are counted")
    duration: float = _doc(900.0, "seconds a ban lasts (an admin may lift it earlier)")
    trusted: tuple[str, ...] = _doc((), "subnets never banned, besides the carrier's (env: a,b)")
    max_active: int = _doc(1000, "most bans in force at once (the oldest expire first)")

    def __post_init__(self) -> None:
        networks(self.trusted, "[bans] trusted")
        if self.failures < 1 or self.window <= 0 or self.duration <= 0 or self.max_active < 1:
            raise ConfigError("[bans] failures, window, duration and max_active must be positive")


@dataclass(frozen=True, slots=True)
class VoicemailConfig:
    workers: int = _doc(0, "transcription worker processes; 0: one per CPU core")
    scan_seconds: float = _doc(30.0, "seconds between scans of the recording folder")
    poll_seconds: float = _doc(5.0, "seconds between polls of the transcription job queue")
    preload: bool = _doc(False, "load the speech models at start instead of at the first job")
    max_attempts: int = _doc(3, "transcription attempts per message before the job fails")


@dataclass(frozen=True, slots=True)
class RecordsConfig:
    poll_seconds: float = _doc(0.2, "seconds between looks at the CEL journal when it has "
                                    "nothing new (records follow a call's end by about this much)")
    chunk_bytes: int = _doc(262144, "journal bytes recorded per transaction (bounds memory and "
                                    "the length of a write)")
    keep_raw_days: float = _doc(30.0, "days raw CEL events are kept once their call is "
                                      "recorded; 0: kept for ever")
    nice: int = _doc(10, "scheduling niceness (0-19, Linux) of the recorder's threads: on a busy "
                         "host Asterisk sets calls up first and records follow from the journal; "
                         "0: as the rest of the controller")

    def __post_init__(self) -> None:
        if not 0 <= self.nice <= 19:
            raise ConfigError("[records] nice must be between 0 and 19")


@dataclass(frozen=True, slots=True)
class ReportsConfig:
    auto_monthly: bool = _doc(True, "generate last month's supervision reports (city-wide and per "
                                    "official, HTML and PDF) once the month is over; one node "
                                    "of several does it (docs/supervision.md)")
    check_seconds: float = _doc(600.0, "seconds between looks for a month without its report "
                                       "(the first look comes this long after the start)")


@dataclass(frozen=True, slots=True)
class CasesConfig:
    triage_rules: str = _doc("", "path of the triage rules YAML; empty: the shipped "
                                 "ivr/followup/triage_rules.yaml")
    deadline_hours: Mapping[str, float] = field(default_factory=dict, metadata={"doc": (
        "hours to call back per urgency, e.g. {urgent = 1, normal = 48} (env: JSON); unset "
        "urgencies keep the defaults (urgent 2, normal 24); superseded by [deadlines] contact "
        "(these hours count as working hours)")})
