"""The ``[alerts]`` section: health checks' thresholds (docs/operations.md)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ivr.core.sections import doc_field

_doc = doc_field
_HOURS = re.compile(r"^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-4]):[0-5]\d$")


@dataclass(frozen=True, slots=True)
class AlertsConfig:
    interval: float = _doc(5.0, "seconds between two rounds of the health checks")
    ami_down_seconds: float = _doc(30.0, "AMI disconnected this long: alert")
    mirror_seconds: float = _doc(30.0, "AstDB mirror out of sync this long: alert")
    recorder_lag_seconds: float = _doc(60.0, "oldest journal line not yet recorded this old: alert")
    transcription_queue: int = _doc(50, "more transcription jobs waiting than this: alert")
    transcription_oldest_seconds: float = _doc(600.0, "a waiting transcription job this old: alert")
    disk_free_percent: float = _doc(10.0, "free space below this percentage on the database's, "
                                          "recordings' or journal's filesystem: alert")
    journal_bytes: int = _doc(2147483648, "CEL journal larger than this: alert")
    pool_hours: str = _doc("08:00-18:00", "HH:MM-HH:MM (city time) when a pool must have someone "
                                          "ready; empty: always")
    pool_unstaffed_seconds: float = _doc(900.0, "a pool with nobody ready this long during its "
                                                "hours: alert")
    restart_hold_seconds: float = _doc(900.0, "how long the alert 'Asterisk restarted' stays up")
    sip_bans_active: int = _doc(3, "SIP sources banned at once (brute force from several "
                                   "places): alert while at least this many bans are in force")

    def __post_init__(self) -> None:
        if self.pool_hours and not _HOURS.match(self.pool_hours):
            raise ValueError(f"[alerts] pool_hours: {self.pool_hours!r} is not HH:MM-HH:MM")


@dataclass(frozen=True, slots=True)
class BackupConfig:
    dir: str = _doc("", "folder of the scheduled backups (`ivr backup` archives); empty: no "
                        "scheduled backup (run `ivr backup` from a timer instead)")
    at: str = _doc("03:30", "HH:MM (city time) of the daily scheduled backup")
    keep_daily: int = _doc(14, "scheduled backups: keep the newest archive of each of the last "
                               "N days")
    keep_monthly: int = _doc(12, "… and of each of the last M months")

    def __post_init__(self) -> None:
        if not re.match(r"^([01]\d|2[0-3]):[0-5]\d$", self.at):
            raise ValueError(f"[backup] at: {self.at!r} is not HH:MM")
